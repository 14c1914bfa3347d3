"""The proxy family of issue 19: does a short run with the command line's defaults beat raw pixels on folders it was
never tuned on? One cell per (folder, image size, grid, colour, number of training images): pretrain with `train`'s own
functions and defaults for `--epochs` epochs (or a time budget), then weighted cosine kNN (k=20, T=0.07) of the
mean-pooled features, train -> val, beside two floors measured in the same run: centred raw pixels and the same ViT at
random initialisation.

    python bench/proxy_family.py ../shared/data/imagenette --sizes 32 64 --grids 8 --colours colour gray --counts 1000 all

Each cell's training folder is made once under --work (images resized to twice the cell's size, grayscale saved as
RGB of equal channels, a seeded subset of the training images); the validation images are the whole val split at the
cell's size and colour. Prints one markdown row per cell as soon as it is done. `--train-options` changes the
defaults, for a sweep: `--train-options '--batch-size 32'`; `--save DIR` keeps each cell's model.
"""
import argparse, random, shlex, tempfile, time
from pathlib import Path
import torch
from PIL import Image
from data2vec_vision.cli import get_parser, pretrain
from data2vec_vision.data import labeled_images
from data2vec_vision.evaluation import extract_features, knn_accuracy, pixel_knn
from data2vec_vision.model import Data2Vec

def make_split(files: list, labels, dest: Path, size: int, gray: bool) -> tuple:
    "Copies of `files` under `dest/<class>/`, resized to `2 * size` on the short side, grayscale if asked; (files, labels)"
    out = []
    for f, y in zip(files, labels):
        target = dest/str(int(y))/f.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            im = Image.open(f).convert('L' if gray else 'RGB')
            im.thumbnail((4 * size, 4 * size))
            scale = 2 * size / min(im.size)
            im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BICUBIC)
            im.convert('RGB').save(target.with_suffix('.png'))
        out.append(target.with_suffix('.png'))
    return out, labels

def cell(path, work: Path, size: int, grid: int, gray: bool, count, epochs: int, num_workers, train_options=(), save: Path | None = None,
         device: str = 'cpu') -> dict:
    train_files, train_y, _ = labeled_images(f'{path}/train')
    val_files, val_y, _ = labeled_images(f'{path}/val')
    order = list(range(len(train_files))); random.Random(0).shuffle(order)
    keep = sorted(order[:count] if count != 'all' else order)
    name = f"{size}px_{'gray' if gray else 'colour'}"
    train, train_y = make_split([train_files[i] for i in keep], train_y[keep], work/name/'train', size, gray)
    val, val_y = make_split(val_files, val_y, work/name/'val', size, gray)
    floor_pixels = pixel_knn(train, train_y, val, val_y, size, num_workers=num_workers)
    feats = lambda model: [extract_features(model, f, 256, num_workers=num_workers, device=device, show_progress=False) for f in (train, val)]
    options = ['--image-size', str(size), '--patch-size', str(size // grid), '--epochs', str(epochs), '--save-every', str(epochs),
               '--device', device] + (['--num-workers', str(num_workers)] if num_workers is not None else []) + list(train_options)
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as subset:
        for f in train: (Path(subset)/f.parent.name).mkdir(exist_ok=True); (Path(subset)/f.parent.name/f.name).symlink_to(f)
        args = get_parser(['train']).parse_args(['train', subset, *options, '--checkpoint-out-dir', out])
        torch.manual_seed(0)
        f0 = feats(Data2Vec(img_size=size, patch_size=size // grid))     # the model train builds, at random initialisation
        floor_random = knn_accuracy(f0[0], train_y, f0[1], val_y)
        start = time.perf_counter()
        learn = pretrain(args)
        minutes = (time.perf_counter() - start) / 60
        f1 = feats(learn.model)
        if save: learn.model.save(save/f"{name}_{grid}x{grid}_{count}.pt", with_teacher=True)
    knn = knn_accuracy(f1[0], train_y, f1[1], val_y)
    steps = epochs * len(learn.dls.train) // learn.run_settings.grad_accum
    return dict(folder=Path(path).name, size=size, grid=grid, colour='gray' if gray else 'colour', images=len(train), epochs=epochs, steps=steps,
                minutes=minutes, knn=knn, pixels=floor_pixels, random=floor_random)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('path', help="labeled folder with train/<class>/ and val/<class>/ (imagenette)")
    p.add_argument('--sizes', type=int, nargs='+', default=[32, 64, 96])
    p.add_argument('--grids', type=int, nargs='+', default=[8, 16])
    p.add_argument('--colours', nargs='+', default=['colour', 'gray'], choices=['colour', 'gray'])
    p.add_argument('--counts', nargs='+', default=['1000', '10000', 'all'])
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--work', type=Path, default=Path('/tmp/proxy_family'))
    p.add_argument('--num-workers', type=int)
    p.add_argument('--device', default='cpu', help="where to train and extract features (default: cpu)")
    p.add_argument('--train-options', default='', help="more train options, one string, e.g. '--batch-size 32' (default: none)")
    p.add_argument('--save', type=Path, help="keep each cell's pretrained model (with its teacher) in this folder, for bench/readouts.py")
    a = p.parse_args()
    print("| folder | size | grid | colour | train images | epochs | optimizer steps | minutes | kNN | raw pixels | random ViT | kNN - pixels |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    for size in a.sizes:
        for grid in a.grids:
            if size % grid: continue
            for colour in a.colours:
                for count in a.counts:
                    r = cell(a.path, a.work, size, grid, colour == 'gray', count if count == 'all' else int(count), a.epochs, a.num_workers,
                             shlex.split(a.train_options), a.save, a.device)
                    print(f"| {r['folder']} | {r['size']} | {r['grid']} x {r['grid']} | {r['colour']} | {r['images']} | {r['epochs']} | {r['steps']} | "
                          f"{r['minutes']:.1f} | {r['knn']:.3f} | {r['pixels']:.3f} | {r['random']:.3f} | {r['knn'] - r['pixels']:+.3f} |", flush=True)

if __name__ == '__main__': main()
