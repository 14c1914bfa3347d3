"""Which readout does the kNN measure: the learning, or the readout? For one cell of the proxy family, weighted cosine
kNN (k=20, T=0.07, train -> val) of several poolings of a pretrained model's tokens, each read three ways: plain (the
library's protocol), centred on the training features' mean (as the raw-pixel floor is), and standardised (each
dimension centred and divided by its standard deviation over the training features, as the linear probe's BatchNorm
does). Beside them, the same readouts of raw pixels and of the same ViT at random initialisation: a readout that lifts
the random ViT as much as the trained one measures itself, not what pretraining learned.

    python bench/proxy_family.py ../shared/data/imagenette --sizes 64 --grids 8 --colours gray --counts all --save models
    python bench/readouts.py models/64px_gray_8x8_all.pt /tmp/proxy_family/64px_gray
"""
import argparse
from pathlib import Path
import torch
from data2vec_vision.data import ImageFolder, eval_transforms, labeled_split
from data2vec_vision.evaluation import knn_accuracy, pixel_features
import torch.nn.functional as F
from data2vec_vision.model import Data2Vec, make_targets

@torch.no_grad()
def pooled_features(model: Data2Vec, files: list, num_workers: int) -> dict:
    "Per pooling, one vector per image `[N, D]` (or `[N, 2D]`, `[N, 4D]`)"
    size = model.config['img_size']
    dl = torch.utils.data.DataLoader(ImageFolder(files, eval_transforms(size)), batch_size=256, num_workers=num_workers)
    out = {}
    for (xb,) in dl:
        tokens, layers = model.student(xb, layer_output=model.config['target_layer'])   # [B, 1+L, D], depth x [B, 1+L, D]
        patches = tokens[:, 1:].float()                              # [B, L, D]
        gh, gw = model.student.grid_of(xb)
        quadrants = F.adaptive_avg_pool2d(patches.transpose(1, 2).reshape(len(xb), -1, gh, gw), 2).flatten(1)   # [B, 4D]
        teacher_tokens, _ = model.teacher(xb)
        c = model.config
        pools = {'mean (the library)': patches.mean(1), 'std over patches': patches.std(1),
                 'mean and std': torch.cat([patches.mean(1), patches.std(1)], 1), 'cls': tokens[:, 0].float(),
                 'means of 2 x 2 quadrants': quadrants,
                 'mean of top-k normalised blocks': make_targets(layers, c['k'], c['target_norm'], c['final_norm']).mean(1),
                 'teacher mean': teacher_tokens[:, 1:].float().mean(1), 'teacher targets, mean': model.targets(xb).mean(1)}
        for k, v in pools.items(): out.setdefault(k, []).append(v)
    return {k: torch.cat(v) for k, v in out.items()}

def three_readouts(train_x, train_y, val_x, val_y) -> tuple:
    "kNN top-1 plain, centred and standardised, the statistics taken over the training features"
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    return (knn_accuracy(train_x, train_y, val_x, val_y), knn_accuracy(train_x - mean, train_y, val_x - mean, val_y),
            knn_accuracy((train_x - mean) / std, train_y, (val_x - mean) / std, val_y))

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('model', help="a model with its teacher (proxy_family.py --save, or a run's checkpoint.pt)")
    p.add_argument('cell', type=Path, help="the cell's folder with train/<class>/ and val/<class>/ (proxy_family.py's --work)")
    p.add_argument('--num-workers', type=int, default=2)
    a = p.parse_args()
    trained = Data2Vec.from_pretrained(a.model, teacher=True)
    torch.manual_seed(0)
    random_init = Data2Vec(**trained.config).eval()
    train, train_y, val, val_y, _ = labeled_split(a.cell)
    print(f"# {a.model} on {a.cell}: {len(train)} train, {len(val)} val images")
    print("| features | pooling | plain | centred | standardised |\n|---|---|---|---|---|")
    size = trained.config['img_size']
    pixels = [pixel_features(f, size, a.num_workers) for f in (train, val)]
    print("| raw pixels | - | %.3f | %.3f | %.3f |" % three_readouts(pixels[0], train_y, pixels[1], val_y), flush=True)
    for name, model in (('pretrained', trained), ('random init', random_init)):
        feats = [pooled_features(model, f, a.num_workers) for f in (train, val)]
        for pool in feats[0]:
            if name == 'random init' and pool.startswith('teacher'): continue   # the random teacher is the random student
            print(f"| {name} | {pool} | %.3f | %.3f | %.3f |" % three_readouts(feats[0][pool], train_y, feats[1][pool], val_y), flush=True)

if __name__ == '__main__': main()
