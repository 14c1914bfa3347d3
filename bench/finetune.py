"""Fine-tuning top-1 on a labeled folder: a pretrained data2vec encoder against the same ViT from scratch, with the
same recipe and number of epochs (timm ViT with mean pooling, fastai `fine_tune`, layer-wise lr decay).

    python bench/finetune.py ../shared/data/imagenette --checkpoint bench/results/pretrained.pt --epochs 4

Both runs in the same process; prints a table with validation top-1 and the wall-clock minutes of each.
"""
import argparse, time
import torch
from data2vec_vision.finetune import classification_dataloaders, classifier_learner, fine_tune_vit
from data2vec_vision.model import Data2Vec


def run(dls, model, a):
    learn = classifier_learner(dls, model)
    start = time.perf_counter()
    with learn.no_bar():
        fine_tune_vit(learn, a.epochs, a.lr, a.layer_decay, a.freeze_epochs)
        return float(learn.validate()[1]), (time.perf_counter() - start) / 60


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('path', help="labeled folder with train/<class>/ and val/<class>/")
    p.add_argument('--checkpoint', required=True, help="a pretrained student_*.pt or checkpoint.pt")
    p.add_argument('--epochs', type=int, default=4)
    p.add_argument('--freeze-epochs', type=int, default=1)
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--layer-decay', type=float, default=0.65)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--num-workers', type=int, default=None)
    a = p.parse_args()
    pretrained = Data2Vec.from_pretrained(a.checkpoint)
    dls = classification_dataloaders(a.path, pretrained.config['img_size'], a.batch_size, num_workers=a.num_workers, device='cpu')
    rows = []
    for name in ('pretrained', 'from scratch'):
        torch.manual_seed(0)
        model = pretrained if name == 'pretrained' else Data2Vec(**pretrained.config)
        top1, minutes = run(dls, model, a)
        rows.append((name, top1, minutes))
        print(f"{name}: top-1 {top1:.3f} in {minutes:.1f} min", flush=True)
    print(f"\n{len(dls.train_ds)} train / {len(dls.valid_ds)} val images, {pretrained.config['img_size']} px, "
          f"{a.freeze_epochs} frozen + {a.epochs} epochs, lr {a.lr}, layer decay {a.layer_decay}\n")
    print("| encoder | val top-1 | minutes |\n|---|---|---|")
    for name, top1, minutes in rows: print(f"| {name} | {top1:.3f} | {minutes:.1f} |")


if __name__ == '__main__': main()
