"""The second kind of proxy (issue 32): small centred objects on a flat background, the kind of folder that documents,
products on white, cells under a microscope and scanned glyphs make, built only from what is here: glyphs rendered
with matplotlib's own fonts, and imagenette's photos with their object cut out and pasted on black. Each kind is written
as a labeled folder `OUT/<kind>/{train,val}/<class>/*.png` at 64 px, which bench/proxy_family.py and bench/peers.py read
like imagenette's.

    python bench/flat_proxy.py /tmp/flat --imagenette ../shared/data/imagenette

- `glyphs`: the digits 0-9 (10 classes), white on black, each drawn in one of matplotlib's 22 fonts that have digits
  (DejaVu Sans, Sans Mono and Serif, STIX and Computer Modern, upright, bold and slanted), at a random size (50-85 % of
  the side), rotation (+-20 degrees), offset (+-10 % of the side) and stroke (0-2 px): 12,000 train, 3,000 val images,
  seeded. Like a scanned-glyph folder: the shape is the class; most of every image is background.
- `cutouts`: every imagenette photo (its 10 classes, its train/val split) with its object cut out and pasted, scaled to
  70 % of the side, on a black square. The object is the photo's region that differs from the colour of its border
  (smoothed distance above its 60th percentile, closed, holes filled, the largest piece), kept inside a centred ellipse
  (imagenette centres its objects); where that finds less than 10 % of the photo, the ellipse itself. Like product
  photos on a plain background: colour and texture inside a silhouette.
"""
import argparse, random
from pathlib import Path
import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageFilter
from scipy import ndimage

SIDE = 64
FONT_DIR = Path(matplotlib.get_data_path())/'fonts'/'ttf'
FONTS = ['DejaVuSans', 'DejaVuSans-Bold', 'DejaVuSans-Oblique', 'DejaVuSans-BoldOblique', 'DejaVuSansMono', 'DejaVuSansMono-Bold',
         'DejaVuSansMono-Oblique', 'DejaVuSansMono-BoldOblique', 'DejaVuSerif', 'DejaVuSerif-Bold', 'DejaVuSerif-Italic',
         'DejaVuSerif-BoldItalic', 'STIXGeneral', 'STIXGeneralBol', 'STIXGeneralItalic', 'STIXGeneralBolIta', 'cmr10', 'cmb10',
         'cmss10', 'cmtt10', 'cmti10', 'cmmi10']

def glyph(digit: int, rng: random.Random) -> Image.Image:
    "One digit on black, in a random font, size, rotation, offset and stroke"
    big = 4 * SIDE                                                     # drawn large, then reduced: smooth edges
    font = ImageFont.truetype(str(FONT_DIR/f'{rng.choice(FONTS)}.ttf'), round(big * rng.uniform(0.5, 0.85)))
    im = Image.new('L', (big, big))
    draw = ImageDraw.Draw(im)
    stroke = rng.randint(0, 8)
    draw.text((big / 2, big / 2), str(digit), fill=255, font=font, anchor='mm', stroke_width=stroke, stroke_fill=255)
    im = im.rotate(rng.uniform(-20, 20), resample=Image.Resampling.BICUBIC)
    im = im.transform(im.size, Image.Transform.AFFINE, (1, 0, rng.uniform(-0.1, 0.1) * big, 0, 1, rng.uniform(-0.1, 0.1) * big),
                      resample=Image.Resampling.BICUBIC)
    return im.resize((SIDE, SIDE), Image.Resampling.LANCZOS)

def make_glyphs(out: Path, n_train: int, n_val: int, seed: int = 0):
    rng = random.Random(seed)
    for split, n in (('train', n_train), ('val', n_val)):
        for i in range(n):
            digit = i % 10
            f = out/split/str(digit)/f'{split}_{i:05d}.png'
            if f.exists(): continue
            f.parent.mkdir(parents=True, exist_ok=True)
            glyph(digit, rng).save(f)

def object_mask(photo: np.ndarray) -> np.ndarray:
    "Boolean `[H, W]`: the region of `photo` `[H, W, 3]` that differs from its border's colour, inside a centred ellipse"
    h, w, _ = photo.shape
    border = np.concatenate([photo[0], photo[-1], photo[:, 0], photo[:, -1]]).astype(np.float32)
    distance = np.linalg.norm(photo.astype(np.float32) - np.median(border, 0), axis=2)
    distance = ndimage.gaussian_filter(distance, 2)
    yy, xx = np.mgrid[:h, :w]
    ellipse = ((yy - h / 2) / (0.48 * h)) ** 2 + ((xx - w / 2) / (0.48 * w)) ** 2 <= 1
    mask = ndimage.binary_closing(distance > np.percentile(distance, 60), iterations=3) & ellipse
    mask = ndimage.binary_fill_holes(mask)
    pieces, n = ndimage.label(mask)
    if n: mask = pieces == (np.argmax(np.bincount(pieces.ravel())[1:]) + 1)
    return mask if mask.mean() >= 0.1 else ellipse

def cutout(f: Path) -> Image.Image:
    "The photo's object, scaled to 70 % of the side, on a black square"
    im = Image.open(f).convert('RGB')
    im.thumbnail((160, 160))
    photo = np.asarray(im)
    mask = object_mask(photo)
    rows, cols = np.where(mask)
    box = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    obj = Image.fromarray(np.where(mask[..., None], photo, 0).astype(np.uint8)).crop(box)
    alpha = Image.fromarray((mask * 255).astype(np.uint8)).crop(box).filter(ImageFilter.GaussianBlur(0.7))
    scale = 0.7 * SIDE / max(obj.size)
    size = (max(1, round(obj.width * scale)), max(1, round(obj.height * scale)))
    canvas = Image.new('RGB', (SIDE, SIDE))
    canvas.paste(obj.resize(size, Image.Resampling.LANCZOS), ((SIDE - size[0]) // 2, (SIDE - size[1]) // 2),
                 alpha.resize(size, Image.Resampling.LANCZOS))
    return canvas

def make_cutouts(out: Path, imagenette: Path):
    classes = sorted(d.name for d in (imagenette/'train').iterdir() if d.is_dir())
    for split in ('train', 'val'):
        for y, c in enumerate(classes):
            for f in sorted((imagenette/split/c).iterdir()):
                target = out/split/str(y)/(f.stem + '.png')
                if target.exists(): continue
                target.parent.mkdir(parents=True, exist_ok=True)
                cutout(f).save(target)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('out', type=Path, help="folder to write the kinds into (each as OUT/<kind>/{train,val}/<class>/)")
    p.add_argument('--imagenette', type=Path, help="imagenette's folder (train/<wnid>/, val/<wnid>/), for the cutouts")
    p.add_argument('--kinds', nargs='+', default=['glyphs', 'cutouts'], choices=['glyphs', 'cutouts'])
    p.add_argument('--glyphs', type=int, nargs=2, default=[12000, 3000], metavar=('TRAIN', 'VAL'))
    a = p.parse_args()
    if 'glyphs' in a.kinds: make_glyphs(a.out/'glyphs', *a.glyphs)
    if 'cutouts' in a.kinds:
        if a.imagenette is None: p.error("--imagenette is needed for the cutouts")
        make_cutouts(a.out/'cutouts', a.imagenette)

if __name__ == '__main__': main()
