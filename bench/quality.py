"""What the features are worth, read the three ways users read them: kNN search, a linear probe on frozen features, and
fine-tuning with few labels; each against its floor measured the same way in the same run.

    python bench/flat_proxy.py /tmp/flat --imagenette ../shared/data/imagenette
    python bench/quality.py ../shared/data/imagenette --size 32 --epochs 5 > bench/results/quality/photos_32px.md
    python bench/quality.py /tmp/flat/glyphs --size 32 --gray --epochs 20 --readings-at 5 10 20

A cell pools a labeled folder's `train/` and `val/` images and splits them again, stratified and seeded: `--train`
images (10,000) to pretrain on and to take labels from, the rest (at most 10,000) to test on, written once under
`--work` at twice the cell's size. Pretraining runs `train`'s own functions with the command line's defaults
(`--image-size SIZE --patch-size SIZE/8 --epochs E`); its images never carry a label. Then, on the test images:

- kNN: weighted cosine kNN (k=20, T=0.07) of the mean-pooled features, all training labels;
- linear probe: the library's `linear_probe` (logistic regression on standardised frozen features, L-BFGS to
  convergence, its L2 strength chosen on a held-out fifth of the training features), all labels; and scikit-learn's
  `LogisticRegression` at the same strength on the same standardised features, as a check of the solver;
- few labels: 10 % and 1 % of the training images (stratified, seeded), read by the linear probe and by the
  `finetune` command with its defaults, from the pretrained model and from the same ViT at random initialisation;
  the fine-tuned models are read on `--finetune-test` of the test images (stratified, seeded; all by default), since
  the command validates every epoch and that reading dominates a cell's time.

Floors, in the same run: the centred raw pixels (at the cell's size, at most 32 px) and the same ViT at random
initialisation (seed 0), read the same ways. With `--readings-at`, the pretrained model is read at those epochs of the
one run (its `student_{epoch}.pt`), so a curve by images seen; the floors are read once. Prints markdown as it goes
and writes every number to `--json`.
"""
import argparse, builtins, contextlib, json, math, random, shlex, sys, tempfile, time
from functools import partial
from pathlib import Path
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from fastai.callback.core import Callback
from data2vec_vision.cli import finetune, get_parser, pretrain
from data2vec_vision.data import labeled_images
from data2vec_vision.evaluation import centred_pixels, extract_features, knn_accuracy, linear_probe, probe_l2
from data2vec_vision.model import Data2Vec
from proxy_family import make_split

FRACTIONS = (0.1, 0.01)   # shares of the training labels for the few-label readings


def stratified(labels: torch.Tensor, share: float, seed: int = 0) -> list:
    "Indices of `share` of each class of `labels`, at least one of each, seeded"
    rng, keep = random.Random(seed), []
    for c in labels.unique().tolist():
        members = (labels == c).nonzero().flatten().tolist()
        rng.shuffle(members)
        keep += members[:max(1, round(share * len(members)))]
    return sorted(keep)


def make_cell(path: Path, work: Path, size: int, gray: bool, n_train: int, n_test: int) -> tuple:
    "The cell's training and test images (resized copies under `work`) and labels, from `path`'s train/ and val/ pooled"
    files, labels = [], []
    for split in ('train', 'val'):
        f, y, _ = labeled_images(path/split)
        files += f; labels.append(y)
    labels = torch.cat(labels)
    train = stratified(labels, n_train / len(files))
    rest = sorted(set(range(len(files))) - set(train))
    test = sorted(random.Random(1).sample(rest, min(n_test, len(rest))))
    name = f"{path.name}_{size}px_{'gray' if gray else 'colour'}"
    train_files, train_y = make_split([files[i] for i in train], labels[train], work/name/'train', size, gray)
    test_files, test_y = make_split([files[i] for i in test], labels[test], work/name/'test', size, gray)
    return work/name, train_files, train_y, test_files, test_y


def labeled_folder(dest: Path, train: list, test: list) -> Path:
    "A labeled folder of links, `dest/train/<class>/` and `dest/val/<class>/`, for the finetune command"
    for split, files in (('train', train), ('val', test)):
        for f in files:
            link = dest/split/f.parent.name/f.name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(f.resolve())
    return dest


def probes(train_x, train_y, test_x, test_y) -> dict:
    "The library's linear probe, the L2 strength it chose, and scikit-learn's logistic regression at that strength on the same standardised features"
    scaler = StandardScaler().fit(train_x.numpy())
    l2 = probe_l2(torch.tensor(scaler.transform(train_x.numpy()), dtype=torch.float32), train_y, int(train_y.max()) + 1)
    reference = LogisticRegression(C=1 / (l2 * len(train_x)), max_iter=5000).fit(scaler.transform(train_x.numpy()), train_y.numpy())
    return {'linear probe': linear_probe(train_x, train_y, test_x, test_y, l2=l2), 'probe L2': l2,
            'linear probe (scikit-learn)': reference.score(scaler.transform(test_x.numpy()), test_y.numpy())}


