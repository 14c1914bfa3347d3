"""Checks of data2vec under DDP, run by `nbs/11_distributed.ipynb` in 2 CPU processes:

    torchrun --standalone --nproc-per-node 2 tests/ddp_check.py step RECIPE OUT_DIR
    torchrun --standalone --nproc-per-node 2 tests/ddp_check.py train STOP_AFTER_EPOCHS TRAIN_OPTION...
    torchrun --standalone --nproc-per-node 2 tests/ddp_check.py precision OUT_DIR

`step` trains a few steps and has rank 0 write OUT_DIR/result.json: the first step's loss and gradients under DDP
and for one process given the same global batch, the teachers of both ranks afterwards, and each rank's share of
an epoch. `train` runs the `train` command's own functions, stopping (as an interruption would) after some epochs.
`precision` gives each rank other step times (bf16 faster on rank 0 only) and has rank 0 write each rank's choice.
"""
import json, os, sys
from functools import partial
from pathlib import Path
import torch
from fastai.callback.core import Callback, CancelFitException
from fastai.torch_core import rank_distrib
from data2vec_vision.cli import get_parser, pretrain
from data2vec_vision.data import pretrain_dataloaders, sample_images
from data2vec_vision.distributed import ShardedDL, all_ranks, distributed, unwrap
import data2vec_vision.precision
from data2vec_vision.learner import data2vec_learner
from data2vec_vision.precision import MeasuredPrecision
from data2vec_vision.model import Data2Vec
import data2vec_vision.model
from data2vec_vision.testing import StopAfter

class FirstSteps(Callback):
    "Keep the starting weights, the first batch with its loss and (averaged) gradients; stop after `n_steps`"
    order = 20   # after fastai's DistributedTrainer has wrapped the model
    def __init__(self, n_steps): self.n_steps, self.steps = n_steps, 0
    def before_fit(self): self.start = {k: v.clone() for k, v in unwrap(self.learn.model).state_dict().items()}
    def after_backward(self):
        if self.steps: return
        self.images, self.mask = self.xb
        self.loss = self.learn.loss_grad.item()
        self.grads = {n: p.grad.clone() for n, p in unwrap(self.learn.model).named_parameters() if p.grad is not None}
    def after_step(self):
        self.steps += 1
        if self.steps == self.n_steps: raise CancelFitException()

def check_step(recipe: str, out: Path, n_steps: int = 3):
    # v2's decoder input has random noise at the masked places, which one process would draw differently: off here
    data2vec_vision.model.place_visible = partial(data2vec_vision.model.place_visible, noise_std=0.)
    torch.manual_seed(0)
    dls = pretrain_dataloaders(sample_images(), 32, 4, num_workers=0, device='cpu')
    make_model = lambda: Data2Vec(img_size=32, embed_dim=48, depth=3, num_heads=3, k=2, recipe=recipe)
    # a float32 teacher: bf16 products round differently for 4 and for 8 images, and the comparison is to 1e-5
    learn = data2vec_learner(dls, make_model(), n_masks=2 if recipe == 'v2' else None, tau_initial=0.9, tau_end=0.9,
                             precision='fp32', teacher_precision='fp32')
    torch.manual_seed(1 + rank_distrib())                # other masks on each rank
    steps = FirstSteps(n_steps)
    with distributed(learn, 'cpu'): learn.fit(1, 1e-3, cbs=steps)
    teacher = torch.cat([p.flatten() for p in learn.model.teacher.parameters()])
    shard = ShardedDL(dls.train)
    ranks = all_ranks(dict(images=steps.images, mask=steps.mask, loss=steps.loss, grads=steps.grads, teacher=teacher,
                           shard=shard.get_idxs(), n_batches=len(shard)))
    if rank_distrib() != 0: return
    # One process, the same starting weights, the two ranks' batches as one
    ref = make_model()
    ref.load_state_dict(steps.start)
    images, mask = torch.cat([r['images'] for r in ranks]), torch.cat([r['mask'] for r in ranks])
    loss = learn.loss_func(ref(images, mask), ref.targets(images), mask)
    loss.backward()
    ref_grads = {n: p.grad for n, p in ref.named_parameters() if p.grad is not None}
    diff = lambda a, b: max((a[k] - b[k]).abs().max().item() for k in a)
    result = dict(
        rank_losses=[r['loss'] for r in ranks], one_process_loss=loss.item(),
        same_grad_names=sorted(ranks[0]['grads']) == sorted(ref_grads),
        grad_diff_between_ranks=diff(ranks[0]['grads'], ranks[1]['grads']),
        grad_diff_to_one_process=diff(ranks[0]['grads'], ref_grads),
        grad_scale=max(g.abs().max().item() for g in ref_grads.values()),
        masks_differ=not torch.equal(ranks[0]['mask'], ranks[1]['mask']),
        teacher_diff_between_ranks=(ranks[0]['teacher'] - ranks[1]['teacher']).abs().max().item(),
        teacher_moved=(ranks[0]['teacher'] - torch.cat([p.flatten() for p in ref.teacher.parameters()])).abs().max().item(),
        shards=[r['shard'] for r in ranks], n_batches=[r['n_batches'] for r in ranks],
        n_train=len(dls.train_ds), batch_size=dls.train.bs)
    (out/'result.json').write_text(json.dumps(result))

def check_precision(out: Path):
    "Each rank would choose otherwise (rank 0's times favour bf16, the others' fp32); all must train in rank 0's choice"
    measured = []
    def rank_times(learn):
        measured.append(rank_distrib())
        return dict(fp32=1.0, bf16=0.5 if rank_distrib() == 0 else 2.0)
    data2vec_vision.precision.measure_precision = rank_times
    os.environ['XDG_CACHE_HOME'] = str(out/f'cache{rank_distrib()}')
    dls = pretrain_dataloaders(sample_images(), 32, 4, num_workers=0, device='cpu')
    learn = data2vec_learner(dls, Data2Vec(img_size=32, embed_dim=48, depth=3, num_heads=3, k=2), precision='fp32',
                             cbs=[MeasuredPrecision()])
    learn.precision = None                               # as `precision='auto'` leaves it where bf16 is native
    with distributed(learn, 'cpu'): learn.fit(1, 1e-3, cbs=FirstSteps(1))
    ranks = all_ranks(dict(precision=learn.precision, measured=measured))
    if rank_distrib() == 0: (out/'result.json').write_text(json.dumps(ranks))

if __name__ == '__main__':
    if sys.argv[1] == 'step': check_step(sys.argv[2], Path(sys.argv[3]))
    elif sys.argv[1] == 'precision': check_precision(Path(sys.argv[2]))
    else: pretrain(get_parser().parse_args(['train', *sys.argv[3:]]), cbs=[StopAfter(int(sys.argv[2]))])
