"""One-value checks of the plan: each returns the value it checked or raises one NSTError line."""

from __future__ import annotations

import math
import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig

from nst.config import Config
from nst.errors import NSTError


def positive_int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise NSTError(f"{key} must be a positive integer, got {value!r}")
    return value


def non_negative_int(value: Any, key: str, zero: str = "never") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NSTError(f"{key} must be a non-negative integer (0 = {zero}), got {value!r}")
    return value


def non_negative(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise NSTError(f"{key} must be a non-negative number, got {value!r}")
    return float(value)


def label(value: Any, key: str) -> str:
    """A name that also goes into folder names and records: letters, digits, '_', '.', '-'."""
    if not isinstance(value, str) or not re.fullmatch(r"[\w.+-]+", value):
        raise NSTError(f"{key} must be a name of letters, digits, '_', '.', '+' or '-', got {value!r}")
    return value


def devices(value: Any) -> Any:
    """Lightning's `devices`: a count, a list of device indices, or auto; or free (nst.devices)."""
    if isinstance(value, ListConfig):
        value = list(value)
    count = isinstance(value, int) and not isinstance(value, bool) and value > 0
    indices = isinstance(value, list) and value and all(isinstance(v, int) and v >= 0 for v in value)
    if not (count or indices or value in ("auto", "free")):
        raise NSTError(
            f"trainer.devices must be a positive count, a list of device indices, auto or free, got {value!r}"
        )
    return value


def one_of(value: Any, key: str, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise NSTError(f"unknown {key} '{value}'; valid: {', '.join(valid)}")
    return str(value)


def layer_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # content_layers=relu4_2 means [relu4_2]
        return [value]
    if isinstance(value, ListConfig):
        value = list(value)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise NSTError(f"{key} must be a list of layer names, got {value!r}")
    return list(value)


def check_keys(cfg: DictConfig) -> None:
    """Keys the schema does not know (added with +key=value) are refused, not silently ignored."""
    known = {f.name for f in fields(Config)}
    unknown = [key for key in cfg if key not in known]
    if unknown:
        raise NSTError(f"unknown key '{unknown[0]}' (`python -m nst --cfg job` lists every key)")


def check_writable(folder: Path, what: str) -> None:
    """``folder`` exists and can be written in, or can be made: says why not."""
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if existing is None:
        raise NSTError(f"{what} {folder} is not writable: none of its parents exists")
    if not existing.is_dir():
        raise NSTError(f"{what} {folder} is not writable: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise NSTError(f"{what} {folder} is not writable: no permission to write in {existing}")


def time_budget(value: Any) -> float | None:
    """Seconds of optimisation: a positive number, or None (no limit). 0 and negatives are refused
    alike: a budget that allows no step is a mistake, not a request for the start image."""
    if value is None:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not 0 < value < math.inf:
        shown = f"{value:g}" if number else repr(value)
        raise NSTError(f"time_budget must be a positive number of seconds (null = no limit), got {shown}")
    return float(value)
