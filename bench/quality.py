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
initialisation (seed 0), read the same ways; or, with `--floors`, taken from an earlier run of the same cell and split.
With `--readings-at`, the pretrained model is read at those epochs of the one run (its `student_{epoch}.pt`), so a
curve by images seen; the floors are read once. Prints markdown as it goes and writes every number to `--json`.

With `--method dino` (or `simclr`), the maintained peer pretrains instead: lightly-train's method with its own defaults
(`pip install -e ".[bench]"`), on the same images, for the same epochs, of the same ViT (the one `train` builds for the
cell, as timm's `VisionTransformer`; its global views the cell's size and DINO's local views half of it, the ratio of
lightly-train's 96/224), then read in the same ways, the fine-tuning by the same `finetune` command from the peer's
encoder. Only the last epoch is read.
"""
import argparse, builtins, contextlib, json, math, random, shlex, sys, tempfile, time
from functools import partial
from pathlib import Path
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from fastai.callback.core import Callback
from data2vec_vision.cli import finetune, get_parser, pretrain, resolve_options
from data2vec_vision.data import labeled_images
from data2vec_vision.evaluation import centred_pixels, extract_features, knn_accuracy, linear_probe, probe_l2
from data2vec_vision.forms import form_of
from data2vec_vision.model import Data2Vec, model_from_settings
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


def pretrain_data2vec(args, at: list, kept) -> tuple:
    "`train`'s run of `args`: its model's settings, and for each epoch of `at` its student copied to `kept(epoch)` and the seconds to reach it"
    clock = EpochClock()
    torch.manual_seed(0)
    learn = pretrain(args, cbs=[clock])
    for epoch in at: kept(epoch).write_bytes(learn.checkpoint.student_path(epoch - 1).read_bytes())
    return learn.model.config, {epoch: clock.seconds[epoch - 1] for epoch in at}


def pretrain_peer(method: str, args, pool: Path, epochs: int, kept) -> tuple:
    "The ViT `train` would build from `args`, pretrained by lightly-train's `method` on `pool` instead (`peers.run_lightly`): its settings, and its encoder saved to `kept(epochs)` and the seconds it took"
    import timm
    from peers import run_lightly
    config = model_from_settings(vars(resolve_options(args))).config   # the model train builds for the cell, never trained here
    form = form_of(config)
    vit = partial(timm.create_model, form.timm_model, **form.timm_kwargs(config), num_classes=0, dynamic_img_size=True)   # DINO's local views pass
    start = time.perf_counter()
    trained = run_lightly(method, pool, vit, config['img_size'], epochs)
    seconds = time.perf_counter() - start
    model = Data2Vec(**config)
    model.student.load_state_dict(form.from_timm_names(trained.state_dict()))
    model.teacher.load_state_dict(model.student.state_dict())
    model.save(kept(epochs))
    return config, {epochs: seconds}


def probe_readings(features: tuple, train_y, test_y, subsets: dict) -> dict:
    "The two probes with all labels and the probe with each subset's labels, of `(train_x, test_x)`"
    train_x, test_x = features
    r = probes(train_x, train_y, test_x, test_y)
    for share, idx in subsets.items(): r[f'linear probe, {share:.0%} labels'] = linear_probe(train_x[idx], train_y[idx], test_x, test_y)
    return r

def read(features: tuple, train_y, test_y, subsets: dict) -> dict:
    "kNN and the probes of `(train_x, test_x)`"
    return {'kNN': knn_accuracy(features[0], train_y, features[1], test_y), **probe_readings(features, train_y, test_y, subsets)}


def random_floor(config: dict, feats, few: dict, train_y, test_y, subsets: dict, tmp: Path) -> dict:
    "The readings of the ViT of `config` at random initialisation (seed 0), fine-tuned on each of `few`'s labeled folders too"
    torch.manual_seed(0)
    random_init = Data2Vec(**config)
    random_init.save(tmp/'random.pt')
    r = read(feats(random_init), train_y, test_y, subsets)
    for share, f in few.items(): r[f'fine-tune, {share:.0%} labels'] = finetune_top1(tmp/'random.pt', f, tmp/f'random_{share}.safetensors')[0]
    return r


def probes_again(a, folder: Path, out: Path, train, train_y, test, test_y, subsets: dict, feats):
    "Read the probes again into the cell's JSON from the models it kept, its kNN, fine-tuning and minutes as they were"
    result = json.loads(out.read_text())
    kept = partial(kept_student, a, folder)
    result['raw pixels'].update(probe_readings(centred_pixels(train, test, min(a.size, 32), a.num_workers), train_y, test_y, subsets))
    torch.manual_seed(0)
    result['random ViT'].update(probe_readings(feats(Data2Vec(**Data2Vec.from_pretrained(kept(a.epochs)).config)), train_y, test_y, subsets))
    for epoch in result['pretrained']:
        result['pretrained'][epoch].update(probe_readings(feats(Data2Vec.from_pretrained(kept(epoch))), train_y, test_y, subsets))
        print_reading(result, epoch, a.epochs, sys.stdout)
    out.write_text(json.dumps(result, indent=1))


def run_name(a, folder: Path) -> str:
    "The stem of a run's log, JSON and kept students under WORK: the cell, the epochs, and a peer's method"
    return f"{folder.name}_{a.epochs}ep" + ('' if a.method == 'data2vec' else f'_{a.method}')

def kept_student(a, folder: Path, epoch: int) -> Path:
    "Where a run keeps the model it read after `epoch` (for --probes-again and bench/few_labels.py)"
    return a.work/f"{run_name(a, folder)}_student_{epoch}.pt"


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
    p.add_argument('--method', default='data2vec', choices=['data2vec', 'dino', 'simclr'],
                   help="who pretrains: this library's train (default), or lightly-train's DINO or SimCLR with its defaults")
    p.add_argument('--floors', type=Path, help="take the floors (pixels, random init) from the JSON of an earlier run of the same cell "
                   "and split instead of reading them again: the same numbers, since they are seeded")
    p.add_argument('--probes-again', action='store_true', help="read only the probes again, into the JSON of an earlier run of the same cell "
                   "(from the models it kept in WORK), its kNN, fine-tuning and minutes as they were: for a change of the probe alone")
    a = p.parse_args()
    at = sorted(a.readings_at or [a.epochs])
    if at[-1] != a.epochs or at[0] < 1: p.error("--readings-at: epochs from 1 to --epochs, the last one --epochs")
    if a.method != 'data2vec' and at != [a.epochs]: p.error("--readings-at: a peer is read after its last epoch only")
    folder, train, train_y, test, test_y = make_cell(a.path, a.work, a.size, a.gray, a.train, a.test)
    subsets = {share: stratified(train_y, share, seed=2) for share in FRACTIONS}
    finetune_test = test if a.finetune_test is None else [test[i] for i in stratified(test_y, min(1., a.finetune_test / len(test)), seed=3)]
    log, out = a.work/f"{run_name(a, folder)}.log", a.json or a.work/f"{run_name(a, folder)}.json"
    print(f"# {a.path.name}, {a.size} px {'gray' if a.gray else 'colour'}: {len(train)} images to pretrain on, {len(test)} to test on; "
          f"few labels: {', '.join(f'{s:.0%} = {len(i)}' for s, i in subsets.items())} images, fine-tuning read on {len(finetune_test)}; the runs' own output in {log}", flush=True)
    report = sys.stdout
    feats = lambda model: tuple(extract_features(model, f, 256, num_workers=a.num_workers, device='cpu', show_progress=False) for f in (train, test))
    if a.probes_again: return probes_again(a, folder, out, train, train_y, test, test_y, subsets, feats)
    result = {'cell': folder.name, 'method': a.method, 'train': len(train), 'test': len(test), 'finetune test': len(finetune_test), 'labels': {f'{s:.0%}': len(i) for s, i in subsets.items()}}
    earlier = json.loads(a.floors.read_text()) if a.floors else {}
    if earlier and any(earlier.get(k) != result[k] for k in ('cell', 'train', 'test', 'finetune test', 'labels')):
        p.error(f"--floors: {a.floors} is of another cell or split than this run's")
    result['raw pixels'] = earlier.get('raw pixels') or read(centred_pixels(train, test, min(a.size, 32), a.num_workers), train_y, test_y, subsets)
    options = ['--image-size', str(a.size), '--patch-size', str(a.size // 8), '--epochs', str(a.epochs), '--device', 'cpu',
               '--num-workers', str(a.num_workers), *shlex.split(a.train_options)]
    with tempfile.TemporaryDirectory() as tmp, open(log, 'w') as chatter, contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
        tmp = Path(tmp)
        pool = tmp/'images'                                            # the training images without their labels
        for i, f in enumerate(train): pool.mkdir(exist_ok=True); (pool/f'{i:05d}{f.suffix}').symlink_to(f.resolve())
        args = get_parser(['train']).parse_args(['train', str(pool), *options, '--save-every', str(math.gcd(*at)), '--checkpoint-out-dir', str(tmp/'run')])
        kept = partial(kept_student, a, folder)
        config, seconds = (pretrain_data2vec(args, at, kept) if a.method == 'data2vec' else
                           pretrain_peer(a.method, args, pool, a.epochs, kept))
        few = {share: labeled_folder(tmp/f'labels_{share}', [train[i] for i in idx], finetune_test) for share, idx in subsets.items()}
        result['random ViT'] = earlier.get('random ViT') or random_floor(config, feats, few, train_y, test_y, subsets, tmp)
        result['pretrained'] = {}
        for epoch in at:
            r = read(feats(Data2Vec.from_pretrained(kept(epoch))), train_y, test_y, subsets)
            for share, f in few.items():
                r[f'fine-tune, {share:.0%} labels'], r[f'fine-tune minutes, {share:.0%} labels'] = finetune_top1(kept(epoch), f, tmp/f'pretrained_{epoch}_{share}.safetensors')
            s = seconds[epoch]
            r.update({'epochs': epoch, 'images seen': epoch * len(train), 'minutes': s / 60, 'images/s': epoch * len(train) / s})
            result['pretrained'][str(epoch)] = r
            print_reading(result, epoch, a.epochs, report)
            out.write_text(json.dumps(result, indent=1))
    print(f"Every number: {out}")


def print_reading(result: dict, epoch: int, epochs: int, file):
    "The markdown table of the readings after `epoch`, beside the floors"
    r = result['pretrained'][str(epoch)]
    print = partial(builtins.print, file=file, flush=True)
    print(f"\n## After {epoch} of {epochs} epochs: {r['images seen']:,} images seen in {r['minutes']:.1f} min ({r['images/s']:.0f} images/s)\n")
    method = result.get('method', 'data2vec')
    who = 'this library' if method == 'data2vec' else f'lightly-train {method}'
    print(f"| reading | raw pixels | same ViT, random init | {who} | - pixels | - random init |\n|---|---|---|---|---|---|")
    for k in [k for k in result['random ViT'] if k in r and k != 'probe L2']:
        pixels = result['raw pixels'].get(k)
        cells = ['-' if pixels is None else f'{pixels:.3f}', f"{result['random ViT'][k]:.3f}", f'**{r[k]:.3f}**',
                 '-' if pixels is None else f'{r[k] - pixels:+.3f}', f"{r[k] - result['random ViT'][k]:+.3f}"]
        print(f"| {k} | " + ' | '.join(cells) + ' |')
    print()


if __name__ == '__main__': main()
