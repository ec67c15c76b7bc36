"""A scale optimised tile by tile (``tile=PX``): print sizes that do not fit in memory at once.

The image at the scale (upsampled from the previous, whole-image scale) is the canvas. Tiles are
optimised row by row, each as its own small run: it starts from the canvas under it (so its shared
border starts from the neighbours already done), its content target is the content crop, and its
style targets are the Gram matrices of the style image at the full scale, computed once (in pieces)
for the whole image, so every tile is pulled to the global statistics rather than to a crop's. Its
result goes back into the canvas blended by a linear ramp over the shared border.
Differs from Gatys et al.: they optimise the whole image at once; the loss of one tile is not the
loss of the image, but the Gram targets are, so style statistics agree across tiles.
With ``refine_anchor``, a tile is anchored as a whole scale is: the canvas with the tile in it,
downsampled to the working size, scored by the working size's loss (the whole picture's, exactly).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import torch

from nst import checkpoint
from nst.callbacks import ProgressBar, RunMonitor
from nst.checkpoint import RunState, StopFlag
from nst.images import upsample
from nst.losses import LossTerms
from nst.statistics import Statistic, Stats
from nst.tiles import Box, grid
from nst.trainer import make_trainer
from nst.vgg import pools_before

if TYPE_CHECKING:
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import TensorBoardLogger

    from nst.images import Sources
    from nst.module import StyleTransfer
    from nst.plan import Plan


class TilingRun(Protocol):
    """What a tiled scale uses of the run it belongs to (:class:`nst.engine.Run`), named here so that
    this module never imports the engine: the engine imports it."""

    plan: Plan
    state: RunState
    sources: Sources
    encoder: torch.nn.Module
    device: torch.device
    out_dir: Path
    logger: TensorBoardLogger
    trainer: pl.Trainer | None
    module: StyleTransfer | None
    budget_spent: bool

    def wall_seconds(self) -> float: ...

    def save_checkpoint(self, trainer: pl.Trainer, module: StyleTransfer, step: int) -> None: ...

    def out_of_time(self) -> bool: ...

    def release_last_fit(self) -> None: ...

    def fit_converged(self) -> bool: ...

    def anchor(self, device: torch.device) -> StyleTransfer | None: ...

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
    ) -> StyleTransfer: ...

    def fit_module(
        self, trainer: pl.Trainer, module: StyleTransfer, monitor: RunMonitor, remaining: int
    ) -> None: ...


def feather(box: Box) -> torch.Tensor:
    """1x1xHxW blend weights of a tile: a linear ramp from 0 to 1 over the rows and columns it
    shares with earlier tiles (its outermost pixels, the ones VGG's zero padding spoils, weigh least)."""

    def ramp(length: int, width: int) -> torch.Tensor:
        weights = torch.ones(length)
        if width:
            weights[:width] = torch.arange(1, width + 1) / (width + 1)
        return weights

    return (ramp(box.height, box.ramp_top)[:, None] * ramp(box.width, box.ramp_left)[None, :])[None, None]


def blend(canvas: torch.Tensor, tile: torch.Tensor, box: Box) -> None:
    """Write ``tile`` into ``canvas`` at ``box`` (in place), feathered over the shared borders."""
    rows, columns = box.slices()
    weights = feather(box).to(canvas.device)
    region = canvas[..., rows, columns]
    region.mul_(1 - weights).add_(weights * tile.to(canvas.device).clamp(0, 1))


def _core_features(
    encoder: torch.nn.Module, image: torch.Tensor, layers: list[str], arch: str, tile: int
) -> Iterator[tuple[str, torch.Tensor]]:
    """(layer, features of one core) over ``image``, piece by piece so that no forward pass is larger
    than a tile: each piece is run with a margin of context, and only its core's features (multiples
    of 16 px, so every layer's grid aligns) are yielded."""
    height, width = image.shape[-2:]
    margin = 16 * max(1, tile // 128)
    core = max(16, (tile - 2 * margin) // 16 * 16)
    with torch.no_grad():
        for top in range(0, height, core):
            for left in range(0, width, core):
                y0, x0 = max(top - margin, 0), max(left - margin, 0)
                features = encoder(image[..., y0 : top + core + margin, x0 : left + core + margin])
                for name in layers:
                    stride = 2 ** pools_before(name, arch)
                    rows = _core(top, core, height, stride, y0)
                    columns = _core(left, core, width, stride, x0)
                    yield name, features[name][:, :, rows, columns]


def tiled_grams(
    encoder: torch.nn.Module, image: torch.Tensor, layers: list[str], arch: str, tile: int
) -> dict[str, torch.Tensor]:
    """The Gram matrices of ``image`` (as :func:`nst.losses.gram_matrix`, F F^T / (C H W)), computed
    piece by piece (:func:`_core_features`)."""
    height, width = image.shape[-2:]
    sums: dict[str, torch.Tensor] = {}
    for name, part in _core_features(encoder, image, layers, arch, tile):
        flat = part[0].float().flatten(1)
        sums[name] = sums.get(name, 0) + flat @ flat.t()
    return {
        name: (total / (total.shape[0] * (height // s) * (width // s)))[None]
        for name, total in sums.items()
        for s in [2 ** pools_before(name, arch)]
    }


def tiled_moments(
    encoder: torch.nn.Module,
    image: torch.Tensor,
    layers: list[str],
    arch: str,
    tile: int,
    statistic: Statistic,
) -> dict[str, Stats]:
    """A statistic's moments of ``image`` (nst.statistics, not Gram), piece by piece as
    :func:`tiled_grams`: each core's moments, merged over the cores (means weighted by their area;
    sliced_wasserstein's samples put together)."""
    pieces: dict[str, list] = {name: [] for name in layers}
    for name, part in _core_features(encoder, image, layers, arch, tile):
        if part.numel():
            pieces[name].append((part.shape[-2] * part.shape[-1], statistic.moments(part)))
    return {name: statistic.merge(pieces[name]) for name in layers}


def _core(start: int, core: int, length: int, stride: int, origin: int) -> slice:
    """A core's feature rows (or columns) at ``stride``, relative to a piece that starts at ``origin``."""
    end = (start + core) // stride if start + core < length else length // stride
    return slice(start // stride - origin // stride, end - origin // stride)


@dataclass
class TileLosses:
    """Each finished tile's final losses and its area: the record's losses are their area-weighted mean."""

    entries: list[dict] = field(default_factory=list)

    def add(self, terms: LossTerms, box: Box) -> None:
        numbers = {"total": float(terms.total)} | {
            part: {k: float(v) for k, v in getattr(terms, part).items()}
            for part in ("content", "style", "extra")
        }
        self.entries.append(numbers | {"area": box.height * box.width})

    def mean(self) -> LossTerms:
        area = sum(e["area"] for e in self.entries) or 1

        def average(part: str) -> dict[str, torch.Tensor]:
            names = self.entries[0][part] if self.entries else {}
            return {k: torch.tensor(sum(e[part][k] * e["area"] for e in self.entries) / area) for k in names}

        total = torch.tensor(sum(e["total"] * e["area"] for e in self.entries) / area)
        return LossTerms(total, average("content"), average("style"), average("extra"))


class TiledScale:
    """A scale in progress tile by tile: the canvas is ``run.state.image``; what the run saves,
    shows and records while it lasts."""

    def __init__(self, run: TilingRun) -> None:
        plan, state = run.plan, run.state
        self.run, self.size = run, plan.sizes[state.scale_index]
        self.content, styles = run.sources.at(self.size)
        shape = run.sources.shape_at(self.size)
        if state.image is None:
            state.image = run.sources.initial_image(self.size, self.content)
        elif tuple(state.image.shape[-2:]) != shape:
            state.image = upsample(state.image, shape)
        assert plan.tile is not None
        self.boxes = grid(shape, plan.tile, plan.tile_overlap)
        self.steps = plan.steps[state.scale_index]
        if state.tile_index == 0:  # a new tiled scale (or its first tile, resumed): no finished tiles
            state.tile_losses = []
        self.losses = TileLosses(state.tile_losses)
        self.present = run.sources.presenter(self.size)
        self.active = False  # a tile is being optimised (its pixels are not in the canvas yet)
        encoder, layers = run.encoder.to(run.device), list(plan.style_layers)
        if plan.style_loss.name != "gram":  # the whole style image's statistic, blended as it allows
            statistic = plan.style_loss.statistic(plan.seed)
            arch = plan.backbone.arch
            moments = [
                tiled_moments(encoder, s.to(run.device), layers, arch, plan.tile, statistic) for s in styles
            ]
            self.targets = {
                n: statistic.blend([m[n] for m in moments], list(plan.style_blend)) for n in layers
            } or None
            return
        per_style = [
            tiled_grams(encoder, s.to(run.device), layers, plan.backbone.arch, plan.tile) for s in styles
        ]
        self.targets = {n: sum(w * g[n] for w, g in zip(plan.style_blend, per_style)) for n in layers} or None

    def fit(self, stop: StopFlag) -> None:
        """Every tile not done yet, in order; then the run moves on to the next scale."""
        state = self.run.state
        while state.tile_index < len(self.boxes) and not self.run.budget_spent:
            self.fit_tile(stop, self.boxes[state.tile_index])
        state.optimizer, state.tile_image, state.tile_index = None, None, 0
        state.best_image = state.best_loss = None
        state.scale_index, state.step_in_scale = state.scale_index + 1, 0

    def _callbacks(self, stop: StopFlag, remaining: int) -> tuple[RunMonitor, list]:
        run, plan, state = self.run, self.run.plan, self.run.state
        monitor = RunMonitor(
            step_offset=state.steps_done,
            log_every=plan.log_every,
            image_every=0,  # the canvas is logged after each tile instead of the tile
            checkpoint_every=plan.checkpoint_every,
            save_checkpoint=run.save_checkpoint,
            stop=stop,
            out_of_time=run.out_of_time,
            stop_rule=plan.stop,
            losses=state.fit_losses,
        )
        if not plan.progress_bar:
            return monitor, [monitor]
        scale = f"scale {state.scale_index + 1}/{len(plan.sizes)} ({self.size} px)"
        label = f"{scale}, tile {state.tile_index + 1}/{len(self.boxes)}"
        bar = ProgressBar(label, remaining, done=state.step_in_scale, total=len(self.boxes) * self.steps)
        return monitor, [monitor, bar]

    def fit_tile(self, stop: StopFlag, box: Box) -> None:
        run, plan, state = self.run, self.run.plan, self.run.state
        run.release_last_fit()  # the last tile's
        rows, columns = box.slices()
        remaining = self.steps - (state.step_in_scale - state.tile_index * self.steps)
        remaining = 0 if run.fit_converged() else remaining  # resumed after the tile converged
        start = state.tile_image if state.tile_image is not None else state.image[..., rows, columns]
        monitor, callbacks = self._callbacks(stop, remaining)
        run.trainer = trainer = make_trainer(plan, run.logger, callbacks, run.out_dir)
        content = None if self.content is None else self.content[..., rows, columns]
        device = trainer.strategy.root_device
        anchor = run.anchor(device)  # the working size's loss of the whole picture (refine_anchor)
        run.module = module = run.build_module(
            device,
            start,
            content,
            style_targets=self.targets,
            anchor=anchor,
            anchor_view=None if anchor is None else self.placed(box, device),
            # A tile's own terms are means over the tile, the anchor's over the whole picture: per
            # pixel, the anchor weighs as on an untiled scale when scaled by the area ratio.
            anchor_weight=plan.anchor * state.image[0, 0].numel() / (box.height * box.width),
        )
        free = (feather(box) >= 0.5).to(module.image.dtype).to(device)
        # The outer half of the border shared with finished tiles stays as they left it: the tile's
        # own pixels grow against that fixed context (a zero gradient there is exact for L-BFGS).
        module.image.register_hook(lambda grad: grad * free)
        self.active = True
        run.fit_module(trainer, module, monitor, remaining)  # leaves the module on the device
        with torch.no_grad():
            self.losses.add(module.losses(module.export()), box)
        blend(state.image, module.export(), box)
        self.active = False
        state.tile_index, state.tile_image, state.optimizer = state.tile_index + 1, None, None
        state.best_image = state.best_loss = None
        state.step_in_scale = state.tile_index * self.steps  # a tile cut short (time budget, stop rule)
        self.log_canvas(state.steps_done)
        if plan.checkpoint_every:  # a tile boundary: the canvas and the next tile
            checkpoint.save(
                run.out_dir / checkpoint.CHECKPOINT, replace(state, wall_seconds=run.wall_seconds())
            )

    def placed(self, box: Box, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
        """The tile in progress -> the whole canvas with it blended in as :func:`blend` will, without
        the clamp, differentiably (the tile's anchor sees the whole picture)."""
        canvas = self.run.state.image.to(device)
        weights = feather(box).to(device)
        rows, columns = box.slices()

        def view(tile: torch.Tensor) -> torch.Tensor:
            whole = canvas.clone()
            whole[..., rows, columns] = canvas[..., rows, columns] * (1 - weights) + weights * tile
            return whole

        return view

    def canvas_with(self, tile: torch.Tensor) -> torch.Tensor:
        """The canvas with the tile in progress blended in (what an interrupted run saves)."""
        canvas = self.run.state.image
        if not self.active:
            return canvas.clamp(0, 1)
        canvas = canvas.clone()
        blend(canvas, tile, self.boxes[self.run.state.tile_index])
        return canvas.clamp(0, 1)

    def shown(self, image: torch.Tensor) -> torch.Tensor:
        return image if self.present is None else self.present(image)

    def record(self) -> dict[str, object]:
        """What metrics.json adds for a tiled result."""
        rows = len({box.top for box in self.boxes})
        first = self.boxes[0]
        return {
            "tiles": len(self.boxes),
            "tile_grid": [rows, len(self.boxes) // rows],
            "tile_shape": [first.height, first.width],
        }

    def log_canvas(self, step: int, final: bool = False) -> None:
        logger = self.run.logger
        if (final or self.run.plan.image_every) and hasattr(logger.experiment, "add_image"):
            logger.experiment.add_image("image", self.shown(self.run.state.image.clamp(0, 1))[0].cpu(), step)