def finetune_top1(init: Path, folder: Path, out: Path, options=()) -> tuple:
    "The finetune command from `init` on `folder`, its defaults or `options`; (top-1 on its val/ images, minutes)"
    args = get_parser(['finetune']).parse_args(['finetune', '--init', str(init), str(folder), '--out', str(out), *options])
    start = time.perf_counter()
    learn = finetune(args)
    return float(learn.recorder.values[-1][-1]), (time.perf_counter() - start) / 60


class EpochClock(Callback):
    "Seconds since the fit began at the end of each epoch"
    order = 100
    def before_fit(self): self.start, self.seconds = time.perf_counter(), []
    def after_epoch(self): self.seconds.append(time.perf_counter() - self.start)


def probe_readings(features: tuple, train_y, test_y, subsets: dict) -> dict:
    "The two probes with all labels and the probe with each subset's labels, of `(train_x, test_x)`"
    train_x, test_x = features
    r = probes(train_x, train_y, test_x, test_y)
    for share, idx in subsets.items(): r[f'linear probe, {share:.0%} labels'] = linear_probe(train_x[idx], train_y[idx], test_x, test_y)
    return r

def read(features: tuple, train_y, test_y, subsets: dict) -> dict:
    "kNN and the probes of `(train_x, test_x)`"
    return {'kNN': knn_accuracy(features[0], train_y, features[1], test_y), **probe_readings(features, train_y, test_y, subsets)}


