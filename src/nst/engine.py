"""One run of a plan: optimise scale by scale with checkpoints, then write the result and its record."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger

from nst import checkpoint, record
from nst.backbones import build_encoder, native_bf16, resolve_precision
from nst.balance import balance_factor
from nst.callbacks import ProgressBar, RunMonitor, log_image
from nst.checkpoint import RunState, StopFlag
from nst.console import say
from nst.convergence import converged
from nst.devices import claim_gpu
from nst.errors import Diverged, Interrupted, WriteFailed
from nst.images import Sources, save_image, upsample
from nst.lbfgs import compact
from nst.module import StyleTransfer, Temporal, step_loader
from nst.plan import Plan
from nst.resources import check_memory, current_memory_mb, expected_device
from nst.stopping import background_write_errors, stopped
from nst.threads import shared_cpu
from nst.tiled import TiledScale
from nst.tiles import tile_shape
from nst.trainer import make_trainer, quiet_lightning


@dataclass(frozen=True)
class VideoFrame:
    """What a video frame's run takes from the frame before (nst.video): its start image (None: the
    plan's init) and its temporal term (None: none)."""

    start: torch.Tensor | None
    temporal: Temporal | None


class Run:
    """A run in progress: the plan, its sources and encoder, and the state a checkpoint saves."""

    def __init__(
        self,
        plan: Plan,
        out_dir: Path,
        state: RunState | None,
        encoder: torch.nn.Module | None = None,
        progress: tuple[str, int, int] | None = None,
        frame: VideoFrame | None = None,
    ) -> None:
        device = expected_device(plan.accelerator, plan.devices)
        plan = replace(plan, backbone=resolve_precision(plan.backbone, device))  # auto -> fp32 | bf16
        self.plan, self.out_dir = plan, out_dir
        self.sources = Sources(plan)
        self.sources.check()  # every scale, now: not after an hour at the first one
        self.start_mb = current_memory_mb()
        shape = self.sources.shape_at(plan.size)
        self.estimate_mb = (
            check_memory(plan, tile_shape(shape, plan.tile), device, canvas=shape)
            if plan.tiled(plan.size)
            else check_memory(plan, shape, device)
        )
        self.device = device
        if plan.backbone.precision == "bf16" and not native_bf16(device):
            say(
                f"nst: note: backbone.precision=bf16 is emulated on this {device.type} (no AVX512-BF16/"
                "AMX): expect it to be slower than fp32"
            )
        self.encoder = encoder or build_encoder(plan.backbone, plan.layers)
        self.balance = balance_factor(plan, self.sources, self.encoder)  # balance=auto: x style weight
        self.plan = plan = replace(plan, style_weight=plan.style_weight * self.balance)
        self.frame = frame  # a video frame (nst.video): its start and temporal term
        self.progress = progress  # a folder run: (label, steps of earlier images, steps of all images)
        self.state = state or RunState(config=plan.config)
        if state is not None and state.steps_done > 0:
            state.resumed_at.append(state.steps_done)
        self.started = time.perf_counter()
        self.module: StyleTransfer | None = None  # a tiled scale's: the current tile's
        self.tiling: TiledScale | None = None  # the tiled scale in progress (nst.tiled)
        self.trainer: pl.Trainer | None = None
        self.budget_spent = False  # time_budget reached: no more steps
        out_dir.mkdir(parents=True, exist_ok=True)
        self.logger = TensorBoardLogger(save_dir=str(out_dir), name="tb", version="", default_hp_metric=False)

    def wall_seconds(self) -> float:
        return self.state.wall_seconds + time.perf_counter() - self.started

    def save_checkpoint(self, trainer: pl.Trainer, module: StyleTransfer, step: int) -> None:
        snapshot = replace(
            self.state,
            **{"image" if self.tiling is None else "tile_image": module.image.detach()},
            optimizer=compact(trainer.optimizers[0].state_dict(), self.plan.checkpoint_history),
            best_image=module.best.detach(),
            best_loss=module.best_loss.detach(),
            step_in_scale=self.state.step_in_scale + trainer.global_step,
            steps_done=step,
            evaluations=self.state.evaluations + module.evaluations,
            wall_seconds=self.wall_seconds(),
        )
        checkpoint.save(self.out_dir / checkpoint.CHECKPOINT, snapshot)

    def out_of_time(self) -> bool:
        return self.plan.time_budget is not None and self.wall_seconds() >= self.plan.time_budget

    def _callbacks(self, stop: StopFlag, size: int, remaining: int) -> tuple[RunMonitor, list[pl.Callback]]:
        plan, state = self.plan, self.state
        monitor = RunMonitor(
            step_offset=state.steps_done,
            log_every=plan.log_every,
            image_every=plan.image_every,
            checkpoint_every=plan.checkpoint_every,
            save_checkpoint=self.save_checkpoint,
            stop=stop,
            out_of_time=self.out_of_time,
            stop_rule=plan.stop,
            losses=state.fit_losses,
        )
        if not plan.progress_bar:
            return monitor, [monitor]
        label = (
            "steps"
            if len(plan.sizes) == 1
            else f"scale {state.scale_index + 1}/{len(plan.sizes)} ({size} px)"
        )
        if self.progress is not None:
            label, before, total = self.progress
            return monitor, [
                monitor,
                ProgressBar(label, remaining, done=before + state.steps_done, total=total),
            ]
        return monitor, [monitor, ProgressBar(label, remaining, done=state.step_in_scale)]

    def _targets(
        self,
        device: torch.device,
        content: torch.Tensor | None,
        styles: list[torch.Tensor] | None,
        masks: list[torch.Tensor] | None,
    ) -> dict[str, Any]:
        """The StyleTransfer arguments every fit of the plan shares: encoder, images, layers, weights."""
        return self.plan.loss_arguments() | dict(
            encoder=self.encoder.to(device),
            content_image=None if content is None else content.to(device),
            style_image=[style.to(device) for style in styles or []] or None,
            style_masks=None if masks is None else [mask.to(device) for mask in masks],
            step_offset=self.state.steps_done,
        )

    def build_module(
        self,
        device: torch.device,
        init_image: torch.Tensor,
        content: torch.Tensor | None,
        styles: list[torch.Tensor] | None = None,
        masks: list[torch.Tensor] | None = None,
        style_targets: dict[str, torch.Tensor] | None = None,
        present: Callable[[torch.Tensor], torch.Tensor] | None = None,
        anchor: StyleTransfer | None = None,
        anchor_view: Callable[[torch.Tensor], torch.Tensor] | None = None,
        anchor_weight: float | None = None,
    ) -> StyleTransfer:
        """The plan's StyleTransfer on ``device`` (whole image or one tile), with the saved history and,
        resuming a fit, its best image so far. ``anchor_weight``: refine_anchor's unless given."""
        plan = self.plan
        module = StyleTransfer(
            **self._targets(device, content, styles, masks),
            init_image=init_image.to(device),
            style_targets=style_targets,
            tv_weight=plan.tv_weight,
            range_weight=plan.range_weight,
            optimizer_state=self.state.optimizer,
            compile=plan.compile,
            present=present,
            temporal=self.frame.temporal if self.frame is not None else None,
            anchor=anchor,
            anchor_weight=plan.anchor if anchor_weight is None else anchor_weight,
            anchor_view=anchor_view,
        )
        best, best_loss = self.state.best_image, self.state.best_loss
        if best is not None and best_loss is not None and best.shape == module.best.shape:
            with torch.no_grad():
                module.best.copy_(best)
                module.best_loss.copy_(best_loss)
        return module

    def anchor(self, device: torch.device) -> StyleTransfer | None:
        """A refinement scale's anchor (refine_anchor): the loss of the scale the look was formed at,
        its targets only (no range, tv or temporal term), to score the result downsampled to that size."""
        plan = self.plan
        if not plan.anchor or self.state.scale_index == 0:
            return None
        working = plan.sizes[0]
        content, styles = self.sources.at(working)
        return StyleTransfer(
            **self._targets(device, content, styles, self.sources.masks_at(working)),
            init_image=torch.zeros(1, 3, *self.sources.shape_at(working), device=device),
            tv_weight=0.0,
            range_weight=0.0,
        )

    def release_last_fit(self) -> None:
        """Free the last fit's trainer, module and L-BFGS history before the next allocates its own.

        They sit in reference cycles (Lightning's trainer <-> module <-> callbacks), kept until some
        later garbage collection (measured at 1024 px, 6 tiles: peak memory 5.8 GB with them kept,
        above the untiled run's).
        """
        self.trainer = self.module = None
        gc.collect()

    def fit_module(
        self, trainer: pl.Trainer, module: StyleTransfer, monitor: RunMonitor, remaining: int
    ) -> None:
        """Fit ``remaining`` steps; finished or stopped, the tallies move on."""
        state = self.state
        try:
            if remaining > 0:
                trainer.fit(module, train_dataloaders=step_loader(remaining))
                module.to(trainer.strategy.root_device)  # Lightning's teardown moved it to the CPU
                state.best_iterates += module.keep_best()
        finally:
            state.steps_done = monitor.step(trainer)
            state.step_in_scale += trainer.global_step
            state.evaluations += module.evaluations
            state.step_seconds += monitor.step_seconds
            state.step_evaluations += monitor.step_evaluations
            self.budget_spent = self.budget_spent or monitor.out_of_time_seen
        if self.plan.stop is not None:  # the fit is over (not interrupted): converged, or at its cap
            state.converged_at.append(state.steps_done if self.fit_converged() else None)
            state.fit_losses = []

    def fit_converged(self) -> bool:
        """The fit in progress has met the stop rule (a resumed one may have met it already)."""
        return converged(self.plan.stop, self.state.fit_losses)

    def fit_scale(self, stop: StopFlag) -> None:
        """Optimise at the current scale for its remaining steps; the state moves on as it goes.

        Once the time budget is spent, the remaining steps of every scale are skipped: the image is
        only carried (upsampled) to the last scale, so the result has the size asked for.
        """
        plan, state = self.plan, self.state
        size = plan.sizes[state.scale_index]
        if plan.tiled(size):
            self.tiling = TiledScale(self)
            return self.tiling.fit(stop)
        content, styles = self.sources.at(size)
        shape = self.sources.shape_at(size)
        if state.image is None and self.frame is not None and self.frame.start is not None:
            state.image = self.frame.start.clone()  # the previous frame's result, warped
        elif state.image is None:
            state.image = self.sources.initial_image(size, content)
        elif tuple(state.image.shape[-2:]) != shape:
            state.image = upsample(state.image, shape)
        remaining = plan.steps[state.scale_index] - state.step_in_scale
        remaining = 0 if self.budget_spent or self.fit_converged() else remaining
        self.release_last_fit()
        monitor, callbacks = self._callbacks(stop, size, remaining)
        self.trainer = trainer = make_trainer(plan, self.logger, callbacks, self.out_dir)
        device = trainer.strategy.root_device
        self.module = module = self.build_module(
            device,
            state.image,
            content,
            styles,
            masks=self.sources.masks_at(size),
            present=self.sources.presenter(size),
            anchor=self.anchor(device),
        )
        if state.steps_done == 0 and plan.image_every:  # the start, so the images show the whole path
            log_image(trainer, module, 0)
        self.fit_module(trainer, module, monitor, remaining)
        state.image, state.optimizer = module.image.detach().to("cpu"), None  # a new scale: fresh history
        state.best_image = state.best_loss = None
        state.scale_index, state.step_in_scale = state.scale_index + 1, 0

    def finish(self, status: str, image: torch.Tensor, **extra: Any) -> dict[str, Any]:
        """Write result.png (and `output`) and metrics.json; return the record."""
        assert self.module is not None and self.trainer is not None
        device = self.trainer.strategy.root_device
        shown = self.shown_now(image)
        if self.tiling is not None:  # the whole image never goes through VGG at a tiled size
            losses = self.tiling.losses.mean()
            extra = self.tiling.record() | extra
        else:
            with torch.no_grad():
                losses = self.module.losses(image.to(device))
        path = save_image(shown, self.out_dir / "result.png")
        if status == "completed" and self.plan.output is not None:
            save_image(shown, self.plan.output)
        data = record.build(
            self.plan, self.state, losses, status=status, image=path, device=device,
            wall_seconds=self.wall_seconds(), start_mb=self.start_mb, estimate_mb=self.estimate_mb,
            balance_factor=round(self.balance, 5), **extra,
        )  # fmt: skip
        record.write(self.out_dir, data)
        return data

    def shown_now(self, image: torch.Tensor) -> torch.Tensor:
        """``image`` as the run shows it (colour preservation applied), on the run's device."""
        assert self.module is not None and self.trainer is not None
        if self.tiling is not None:
            return self.tiling.shown(image)
        device = self.trainer.strategy.root_device
        self.module.to(device)  # Lightning's teardown moves the module back to the CPU after fit
        return self.module.shown(image.to(device))

    def save_scale(self, size: int) -> None:
        """A finished lower scale's image as ``scales/<size>px.png``: a large run's previews, each the
        image a run at that size alone would give (the same steps at the same scales)."""
        save_image(self.shown_now(self.state.image.clamp(0, 1)), self.out_dir / "scales" / f"{size}px.png")

    def image_now(self, image: torch.Tensor | None = None) -> torch.Tensor:
        """The result so far, from the module's image (or ``image``): at a tiled scale, the canvas
        with the tile in progress blended in."""
        assert self.module is not None
        image = self.module.export() if image is None else image.detach().clamp(0, 1)
        return image if self.tiling is None else self.tiling.canvas_with(image)

    def log_final_image(self) -> None:
        if self.tiling is not None:
            self.tiling.log_canvas(self.state.steps_done, final=True)
        else:
            log_image(self.trainer, self.module, self.state.steps_done)


