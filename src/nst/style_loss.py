"""The ``style_loss`` group of a config (``conf/style_loss/*.yaml``), checked: the style statistic and
its settings, without importing torch (part of :mod:`nst.plan`)."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from nst.checks import non_negative, non_negative_int, one_of
from nst.errors import NSTError

STATISTICS = ("gram", "mean_std", "w2", "sliced_wasserstein")  # nst.statistics.NAMES, without torch


@dataclass(frozen=True)
class StyleLossPlan:
    name: str  # the style statistic (nst.statistics): gram | mean_std | w2 | sliced_wasserstein
    scale: float  # multiplies its distance (its strength calibrated against gram's)
    ridge: float = 1e-3  # w2: a = ridge tr(Sigma_s) / C added to both covariances' diagonals
    redraw_every: int = 0  # sliced_wasserstein: optimiser steps between direction draws; 0 = never
    relative: bool = False  # gram: each layer's error over its target's mean square (gram_relative)
    balance_scale: float = 1.0  # balance=auto: x style_weight (nst.balance; gram_relative: 0.25)

    def statistic(self, seed: int):  # -> nst.statistics.Statistic (imports torch)
        from nst.statistics import make_statistic

        return make_statistic(self.name, seed=seed, ridge=self.ridge, redraw_every=self.redraw_every)


def style_loss_plan(node: DictConfig, balance: str, backbone) -> StyleLossPlan:
    """The ``style_loss`` group checked (``backbone``: a :class:`nst.plan.BackbonePlan`, untyped here so
    that this module does not import nst.plan back); gram_relative's scale-free terms also need a
    calibrated balance (``backbone.balance_reference``) under ``balance=auto``, or a raw weight under
    ``balance=fixed``."""
    name = one_of(node.name, "style_loss.name", STATISTICS)
    scale = non_negative(node.scale, "style_loss.scale")
    if scale == 0:
        raise NSTError("style_loss.scale must be positive (strength=0 switches the style off)")
    only = {"ridge": "w2", "redraw_every": "sliced_wasserstein", "relative": "gram"}
    for key, owner in only.items():
        if node.get(key) is not None and name != owner:
            raise NSTError(f"style_loss.{key} applies to style_loss={owner} only, not {name}")
    ridge = StyleLossPlan.ridge if node.get("ridge") is None else non_negative(node.ridge, "style_loss.ridge")
    if name == "w2" and ridge == 0:
        raise NSTError("style_loss.ridge must be positive: it keeps the covariances invertible")
    redraw = node.get("redraw_every")
    redraw = 0 if redraw is None else non_negative_int(redraw, "style_loss.redraw_every", "never")
    relative = bool(node.get("relative") or False)
    balance_scale = non_negative(node.get("balance_scale", 1.0), "style_loss.balance_scale")
    if balance_scale == 0:
        raise NSTError("style_loss.balance_scale must be positive (strength=0 switches the style off)")
    if relative and balance == "auto" and backbone.balance_reference is None:
        raise NSTError(
            f"style_loss=gram_relative has no calibrated weight on backbone={backbone.name} (no "
            "backbone.balance_reference): use balance=fixed with a raw style_weight (vgg19 paints at 1e5-1e6)"
        )
    return StyleLossPlan(
        name=name,
        scale=scale,
        ridge=ridge,
        redraw_every=redraw,
        relative=relative,
        balance_scale=balance_scale,
    )
