"""Continued pretraining (issue 33): does a run that starts from trained weights end above both where it started and a
run from scratch of the same length, without ever falling below its start on the way, and what does it forget?

    python bench/continued.py source ../shared/data/imagenette --work /tmp/cp --epochs 15
    python bench/continued.py targets ../shared/data/imagenette --work /tmp/cp --epochs 5
    python bench/continued.py targets ../shared/data/imagenette --work /tmp/cp --only gray 48 --schedules new --tag _own \
        --init /tmp/cp/source/student_21.pt --curves /tmp/cp/continued_own.json

`source` makes the weights a user would start from, the way a user would: `train` on imagenette at 64 px in colour
(the command line's defaults, the cpu preset), kNN on imagenette's val split as it goes, then `export --format hf`
to `WORK/source_hf`. `targets` continues from that folder with `--init` on folders of other kinds (imagenette in gray;
imagenette at 48 px; scikit-learn's digits, upscaled) under this library's schedule for a run that starts from weights
and under the from-scratch schedule it used before, beside a run from scratch of the same epochs and the source as it
is; kNN after every epoch on the target, and on the source's own validation images at the end (what it forgot).
Prints one markdown row per run as soon as it is done, and keeps every check of every run in `--curves` (JSON).
"""
import argparse, csv, json, random, shlex, subprocess, sys, time
from pathlib import Path
import numpy as np
from PIL import Image
from proxy_family import make_split
from data2vec_vision.data import labeled_images, labeled_split
from data2vec_vision.evaluation import extract_features, knn_accuracy
from data2vec_vision.model import Data2Vec

def labeled_folder(path, work: Path, size: int, gray: bool, count=None) -> Path:
    "imagenette's train (a seeded `count` of it) and val splits at `size` px under `work`: a folder `train`'s --knn-eval-path takes"
    name = f"imagenette_{size}px_{'gray' if gray else 'colour'}" + (f"_{count}" if count else '')
    for split in ('train', 'val'):
        files, y, _ = labeled_images(f'{path}/{split}')
        if split == 'train' and count:
            keep = sorted(random.Random(0).sample(range(len(files)), count))
            files, y = [files[i] for i in keep], y[keep]
        make_split(files, y, work/name/split, size, gray)
    return work/name

def digits_folder(work: Path, size: int = 64) -> Path:
    "scikit-learn's 1,797 handwritten digits (8 x 8, 16 levels) upscaled to `size` px, 3 of 4 for train and 1 for val"
    from sklearn.datasets import load_digits
    d = load_digits()
    dest = work/f'digits_{size}px'
    for i, (im, y) in enumerate(zip(d.images, d.target)):
        f = dest/('val' if i % 4 == 3 else 'train')/str(y)/f'{i}.png'
        if f.exists(): continue
        f.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((im * 255 / 16).astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC).convert('RGB').save(f)
    return dest

def run(args: list, log: Path) -> float:
    "Run `python -m data2vec_vision ARGS` with its output in `log`; minutes it took"
    start = time.perf_counter()
    with open(log, 'w') as f: subprocess.run([sys.executable, '-m', 'data2vec_vision', *map(str, args)], stdout=f, stderr=subprocess.STDOUT, check=True)
    return (time.perf_counter() - start) / 60

def source(a):
    folder = labeled_folder(a.path, a.work, 64, gray=False)
    out = a.work/'source'
    minutes = run(['train', folder/'train', '--epochs', a.epochs, '--save-every', a.epochs, '--knn-eval-path', folder,
                   '--knn-every', a.knn_every, '--checkpoint-out-dir', out, *shlex.split(a.train_options)], a.work/'source.log')
    run(['export', out/f'student_{a.epochs - 1}.pt', '--format', 'hf', '--out', a.work/'source_hf'], a.work/'export.log')
    print(f"source: {a.epochs} epochs of {folder/'train'} in {minutes:.1f} min; exported to {a.work/'source_hf'}")

def knn_on(model_file, folder: Path) -> float:
    "kNN top-1 (k=20, T=0.07, mean-pooled features) of the model in `model_file` on the labeled `folder`"
    train_files, train_y, val_files, val_y, _ = labeled_split(folder)
    model = Data2Vec.from_pretrained(model_file)
    feats = [extract_features(model, f, 256, show_progress=False) for f in (train_files, val_files)]
    return knn_accuracy(feats[0], train_y, feats[1], val_y)

