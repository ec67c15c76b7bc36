"""The scales a run optimises at, and the steps at each: the look formed at ``working_size`` and
refined upward (the default), explicit coarse-to-fine ``scales``, or ``size`` alone."""

from __future__ import annotations

import math

from omegaconf import DictConfig

from nst.checks import positive_int
from nst.errors import NSTError


def refinement_sizes(size: int, working: int) -> tuple[int, ...]:
    """The scales from ``working`` up to ``size``, evenly spaced by factors of at most 2."""
    count = math.ceil(math.log2(size / working) - 1e-9)
    return tuple(round(working * (size / working) ** (i / count)) for i in range(count + 1))


def working_scales(cfg: DictConfig, size: int, steps: int) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The default coarse-to-fine: the look formed at ``working_size`` (``steps``), then refined upward
    (``refine_steps`` each scale); None where it does not apply (explicit ``scales``, or small sizes)."""
    if cfg.working_size is None or cfg.scales is not None:
        return None
    working = positive_int(cfg.working_size, "working_size")
    refine = positive_int(cfg.refine_steps, "refine_steps")
    if cfg.tile is not None and isinstance(cfg.tile, int) and not isinstance(cfg.tile, bool):
        working = min(working, cfg.tile)  # the look is formed on the whole image, in one tile
    if size <= working:
        return None
    sizes = refinement_sizes(size, working)
    return sizes, (steps, *[refine] * (len(sizes) - 1))


def scales(cfg: DictConfig, size: int, steps: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    working = working_scales(cfg, size, steps)
    if working is not None:
        return working
    coarse = [positive_int(v, "scales") for v in cfg.scales or []]
    if coarse and (coarse != sorted(set(coarse)) or coarse[-1] >= size):
        raise NSTError(f"scales must increase and stay below size={size}, got {coarse}")
    coarse_steps = [positive_int(v, "scale_steps") for v in cfg.scale_steps or []]
    if coarse_steps and not coarse:
        raise NSTError(
            f"scale_steps={coarse_steps} needs scales (the sizes run before size), e.g. scales=[128]"
        )
    coarse_steps = coarse_steps or [steps] * len(coarse)
    if len(coarse_steps) != len(coarse):
        raise NSTError(f"scale_steps needs one entry per scale ({len(coarse)}), got {coarse_steps}")
    return (*coarse, size), (*coarse_steps, steps)
