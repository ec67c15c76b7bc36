"""The optimizer preset of a config (``conf/optimizer/*.yaml``), checked: a torch optimizer class by its
import path and its keyword options (part of :mod:`nst.plan`)."""

from __future__ import annotations

import functools
import importlib
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nst.checks import label, non_negative, positive_int
from nst.errors import NSTError

OPTIMIZER_KEYS = ("_target_", "name")  # the preset's own keys, not passed to torch


@dataclass(frozen=True)
class OptimizerPlan:
    name: str  # the preset (lbfgs, lbfgs_plain, adam): what metrics.json records
    target: str  # e.g. torch.optim.LBFGS
    options: dict[str, Any]  # keyword arguments for the target, checked against its signature

    @property
    def is_lbfgs(self) -> bool:
        return self.target.rsplit(".", 1)[-1].endswith("LBFGS")  # torch's or nst.lbfgs.DeviceLBFGS

    def factory(self) -> Callable[..., Any]:
        """``factory([param])`` builds the optimiser."""
        return functools.partial(self.optimizer_class(), **self.options)

    def optimizer_class(self) -> type:
        module, _, name = self.target.rpartition(".")
        return getattr(importlib.import_module(module), name)


def optimizer_plan(node: Any) -> OptimizerPlan:
    if not isinstance(node, DictConfig) or not node.get("_target_"):
        raise NSTError(
            "optimizer must name a torch optimizer under _target_ (optimizer=lbfgs|lbfgs_plain|adam)"
        )
    options = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if k not in OPTIMIZER_KEYS}
    lr = options.get("lr")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
        raise NSTError(f"optimizer.lr must be a positive number, got {lr!r}")
    for key in ("history_size", "max_iter", "max_eval"):
        if key in options:
            positive_int(options[key], f"optimizer.{key}")
    for key in ("tolerance_grad", "tolerance_change"):
        if key in options:
            non_negative(options[key], f"optimizer.{key}")
    if options.get("line_search_fn") not in (None, "strong_wolfe"):
        raise NSTError(
            f"optimizer.line_search_fn must be null or strong_wolfe, got {options['line_search_fn']!r}"
        )
    name = label(node.get("name") or str(node._target_).rsplit(".", 1)[-1], "optimizer.name")
    return OptimizerPlan(name=name, target=str(node._target_), options=options)


def check_optimizer_options(optimizer: OptimizerPlan) -> None:
    """Misspelt options fail here, not at the first step (imports torch: run last)."""
    try:
        cls = optimizer.optimizer_class()
    except (ImportError, AttributeError, ValueError):
        raise NSTError(f"optimizer._target_ {optimizer.target} is not importable") from None
    accepted = inspect.signature(cls).parameters
    unknown = [key for key in optimizer.options if key not in accepted]
    if unknown:
        valid = ", ".join(p for p in accepted if p != "params")
        raise NSTError(f"bad optimizer options: {cls.__name__} takes no '{unknown[0]}' (valid: {valid})")
    import torch

    try:  # the optimiser's own checks (betas in [0, 1), eps >= 0, ...) on a stand-in parameter
        optimizer.factory()([torch.zeros(1, requires_grad=True)])
    except Exception as err:
        raise NSTError(f"bad optimizer options: {str(err).splitlines()[0]}") from None
