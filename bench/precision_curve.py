"""The default training step against eager float32, on the same batches: speed and the loss curve (issue 18's check).

    python bench/precision_curve.py ../shared/data/imagenette/train --steps 300

Three runs of the cpu preset from the same initial weights and seed, so the same images and masks: eager float32
(student and teacher); the defaults as a short run takes them (`--precision auto`, measured on this machine;
`--teacher-precision auto`; eager, as `--compile auto` leaves a run of under 2,000 steps); and as a long run takes
them (the same, compiled). Prints the seconds
per step (median, after the first 10 steps, which hold the compilation) with the ratio, and writes each run's loss per
step to `--out` (JSON) for the Benchmarks page's picture.
"""
import argparse, json, statistics
from pathlib import Path
import torch
from fastai.torch_core import set_seed
from data2vec_vision.data import pretrain_dataloaders
from data2vec_vision.learner import data2vec_learner
from data2vec_vision.model import Data2Vec
from common import StepLog

def run(path, steps: int, seed: int, **options) -> tuple:
    set_seed(seed)                          # python, numpy and torch: the same batches, masks and initial weights
    dls = pretrain_dataloaders(path, 64, 64, seed=seed, device='cpu')
    learn = data2vec_learner(dls, Data2Vec(preset='cpu'), **options)
    log = StepLog(steps)
    epochs = -(-steps // len(dls.train))
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, cbs=[log])
    return log, learn

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('path', help="a folder of images")
    p.add_argument('--steps', type=int, default=300)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', type=Path, default=Path('bench/results/speed/precision_curve_cpu.json'))
    a = p.parse_args()
    runs = {}
    for name, options in (('eager fp32', dict(precision='fp32', teacher_precision='fp32', compile='off')),
                          ('default, short run (eager)', dict()),
                          ('default, long run (compiled)', dict(compile='on'))):
        log, learn = run(a.path, a.steps, a.seed, **options)
        runs[name] = dict(losses=log.losses, seconds=statistics.median(log.seconds[10:]), precision=learn.precision,
                          teacher_bf16=learn.data2vec.teacher_bf16)
    base = runs['eager fp32']['seconds']
    print(f"{torch.get_num_threads()} threads, torch {torch.__version__}, cpu preset 64 px, batch 64, {a.steps} steps\n")
    print("| run | student precision | teacher | s/step (median) | x eager fp32 | mean loss, last 50 steps |\n|---|---|---|---|---|---|")
    for name, r in runs.items():
        print(f"| {name} | {r['precision']} | {'bf16' if r['teacher_bf16'] else 'fp32'} | {r['seconds']:.3f} | {base / r['seconds']:.2f}x | "
              f"{statistics.mean(r['losses'][-50:]):.4f} |")
    a.out.write_text(json.dumps({name: dict(r, losses=[round(l, 5) for l in r['losses']]) for name, r in runs.items()}))

if __name__ == '__main__': main()
