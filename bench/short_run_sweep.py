"""Which settings make data2vec learn in a short run? Pretrain the CPU preset for a fixed number of epochs with one
setting changed at a time, then weighted cosine kNN (k=20, T=0.07) of the student's and the teacher's mean-pooled
features, PATH/train -> PATH/val. Fixed epochs, not wall-clock, so that the comparison does not depend on how busy
the machine is.

    python bench/short_run_sweep.py ../shared/data/imagenette --epochs 2 --runs base tau_fast random_mask ...

Each run is a name from RUNS (overrides of the preset); results are appended to --out as a markdown table row.
"""
import argparse, time
from functools import partial
import torch
from data2vec_vision.data import ImageFolder, default_workers, eval_transforms, labeled_images, pretrain_dataloaders
from data2vec_vision.model import make_targets
from data2vec_vision.evaluation import knn_accuracy
from data2vec_vision.learner import data2vec_learner
from data2vec_vision.model import Data2Vec
from data2vec_vision.settings import RECIPES, resolve_settings
from data2vec_vision.masking import inverse_block_mask

RUNS = {
    'random_init': dict(epochs=0),
    'base': {},
    'tau_fast': dict(tau_initial=0.98, tau_end=0.995),
    'tau_0.99': dict(tau_initial=0.99, tau_end=0.99),
    'random_mask': dict(mask='random', mask_ratio=0.6),
    'instance_norm': dict(target_norm='instance'),
    'k6': dict(k=6),
    'lr_3e-3': dict(max_lr=3e-3),
    'lr_5e-4': dict(max_lr=5e-4),
    'lr_2e-4': dict(max_lr=2e-4),
    'crop_0.25': dict(crop_scale=(0.25, 1.0)),
    'cls_loss_1': dict(cls_weight=1.0),
    'v2': dict(recipe='v2'),
    'v2_cls_1': dict(recipe='v2', cls_weight=1.0),
    'v2_lr_5e-4': dict(recipe='v2', max_lr=5e-4),
    'v2_m4': dict(recipe='v2', n_masks=4),
    'v2_k6': dict(recipe='v2', k=6),
    'v2_m2': dict(recipe='v2', n_masks=2),
    'v2_m2_tau_fast': dict(recipe='v2', n_masks=2, tau_initial=0.95, tau_end=0.99),
    'v2_m2_tau_slow': dict(recipe='v2', n_masks=2, tau_initial=0.999, tau_end=0.9999),
    # below: one change each against v2_m2_tau_slow (the cpu preset's teacher since session 3)
    'v2_m2_tau_const': dict(recipe='v2', n_masks=2, tau_initial=0.9999, tau_end=0.9999),
    'v2_m2_frozen_teacher': dict(recipe='v2', n_masks=2, tau_initial=1.0, tau_end=1.0),
    'v2_m2_dec_small': dict(recipe='v2', n_masks=2, tau_initial=0.999, tau_end=0.9999, decoder_dim=96, decoder_layers=3),
    'v2_m2_ratio_0.65': dict(recipe='v2', n_masks=2, tau_initial=0.999, tau_end=0.9999, mask_ratio=0.65),
    'v2_m2_crop_0.25': dict(recipe='v2', n_masks=2, tau_initial=0.999, tau_end=0.9999, crop_scale=(0.25, 1.0)),
    'v2_m2_k6': dict(recipe='v2', n_masks=2, tau_initial=0.999, tau_end=0.9999, k=6),
    'v2_m2_dec_tiny': dict(recipe='v2', n_masks=2, tau_initial=0.999, tau_end=0.9999, decoder_dim=64, decoder_layers=2),
    'v2_m3_dec_small': dict(recipe='v2', n_masks=3, tau_initial=0.999, tau_end=0.9999, decoder_dim=96, decoder_layers=3),
    # below: one change each against v2_m2_dec_small (the cpu preset since session 4)
    'v2_m2_dec_small_ratio_0.9': dict(recipe='v2', n_masks=2, tau_initial=0.999, tau_end=0.9999, decoder_dim=96, decoder_layers=3, mask_ratio=0.9),
    'v2_m2_dec_small_lr_1e-3': dict(recipe='v2', n_masks=2, tau_initial=0.999, tau_end=0.9999, decoder_dim=96, decoder_layers=3, max_lr=1e-3),
    'v2_m2_dec_small_lr_2e-3': dict(recipe='v2', n_masks=2, tau_initial=0.999, tau_end=0.9999, decoder_dim=96, decoder_layers=3, max_lr=2e-3),
    'v2_m2_dec_small_block2': dict(recipe='v2', n_masks=2, tau_initial=0.999, tau_end=0.9999, decoder_dim=96, decoder_layers=3, mask_block=2),
    'v2_m2_dec_small_random': dict(recipe='v2', n_masks=2, tau_initial=0.999, tau_end=0.9999, decoder_dim=96, decoder_layers=3, mask='random', mask_ratio=0.8),
    'v2_m2_cls_1': dict(recipe='v2', n_masks=2, cls_weight=1.0),
    'v2_m2_bs32': dict(recipe='v2', n_masks=2, batch_size=32),
    'v2_m2_lr_3e-3': dict(recipe='v2', n_masks=2, max_lr=3e-3),
}
MODEL_KEYS = ('recipe', 'k', 'target_norm', 'target_layer', 'decoder_dim', 'decoder_layers')
LEARNER_KEYS = ('mask', 'mask_ratio', 'n_masks', 'beta', 'cls_weight', 'tau_initial', 'tau_end', 'tau_increase_pct', 'teacher_precision')

