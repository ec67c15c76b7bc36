"""Progress, logging, checkpoints and stop requests, kept out of the optimisation loop."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import TQDMProgressBar

from nst import threads
from nst.checkpoint import StopFlag
from nst.convergence import StopRule, converged
from nst.errors import Interrupted
from nst.module import StyleTransfer


class ProgressBar(TQDMProgressBar):
    """One bar per fit, labelled with the scale, showing the current loss (not the logger version).

    Redrawn every step in a terminal; about ten times per fit when the output is a log file or a
    pipe (CI, sweeps), where every redraw would stay behind as another line.
    """

    def __init__(
        self, description: str = "steps", steps: int = 0, done: int = 0, total: int | None = None
    ) -> None:
        interactive = sys.stdout.isatty()
        super().__init__(refresh_rate=1 if interactive else max(1, steps // 10))
        self.description = description
        self.done = done  # steps of this scale done before this fit (a resumed run): the bar starts there
        self.total = total  # a folder run: every image's steps, so the bar runs over the whole folder
        self.last = done  # the last step finished (drawn or not)

    @property
    def train_description(self) -> str:
        return self.description

    def get_metrics(self, trainer, pl_module):  # type: ignore[override]
        """The current loss, read from the module only when the bar redraws (one host read)."""
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        terms = getattr(pl_module, "last_terms", None)
        if terms is not None:
            metrics["loss"] = float(terms.total)
        return metrics

    def on_train_epoch_start(self, trainer, pl_module) -> None:  # type: ignore[override]
        # Lightning's own resets the bar and relabels it "Epoch 0"; one fit is one epoch here.
        self.train_progress_bar.total = self.total or self.done + self.total_train_batches
        self.train_progress_bar.initial = self.done
        self.train_progress_bar.n = self.last = self.done

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # type: ignore[override]
        # Lightning's own redraws here unconditionally (a duplicate last line in a log); this one only
        # when the last step was not drawn (a fit stopped early, e.g. by the time budget).
        bar = self.train_progress_bar
        if bar.n != self.last:
            bar.n = self.last
            bar.set_postfix(self.get_metrics(trainer, pl_module))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[override]
        bar, n = self.train_progress_bar, self.done + batch_idx + 1
        self.last = n
        if self._should_update(batch_idx + 1, self.total_train_batches):
            bar.n = n
            bar.set_postfix(self.get_metrics(trainer, pl_module))  # redraws


class RunMonitor(pl.Callback):
    """Per step: times it, logs losses and images to TensorBoard, checkpoints, honours stop requests,
    the time budget and the stop rule (``losses``: the fit's loss per step, kept in the run's state so
    that a checkpoint carries it and a resumed fit stops where the uninterrupted one would).

    ``step_offset`` is the number of steps done before this fit (earlier scales, or the part of the
    run before a resume), so the logged curves run on as one.
    """

    def __init__(
        self,
        step_offset: int,
        log_every: int,
        image_every: int,
        checkpoint_every: int,
        save_checkpoint: Callable[[pl.Trainer, StyleTransfer, int], None],
        stop: StopFlag,
        out_of_time: Callable[[], bool] = lambda: False,
        stop_rule: StopRule | None = None,
        losses: list[float] | None = None,
    ) -> None:
        self.step_offset = step_offset
        self.log_every = log_every
        self.image_every = image_every
        self.checkpoint_every = checkpoint_every
        self.save_checkpoint = save_checkpoint
        self.stop = stop
        self.out_of_time = out_of_time
        self.out_of_time_seen = False  # the time budget ended this fit
        self.stop_rule = stop_rule
        self.losses = [] if losses is None else losses
        self.step_seconds: list[float] = []
        self.step_evaluations: list[int] = []  # the loss evaluations of each step (a line search: 1-3)
        self._started = 0.0
        self._evaluations = 0

    def step(self, trainer: pl.Trainer) -> int:
        return self.step_offset + trainer.global_step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # type: ignore[override]
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        self._evaluations = pl_module.evaluations
        self._started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[override]
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        self.step_seconds.append(time.perf_counter() - self._started)
        self.step_evaluations.append(pl_module.evaluations - self._evaluations)
        step = self.step(trainer)
        if self.log_every and step % self.log_every == 0 and trainer.logger is not None:
            terms = pl_module.last_terms.flat()  # one host read for all terms (one GPU sync, not one each)
            values = torch.stack([v.float() for v in terms.values()]).tolist()
            trainer.logger.log_metrics(dict(zip(terms, values)), step)
        if self.image_every and step % self.image_every == 0:
            log_image(trainer, pl_module, step)
        if self.stop_rule is not None:  # before the checkpoint, which carries the losses
            self.losses.append(float(pl_module.last_terms.total))
            if converged(self.stop_rule, self.losses):  # the fit ends after this step
                trainer.should_stop = True
        if self.checkpoint_every and step % self.checkpoint_every == 0:
            self.save_checkpoint(trainer, pl_module, step)
        if self.stop.signum is not None:
            self.save_checkpoint(trainer, pl_module, step)
            raise Interrupted(self.stop.signum)
        if self.out_of_time():  # checked between steps: the step in progress always finishes
            self.out_of_time_seen = trainer.should_stop = True
        threads.poll()  # fewer threads while other nst runs share the cores, more when they end


def log_image(trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
    logger = trainer.logger
    if logger is not None and hasattr(logger.experiment, "add_image"):
        logger.experiment.add_image("image", pl_module.shown()[0].cpu(), step)