def run(
    plan: Plan,
    out_dir: Path,
    state: RunState | None = None,
    encoder: torch.nn.Module | None = None,
    progress: tuple[str, int, int] | None = None,
    frame: VideoFrame | None = None,
) -> dict[str, Any]:
    """One style-transfer / reconstruction / synthesis run; returns the record it wrote."""
    if plan.devices == "free":  # a sweep's job on a machine with several GPUs: its own GPU
        with claim_gpu(torch.cuda.device_count(), notify=say) as index:
            return run(replace(plan, devices=[index]), out_dir, state, encoder, progress, frame)
    quiet_lightning()
    current = Run(plan, out_dir, state, encoder, progress, frame)
    pl.seed_everything(plan.seed, verbose=False)
    with StopFlag() as stop, background_write_errors() as write_errors, shared_cpu(current.device) as share:
        try:
            while current.state.scale_index < len(plan.sizes):
                size = plan.sizes[current.state.scale_index]
                current.fit_scale(stop)
                if current.state.scale_index < len(plan.sizes) and not current.budget_spent:
                    current.save_scale(size)
            ended = {"ended_by": "time_budget"} if current.budget_spent else {}
            threads = share.lowest if share else torch.get_num_threads()  # the fewest this run had
            cpu = {"cpu_threads": threads, "cpu_shared": share is not None}
            data = current.finish("completed", current.image_now(), **ended, **cpu)
            current.log_final_image()
            record.log_hparams(current.logger, current.plan, data)  # precision as it ran
            (out_dir / checkpoint.CHECKPOINT).unlink(missing_ok=True)  # done: the checkpoint is dead weight
        except (Interrupted, Diverged) as error:
            raise stopped(current, error) from None
        except OSError as error:  # TensorBoard's writer or Lightning hit a full or vanished disk
            where = error.filename or out_dir
            if write_errors:  # the first failure was the event writer's, in its thread
                error, where = write_errors[0], write_errors[0].filename or out_dir / "tb"
            raise stopped(current, WriteFailed(where, error)) from None
        except WriteFailed as error:
            raise stopped(current, error) from None
    return data
