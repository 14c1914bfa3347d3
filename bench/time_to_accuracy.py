"""kNN top-1 on a labeled folder after fixed wall-clock budgets of data2vec pretraining (CPU preset).

    python bench/time_to_accuracy.py ../shared/data/imagenette --budgets 5 10 20 30

Pretrains on PATH/train (labels unused) with a one-cycle schedule planned for the largest budget, and at each budget
evaluates weighted cosine kNN (k=20, T=0.07) of the student's mean-pooled features, PATH/train -> PATH/val, at the
preset's image size; the evaluation time is not counted in the budget. The floors, measured in the same run: raw
centred pixels, and the same ViT at random initialisation. A linear probe is reported at the end.
"""
import argparse, time
import torch
from fastai.callback.core import Callback, CancelFitException
from common import plan_epochs
from data2vec_vision.data import CROP_SCALE, ImageFolder, eval_transforms, labeled_images, pretrain_dataloaders
from data2vec_vision.evaluation import extract_features, knn_accuracy, linear_probe
from data2vec_vision.learner import data2vec_learner
from data2vec_vision.model import Data2Vec
from data2vec_vision.settings import resolve_settings


class EvaluateAtBudgets(Callback):
    "kNN at each budget (minutes of training, evaluation time excluded); stop after the last"
    order = 100
    def __init__(self, budgets, evaluate): self.budgets, self.evaluate, self.rows = sorted(budgets), evaluate, []
    def before_fit(self): self.trained, self.last, self.images = 0., time.perf_counter(), 0
    def after_batch(self):
        if not self.training: return
        now = time.perf_counter()
        self.trained, self.last = self.trained + now - self.last, now
        self.images += len(self.xb[0]) // self.learn.data2vec.n_masks   # distinct images, not masked copies
        if self.budgets and self.trained >= self.budgets[0] * 60:
            minutes = self.budgets.pop(0)
            knn = self.evaluate(self.learn.model)
            self.learn.model.train()
            self.rows.append((minutes, self.images, knn, self.learn.data2vec.hist['target_spread'][-1]))
            print(f"{minutes} min: {self.images} images, kNN {knn:.3f}", flush=True)
            self.last = time.perf_counter()
            if not self.budgets: raise CancelFitException()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('path', help="labeled folder with train/<class>/ and val/<class>/")
    p.add_argument('--budgets', type=float, nargs='+', default=[5, 10, 20, 30])
    p.add_argument('--preset', default='cpu')
    p.add_argument('--recipe', default='v2', choices=['v1', 'v2'])
    p.add_argument('--n-masks', type=int, help="masked copies per image (default: as the train command, v1 1, v2 the preset's)")
    p.add_argument('--cls-weight', type=float, help="weight of the CLS loss (default: the recipe's)")
    p.add_argument('--mask-ratio', type=float, help="share of patches masked (default: the recipe's)")
    p.add_argument('--decoder-dim', type=int, help="v2 decoder channels (default: the preset's)")
    p.add_argument('--decoder-layers', type=int, help="v2 decoder blocks (default: the preset's)")
    p.add_argument('--crop-scale', type=float, nargs=2, default=CROP_SCALE, help="random resized crop's range of image area (default: %(default)s, as the train command)")
    p.add_argument('--max-lr', type=float, help="peak learning rate (default: the preset's)")
    p.add_argument('--tau', type=float, nargs=2, help="teacher EMA decay at the start and the end (default: the preset's)")
    p.add_argument('--teacher-precision', default='auto', choices=['auto', 'fp32', 'bf16'], help="the teacher's pass (default: as the train command)")
    p.add_argument('--epochs', type=int, help="length of the one-cycle schedule, so that it anneals within the last budget "
                                              "(default: planned from a 30 s measurement, plus a spare epoch)")
    p.add_argument('--num-workers', type=int, default=None)
    p.add_argument('--save', help="write the pretrained model here at the end (for bench/finetune.py)")
    a = p.parse_args()
    preset = resolve_settings(dict(preset=a.preset, recipe=a.recipe))
    size = preset['img_size']
    train_files, train_y, _ = labeled_images(f'{a.path}/train')
    val_files, val_y, _ = labeled_images(f'{a.path}/val')

    def evaluate(model):
        feats = [extract_features(model, f, 256, num_workers=a.num_workers, device='cpu', show_progress=False) for f in (train_files, val_files)]
        return knn_accuracy(feats[0], train_y, feats[1], val_y)

    def pixels(files):
        ds = ImageFolder(files, eval_transforms(size))
        return torch.stack([ds[i][0] for i in range(len(ds))]).flatten(1)
    px_train, px_val = pixels(train_files), pixels(val_files)
    mean = px_train.mean(0)
    floor_pixels = knn_accuracy(px_train - mean, train_y, px_val - mean, val_y)
    torch.manual_seed(0)
    floor_random = evaluate(Data2Vec(preset=a.preset, recipe=a.recipe))
    print(f"floors: raw pixels {floor_pixels:.3f}, random-init ViT {floor_random:.3f}", flush=True)

    dls = pretrain_dataloaders(f'{a.path}/train', size, preset['batch_size'], num_workers=a.num_workers, device='cpu',
                               crop_scale=tuple(a.crop_scale))
    tau = dict(tau_initial=a.tau[0] if a.tau else preset['tau_initial'], tau_end=a.tau[1] if a.tau else preset['tau_end'],
               tau_increase_pct=preset['tau_increase_pct'])
    decoder = {k: v for k, v in dict(decoder_dim=a.decoder_dim, decoder_layers=a.decoder_layers).items() if v is not None}
    n_masks = a.n_masks or preset['n_masks']
    epochs = a.epochs or plan_epochs(dls, a.preset, max(a.budgets), tau, a.recipe, n_masks, **decoder) + 1   # a spare epoch: the budgets end it
    torch.manual_seed(0)
    model = Data2Vec(preset=a.preset, recipe=a.recipe, **decoder)
    at_budgets = EvaluateAtBudgets(a.budgets, evaluate)
    learn = data2vec_learner(dls, model, n_masks=n_masks, mask_ratio=a.mask_ratio, cls_weight=a.cls_weight, **tau,
                             teacher_precision=a.teacher_precision, cbs=[at_budgets])
    max_lr = a.max_lr or preset['max_lr']
    with learn.no_bar(): learn.fit_one_cycle(epochs, max_lr)
    if at_budgets.budgets:   # the schedule ended before the last budget: evaluate where it ended
        at_budgets.rows.append((at_budgets.trained / 60, at_budgets.images, evaluate(model), learn.data2vec.hist['target_spread'][-1]))

    if a.save: model.save(a.save, with_teacher=True)
    feats = [extract_features(model, f, 256, num_workers=a.num_workers, device='cpu', show_progress=False) for f in (train_files, val_files)]
    probe_top1 = linear_probe(feats[0], train_y, feats[1], val_y)
    px_probe = linear_probe(px_train - mean, train_y, px_val - mean, val_y)
    print(f"\nrecipe {a.recipe}, preset {a.preset}, {size} px, {len(dls.train_ds)} train images, one-cycle of {epochs} epochs; "
          f"{learn.data2vec.n_masks} masks per image, CLS loss weight {learn.loss_func.cls_weight}, tau {tau['tau_initial']} -> {tau['tau_end']}, "
          f"mask ratio {learn.data2vec.mask_fn.keywords['mask_ratio']}, decoder {model.config.get('decoder_dim', '-')} x {model.config.get('decoder_layers', '-')}, "
          f"crop scale {tuple(a.crop_scale)}, max lr {max_lr}, teacher in {'bf16' if learn.data2vec.teacher_bf16 else 'fp32'}\n")
    print("| minutes | images seen | kNN top-1 | target spread |\n|---|---|---|---|")
    print(f"| floor: raw centred pixels | - | {floor_pixels:.3f} | - |")
    print(f"| floor: random-init ViT | - | {floor_random:.3f} | - |")
    for minutes, images, knn, spread in at_budgets.rows: print(f"| {minutes:.1f} | {images} | {knn:.3f} | {spread:.3f} |")
    print(f"\nlinear probe at the end of training: {probe_top1:.3f} (raw centred pixels: {px_probe:.3f})")


if __name__ == '__main__': main()
