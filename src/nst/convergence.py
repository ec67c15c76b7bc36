"""When a fit has converged: the stop rule behind ``stop.rel_change`` and ``stop.window``.

A fit (one scale, one tile, one video frame) is converged once its best loss so far fell by less than
``rel_change`` (a fraction) over the last ``window`` steps; ``steps`` stays the cap. The best loss, not
the last one, because L-BFGS without a line search does not fall at every step: a single step up
followed by a recovery is not convergence, and an unlucky last step does not hide it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nst.errors import NSTError


@dataclass(frozen=True)
class StopRule:
    rel_change: float  # the fraction of the best loss the last `window` steps must beat to go on
    window: int  # steps

    def converged(self, losses: Sequence[float]) -> bool:
        """``losses``: the loss at each step of this fit, in order."""
        if len(losses) <= self.window:
            return False
        before = min(losses[: len(losses) - self.window])
        now = min(before, min(losses[-self.window :]))
        return before - now <= self.rel_change * abs(before)

    def describe(self) -> str:
        return f"the best loss fell by less than {self.rel_change:g} of itself over {self.window} steps"


def converged(rule: StopRule | None, losses: Sequence[float]) -> bool:
    return rule is not None and rule.converged(losses)


def stop_rule(cfg: Any) -> StopRule | None:
    """``cfg.stop`` checked: rel_change null (no rule) or in (0, 1), window a positive integer."""
    rel_change, window = cfg.rel_change, cfg.window
    if isinstance(window, bool) or not isinstance(window, int) or window <= 0:
        raise NSTError(f"stop.window must be a positive number of steps, got {window!r}")
    if rel_change is None:
        return None
    number = isinstance(rel_change, (int, float)) and not isinstance(rel_change, bool)
    if not number or not 0 < rel_change < 1:
        raise NSTError(
            "stop.rel_change must be a fraction in (0, 1), e.g. 1e-3 (null = run every step), "
            f"got {rel_change!r}"
        )
    return StopRule(float(rel_change), window)
