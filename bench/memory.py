"""How a training step's memory and time grow with the image size (tokens) and the batch, with and without gradient
checkpointing (`--grad-checkpointing`), ratios in one run.

    python bench/memory.py                                  # CPU: the cpu preset at 32, 64 and 96 px, ViT-S/16 at 224 px
    python bench/memory.py --device cuda --cells "vit_large 224 32" "vit_base 224 128"

Each cell runs in a fresh process (on a CPU, the peak resident memory of the process is the only honest measure), and its
memory is the step's: the peak while training, less the peak of the same process having built the model and the batch.
On a GPU it is `torch.cuda.max_memory_allocated` over the steps. The step is data2vec 2.0's with the preset's settings,
eager, in bf16 autocast where the device has it natively; data2vec 2.0's by default, whose student sees only the
visible fifth of the tokens (data2vec's, v1, sees them all, and saves more).
"""
import argparse, json, resource, subprocess, sys, time
from functools import partial
import torch
from data2vec_vision.settings import resolve_settings

CPU_CELLS = ['cpu 32 64', 'cpu 64 64', 'cpu 96 64', 'cpu 64 128', 'vit_small 224 8', 'cpu 64 64 v1', 'vit_small 224 8 v1']   # preset, image size, batch[, recipe]

def run_cell(preset: str, size: int, batch: int, recipe: str, checkpointing: bool, device: str, steps: int) -> dict:
    "Memory (bytes) and median seconds of a step of one cell, measured in this process"
    from data2vec_vision.callback import Data2VecLoss
    from data2vec_vision.masking import MASKS
    from data2vec_vision.model import Data2Vec
    from data2vec_vision.precision import has_native_bf16
    from throughput import data2vec_step, sync
    dev = torch.device(device)
    s = resolve_settings(dict(preset=preset, img_size=size, recipe=recipe))
    torch.manual_seed(0)
    model = Data2Vec(preset=preset, img_size=size, recipe=recipe).to(dev).train()
    model.student.set_grad_checkpointing(checkpointing)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    images = torch.randn(batch, 3, size, size, device=dev)
    mask_fn, loss_fn = partial(MASKS[s['mask']], mask_ratio=s['mask_ratio']), Data2VecLoss(s['beta'], s['cls_weight'], model.config['recon_weight'])
    step = lambda: data2vec_step(model, opt, loss_fn, images, mask_fn, s['n_masks'], has_native_bf16(dev))
    built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if dev.type == 'cuda': sync(dev); torch.cuda.reset_peak_memory_stats(); built = torch.cuda.memory_allocated()
    times = []
    for i in range(steps + 1):
        sync(dev); t = time.perf_counter(); step(); sync(dev)
        if i: times.append(time.perf_counter() - t)
    peak = torch.cuda.max_memory_allocated() if dev.type == 'cuda' else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return dict(memory=peak - built, seconds=sorted(times)[len(times) // 2])

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cpu')
    p.add_argument('--steps', type=int, default=3)
    p.add_argument('--cells', nargs='+', default=CPU_CELLS, help="'PRESET SIZE BATCH [RECIPE]' each; the recipe v2 when not given")
    p.add_argument('--cell', help=argparse.SUPPRESS)   # one cell, in a fresh process: 'PRESET SIZE BATCH RECIPE CHECKPOINTING'
    a = p.parse_args()
    if a.cell:
        preset, size, batch, recipe, checkpointing = a.cell.split()
        print(json.dumps(run_cell(preset, int(size), int(batch), recipe, checkpointing == 'on', a.device, a.steps)))
        return
    print(f"{a.device}, {torch.get_num_threads()} threads, torch {torch.__version__}; a training step with the preset's settings, "
          f"eager; median of {a.steps} steps, each cell in a fresh process\n", flush=True)
    print("| preset | recipe | size | tokens | batch | step memory | with checkpointing | memory saved | step time | with checkpointing | time added |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for cell in a.cells:
        preset, size, batch, recipe = (cell.split() + ['v2'])[:4]
        r = {}
        for mode in ('off', 'on'):
            out = subprocess.run([sys.executable, __file__, '--device', a.device, '--steps', str(a.steps), '--cell', f'{preset} {size} {batch} {recipe} {mode}'],
                                 capture_output=True, text=True, check=True)
            r[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        patch = resolve_settings(dict(preset=preset, img_size=int(size)))['patch_size']
        mib = lambda b: f"{b / 2**20:,.0f} MiB"
        print(f"| {preset} | {recipe} | {size} | {(int(size) // patch) ** 2} | {batch} | {mib(r['off']['memory'])} | {mib(r['on']['memory'])} | "
              f"{1 - r['on']['memory'] / r['off']['memory']:.0%} | {r['off']['seconds'] * 1e3:.0f} ms | {r['on']['seconds'] * 1e3:.0f} ms | "
              f"{r['on']['seconds'] / r['off']['seconds'] - 1:+.0%} |", flush=True)

if __name__ == '__main__': main()
