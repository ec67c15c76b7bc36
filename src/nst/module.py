"""The LightningModule: the image is the only parameter; a frozen encoder scores it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from nst.errors import Diverged
from nst.images import downsample
from nst.lbfgs import DeviceLBFGS
from nst.losses import (
    LossTerms,
    content_terms,
    gram_matrix,
    masked_style_terms,
    range_penalty,
    style_terms,
    total_variation,
)
from nst.statistics import Statistic, Stats

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


@dataclass(frozen=True)
class Temporal:
    """A video frame's temporal term (nst.video): earlier frames' results warped onto this frame
    (``target``, Nx3xHxW: the frame before first, then the long-term ones), their weights (``mask``,
    Nx1xHxW) and the term's weight. The term is the sum over the N of mean(mask * (x - target)^2)."""

    target: torch.Tensor
    mask: torch.Tensor
    weight: float


class StepIndices(Dataset):
    """Lightning needs a dataloader: this one yields the step number, one per optimisation step."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> int:
        return index


def step_loader(steps: int) -> DataLoader:
    return DataLoader(StepIndices(steps), batch_size=None, shuffle=False, num_workers=0)


def blended_grams(
    encoder: nn.Module, styles: list[torch.Tensor], blend: Sequence[float] | None, layers: list[str]
) -> dict[str, torch.Tensor]:
    """The target Gram matrix of each style layer: the ``blend``-weighted sum over the styles'."""
    blend = list(blend) if blend is not None else [1 / len(styles)] * len(styles)
    with torch.no_grad():
        grams = [{name: gram_matrix(f[name]) for name in layers} for f in map(encoder, styles)]
    return {name: sum(w * target[name] for w, target in zip(blend, grams)) for name in layers}


def fast_math(device: torch.device, tf32: bool = True) -> None:
    """Process-wide numeric settings of the hot path (measured by `make bench`, see docs/speed.md)."""
    if device.type == "cuda":  # TF32 convs and Gram matmuls on Ampere+ (make bench --no-fast-gpu-math)
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    else:  # denormal gradients in deep layers cost up to 5x per evaluation on x86 CPUs; flush them
        torch.set_flush_denormal(True)


