"""The problem both implementations of `make bench` solve, the engine's side of it, and ``build``.

:func:`make_problem` plans what ``python -m nst backbone=NAME size=SIZE`` would run (the plan is the
one source of layers, loss weights and optimiser) and loads its weights and images once. :class:`Ours`
is the engine's code path on that problem; :class:`baseline.Baseline` is the textbook's.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from baseline import Baseline  # the sibling baseline.py (bench.py puts this folder on sys.path)

from nst.backbones import (
    PRECISIONS,
    ConvParams,
    build_encoder,
    load_conv_params,
    random_vgg_params,
    resolve_precision,
)
from nst.balance import balance_factor
from nst.config import compose
from nst.encoder import VGGEncoder
from nst.errors import NSTError
from nst.images import Sources, load_image, style_edge
from nst.module import StyleTransfer, fast_math
from nst.plan import BackbonePlan, Plan, make_plan

# ---------------------------------------------------------------- the problem both implementations solve


@dataclass
class Problem:
    """A plan (the one source of layers, weights and optimiser) with its weights and images loaded."""

    plan: Plan
    weights: str  # where the conv weights came from (random ones cost the same)
    params: ConvParams
    content: torch.Tensor
    style: torch.Tensor
    device: torch.device

    @property
    def backbone(self) -> str:
        return self.plan.backbone.name

    @property
    def arch(self) -> str:
        return self.plan.backbone.arch

    @property
    def preprocessing(self) -> str:
        return self.plan.backbone.preprocessing

    @property
    def content_layers(self) -> list[str]:
        return list(self.plan.content_layers)

    @property
    def style_layers(self) -> list[str]:
        return list(self.plan.style_layers)

    @property
    def content_weight(self) -> float:
        return self.plan.content_weight

    @property
    def style_weight(self) -> float:
        return self.plan.style_weight

    @property
    def style_relative(self) -> bool:
        return self.plan.style_loss.relative

    @property
    def style_scale(self) -> float:
        return self.plan.style_loss.scale


def plan_for(backbone: str, size: int, overrides: Sequence[str] = ()) -> Plan:
    """The plan `python -m nst backbone=BACKBONE size=SIZE [overrides]` would run: one source of
    defaults, with the style weight as the run applies it (``balance=auto``: x the pair's factor)."""
    return _plan_for(backbone, size, tuple(overrides))


@functools.cache  # a race asks once per contestant and repeat; the factor loads the weights (off the clock)
def _plan_for(backbone: str, size: int, overrides: tuple[str, ...]) -> Plan:
    args = [f"backbone={backbone}", f"size={size}", *overrides]
    if backbone == "vgg19":
        args.append("backbone.download=false")
    plan = make_plan(compose(args), Path(tempfile.gettempdir()))  # nothing is written there
    backbone_plan = resolve_precision(plan.backbone, torch.device("cpu"))  # as nst.engine.Run: on the CPU
    try:
        encoder = build_encoder(backbone_plan, plan.layers)
    except NSTError:  # vgg19_torchvision without its weights: random ones (conv_params), nothing to weigh
        return plan
    factor = balance_factor(replace(plan, backbone=backbone_plan), Sources(plan), encoder)
    return replace(plan, style_weight=plan.style_weight * factor)


def conv_params(backbone: BackbonePlan) -> tuple[ConvParams, str]:
    """The backbone's conv weights and their origin; random ones when real VGG-19 weights are absent."""
    try:
        return load_conv_params(backbone), backbone.source
    except NSTError:
        if backbone.source != "torchvision":
            raise
        return random_vgg_params(backbone.arch, 0), "random"  # same shapes, same cost


def make_problem(backbone: str, size: int, device: torch.device, overrides: Sequence[str] = ()) -> Problem:
    plan = plan_for(backbone, size, overrides)
    assert plan.content is not None and plan.style is not None  # the default run is a style transfer
    params, weights = conv_params(plan.backbone)
    return Problem(
        plan=plan,
        weights=weights,
        params=[(w.to(device), b.to(device)) for w, b in params],
        content=load_image(plan.content, plan.size).to(device),
        style=load_image(plan.style, style_edge(plan.size, plan.style_scale)).to(device),
        device=device,
    )


def at_size(problem: Problem, size: int) -> Problem:
    """The same problem with its images loaded for a result of ``size`` px (a coarse-to-fine scale):
    the weights stay loaded, as the engine keeps one encoder for every scale of a run."""
    plan, device = problem.plan, problem.device
    assert plan.content is not None and plan.style is not None
    return replace(
        problem,
        content=load_image(plan.content, size).to(device),
        style=load_image(plan.style, style_edge(size, plan.style_scale)).to(device),
    )


# ---------------------------------------------------------------- ours: the engine's own code path


class Ours:
    """The engine as ``python -m nst`` builds it from the plan, minus Lightning's loop around the closure.

    ``dtype`` overrides the plan's ``backbone.precision`` (the VGG's arithmetic). ``anchor``: a
    refinement scale's anchor, the working size's module (nst.engine.Run.anchor).
    """

    def __init__(
        self,
        problem: Problem,
        channels_last: bool = True,
        compile: bool = False,
        dtype: torch.dtype | None = None,
        anchor: StyleTransfer | None = None,
    ) -> None:
        p, plan = problem, problem.plan
        dtype = dtype or PRECISIONS[resolve_precision(plan.backbone, p.device).precision]
        encoder = VGGEncoder(
            plan.backbone.arch,
            p.params,
            plan.backbone.preprocessing,
            plan.layers,
            pooling=plan.backbone.pooling,
            channels_last=channels_last,
            dtype=dtype,
        ).to(p.device)
        self.module = StyleTransfer(
            **plan.loss_arguments(),
            encoder=encoder,
            init_image=p.content,
            content_image=p.content,
            style_image=p.style,
            tv_weight=0.0,  # the baseline has none
            range_weight=plan.range_weight,
            compile=compile,
            anchor=anchor,  # a refinement scale's (refine_anchor); the judge twin has none
            anchor_weight=plan.anchor,
        ).to(p.device)
        self.image = self.module.image
        self.problem, self.channels_last = problem, channels_last
        # bf16 results are judged by the float32 loss (the one fp32 runs report): a float32 twin,
        # built on the first judged loss so that a timed run does not pay for its targets.
        self.needs_judge = dtype != torch.float32
        self._judge: Ours | None = None if self.needs_judge else self

    @property
    def judge(self) -> Ours:
        if self._judge is None:
            self._judge = Ours(self.problem, self.channels_last, dtype=torch.float32)
        return self._judge

    def evaluate(self) -> torch.Tensor:
        if (
            self.image.device.type == "cpu"
        ):  # the run's denormal flush (interleaving resets it); TF32 is the bench's flag
            fast_math(self.image.device)
        self.image.grad = None
        loss = self.module.losses().total
        loss.backward()
        return loss

    def optimizer(self) -> torch.optim.Optimizer:
        return self.module.configure_optimizers()

    def judged_loss(self, image: torch.Tensor) -> float:
        """Float32 loss of ``image``, whatever precision optimises it."""
        with torch.no_grad():
            return float(self.judge.module.losses(image).total)

    def exported_loss(self) -> float:
        """Float32 loss of the clamped image: what a user gets."""
        return self.judged_loss(self.module.export())


def build(impl: str, problem: Problem, compile: bool = False) -> Baseline | Ours:
    if impl == "ours":
        return Ours(problem, compile=compile)
    if impl == "ours_nchw":
        return Ours(problem, channels_last=False)
    if impl == "ours_bf16":  # backbone.precision=bf16: the VGG in bf16, losses and optimiser in float32
        return Ours(problem, dtype=torch.bfloat16)
    if impl == "baseline_like":  # the same textbook code computing only what ours computes, FTZ on
        return Baseline(problem, truncate=True, flush_denormal=True)
    return Baseline(problem, truncate=impl == "baseline_truncated")
