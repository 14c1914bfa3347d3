"""What the benchmark scripts share: a training time budget, the number of epochs that fills a budget, and a per-step log."""
import time
from fastai.callback.core import Callback, CancelFitException
from data2vec_vision.learner import data2vec_learner
from data2vec_vision.model import Data2Vec


class TimeBudget(Callback):
    "Stop training once `seconds` have passed; count the images trained on"
    order = 100
    def __init__(self, seconds): self.seconds = seconds
    def before_fit(self): self.start, self.images = time.perf_counter(), 0
    def after_batch(self):
        if self.training: self.images += len(self.xb[0]) // self.learn.data2vec.n_masks   # distinct images, not masked copies
        if time.perf_counter() - self.start > self.seconds: raise CancelFitException()


def plan_epochs(dls, preset: str, minutes: float, tau: dict, recipe: str = 'v2', n_masks: int | None = None, **model_overrides) -> int:
    "Epochs that fill `minutes`, from 30 s of training a throw-away model of the preset"
    warmup = TimeBudget(30)
    probe = data2vec_learner(dls, Data2Vec(preset=preset, recipe=recipe, **model_overrides), n_masks=n_masks, **tau)
    with probe.no_bar(), probe.no_logging(): probe.fit(1, 1e-6, cbs=[warmup])
    per_image = (time.perf_counter() - warmup.start) / max(1, warmup.images)
    return max(1, round(minutes * 60 / (per_image * len(dls.train_ds))))


class StepLog(Callback):
    "Loss and seconds of each optimizer step; stop after `steps`"
    order = 100
    def __init__(self, steps): self.steps = steps
    def before_fit(self): self.losses, self.seconds, self.last = [], [], time.perf_counter()
    def after_batch(self):
        if not self.training: return
        now = time.perf_counter()
        self.losses.append(self.learn.loss.item()); self.seconds.append(now - self.last); self.last = now
        if len(self.losses) == self.steps: raise CancelFitException()
