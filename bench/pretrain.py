"""Pretrain the CPU preset on a folder of images for a time budget; print throughput, loss and peak memory.

    python bench/pretrain.py ../shared/data/imagenette/train --minutes 5

The baseline, run in the same process on the same batch size, is a plain timm ViT of the same size doing
forward + backward + AdamW step on random images: the ratio says what data2vec's teacher pass, masking, data
loading and EMA cost on top of ordinary supervised-style training.
"""
import argparse, resource, time
import torch
from data2vec_vision.data import pretrain_dataloaders
from data2vec_vision.learner import data2vec_learner
from data2vec_vision.export import to_timm
from data2vec_vision.model import Data2Vec
from data2vec_vision.settings import resolve_settings
from common import TimeBudget, plan_epochs


def baseline_images_per_s(preset, batch_size, steps=10):
    "Images/s of a plain timm ViT of the preset's size: forward, backward, AdamW step"
    vit = to_timm(Data2Vec(preset=preset), num_classes=10).train()
    opt = torch.optim.AdamW(vit.parameters(), lr=1e-4)
    size = resolve_settings(dict(preset=preset))['img_size']
    x, y = torch.randn(batch_size, 3, size, size), torch.randint(0, 10, (batch_size,))
    for i in range(steps + 2):
        if i == 2: start = time.perf_counter()
        torch.nn.functional.cross_entropy(vit(x), y).backward()
        opt.step(); opt.zero_grad()
    return steps * batch_size / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('path', help="folder of images")
    p.add_argument('--minutes', type=float, default=5)
    p.add_argument('--preset', default='cpu')
    p.add_argument('--num-workers', type=int, default=None)
    a = p.parse_args()
    preset = resolve_settings(dict(preset=a.preset))
    torch.manual_seed(0)
    dls = pretrain_dataloaders(a.path, preset['img_size'], preset['batch_size'], num_workers=a.num_workers, device='cpu')
    base = baseline_images_per_s(a.preset, preset['batch_size'])
    tau = dict(tau_initial=preset['tau_initial'], tau_end=preset['tau_end'], tau_increase_pct=preset['tau_increase_pct'])
    epochs = plan_epochs(dls, a.preset, a.minutes, tau)
    budget = TimeBudget(a.minutes * 60)
    learn = data2vec_learner(dls, Data2Vec(preset=a.preset), **tau, cbs=[budget])
    start = time.perf_counter()
    with learn.no_bar(): learn.fit_one_cycle(epochs, preset['max_lr'])
    seconds = time.perf_counter() - start
    d2v = learn.data2vec
    rows = [
        ('preset', a.preset), ('train images', len(dls.train_ds)), ('planned epochs', epochs),
        ('seconds', f'{seconds:.0f}'), ('images seen', budget.images),
        ('data2vec images/s', f'{budget.images / seconds:.1f}'),
        ('baseline ViT fwd+bwd images/s', f'{base:.1f}'),
        ('data2vec / baseline', f'{budget.images / seconds / base:.2f}'),
        ('first loss (smoothed)', f'{float(learn.recorder.losses[0]):.4f}'),
        ('last loss (smoothed)', f'{float(learn.recorder.losses[-1]):.4f}'),
        ('last target spread', f'{d2v.hist["target_spread"][-1]:.3f}'),
        ('last prediction spread', f'{d2v.hist["pred_spread"][-1]:.3f}'),
        ('last tau', f'{d2v.hist["tau"][-1]:.5f}'),
        ('peak RSS main process (MiB)', f'{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}'),
        ('peak RSS one worker (MiB)', f'{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}'),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"\n| {'measure':<{width}} | value |\n|{'-' * (width + 2)}|-------|")
    for k, v in rows: print(f"| {k:<{width}} | {v} |")


if __name__ == '__main__': main()
