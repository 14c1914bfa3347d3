"""Whole training steps of the cpu preset by number of data-loading workers, eager float32 and compiled bf16 (the
defaults of a long run where bf16 is native), in one process so that the ratios share the machine's state.

    python bench/loader_workers.py ../shared/data/imagenette/train --steps 80

On a CPU the workers take cores from the training's own threads; this measures how much.
"""
import argparse, statistics
from fastai.torch_core import set_seed
from data2vec_vision.data import pretrain_dataloaders
from data2vec_vision.learner import data2vec_learner
from data2vec_vision.model import Data2Vec
from common import StepLog

RUNS = (('eager fp32', dict(precision='fp32', teacher_precision='fp32', compile='off')),
        ('bf16 compiled', dict(precision='bf16', teacher_precision='bf16', compile='on')))

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('path', help="a folder of images")
    p.add_argument('--steps', type=int, default=80, help="steps per run; the median leaves out the first 15 (compilation)")
    p.add_argument('--workers', type=int, nargs='+', default=[2, 1, 0])
    a = p.parse_args()
    rows = []
    for workers in a.workers:
        for name, options in RUNS:
            set_seed(0)
            dls = pretrain_dataloaders(a.path, 64, 64, seed=0, device='cpu', num_workers=workers)
            learn = data2vec_learner(dls, Data2Vec(preset='cpu'), **options)
            log = StepLog(a.steps)
            with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, cbs=[log])
            rows.append((workers, name, statistics.median(log.seconds[15:])))
    base = rows[0][2]
    print(f"| workers | run | s/step (median) | x {rows[0][1]}, {rows[0][0]} workers |\n|---|---|---|---|")
    for workers, name, seconds in rows: print(f"| {workers} | {name} | {seconds:.3f} | {base / seconds:.2f}x |")

if __name__ == '__main__': main()
