"""Progress reporting and image logging, kept out of the optimisation loop."""

from __future__ import annotations

import math
import time

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import TQDMProgressBar


class ProgressBar(TQDMProgressBar):
    """Lightning's bar, showing steps and the current loss without the logger version number."""

    def get_metrics(self, trainer, pl_module):  # type: ignore[override]
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


class RunMonitor(pl.Callback):
    """Times every step and logs the image to TensorBoard every ``image_every`` steps."""

    def __init__(self, image_every: int) -> None:
        self.image_every = image_every
        self.step_seconds: list[float] = []
        self._started = 0.0
        self.steps_done = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # type: ignore[override]
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        self._started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[override]
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        self.step_seconds.append(time.perf_counter() - self._started)
        self.steps_done = trainer.global_step
        if self.image_every and trainer.global_step % self.image_every == 0:
            self.log_image(trainer, pl_module)

    def log_image(self, trainer, pl_module) -> None:
        logger = trainer.logger
        if logger is not None and hasattr(logger.experiment, "add_image"):
            logger.experiment.add_image("image", pl_module.export()[0].cpu(), trainer.global_step)

    @property
    def median_step_seconds(self) -> float:
        if not self.step_seconds:
            return math.nan
        ordered = sorted(self.step_seconds)
        return ordered[len(ordered) // 2]
