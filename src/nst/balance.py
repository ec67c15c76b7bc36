"""``balance=auto``: one style weight that paints every pair about as much (the look: ``make look``).

A style transfer's raw style loss starts at the photo's own distance to the style, S0 (its style
loss at the style layers), and the content loss lives on the scale of the photo's activations, C0
(their mean square at the content layers). Pairs differ in S0 / C0 by ~7x (vgg19, 256 px: Tübingen x
The Starry Night 3.5, a cat x stained tissue 0.52), so one raw ``style_weight`` buries some photos
and barely touches others. ``balance=auto`` multiplies the style weight by R / (S0 / C0), R being
S0 / C0 of the pair the backbone's ``style_weight`` was calibrated on (``backbone.balance_reference``):
on that pair nothing changes, and elsewhere the style is weighed against how far the photo is from
it. Measured once, at the first scale, and kept for every later scale and tile (one trade-off for the
whole run); ``balance=fixed`` uses the raw weights (the ablations do).

Balanced, every statistic starts at the same multiple of C0, so its ``style_loss.scale`` cancels;
``style_loss.balance_scale`` multiplies the result instead: how strong the statistic's look is at
equal start, against Gram's (gram_relative: 0.25, chosen with ``make look``; docs/look.md).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from nst.module import StyleTransfer

if TYPE_CHECKING:
    from nst.images import Sources
    from nst.plan import Plan


def balance_factor(plan: Plan, sources: Sources, encoder: nn.Module) -> float:
    """What ``balance=auto`` multiplies the style weight by (1 where it does not apply)."""
    reference = plan.backbone.balance_reference
    if plan.balance != "auto" or reference is None or plan.content is None or not plan.styles:
        return 1.0
    size = plan.sizes[0]
    content, styles = sources.at(size)
    assert content is not None
    unweighted = dict(content_weight=1.0, style_weight=1.0, optimizer=lambda params: None)
    probe = StyleTransfer(
        **plan.loss_arguments() | unweighted,
        encoder=encoder,
        init_image=content,
        content_image=content,
        style_image=styles,
        style_masks=sources.masks_at(size),
        tv_weight=0.0,
        range_weight=0.0,
    )
    with torch.no_grad():
        style = float(sum(probe.losses().style.values()))
        energy = sum(float(target.square().mean()) for target in probe.content_targets().values())
    if not (math.isfinite(style) and style > 0 and energy > 0):  # the photo is the style: nothing to weigh
        return plan.style_loss.balance_scale
    return reference * energy / style * plan.style_loss.balance_scale
