"""How far a data2vec training step is from what the hardware can do: model FLOPs utilisation (MFU), in one process.

    python bench/mfu.py                                   # CPU: the cpu preset at 32 and 64 px, ViT-S/16 and ViT-B/16 at 224 px
    python bench/mfu.py --device cuda --sizes "ViT-B/16 224 px"

1. The machine's peak: the fastest of matrix multiplies large enough to saturate it (square ones, and a ViT-B's linear
   layers), in float32 and in bf16, timed here before and after the steps (the best of both: a machine's speed drifts).
2. The FLOPs of one default training step, counted by `torch.utils.flop_counter` (matrix multiplies and attention):
   the teacher's forward on every image, the student on the visible tokens of every masked copy, the decoder, the
   backward pass. The optimizer and the EMA update are memory-bound and count no FLOPs here.
3. The step's time (median of `--steps`, after warm-up), eager float32, eager bf16 and compiled bf16, and
   MFU = FLOPs / time / the peak of the step's precision.
4. Where the time goes: `torch.profiler` over one eager bf16 step of the first size, its operators (on a GPU, its
   kernels) gathered into kinds.
"""
import argparse, re, sys, time
from collections import defaultdict
import torch
from torch.utils.flop_counter import FlopCounterMode
from data2vec_vision.settings import resolve_settings
from throughput import SIZES, make_step, seconds_per_step, sync

CPU_SIZES = {'cpu preset 32 px': 64, 'cpu preset 64 px': 64, 'ViT-S/16 224 px': 8, 'ViT-B/16 224 px': 4}   # batch on two cores

def matmul_peak(device, dtype, n: int, repeats: int = 5) -> float:
    "FLOP/s of the fastest matrix multiply of `repeats` of each shape: square ones of side `n` and `2n`, and a ViT-B's linear layers on 8,192 tokens"
    best = 0.
    for rows, inner, cols in ((n, n, n), (2 * n, 2 * n, 2 * n), (8192, 768, 768), (8192, 768, 3072)):
        a, b = torch.randn(rows, inner, device=device, dtype=dtype), torch.randn(inner, cols, device=device, dtype=dtype)
        a @ b
        for _ in range(repeats):
            sync(device); t = time.perf_counter(); a @ b; sync(device)
            best = max(best, 2 * rows * inner * cols / (time.perf_counter() - t))
    return best

def peaks(device, n: int) -> dict:
    return {'fp32': matmul_peak(device, torch.float32, n), 'bf16': matmul_peak(device, torch.bfloat16, n)}

def step_flops(step) -> int:
    "FLOPs of one call of `step`, forward and backward"
    with FlopCounterMode(display=False) as counter: step()
    return counter.get_total_flops()

KINDS = [   # (kind, operator names it holds, as a regular expression); the first that matches
    ('attention', r'scaled_dot_product|_flash_attention|_efficient_attention|softmax|bmm|baddbmm'),
    ('matmul (linear, MLP, heads)', r'addmm|^aten::mm$|matmul|linear|conv'),
    ('norms', r'layer_norm|instance_norm|group_norm|native_layer_norm|batch_norm'),
    ('optimizer and EMA (foreach)', r'_foreach|adam|lerp'),
    ('masks, gathers, copies', r'gather|scatter|index|masked|nonzero|where|cat|stack|copy_|clone|to_copy|repeat|expand|contiguous|bernoulli|randperm|rand'),
    ('elementwise (GELU, adds, casts)', r'gelu|add|mul|div|sub|pow|sqrt|rsqrt|exp|neg|sum|mean|var|fill|zero|ones|empty|_to|sigmoid|tanh|abs|clamp|mse|l1|smooth'),
]

def time_by_kind(step, device) -> dict:
    "Self time of one profiled call of `step` by kind of operator, in seconds: on the CPU, or the GPU's kernels"
    gpu = device.type == 'cuda'
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if gpu else [])
    with torch.profiler.profile(activities=activities) as prof: step(); sync(device)
    kinds = defaultdict(float)
    for e in prof.key_averages():
        kind = next((k for k, pattern in KINDS if re.search(pattern, e.key)), 'other (Python, autograd, allocation)')
        kinds[kind] += (e.self_device_time_total if gpu else e.self_cpu_time_total) / 1e6
    return dict(kinds)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cpu')
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--sizes', nargs='+', default=list(CPU_SIZES))
    p.add_argument('--gemm', type=int, default=None, help="side of the peak's matrix multiply (2048 on a CPU, 8192 on a GPU)")
    a = p.parse_args()
    device = torch.device(a.device)
    n = a.gemm or (8192 if device.type == 'cuda' else 2048)
    before = peaks(device, n)
    print(f"{device}, {torch.get_num_threads()} threads, torch {torch.__version__}; step: data2vec 2.0 with the preset's defaults, "
          f"median of {a.steps} steps; MFU against the peak below\n", flush=True)
    rows, profiled = [], None
    for name in a.sizes:
        args, bs_cpu, bs_gpu = SIZES[name]
        bs = bs_gpu if device.type == 'cuda' else CPU_SIZES.get(name, bs_cpu)
        size = args.get('img_size') or resolve_settings(dict(preset=args['preset']))['img_size']
        images = torch.randn(bs, 3, size, size, device=device)
        flops = step_flops(make_step('v2', args, images, compiled=False, bf16=False))
        base = None
        modes = [('eager', 'fp32'), ('eager', 'bf16')] + ([('compiled', 'bf16')] if size < 224 or device.type == 'cuda' else [])
        for mode, precision in modes:
            torch._dynamo.reset()
            step = make_step('v2', args, images, compiled=mode == 'compiled', bf16=precision == 'bf16')
            seconds = seconds_per_step(step, device, a.steps)
            base = base or seconds
            if profiled is None and (mode, precision) == ('eager', 'bf16'): profiled = (name, seconds, time_by_kind(step, device))
            rows.append((name, bs, flops, mode, precision, seconds, base))
            print(f"{name}, {mode} {precision}: {seconds * 1e3:.0f} ms", file=sys.stderr, flush=True)
    after = peaks(device, n)
    peak = {p: max(before[p], after[p]) for p in before}
    print("| size | batch | GFLOP a step | mode | ms a step | images/s | x eager fp32 | GFLOP/s | MFU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, bs, flops, mode, precision, seconds, base in rows:
        print(f"| {name} | {bs} | {flops / 1e9:.1f} | {mode} {precision} | {seconds * 1e3:.0f} | {bs / seconds:.1f} | {base / seconds:.2f}x | "
              f"{flops / seconds / 1e9:.0f} | {flops / seconds / peak[precision]:.0%} |")
    print(f"\nPeak (the fastest matrix multiply, before / after the steps): fp32 {before['fp32'] / 1e9:.0f} / {after['fp32'] / 1e9:.0f} GFLOP/s, "
          f"bf16 {before['bf16'] / 1e9:.0f} / {after['bf16'] / 1e9:.0f} GFLOP/s")
    name, seconds, kinds = profiled
    total = sum(kinds.values())
    print(f"\nWhere an eager bf16 step of the {name} goes (torch.profiler, the {'GPU kernels' if device.type == 'cuda' else 'operators'}' self time "
          f"in one step; the step took {seconds * 1e3:.0f} ms unprofiled):\n")
    print("| kind of operator | ms | share |\n|---|---|---|")
    for kind, s in sorted(kinds.items(), key=lambda kv: -kv[1]): print(f"| {kind} | {s * 1e3:.0f} | {s / total:.0%} |")

if __name__ == '__main__': main()
