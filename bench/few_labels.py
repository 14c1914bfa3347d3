"""Levers for fine-tuning with few labels: the finetune command from a pretrained model and from the same ViT at random
initialisation, on 10 % and 1 % of a cell's training labels, under its defaults and under each set of options given.

    python bench/quality.py ../shared/data/imagenette --size 32 --epochs 5      # the cell and its kept student
    python bench/few_labels.py /tmp/quality/imagenette_32px_colour /tmp/quality/imagenette_32px_colour_5ep_student_5.pt \\
        --options '' '--lr 3e-3' '--epochs 30'

The labels are a stratified, seeded share of the cell's train/ (as bench/quality.py takes them, though not the same images);
the test images are the cell's test/, or a seeded sample of them (--test).
Prints one markdown row per (options, share) as soon as both runs are done; the runs' own output goes to a log.
"""
import argparse, contextlib, random, shlex, sys, tempfile
from pathlib import Path
import torch
from data2vec_vision.data import labeled_images
from data2vec_vision.model import Data2Vec
from quality import FRACTIONS, finetune_top1, labeled_folder, stratified


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('cell', type=Path, help="a cell bench/quality.py wrote: CELL/train/<class>/, CELL/test/<class>/")
    p.add_argument('student', type=Path, help="the pretrained model to fine-tune (bench/quality.py keeps each it read)")
    p.add_argument('--options', nargs='+', default=[''], help="finetune options, one string per row ('' : the defaults)")
    p.add_argument('--shares', type=float, nargs='+', default=list(FRACTIONS))
    p.add_argument('--test', type=int, help="read only this many of the test images (a seeded sample), for a quicker sweep")
    p.add_argument('--log', type=Path, default=Path('/tmp/few_labels.log'))
    a = p.parse_args()
    train, train_y, _ = labeled_images(a.cell/'train')
    test, _, _ = labeled_images(a.cell/'test')
    if a.test: test = sorted(random.Random(0).sample(test, min(a.test, len(test))))
    report = sys.stdout
    print(f"# {a.cell.name}, from {a.student.name} against the same ViT at random init; {len(test)} test images\n", flush=True)
    print("| finetune options | labels | images | random init | pretrained | pretrained - random | minutes (pretrained) |\n|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as tmp, open(a.log, 'w') as chatter, contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
        tmp = Path(tmp)
        torch.manual_seed(0)
        Data2Vec(**Data2Vec.from_pretrained(a.student).config).save(tmp/'random.pt')
        for share in a.shares:
            idx = stratified(train_y, share, seed=2)
            folder = labeled_folder(tmp/f'labels_{share}', [train[i] for i in idx], test)
            for n, options in enumerate(a.options):
                runs = {init: finetune_top1(init, folder, tmp/f'{init.stem}_{share}_{n}.safetensors', shlex.split(options)) for init in (tmp/'random.pt', a.student)}
                (random_top1, _), (top1, minutes) = runs.values()
                print(f"| {options or '(defaults)'} | {share:.0%} | {len(idx)} | {random_top1:.3f} | {top1:.3f} | {top1 - random_top1:+.3f} | {minutes:.1f} |",
                      file=report, flush=True)


if __name__ == '__main__': main()
