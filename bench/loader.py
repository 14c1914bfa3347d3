"""Does the loader keep up? Images per second per core of the pretraining pipeline (decode, random resized crop, flip,
normalise), beside torchvision's `ImageFolder` with its transforms and timm's `ImageDataset` with `create_transform`, on
the same files, in one process, on one core (one thread, no worker processes: a worker is a core). The peers run twice:
with the same augmentation (bicubic resizing, as data2vec's recipes and this library), and at their own default
interpolation (bilinear), which does less work per image.

    python bench/loader.py ../shared/data/imagenette/train --sizes 32 64

Each pipeline's rate is the median of `--repeats` passes over the same `--images` files, in turn (a machine getting
busier slows all of them). From a GPU's images/s for a preset's step (`bench/throughput.py` on the device), the cores a
GPU needs to stay fed follow: GPU images/s over one core's images/s.
"""
import argparse, time
from pathlib import Path
import torch
import torchvision
import torchvision.transforms.v2 as T
import timm.data
from data2vec_vision.data import CROP_SCALE, ImageFolder, find_images, pretrain_transforms
from data2vec_vision.transforms import IMAGENET_MEAN, IMAGENET_STD

OURS = 'data2vec_vision (ImageFolder + pretrain_transforms), bicubic'

def rate(dataset, n: int) -> float:
    "Images per second of reading items 0..n-1 of `dataset`"
    t = time.perf_counter()
    for i in range(n): dataset[i]
    return n / (time.perf_counter() - t)

def torchvision_dataset(root: Path, files: list, size: int, interpolation: str):
    "torchvision's `ImageFolder` of `root` with the same augmentation in its own transforms, cut to `files`"
    tfm = T.Compose([T.RandomResizedCrop(size, scale=CROP_SCALE, interpolation=T.InterpolationMode(interpolation), antialias=True),
                     T.RandomHorizontalFlip(), T.ToImage(),
                     T.ToDtype(torch.float32, scale=True), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    ds = torchvision.datasets.ImageFolder(str(root), transform=tfm)
    keep = set(map(str, files))
    ds.samples = [s for s in ds.samples if s[0] in keep]
    return ds

def timm_dataset(root: Path, files: list, size: int, interpolation: str):
    "timm's `ImageDataset` of `root` with `create_transform`'s training augmentation at `size` (no colour jitter, as data2vec)"
    ds = timm.data.ImageDataset(str(root), transform=timm.data.create_transform(size, is_training=True, scale=CROP_SCALE, hflip=0.5,
                                                                                  interpolation=interpolation,
                                                                                  color_jitter=None, mean=IMAGENET_MEAN, std=IMAGENET_STD))
    keep = set(map(str, files))
    ds.reader.samples = [s for s in ds.reader.samples if str(s[0]) in keep]
    return ds

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('folder', type=Path, help="A folder of class folders of images (imagenette's train/)")
    p.add_argument('--sizes', type=int, nargs='+', default=[32, 64])
    p.add_argument('--images', type=int, default=1000)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--gpu-rates', type=float, nargs='*', default=[], help="images/s of a GPU's step at each size, for the cores it needs")
    a = p.parse_args()
    torch.set_num_threads(1)
    files = find_images(a.folder)[::max(1, len(find_images(a.folder)) // a.images)][:a.images]
    sizes = [f"{s} px" for s in a.sizes]
    print(f"{len(files)} images of {a.folder} (e.g. {Image_size(files[0])}), one core, torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}, timm {timm.__version__}; images/s, median of {a.repeats} passes\n")
    print("| pipeline | " + " | ".join(sizes) + " |\n|---|" + "---|" * len(sizes))
    rows = {}
    for size in a.sizes:
        pipelines = {OURS: ImageFolder(files, pretrain_transforms(size))}
        for interpolation in ('bicubic', 'bilinear'):
            pipelines[f"torchvision ImageFolder + v2 transforms, {interpolation}"] = torchvision_dataset(a.folder, files, size, interpolation)
            pipelines[f"timm ImageDataset + create_transform, {interpolation}"] = timm_dataset(a.folder, files, size, interpolation)
        runs = {name: [] for name in pipelines}
        for _ in range(a.repeats):
            for name, ds in pipelines.items(): runs[name].append(rate(ds, len(files)))
        for name, r in runs.items(): rows.setdefault(name, []).append(sorted(r)[len(r) // 2])
    ours = rows[OURS]
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{x:.0f} ({x / o:.2f}x)" for x, o in zip(r, ours)) + " |")
    if a.gpu_rates:
        print("\n| size | GPU images/s | cores to keep it fed |\n|---|---|---|")
        for size, gpu, o in zip(sizes, a.gpu_rates, ours): print(f"| {size} | {gpu:,.0f} | {gpu / o:.0f} |")

def Image_size(f) -> str:
    from PIL import Image
    with Image.open(f) as im: return f"{im.size[0]} x {im.size[1]} px {im.format}"

if __name__ == '__main__': main()
