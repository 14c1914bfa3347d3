"""Maintained peers side by side (issue 32): the same ViT, images, epochs and readout, pretrained by this library's
`train` (its command line's defaults) and by lightly-train's DINO and SimCLR (their defaults, with the view sizes
fitted to the cell's small images). One markdown row each: minutes, images/s, weighted cosine kNN (k=20, T=0.07) of
mean-pooled patch tokens and of the CLS token, and a linear probe on the mean-pooled features; the cell's centred raw
pixels read the same way first.

    pip install -e ".[bench]"        # lightly-train: benchmark only, never a dependency of the library
    python bench/proxy_family.py /tmp/flat/glyphs --sizes 32 --grids 8 --colours gray --counts all --work /tmp/pf_glyphs
    python bench/peers.py /tmp/pf_glyphs/32px_gray --size 32 --patch 4 --methods data2vec dino simclr

The cell's folder holds train/<class>/ and val/<class>/ (proxy_family.py's --work writes it). The ViT is timm's
`VisionTransformer` (CLS token, learned positions, pre-norm blocks, final norm), the architecture `train` builds for the
cpu preset: width 192, 6 blocks, 3 heads. lightly-train's global views are the cell's size and its local views half of it
(its own ratio at 224 px is 96/224); its batch (128), optimizer, schedules, augmentations and data loading processes are its defaults.
"""
import argparse, tempfile, time
from functools import partial
from pathlib import Path
import timm, torch
from timm.models.vision_transformer import VisionTransformer
from data2vec_vision.cli import get_parser, pretrain
from data2vec_vision.data import ImageFolder, eval_transforms, labeled_split
from data2vec_vision.evaluation import centred_pixels, knn_accuracy, linear_probe
from data2vec_vision.export import to_timm
from data2vec_vision.rules import heads_for

@torch.no_grad()
def features(vit: VisionTransformer, files: list, size: int, num_workers: int) -> dict:
    "Mean-pooled patch tokens and the CLS token of each image, `[N, D]` each"
    vit.eval()
    dl = torch.utils.data.DataLoader(ImageFolder(files, eval_transforms(size)), batch_size=256, num_workers=num_workers)
    tokens = torch.cat([vit.forward_features(xb) for (xb,) in dl])    # [N, 1+L, D]
    return {'mean': tokens[:, 1:].mean(1), 'cls': tokens[:, 0]}

def lightly_vit(size: int, patch: int, width: int, depth: int) -> VisionTransformer:
    "The cpu preset's ViT as timm builds it (with a pretrained config, which lightly-train's export reads); `dynamic_img_size` so that the local views (half the side) pass"
    return timm.create_model('vit_tiny_patch16_224', pretrained=False, img_size=size, patch_size=patch, embed_dim=width, depth=depth,
                             num_heads=heads_for(width), num_classes=0, dynamic_img_size=True)

def run_lightly(method: str, train_folder: Path, build, size: int, epochs: int) -> VisionTransformer:
    "The ViT `build()` makes, pretrained by lightly-train's `method` at its defaults on `train_folder`: global views of `size`, DINO's local views half of it"
    import lightly_train
    with tempfile.TemporaryDirectory() as out:
        views = dict(image_size=(size, size))
        if method == 'dino': views['local_view'] = dict(view_size=(size // 2, size // 2))
        lightly_train.train(out=out, data=str(train_folder), model=build(), method=method, epochs=epochs, accelerator='cpu', devices=1,
                            transform_args=views, overwrite=True, seed=0)
        trained = build()
        trained.load_state_dict(torch.load(Path(out)/'exported_models'/'exported_last.pt', weights_only=True))
    return trained

def run_data2vec(train_folder: Path, size: int, patch: int, epochs: int, num_workers: int) -> VisionTransformer:
    with tempfile.TemporaryDirectory() as out:
        args = get_parser(['train']).parse_args(['train', str(train_folder), '--image-size', str(size), '--patch-size', str(patch),
                                                 '--epochs', str(epochs), '--save-every', str(epochs), '--device', 'cpu',
                                                 '--num-workers', str(num_workers), '--checkpoint-out-dir', out])
        torch.manual_seed(0)
        learn = pretrain(args)
    return to_timm(learn.model.cpu(), num_classes=0)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('cell', type=Path, help="a labeled folder with train/<class>/ and val/<class>/ (a proxy_family.py cell)")
    p.add_argument('--size', type=int, default=32)
    p.add_argument('--patch', type=int, default=4)
    p.add_argument('--width', type=int, default=192)
    p.add_argument('--depth', type=int, default=6)
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--methods', nargs='+', default=['data2vec', 'dino'], choices=['data2vec', 'dino', 'simclr'])
    p.add_argument('--num-workers', type=int, default=0, help="data loading processes of this library's run and the readouts "
                   "(default: 0, what train takes on two cores); lightly-train chooses its own")
    a = p.parse_args()
    train, train_y, val, val_y, _ = labeled_split(a.cell)
    print(f"# {a.cell}: {len(train)} train, {len(val)} val images; ViT {a.width} x {a.depth}, patch {a.patch}, {a.size} px, {a.epochs} epochs")
    print("| method | minutes | images/s | kNN (mean) | kNN (CLS) | linear probe (mean) |\n|---|---|---|---|---|---|", flush=True)
    p_train, p_val = centred_pixels(train, val, a.size, a.num_workers)
    print(f"| raw pixels (centred) | - | - | {knn_accuracy(p_train, train_y, p_val, val_y):.3f} | - | "
          f"{linear_probe(p_train, train_y, p_val, val_y):.3f} |", flush=True)
    for method in a.methods:
        start = time.perf_counter()
        vit = (run_data2vec(a.cell/'train', a.size, a.patch, a.epochs, a.num_workers) if method == 'data2vec' else
               run_lightly(method, a.cell/'train', partial(lightly_vit, a.size, a.patch, a.width, a.depth), a.size, a.epochs))
        seconds = time.perf_counter() - start
        f_train, f_val = (features(vit, files, a.size, a.num_workers) for files in (train, val))
        knn = {pool: knn_accuracy(f_train[pool], train_y, f_val[pool], val_y) for pool in ('mean', 'cls')}
        probe = linear_probe(f_train['mean'], train_y, f_val['mean'], val_y)
        name = 'data2vec_vision (train defaults)' if method == 'data2vec' else f'lightly-train {method} (defaults)'
        print(f"| {name} | {seconds / 60:.1f} | {a.epochs * len(train) / seconds:.0f} | {knn['mean']:.3f} | {knn['cls']:.3f} | {probe:.3f} |", flush=True)

if __name__ == '__main__': main()
