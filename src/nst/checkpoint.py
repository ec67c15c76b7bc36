"""The run state: what a checkpoint holds and a resume continues from, and the stop flag."""

from __future__ import annotations

import os
import pickle
import signal
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from nst.console import say
from nst.errors import NSTError
from nst.files import atomic_write
from nst.rundir import CHECKPOINT, differing


@dataclass
class RunState:
    """Where a run is. Saved at checkpoints and on a stop; loaded (as data only) on resume."""

    config: str  # the resolved config (YAML) the run was planned from
    image: torch.Tensor | None = None  # the current image (None before the first scale starts)
    optimizer: dict[str, Any] | None = None  # the optimiser's state_dict (L-BFGS history) at this scale
    scale_index: int = 0
    step_in_scale: int = 0
    steps_done: int = 0  # over all scales
    evaluations: int = 0
    wall_seconds: float = 0.0  # optimisation time before this process (a resume adds to it)
    step_seconds: list[float] = field(default_factory=list)  # this process's step times
    step_evaluations: list[int] = field(default_factory=list)  # and each of those steps' evaluations
    # A tiled scale (nst.tiled): `image` is the canvas, these say where in the grid the run is.
    tile_index: int = 0  # the tile being optimised (tiles before it are in the canvas)
    tile_image: torch.Tensor | None = None  # that tile's pixels mid-optimisation (None: not started)
    tile_losses: list[dict[str, Any]] = field(default_factory=list)  # each finished tile's final losses
    best_iterates: int = 0  # fits (scales, tiles) whose last step scored worse than an earlier image
    # The fit in progress's best image evaluated so far and its loss (StyleTransfer.keep_best puts it
    # back if the last step scores worse): a resumed fit compares against the same image as an
    # uninterrupted one. None between fits.
    best_image: torch.Tensor | None = None
    best_loss: torch.Tensor | None = None
    # The stop rule (stop.rel_change, nst.convergence): the fit in progress's loss at each step, and for
    # every finished fit the step (over all scales) where it converged, or None where it ran to its cap.
    fit_losses: list[float] = field(default_factory=list)
    converged_at: list[int | None] = field(default_factory=list)
    # The step of each resume (resume=DIR, a SLURM requeue, a re-run sweep): a resumed L-BFGS keeps
    # only checkpoint_history pairs, so its later steps differ a little from an uninterrupted run's.
    resumed_at: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The saved fields, every tensor copied to the CPU once (no deep copy before that)."""
        return to_cpu({name: getattr(self, name) for name in SAVED})


PER_PROCESS = ("step_seconds", "step_evaluations")  # times stay per process
SAVED = tuple(f.name for f in fields(RunState) if f.name not in PER_PROCESS)
OPTIONAL = (  # absent from older checkpoints
    "tile_index", "tile_image", "tile_losses", "best_iterates", "fit_losses", "converged_at",
    "resumed_at", "best_image", "best_loss",
)  # fmt: skip


def to_cpu(obj: Any) -> Any:
    """Deep copy of nested dicts/lists/tensors with every tensor on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def save(path: Path, state: RunState) -> None:
    """Atomically: a crash never leaves a half-written checkpoint."""
    data = state.to_dict()
    atomic_write(path, lambda tmp: torch.save(data, tmp))


def load(run_dir: Path) -> RunState:
    """The state saved in ``run_dir``, read as data only: a checkpoint cannot run code."""
    path = run_dir / CHECKPOINT
    if not run_dir.is_dir():
        raise NSTError(f"resume: {run_dir} is not a run directory")
    if not path.is_file():
        raise NSTError(f"resume: no {CHECKPOINT} in {run_dir} (the run finished, or never checkpointed)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise NSTError(f"resume: {path} holds more than tensors and numbers; refusing to load it") from None
    except Exception as err:
        raise NSTError(f"resume: cannot read {path}: {str(err).splitlines()[0]}") from None
    required = set(SAVED) - set(OPTIONAL)
    if not isinstance(data, dict) or not required <= set(data) or not isinstance(data["config"], str):
        raise NSTError(f"resume: {path} is not an nst checkpoint")
    return RunState(**{k: data[k] for k in SAVED if k in data})


def interrupted_here(out_dir: Path, config_yaml: str) -> RunState | None:
    """The checkpoint's state when ``out_dir`` holds a single-image run that stopped with a checkpoint
    (Ctrl-C, SIGTERM, a crash after a checkpoint) and was made with the settings of ``config_yaml``,
    else None: a re-run sweep (``skip_completed=true``) continues it from that state instead of
    starting it again."""
    import yaml

    if not (out_dir / CHECKPOINT).is_file():
        return None
    try:
        state = load(out_dir)
        saved = yaml.safe_load(state.config)
    except (NSTError, yaml.YAMLError):
        return None  # not a checkpoint this version can read: the job starts again
    same = isinstance(saved, dict) and differing(saved, yaml.safe_load(config_yaml)) == []
    return state if same else None


class StopFlag:
    """SIGINT/SIGTERM/SIGUSR2 set a flag the training loop checks after each step; a second one kills.

    Stopping at a step boundary keeps the image and the optimizer state consistent, so the
    checkpoint written on the way out resumes exactly. SIGUSR2 is the signal SLURM sends, through
    submitit, before a time limit or a preemption: once the checkpoint is saved, the handler that was
    there before (submitit's requeue) is called, and the requeued job resumes (:func:`nst.rundir.requeued`).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:  # second Ctrl-C: the user means it
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        self.signum = signum

    def __enter__(self) -> StopFlag:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        handover = self._previous.get(signal.SIGUSR2)
        if self.signum == signal.SIGUSR2 and callable(handover):
            line = f"nst: stopped: {error}; handing over to the scheduler's requeue"
            say(line)
            handover(signal.SIGUSR2, None)  # submitit: requeue this job, then exit