def probes_again(a, folder: Path, out: Path, train, train_y, test, test_y, subsets: dict, feats):
    "Read the probes again into the cell's JSON from the models it kept, its kNN, fine-tuning and minutes as they were"
    result = json.loads(out.read_text())
    kept = lambda epoch: a.work/f"{folder.name}_{a.epochs}ep_student_{epoch}.pt"
    result['raw pixels'].update(probe_readings(centred_pixels(train, test, min(a.size, 32), a.num_workers), train_y, test_y, subsets))
    torch.manual_seed(0)
    result['random ViT'].update(probe_readings(feats(Data2Vec(**Data2Vec.from_pretrained(kept(a.epochs)).config)), train_y, test_y, subsets))
    for epoch in result['pretrained']:
        result['pretrained'][epoch].update(probe_readings(feats(Data2Vec.from_pretrained(kept(epoch))), train_y, test_y, subsets))
        print_reading(result, epoch, a.epochs, sys.stdout)
    out.write_text(json.dumps(result, indent=1))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('path', type=Path, help="labeled folder with train/<class>/ and val/<class>/ (imagenette, or a bench/flat_proxy.py kind)")
    p.add_argument('--size', type=int, default=32, help="the cell's image size; patches of SIZE/8")
    p.add_argument('--gray', action='store_true', help="the cell's images in grayscale")
    p.add_argument('--train', type=int, default=10000, help="images to pretrain on (and take labels from)")
    p.add_argument('--test', type=int, default=10000, help="most images to test on")
    p.add_argument('--finetune-test', type=int, help="test images the fine-tuned models are read on (default: all of --test)")
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--readings-at', type=int, nargs='+', help="epochs at which to read the pretrained model (default: the last)")
    p.add_argument('--train-options', default='', help="more train options, one string (default: none: the command line's defaults)")
    p.add_argument('--work', type=Path, default=Path('/tmp/quality'))
    p.add_argument('--json', type=Path, help="where to write every number (default: WORK/<cell>_<epochs>ep.json)")
    p.add_argument('--num-workers', type=int, default=2)
    p.add_argument('--probes-again', action='store_true', help="read only the probes again, into the JSON of an earlier run of the same cell "
                   "(from the models it kept in WORK), its kNN, fine-tuning and minutes as they were: for a change of the probe alone")
    a = p.parse_args()
    at = sorted(a.readings_at or [a.epochs])
    if at[-1] != a.epochs or at[0] < 1: p.error("--readings-at: epochs from 1 to --epochs, the last one --epochs")
    folder, train, train_y, test, test_y = make_cell(a.path, a.work, a.size, a.gray, a.train, a.test)
    subsets = {share: stratified(train_y, share, seed=2) for share in FRACTIONS}
    finetune_test = test if a.finetune_test is None else [test[i] for i in stratified(test_y, min(1., a.finetune_test / len(test)), seed=3)]
    log, out = a.work/f"{folder.name}_{a.epochs}ep.log", a.json or a.work/f"{folder.name}_{a.epochs}ep.json"
    print(f"# {a.path.name}, {a.size} px {'gray' if a.gray else 'colour'}: {len(train)} images to pretrain on, {len(test)} to test on; "
          f"few labels: {', '.join(f'{s:.0%} = {len(i)}' for s, i in subsets.items())} images, fine-tuning read on {len(finetune_test)}; the runs' own output in {log}", flush=True)
    report = sys.stdout
    feats = lambda model: tuple(extract_features(model, f, 256, num_workers=a.num_workers, device='cpu', show_progress=False) for f in (train, test))
    if a.probes_again: return probes_again(a, folder, out, train, train_y, test, test_y, subsets, feats)
    result = {'cell': folder.name, 'train': len(train), 'test': len(test), 'finetune test': len(finetune_test), 'labels': {f'{s:.0%}': len(i) for s, i in subsets.items()}}
    result['raw pixels'] = read(centred_pixels(train, test, min(a.size, 32), a.num_workers), train_y, test_y, subsets)
    options = ['--image-size', str(a.size), '--patch-size', str(a.size // 8), '--epochs', str(a.epochs), '--device', 'cpu',
               '--num-workers', str(a.num_workers), *shlex.split(a.train_options)]
    with tempfile.TemporaryDirectory() as tmp, open(log, 'w') as chatter, contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
        tmp = Path(tmp)
        pool = tmp/'images'                                            # the training images without their labels
        for i, f in enumerate(train): pool.mkdir(exist_ok=True); (pool/f'{i:05d}{f.suffix}').symlink_to(f.resolve())
        runs = tmp/'run'
        save_every = math.gcd(*at)
        args = get_parser(['train']).parse_args(['train', str(pool), *options, '--save-every', str(save_every), '--checkpoint-out-dir', str(runs)])
        clock = EpochClock()
        torch.manual_seed(0)
        learn = pretrain(args, cbs=[clock])
        config = learn.model.config
        torch.manual_seed(0)
        random_init = Data2Vec(**config)
        random_init.save(tmp/'random.pt')
        result['random ViT'] = read(feats(random_init), train_y, test_y, subsets)
        few = {share: labeled_folder(tmp/f'labels_{share}', [train[i] for i in idx], finetune_test) for share, idx in subsets.items()}
        for share, f in few.items(): result['random ViT'][f'fine-tune, {share:.0%} labels'] = finetune_top1(tmp/'random.pt', f, tmp/f'random_{share}.safetensors')[0]
        result['pretrained'] = {}
        for epoch in at:
            student = a.work/f"{folder.name}_{a.epochs}ep_student_{epoch}.pt"   # kept, for bench/few_labels.py
            student.write_bytes(learn.checkpoint.student_path(epoch - 1).read_bytes())
            model = Data2Vec.from_pretrained(student)
            r = read(feats(model), train_y, test_y, subsets)
            for share, f in few.items():
                r[f'fine-tune, {share:.0%} labels'], r[f'fine-tune minutes, {share:.0%} labels'] = finetune_top1(student, f, tmp/f'pretrained_{epoch}_{share}.safetensors')
            seconds = clock.seconds[epoch - 1]
            r.update({'epochs': epoch, 'images seen': epoch * len(train), 'minutes': seconds / 60, 'images/s': epoch * len(train) / seconds})
            result['pretrained'][str(epoch)] = r
            print_reading(result, epoch, a.epochs, report)
            out.write_text(json.dumps(result, indent=1))
    print(f"Every number: {out}")


def print_reading(result: dict, epoch: int, epochs: int, file):
    "The markdown table of the readings after `epoch`, beside the floors"
    r = result['pretrained'][str(epoch)]
    print = partial(builtins.print, file=file, flush=True)
    print(f"\n## After {epoch} of {epochs} epochs: {r['images seen']:,} images seen in {r['minutes']:.1f} min ({r['images/s']:.0f} images/s)\n")
    print("| reading | raw pixels | same ViT, random init | this library | - pixels | - random init |\n|---|---|---|---|---|---|")
    for k in [k for k in result['random ViT'] if k in r and k != 'probe L2']:
        pixels = result['raw pixels'].get(k)
        cells = ['-' if pixels is None else f'{pixels:.3f}', f"{result['random ViT'][k]:.3f}", f'**{r[k]:.3f}**',
                 '-' if pixels is None else f'{r[k] - pixels:+.3f}', f"{r[k] - result['random ViT'][k]:+.3f}"]
        print(f"| {k} | " + ' | '.join(cells) + ' |')
    print()


if __name__ == '__main__': main()
