"""Run checkpoints (image + optimizer state + position + config), written atomically."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import torch

from nst.errors import NSTError

CHECKPOINT = "checkpoint.pt"


def to_cpu(obj: Any) -> Any:
    """Deep copy of nested dicts/lists/tensors with every tensor on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def save(path: Path, state: dict[str, Any]) -> None:
    """Write to a temporary name, then rename: a crash never leaves a half-written checkpoint."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(to_cpu(state), tmp)
    os.replace(tmp, path)


def load(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CHECKPOINT
    if not run_dir.is_dir():
        raise NSTError(f"resume: {run_dir} is not a run directory")
    if not path.is_file():
        raise NSTError(f"resume: no {CHECKPOINT} in {run_dir} (the run finished, or never checkpointed)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise NSTError(f"resume: cannot read {path}: {err}") from None
    for key in ("image", "optimizer", "scale_index", "step_in_scale", "steps_done", "config"):
        if key not in state:
            raise NSTError(f"resume: {path} is not an nst checkpoint (no '{key}')")
    return state


class StopFlag:
    """SIGINT/SIGTERM set a flag the training loop checks after each step; a second signal kills.

    Stopping at a step boundary keeps the image and the optimizer state consistent, so the
    checkpoint written on the way out resumes exactly.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:  # second Ctrl-C: the user means it
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        self.signum = signum

    def __enter__(self) -> StopFlag:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class Interrupted(Exception):
    """Raised at a step boundary after SIGINT/SIGTERM."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Diverged(Exception):
    """Raised when the loss stops being finite."""

    def __init__(self, value: float, evaluation: int) -> None:
        super().__init__(f"loss became {value} at evaluation {evaluation}")
        self.value = value
