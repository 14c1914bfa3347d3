"""Training-step throughput of data2vec (v1 and v2) against a plain timm ViT of the same size doing
forward + backward + AdamW (the baseline), in the same process, with the achieved FLOP/s against this machine's
matrix-multiply peak measured in the same run.

    python bench/throughput.py                      # CPU: the cpu preset at 32 and 64 px, ViT-S/16 at 224 px
    python bench/throughput.py --device cuda --precision bf16

FLOPs are counted by torch's FlopCounterMode on one step (matrix multiplies and convolutions, forward and backward);
the teacher's forward is included in the data2vec steps. The same script runs unchanged on a GPU.
"""
import argparse, time
import torch
from torch.utils.flop_counter import FlopCounterMode
from timm.models.vision_transformer import VisionTransformer
from data2vec_vision.callback import Data2VecLoss
from data2vec_vision.learner import MASKS
from data2vec_vision.settings import resolve_settings
from data2vec_vision.model import Data2Vec, timm_kwargs

SIZES = {   # name: (model arguments, batch size on CPU, batch size on GPU)
    'cpu preset 32 px': (dict(img_size=32, patch_size=8, embed_dim=192, depth=6, num_heads=3, k=3), 64, 256),
    'cpu preset 64 px': (dict(img_size=64, patch_size=8, embed_dim=192, depth=6, num_heads=3, k=3), 64, 256),
    'ViT-S/16 224 px': (dict(img_size=224, patch_size=16, embed_dim=384, depth=12, num_heads=6, k=6), 16, 128),
}

def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()

def matmul_peak(device, dtype, n=2048, reps=10):
    "FLOP/s of an n x n matrix multiply, the best of a few timings"
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2): a @ b
    best = float('inf')
    for _ in range(reps):
        sync(device); t = time.perf_counter(); a @ b; sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best

def baseline_step(model, opt, images, autocast):
    with autocast: loss = model(images).float().pow(2).mean()
    loss.backward(); opt.step(); opt.zero_grad()

def data2vec_step(model, opt, loss_fn, images, mask_fn, n_masks, autocast):
    targets = model.targets(images)
    if n_masks > 1: images, targets = images.repeat_interleave(n_masks, 0), targets.repeat_interleave(n_masks, 0)
    grid = (images.shape[-2] // model.config['patch_size'],) * 2
    mask = mask_fn(len(images), grid, device=images.device)
    with autocast: pred = model(images, mask)
    loss = loss_fn(tuple(p.float() for p in pred), targets, mask)
    loss.backward(); opt.step(); opt.zero_grad()
    model.ema_update(0.999)

def measure(step, device, steps):
    "Seconds per step (median of `steps` after two warm-up steps), FLOPs of one step, peak GPU memory in MiB"
    if device.type == 'cuda': torch.cuda.reset_peak_memory_stats()
    for _ in range(2): step()
    with FlopCounterMode(display=False) as counter: step()
    times = []
    for _ in range(steps):
        sync(device); t = time.perf_counter(); step(); sync(device)
        times.append(time.perf_counter() - t)
    mem = torch.cuda.max_memory_allocated() / 2**20 if device.type == 'cuda' else float('nan')
    return sorted(times)[len(times) // 2], counter.get_total_flops(), mem

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cpu')
    p.add_argument('--precision', default='fp32', choices=['fp32', 'bf16'])
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--sizes', nargs='+', default=list(SIZES))
    a = p.parse_args()
    device, dtype = torch.device(a.device), torch.bfloat16 if a.precision == 'bf16' else torch.float32
    peak = matmul_peak(device, dtype)
    print(f"{device}, {a.precision}: matrix-multiply peak {peak / 1e9:.1f} GFLOP/s, {torch.get_num_threads()} threads\n", flush=True)
    print("| size | batch | step | images/s | masked views/s | vs baseline | GFLOP/s | % of matmul peak | peak memory (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in a.sizes:
        args, bs_cpu, bs_gpu = SIZES[name]
        bs = bs_gpu if device.type == 'cuda' else bs_cpu
        images = torch.randn(bs, 3, args['img_size'], args['img_size'], device=device)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.precision == 'bf16')
        rows = []
        torch.manual_seed(0)
        vit = VisionTransformer(**{**timm_kwargs(Data2Vec(**args)), 'num_classes': 0}).to(device)
        opt = torch.optim.AdamW(vit.parameters(), lr=1e-4)
        rows.append(('baseline timm ViT', 1, measure(lambda: baseline_step(vit, opt, images, autocast), device, a.steps)))
        del vit, opt
        for recipe in ('v1', 'v2'):
            torch.manual_seed(0)
            model = Data2Vec(**args, recipe=recipe).to(device).train()
            d = resolve_settings(dict(recipe=recipe))
            opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=1e-4)
            mask_fn = lambda n, grid, device, m=MASKS[d['mask']], r=d['mask_ratio']: m(n, grid, r, device=device)
            loss_fn = Data2VecLoss(d['beta'], d['cls_weight'])
            step = lambda: data2vec_step(model, opt, loss_fn, images, mask_fn, d['n_masks'], autocast)
            rows.append((f"data2vec {recipe} ({d['n_masks']} mask{'s' if d['n_masks'] > 1 else ''})", d['n_masks'], measure(step, device, a.steps)))
            del model, opt
        base = bs / rows[0][2][0]
        for step_name, n_masks, (sec, flops, mem) in rows:
            ips = bs / sec
            print(f"| {name} | {bs} | {step_name} | {ips:.1f} | {ips * n_masks:.1f} | {ips / base:.2f} | {flops / sec / 1e9:.1f} "
                  f"| {100 * flops / sec / peak:.0f}% | {'-' if mem != mem else f'{mem:.0f}'} |", flush=True)

if __name__ == '__main__': main()