class StyleTransfer(pl.LightningModule):
    """Optimises ``image`` against content activations and style Gram matrices of a frozen encoder.

    ``content_image=None`` is texture synthesis; ``style_image=None`` is content reconstruction.
    Several style images (a list) are blended: the target Gram matrices are their ``style_blend``
    weighted sum. With ``style_masks`` (one 1x1xHxW weight map per style, at the image's size) each
    style is matched only where its mask is, by a Gram matrix of the masked features (Gatys et al.
    2017); each region's term is weighted by its blend weight times the number of styles.
    ``style_targets`` (instead of ``style_image``) gives the target Gram matrices ready-made: a tile
    of a tiled run is matched to the whole image's style statistics (:mod:`nst.tiled`).
    ``statistic`` (``style_loss``, :mod:`nst.statistics`) replaces the Gram matrices by another
    statistic; its targets are then dicts of parts per layer.
    """

    def __init__(
        self,
        encoder: nn.Module,
        init_image: torch.Tensor,
        content_image: torch.Tensor | None,
        style_image: torch.Tensor | list[torch.Tensor] | None,
        content_layers: list[str],
        style_layers: list[str],
        content_weight: float,
        style_weight: float,
        tv_weight: float,
        range_weight: float,
        optimizer: OptimizerFactory,
        optimizer_state: dict | None = None,
        compile: bool = False,
        present: Callable[[torch.Tensor], torch.Tensor] | None = None,
        style_blend: Sequence[float] | None = None,
        style_masks: list[torch.Tensor] | None = None,
        style_targets: dict[str, torch.Tensor] | dict[str, Stats] | None = None,
        statistic: Statistic | None = None,
        statistic_scale: float = 1.0,
        style_relative: bool = False,
        step_offset: int = 0,
        temporal: Temporal | None = None,
        anchor: StyleTransfer | None = None,
        anchor_weight: float = 0.0,
        anchor_view: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self._style_statistic(statistic, statistic_scale, style_relative, step_offset)
        self.encoder = encoder
        self.image = nn.Parameter(init_image.detach().clone(memory_format=torch.contiguous_format))
        if style_targets is not None and (style_image is not None or style_masks is not None):
            raise ValueError("style_targets replaces style_image (and its masks): give one or the other")
        no_style = style_image is None and style_targets is None
        if (content_image is None and content_layers) or (no_style and style_layers):
            raise ValueError("layers given for a missing image: a loss needs its image (the plan drops them)")
        self.content_layers = content_layers
        self.style_layers = style_layers
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        self.range_weight = range_weight
        self.optimizer_factory = optimizer
        self.present = present  # preserve_color=luminance: the content's chroma on the result
        self.optimizer_state = optimizer_state
        self.evaluations = 0
        self.last_terms: LossTerms | None = None
        self.register_buffer("last_finite", self.image.detach().clone(), persistent=False)
        # The best image evaluated so far and its loss, kept on the device without a host sync.
        self.register_buffer("best", self.image.detach().clone(), persistent=False)
        self.register_buffer("best_loss", torch.tensor(float("inf")), persistent=False)
        self._register_targets(content_image, style_image, style_blend, style_masks, style_targets)
        self.temporal_weight = temporal.weight if temporal is not None else 0.0
        if temporal is not None:  # a video frame: stay near the previous result warped onto this frame
            self.register_buffer("temporal_target", temporal.target.float(), persistent=False)
            self.register_buffer("temporal_mask", temporal.mask.float(), persistent=False)
        self._attach_anchor(anchor, anchor_weight, anchor_view)
        if compile:  # after the targets: their (other-sized) images would force a second compilation
            self.encoder = torch.compile(encoder)

    def _attach_anchor(
        self,
        anchor: StyleTransfer | None,
        weight: float,
        view: Callable[[torch.Tensor], torch.Tensor] | None,
    ) -> None:
        """A refinement scale (working_size): the result, downsampled to the working size, also scored by
        that scale's loss (``anchor``: its targets, no range or tv term), so the look formed there stays.
        ``view``: the whole picture the anchor scores, given the image (a tile's: the canvas with it)."""
        self.anchor = anchor
        self.anchor_weight = weight if anchor is not None else 0.0
        self.anchor_view = view
        if anchor is not None:
            anchor.image.requires_grad_(False)  # only its targets are used; its image is never optimised

    def _style_statistic(
        self, statistic: Statistic | None, scale: float, relative: bool, step_offset: int
    ) -> None:
        """style_loss: None (or gram) keeps the Gram code path of nst.losses, bit for bit, and
        ``relative`` (gram_relative) divides each layer's error by its target's mean square; another
        statistic (nst.statistics) has its targets as buffers style_<layer>__<part>. Each distance is
        times ``scale`` (its calibration against the Gram's strength; gram's 1 is skipped) per layer."""
        self.statistic = None if statistic is None or statistic.name == "gram" else statistic
        self.statistic_scale = scale
        if relative and self.statistic is not None:
            raise ValueError(f"style_relative applies to the Gram statistic, not {self.statistic.name}")
        self.style_relative = relative
        self.step_offset = step_offset  # the run's steps before this fit: the statistic's step counter

    def _register_targets(
        self,
        content_image: torch.Tensor | None,
        style_image: torch.Tensor | list[torch.Tensor] | None,
        style_blend: Sequence[float] | None,
        style_masks: list[torch.Tensor] | None,
        style_targets: dict[str, torch.Tensor] | None,
    ) -> None:
        """The content activations and style Gram matrices, once, as non-persistent buffers (a
        checkpoint holds only the image and the optimiser)."""
        encoder = self.encoder
        with torch.no_grad():
            if content_image is not None:
                feats = encoder(content_image)
                for name in self.content_layers:
                    self.register_buffer(f"content_{name}", feats[name].float(), persistent=False)
            styles = [style_image] if isinstance(style_image, torch.Tensor) else list(style_image or [])
            blend = list(style_blend) if style_blend is not None else [1 / max(len(styles), 1)] * len(styles)
            self.masked = style_masks is not None
            if self.statistic is not None:
                self._register_statistic(styles, blend, style_masks, style_targets)
            elif self.masked:  # one target and one mask per style
                assert style_masks is not None and len(style_masks) == len(styles)
                grams = [{n: gram_matrix(f[n]) for n in self.style_layers} for f in map(encoder, styles)]
                self.region_weights = [w * len(styles) for w in blend]
                for i, (target, mask) in enumerate(zip(grams, style_masks)):
                    self.register_buffer(f"mask{i}", mask.float(), persistent=False)
                    for name in self.style_layers:
                        self.register_buffer(f"style{i}_{name}", target[name], persistent=False)
            elif styles or style_targets is not None:  # one blended target
                targets = style_targets or blended_grams(encoder, styles, blend, self.style_layers)
                for name in self.style_layers:
                    self.register_buffer(f"style_{name}", targets[name].float(), persistent=False)

    def _register_statistic(
        self,
        styles: list[torch.Tensor],
        blend: list[float],
        style_masks: list[torch.Tensor] | None,
        style_targets: dict | None,
    ) -> None:
        """Targets of a statistic other than Gram: per style with masks, else one blend (or given)."""
        statistic = self.statistic
        assert statistic is not None
        self.style_parts: dict[str, list[str]] = {}

        def keep(prefix: str, name: str, stats: Stats) -> None:
            self.style_parts[name] = list(stats)
            for part, value in stats.items():
                self.register_buffer(f"{prefix}_{name}__{part}", value, persistent=False)

        if style_targets is not None:
            for name in self.style_layers:
                keep("style", name, style_targets[name])
            return
        moments = [{n: statistic.moments(f[n]) for n in self.style_layers} for f in map(self.encoder, styles)]
        if self.masked:
            assert style_masks is not None and len(style_masks) == len(styles)
            self.region_weights = [w * len(styles) for w in blend]
            for i, (target, mask) in enumerate(zip(moments, style_masks)):
                self.register_buffer(f"mask{i}", mask.float(), persistent=False)
                for name in self.style_layers:
                    keep(f"style{i}", name, statistic.blend([target[name]], [1.0]))
        elif styles:
            for name in self.style_layers:
                keep("style", name, statistic.blend([m[name] for m in moments], blend))

    def _stats(self, prefix: str, name: str) -> Stats:
        return {part: getattr(self, f"{prefix}_{name}__{part}") for part in self.style_parts[name]}

    def _statistic_terms(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        statistic = self.statistic
        assert statistic is not None
        if self.masked:
            terms = {
                name: sum(
                    (
                        weight
                        * statistic.masked_distance(
                            features[name], getattr(self, f"mask{i}"), self._stats(f"style{i}", name), name
                        )
                        for i, weight in enumerate(self.region_weights)
                    ),
                    features[name].new_zeros((), dtype=torch.float32),
                )
                for name in self.style_layers
            }
        else:
            terms = {
                name: statistic.distance(features[name], self._stats("style", name), name)
                for name in self.style_layers
            }
        return {name: self.statistic_scale * term for name, term in terms.items()}

    def on_train_batch_start(self, batch, batch_idx) -> None:  # type: ignore[override]
        """A new optimiser step: the statistic's step (sliced_wasserstein redraws its directions by it),
        the run's step count, so a resumed run (step_offset from the checkpoint) draws the same ones."""
        for module in (self, self.anchor):
            if module is not None and module.statistic is not None and hasattr(module.statistic, "step"):
                module.statistic.step = self.step_offset + batch_idx

    def content_targets(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, f"content_{name}") for name in self.content_layers}

    def style_targets(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, f"style_{name}") for name in self.style_layers}

    def losses(self, image: torch.Tensor | None = None) -> LossTerms:
        """The weighted total and every unweighted term of ``image`` (default: the parameter)."""
        image = self.image if image is None else image
        features = self.encoder(image)
        content = content_terms(features, self.content_targets())
        if self.statistic is not None:
            style = self._statistic_terms(features)
        elif self.masked:
            regions = [
                (
                    weight,
                    getattr(self, f"mask{i}"),
                    {n: getattr(self, f"style{i}_{n}") for n in self.style_layers},
                )
                for i, weight in enumerate(self.region_weights)
            ]
            style = masked_style_terms(features, regions, self.style_relative)
        else:
            style = style_terms(features, self.style_targets(), self.style_relative)
        if self.statistic is None and self.statistic_scale != 1.0:  # gram_relative: x its calibration
            style = {name: self.statistic_scale * term for name, term in style.items()}
        zero = image.new_zeros(())
        total = self.content_weight * sum(content.values(), zero) + self.style_weight * sum(
            style.values(), zero
        )
        extra: dict[str, torch.Tensor] = {}
        if self.range_weight:
            extra["range"] = range_penalty(image)
            total = total + self.range_weight * extra["range"]
        if self.tv_weight:
            extra["tv"] = total_variation(image)
            total = total + self.tv_weight * extra["tv"]
        if self.temporal_weight:  # Ruder et al. 2016: gamma / D * sum c (x - w)^2, D = 3HW
            per_frame = (self.temporal_mask * (image - self.temporal_target).square()).mean((1, 2, 3))
            extra["temporal"] = per_frame.sum()  # one frame (the default): the mean, as before
            total = total + self.temporal_weight * extra["temporal"]
        if self.anchor is not None and self.anchor_weight:
            seen = image if self.anchor_view is None else self.anchor_view(image)
            small = downsample(seen, tuple(self.anchor.image.shape[-2:]))
            extra["anchor"] = self.anchor.losses(small).total
            total = total + self.anchor_weight * extra["anchor"]
        return LossTerms(total, content, style, extra)

    def training_step(self, batch: int, batch_idx: int) -> torch.Tensor:
        self.evaluations += 1  # L-BFGS's line search may evaluate several times per step
        terms = self.losses()
        if not torch.isfinite(terms.total):
            raise Diverged(float(terms.total.detach()), self.evaluations)
        with torch.no_grad():
            self.last_finite.copy_(self.image)
            better = terms.total.detach().float() < self.best_loss
            self.best.copy_(torch.where(better, self.image, self.best))
            self.best_loss.copy_(torch.where(better, terms.total.detach().float(), self.best_loss))
        # Logged by the RunMonitor callback with a step that runs on across scales and resumes, and
        # shown by the progress bar when it redraws (Lightning's self.log cost 1.4 ms a step at 64 px).
        self.last_terms = terms.detached()
        return terms.total

    @torch.no_grad()
    def keep_best(self) -> bool:
        """After a fit: put back the best image evaluated when the image the last step left scores
        worse by the run's own loss (L-BFGS without a line search can overshoot, worst in its first
        steps). The result is then never worse than the start, which was evaluated first. True when
        the image was replaced."""
        if not self.evaluations:
            return False
        final = self.losses().total.float()
        if bool(torch.isfinite(final)) and bool(final <= self.best_loss):
            return False
        self.image.copy_(self.best)
        return True

    def on_fit_start(self) -> None:
        fast_math(self.device)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        optimizer = self.optimizer_factory([self.image])
        if self.optimizer_state is not None:  # resuming: the L-BFGS history comes back too
            optimizer.load_state_dict(self.optimizer_state)
            self.optimizer_state = None
        return optimizer

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:  # type: ignore[override]
        self.after_step(self.trainer.optimizers[0])

    def after_step(self, optimizer: torch.optim.Optimizer) -> None:
        """First-order optimisers are projected back into [0, 1] after each step. L-BFGS is never
        projected: moving the point under it would break its curvature history."""
        if not isinstance(optimizer, (torch.optim.LBFGS, DeviceLBFGS)):
            with torch.no_grad():
                self.image.clamp_(0, 1)

    def export(self) -> torch.Tensor:
        """The optimised image, clamped to [0, 1] (never clamped during optimisation)."""
        return self.image.detach().clamp(0, 1)

    def shown(self, image: torch.Tensor | None = None) -> torch.Tensor:
        """The result as a user sees it (``image``: default the exported one): under
        preserve_color=luminance, its luminance with the content's chroma."""
        image = self.export() if image is None else image
        return image if self.present is None else self.present(image)