@torch.no_grad()
def readout_knn(model, train, val, num_workers=None):
    "kNN of three readouts: the student's final tokens, the teacher's, and the student's top-k block average (as its targets)"
    model.eval()
    def feats(files):
        ds = ImageFolder(files, eval_transforms(model.config['img_size']))
        out = {'student': [], 'teacher': [], 'student_topk': []}
        for (xb,) in torch.utils.data.DataLoader(ds, batch_size=256, num_workers=default_workers() if num_workers is None else num_workers):
            final, layers = model.student(xb)
            out['student'].append(final[:, 1:].mean(1))
            out['student_topk'].append(make_targets(layers, model.config['k']).mean(1))
            out['teacher'].append(model.teacher(xb)[0][:, 1:].mean(1))
        return {k: torch.cat(v) for k, v in out.items()}
    ft, fv = feats(train[0]), feats(val[0])
    return {k: knn_accuracy(ft[k], train[1], fv[k], val[1]) for k in ft}

def run(path, name, epochs, seed=0, num_workers=None):
    # the base every row was measured against: the cpu preset as it was in session 1 (teacher 0.99 -> 0.999, the
    # reference's decoder of 192 x 6, the teacher in float32); rows name what they change
    recipe = RUNS[name].get('recipe', 'v1')
    p = {**resolve_settings(dict(recipe=recipe)), 'n_masks': RECIPES[recipe]['n_masks'], 'crop_scale': (0.08, 1.0), 'tau_initial': 0.99, 'tau_end': 0.999, 'decoder_dim': 192, 'decoder_layers': 6,
         'teacher_precision': 'fp32', **RUNS[name]}
    torch.manual_seed(seed)
    dls = pretrain_dataloaders(f'{path}/train', p['img_size'], p['batch_size'], num_workers=num_workers, device='cpu',
                               crop_scale=p['crop_scale'])
    model = Data2Vec(preset='cpu', **{k: p[k] for k in MODEL_KEYS if k in p})
    if 'mask_block' in p: p['mask'] = partial(inverse_block_mask, block_size=p['mask_block'])   # kept blocks of another side
    learn = data2vec_learner(dls, model, **{k: p[k] for k in LEARNER_KEYS if k in p})
    start, epochs = time.perf_counter(), p.get('epochs', epochs)
    if epochs:
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, p['max_lr'])
    minutes = (time.perf_counter() - start) / 60
    train_files, train_y, _ = labeled_images(f'{path}/train')
    val_files, val_y, _ = labeled_images(f'{path}/val')
    torch.save(model.state_dict(), f'bench/results/{name}.pt')
    knn = readout_knn(model, (train_files, train_y), (val_files, val_y), num_workers)
    loss = learn.recorder.losses[-1].item() if epochs else float('nan')
    spread = learn.data2vec.hist['target_spread'][-1] if epochs else float('nan')
    return dict(name=name, overrides=RUNS[name], epochs=epochs, minutes=minutes, loss=loss, spread=spread, **knn)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('path')
    ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--runs', nargs='+', default=list(RUNS))
    ap.add_argument('--num-workers', type=int, default=None)
    ap.add_argument('--out', default='bench/results/defaults/short_run_sweep.md')
    a = ap.parse_args()
    for name in a.runs:
        r = run(a.path, name, a.epochs, num_workers=a.num_workers)
        row = (f"| {r['name']} | {r['overrides']} | {r['epochs']} | {r['minutes']:.1f} | {r['loss']:.3f} | {r['spread']:.3f} "
               f"| {r['student']:.3f} | {r['teacher']:.3f} | {r['student_topk']:.3f} |")
        print(row, flush=True)
        with open(a.out, 'a') as f: f.write(row + '\n')

if __name__ == '__main__': main()
