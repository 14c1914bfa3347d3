"""Where a data2vec training step spends its time: each phase of a step timed on its own (median of several steps),
for both recipes, and how fast the data loader alone delivers images from a folder.

    python bench/step_profile.py ../shared/data/imagenette/train                 # cpu preset, 64 px, fp32
    python bench/step_profile.py ../shared/data/imagenette/train --precision bf16
    python bench/step_profile.py PATH --device cuda --precision bf16

The phases run in the order of a step (teacher targets, masks, student encoder, head or decoder, loss, backward,
optimizer, EMA update), with the device synchronised around each, so that they add up to a step.
"""
import argparse, time
import torch
from data2vec_vision.callback import Data2VecLoss
from data2vec_vision.data import pretrain_dataloaders
from data2vec_vision.masking import MASKS
from data2vec_vision.model import Data2Vec
from data2vec_vision.settings import resolve_settings
from data2vec_vision.model import place_visible

def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()

class Phases:
    "Seconds per named phase, a list per phase"
    def __init__(self, device): self.device, self.times = device, {}
    def __call__(self, name, f):
        sync(self.device); t = time.perf_counter()
        out = f()
        sync(self.device); self.times.setdefault(name, []).append(time.perf_counter() - t)
        return out
    def medians(self): return {k: sorted(v)[len(v) // 2] for k, v in self.times.items()}

def step(model, opt, loss_fn, images, mask_fn, n_masks, autocast, timed):
    p = model.config['patch_size']
    grid = (images.shape[-2] // p, images.shape[-1] // p)
    targets = timed('teacher targets', lambda: model.targets(images))
    if n_masks > 1: images, targets = images.repeat_interleave(n_masks, 0), targets.repeat_interleave(n_masks, 0)
    mask = timed('masks', lambda: mask_fn(len(images), grid, device=images.device))
    with autocast:
        if model.config['recipe'] == 'v1':
            feats = timed('student encoder', lambda: model.student(images, mask, model.mask_token)[0])
            pred = timed('head / decoder', lambda: (model.head(feats[:, 1:][mask]), feats[:, 0]))
        else:
            feats = timed('student encoder', lambda: model.student.forward_visible(images, mask))
            pred = timed('head / decoder', lambda: (model.head(place_visible(feats[:, 1:], mask), grid)[mask], feats[:, 0]))
        loss = timed('loss', lambda: loss_fn(tuple(t.float() for t in pred), targets, mask))
    timed('backward', loss.backward)
    timed('optimizer', lambda: (opt.step(), opt.zero_grad()))
    timed('EMA update', lambda: model.ema_update(0.999))

def loader_images_per_s(path, size, bs, n_batches=30):
    "Images/s that the training data loader delivers from `path` alone (default workers), after one warm-up batch"
    dl = pretrain_dataloaders(path, size, bs, device='cpu').train
    it = iter(dl); next(it)
    t = time.perf_counter()
    for _ in range(n_batches): next(it)
    return n_batches * bs / (time.perf_counter() - t)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('path', help="folder of images, for the data loading row")
    ap.add_argument('--preset', default='cpu')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--precision', default='fp32', choices=['fp32', 'bf16'])
    ap.add_argument('--steps', type=int, default=7)
    ap.add_argument('--n-masks', type=int, nargs='+', default=None, help="v2 mask counts to profile (default: the preset's)")
    a = ap.parse_args()
    device, pre = torch.device(a.device), resolve_settings(dict(preset=a.preset, recipe='v2'))
    bs, size = pre['batch_size'], pre['img_size']
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.precision == 'bf16')
    images = torch.randn(bs, 3, size, size, device=device)
    masks = a.n_masks or [pre['n_masks']]
    decoder, reference_decoder = (pre['decoder_dim'], pre['decoder_layers']), (pre['embed_dim'], 6)
    runs = [('v1', 1, None)] + [('v2', m, decoder) for m in masks]
    if decoder != reference_decoder: runs.append(('v2', masks[0], reference_decoder))   # what the preset's decoder saves
    print(f"preset {a.preset} ({size} px, batch {bs}), {device}, {a.precision}, {torch.get_num_threads()} threads; "
          f"median of {a.steps} steps after 2 warm-up steps\n")
    results = {}
    for recipe, n_masks, dec in runs:
        torch.manual_seed(0)
        model = Data2Vec(preset=a.preset, recipe=recipe, **(dict(decoder_dim=dec[0], decoder_layers=dec[1]) if dec else {})).to(device).train()
        d = resolve_settings(dict(preset=a.preset, recipe=recipe))
        opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=1e-4)
        mask_fn = lambda n, grid, device, m=MASKS[d['mask']], r=d['mask_ratio']: m(n, grid, r, device=device)
        loss_fn = Data2VecLoss(d['beta'], d['cls_weight'])
        timed = Phases(device)
        for i in range(a.steps + 2):
            if i == 2: timed.times = {}
            step(model, opt, loss_fn, images, mask_fn, n_masks, autocast, timed)
        results[f"{recipe}, {n_masks} mask{'s' if n_masks > 1 else ''}" + (f", decoder {dec[0]} x {dec[1]}" if dec else '')] = timed.medians()
    names = list(results)
    print("| phase | " + " | ".join(f"{n}: ms | %" for n in names) + " |")
    print("|---|" + "---|---|" * len(names))
    phases = list(next(iter(results.values())))
    totals = {n: sum(r.values()) for n, r in results.items()}
    for ph in phases:
        print(f"| {ph} | " + " | ".join(f"{results[n][ph] * 1e3:.1f} | {100 * results[n][ph] / totals[n]:.0f}%" for n in names) + " |")
    print("| **step** | " + " | ".join(f"**{totals[n] * 1e3:.1f}** | 100%" for n in names) + " |")
    print("| images/s (step) | " + " | ".join(f"{bs / totals[n]:.1f} | " for n in names) + " |")
    print(f"\ndata loader alone (default workers, {size} px, from {a.path}): {loader_images_per_s(a.path, size, bs):.1f} images/s")

if __name__ == '__main__': main()
