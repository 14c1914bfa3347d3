"""Training-step throughput of data2vec (v1 and v2, with the command line's default settings) against a plain timm ViT of
the same size doing forward + backward + AdamW (the baseline), eager and compiled (`--compile`), in float32 and in bf16
autocast, all in the same process. Ratios are against the eager float32 step of the same kind.

    python bench/throughput.py                          # CPU: the cpu preset at 64 px
    python bench/throughput.py --device cuda --sizes "ViT-B/16 224 px"

The data2vec step is the library's: `masked_batch` (masks, the teacher's targets once per image, the repeated views),
the model's forward, `Data2VecLoss`, the optimizer step and the EMA update; the teacher runs under bf16 autocast in
the bf16 columns, as `--teacher-precision auto` runs it on a device with native bf16.
"""
import argparse, time
from functools import partial
import torch
from timm.models.vision_transformer import VisionTransformer
from data2vec_vision.callback import Data2VecLoss, masked_batch
from data2vec_vision.masking import MASKS
from data2vec_vision.precision import compile_model
from data2vec_vision.forms import form_of
from data2vec_vision.model import Data2Vec
from data2vec_vision.settings import resolve_settings

SIZES = {   # name: (Data2Vec arguments, batch size on CPU, batch size on GPU)
    'cpu preset 64 px': (dict(preset='cpu'), 64, 256),
    'cpu preset 32 px': (dict(preset='cpu', img_size=32), 64, 256),
    'ViT-S/16 224 px': (dict(preset='vit_small'), 16, 128),
    'ViT-B/16 224 px': (dict(preset='vit_base'), 8, 128),
}
MODES = [('eager', 'fp32'), ('eager', 'bf16'), ('compiled', 'fp32'), ('compiled', 'bf16')]

def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()

def baseline_step(model, opt, images, bf16):
    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16): loss = model(images).float().pow(2).mean()
    loss.backward(); opt.step(); opt.zero_grad()

def data2vec_step(model, opt, loss_fn, images, mask_fn, n_masks, bf16):
    images, mask, targets = masked_batch(model, images, mask_fn, n_masks, teacher_bf16=bf16)
    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16): pred = model(images, mask)
    loss = loss_fn(tuple(p.float() for p in pred), targets, mask)
    loss.backward(); opt.step(); opt.zero_grad()
    model.ema_update(0.999)

def seconds_per_step(step, device, steps: int) -> float:
    "Median seconds of `steps` steps, after three warm-up steps (a compiled step compiles in the first)"
    for _ in range(3): step()
    times = []
    for _ in range(steps):
        sync(device); t = time.perf_counter(); step(); sync(device)
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]

def make_step(kind: str, args: dict, images, compiled: bool, bf16: bool):
    "A training step of `kind` ('baseline', 'v1', 'v2') on a fresh model"
    torch.manual_seed(0)
    if kind == 'baseline':
        c = Data2Vec(**args, recipe='v1').config
        vit = VisionTransformer(**{**form_of(c).timm_kwargs(c), 'num_classes': 0}).to(images.device)
        if compiled: vit.compile(dynamic=False)
        opt = torch.optim.AdamW(vit.parameters(), lr=1e-4)
        return lambda: baseline_step(vit, opt, images, bf16)
    s = resolve_settings(dict(preset=args['preset'], recipe=kind))
    model = Data2Vec(**args, recipe=kind).to(images.device).train()
    if compiled: compile_model(model)
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=1e-4)
    mask_fn, loss_fn = partial(MASKS[s['mask']], mask_ratio=s['mask_ratio']), Data2VecLoss(s['beta'], s['cls_weight'], model.config['recon_weight'])
    return lambda: data2vec_step(model, opt, loss_fn, images, mask_fn, s['n_masks'], bf16)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cpu')
    p.add_argument('--steps', type=int, default=7)
    p.add_argument('--sizes', nargs='+', default=['cpu preset 64 px'])
    p.add_argument('--modes', nargs='+', default=['eager', 'compiled'], choices=['eager', 'compiled'], help="eager, compiled or both (default: both)")
    a = p.parse_args()
    device, modes = torch.device(a.device), [m for m in MODES if m[0] in a.modes]
    print(f"{device}, {torch.get_num_threads()} threads, torch {torch.__version__}; images/s (x eager fp32 of the same step), "
          f"median of {a.steps} steps\n", flush=True)
    print("| size | batch | step | " + " | ".join(f"{c} {p}" for c, p in modes) + " |")
    print("|---|---|---|" + "---|" * len(modes))
    for name in a.sizes:
        args, bs_cpu, bs_gpu = SIZES[name]
        bs = bs_gpu if device.type == 'cuda' else bs_cpu
        size = resolve_settings(dict(preset=args['preset']))['img_size'] if 'img_size' not in args else args['img_size']
        images = torch.randn(bs, 3, size, size, device=device)
        for kind in ('baseline', 'v1', 'v2'):
            rates = []
            for compiled, precision in modes:
                torch._dynamo.reset()
                rates.append(bs / seconds_per_step(make_step(kind, args, images, compiled == 'compiled', precision == 'bf16'), device, a.steps))
            label = 'timm ViT' if kind == 'baseline' else f"data2vec {kind} ({resolve_settings(dict(preset=args['preset'], recipe=kind))['n_masks']} mask(s))"
            print(f"| {name} | {bs} | {label} | " + " | ".join(f"{r:.1f} ({r / rates[0]:.2f}x)" for r in rates) + " |", flush=True)

if __name__ == '__main__': main()