def checks(run: Path) -> list:
    "The kNN of each epoch's check in a run's log.csv"
    rows = list(csv.DictReader(open(run/'log.csv')))
    return [float(r['knn']) for r in rows]

SCHEDULES = {   # folder: (row, train options; None for a run from scratch)
    'scratch': ('from scratch', None),
    'today': ("continued, the from-scratch schedule", ['--head-warmup-pct', '0', '--layer-decay', '1', '--tau-initial', '0.999']),
    'new': ('continued, the defaults for a run from weights', []),
}

def targets(a):
    source_folder, init = labeled_folder(a.path, a.work, 64, gray=False), a.init or a.work/'source_hf'
    cells = {'imagenette gray 64 px': (labeled_folder(a.path, a.work, 64, gray=True, count=a.count), 64),
             'imagenette colour 48 px': (labeled_folder(a.path, a.work, 48, gray=False, count=a.count), 48),
             'digits (scikit-learn) 64 px': (digits_folder(a.work), 64)}
    print(f"| target | run | epochs | minutes | kNN after 1 | after 2 | after {a.epochs} | lowest check - source | on the source's val |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    curves = json.loads(a.curves.read_text()) if a.curves.exists() else {}
    for name, (folder, size) in cells.items():
        if a.only and not any(o in name for o in a.only): continue
        source_knn = None
        curves.setdefault(name, {})
        for key, (run_name, options) in SCHEDULES.items():
            if key not in a.schedules: continue
            out, run_name = a.work/f"{folder.name}_{key}{a.tag}", run_name + (f", {a.train_options}" if a.train_options else '')
            args = ['train', folder/'train', '--image-size', size, '--epochs', a.epochs, '--save-every', a.epochs, '--knn-eval-path', folder,
                    '--knn-every', 1, '--checkpoint-out-dir', out, *shlex.split(a.train_options)]
            if options is not None: args += ['--init', init, *options]
            minutes = run(args, out.with_suffix('.log'))
            knn = checks(out)
            if options is not None:
                said = [l for l in out.with_suffix('.log').read_text().splitlines() if l.startswith('kNN top-1 of the init')]
                source_knn = float(said[0].split(': ')[1].split()[0])
            lowest = f"{min(knn) - source_knn:+.3f}" if options is not None else ''
            forgot = knn_on(out/f'student_{a.epochs - 1}.pt', source_folder) if options is not None else float('nan')
            curves[name][run_name] = dict(knn=knn, minutes=minutes, on_source=forgot)
            print(f"| {name} | {run_name} | {a.epochs} | {minutes:.1f} | {knn[0]:.3f} | {knn[1]:.3f} | {knn[-1]:.3f} | {lowest} | {forgot:.3f} |", flush=True)
        if source_knn is None or len(a.schedules) < len(SCHEDULES): continue   # a lever measured alone: no source row
        on_source = knn_on(init, source_folder)
        curves[name]['the source as it is'] = dict(knn=[source_knn], minutes=0, on_source=on_source)
        print(f"| {name} | the source as it is | 0 | 0 | {source_knn:.3f} | | | | {on_source:.3f} |", flush=True)
    a.curves.write_text(json.dumps(curves, indent=1))

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('step', choices=['source', 'targets'])
    p.add_argument('path', help="imagenette: a labeled folder with train/<class>/ and val/<class>/")
    p.add_argument('--work', type=Path, default=Path('/tmp/continued'))
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--knn-every', type=int, default=5)
    p.add_argument('--count', type=int, default=4000, help="training images of each imagenette target (a seeded subset)")
    p.add_argument('--schedules', nargs='+', default=list(SCHEDULES), choices=list(SCHEDULES), help="the runs of each target (default: all)")
    p.add_argument('--tag', default='', help="added to each run's folder name, for a lever run beside the defaults'")
    p.add_argument('--only', nargs='*', help="targets whose name holds one of these words")
    p.add_argument('--curves', type=Path, default=Path('continued.json'), help="JSON file for every check of every run (default: continued.json)")
    p.add_argument('--train-options', default='', help="more train options, one string (default: none)")
    p.add_argument('--init', type=Path, help="the weights the targets continue from (default: WORK/source_hf, the source exported for "
                                            "transformers; WORK/source/student_N.pt continues the source run itself, its decoder included)")
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    dict(source=source, targets=targets)[a.step](a)

if __name__ == '__main__': main()
