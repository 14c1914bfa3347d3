"""Attention on the CPU: PyTorch's fused kernel against the products written out, alone and in a training step.

    python bench/attention_cpu.py

`attend` (data2vec_vision.model) writes the attention out on a CPU in bf16 autocast and calls the fused
`scaled_dot_product_attention` everywhere else. Part 1 times one attention's forward and backward passes at
the token counts of the presets (14: v2's visible tokens at 64 px; 65: all tokens at 64 px; 197: 224 px with
16 px patches; 577 and 1,025: larger grids), in float32 and in bf16 autocast, for the fused kernel, PyTorch's
math backend of the same function, and the written-out products. Part 2 times the passes of a whole training
step of the cpu preset (teacher, student, loss, backward: `measure_precision`'s step) eagerly, with `attend`
as built and with the fused kernel forced everywhere, against the float32 step with the fused kernel. Best of
several repetitions; every row in one process.
"""
import argparse, time
import torch
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel, SDPBackend
from fastai.torch_core import set_seed
import data2vec_vision.encoders as d2v_encoders
from data2vec_vision.data import pretrain_dataloaders, sample_images
from data2vec_vision.learner import data2vec_learner
from data2vec_vision.precision import _step_seconds
from data2vec_vision.model import Data2Vec

SIZES = ((128, 3, 14), (64, 3, 65), (64, 12, 197), (16, 12, 577), (8, 12, 1025))   # batch, heads, tokens

def written_out(q, k, v):
    "The products of `attend`'s CPU bf16 path, whatever the precision"
    return ((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)).softmax(-1) @ v

def fused(backend):
    def attention(q, k, v):
        with sdpa_kernel(backend): return F.scaled_dot_product_attention(q, k, v)
    return attention

def attention_ms(fn, batch: int, heads: int, tokens: int, bf16: bool, repeats: int) -> float:
    "Best milliseconds of `fn`'s forward and backward on random queries, keys and values of head width 64"
    q, k, v = (torch.randn(batch, heads, tokens, 64, requires_grad=True) for _ in range(3))
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16): out = fn(q, k, v)
        out.float().sum().backward()
        if i: times.append(time.perf_counter() - start)
    return min(times) * 1e3

def step_ms(attention, bf16: bool, repeats: int) -> float:
    "Best milliseconds of the cpu preset's step passes with `attention` as the library's `attend`"
    set_seed(0)
    built, d2v_encoders.attend = d2v_encoders.attend, attention
    try:
        dls = pretrain_dataloaders(sample_images(), 64, 32, num_workers=0, device='cpu')   # the learner; the step's batch is random
        learn = data2vec_learner(dls, Data2Vec(preset='cpu'), precision='fp32', teacher_precision='bf16' if bf16 else 'fp32', compile='off')
        images = torch.randn(64, 3, 64, 64)
        return min(_step_seconds(learn, images, bf16) for _ in range(repeats + 1)) * 1e3
    finally: d2v_encoders.attend = built

def always_fused(q, k, v, bias=None, dropout_p=0.):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--repeats', type=int, default=5)
    a = p.parse_args()
    print(f"{torch.get_num_threads()} threads, torch {torch.__version__}\n")
    print("| batch x heads | tokens | precision | fused (flash) ms | fused (math) ms | written out ms | fused / written out |")
    print("|---|---|---|---|---|---|---|")
    for batch, heads, tokens in SIZES:
        for bf16 in (False, True):
            flash, math, out = (attention_ms(fn, batch, heads, tokens, bf16, a.repeats)
                                for fn in (fused(SDPBackend.FLASH_ATTENTION), fused(SDPBackend.MATH), written_out))
            print(f"| {batch} x {heads} | {tokens} | {'bf16' if bf16 else 'fp32'} | {flash:.1f} | {math:.1f} | {out:.1f} | {flash / out:.2f}x |")
    print("\ncpu preset (64 px, batch 64, data2vec 2.0 with its 2 masks), the passes of one eager training step:\n")
    print("| attention | student and teacher | ms/step | x fp32 fused |\n|---|---|---|---|")
    rows = [(name, bf16, step_ms(fn, bf16, a.repeats)) for bf16 in (False, True)
            for name, fn in (('fused everywhere', always_fused), ('`attend` (as built)', d2v_encoders.attend))]
    base = rows[0][2]
    for name, bf16, ms in rows: print(f"| {name} | {'bf16' if bf16 else 'fp32'} | {ms:.0f} | {base / ms:.2f}x |")

if __name__ == '__main__': main()
