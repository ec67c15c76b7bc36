"""What a run keeps when it stops early (interrupted, diverged, a write failed), and the one line
that says where; and TensorBoard's background write errors, caught for that line (nst.engine)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import torch

from nst import checkpoint
from nst.checkpoint import RunState
from nst.errors import Diverged, Interrupted, NSTError, RunStopped, WriteFailed


class StoppingRun(Protocol):
    """What an early stop uses of the run (:class:`nst.engine.Run`), named here so that this module
    does not import the engine back."""

    state: RunState
    out_dir: Path
    module: Any  # the StyleTransfer in progress, or None before the first fit

    def finish(self, status: str, image: torch.Tensor, **extra: Any) -> dict[str, Any]: ...

    def image_now(self, image: torch.Tensor | None = None) -> torch.Tensor: ...


def stopped(run: StoppingRun, error: NSTError) -> RunStopped:
    """Keep what can be kept after an early stop and say where it is."""
    steps, where = run.state.steps_done, run.out_dir
    if isinstance(error, Interrupted) and run.module is not None:
        run.finish("interrupted", run.image_now(), signal=str(error))
        return RunStopped(
            f"interrupted ({error}) at step {steps}: image and checkpoint saved in {where}; "
            f"continue with resume={where}",
            error.exit_code,
            label="stopped",
        )
    if isinstance(error, Diverged) and run.module is not None:
        run.finish("diverged", run.image_now(run.module.last_finite), error=str(error))
        return RunStopped(
            f"diverged: {error} (step {steps}); the last finite image is in {where / 'result.png'}; "
            "lower optimizer.lr or the loss weights",
            error.exit_code,
        )
    if run.module is not None:
        try:  # the disk may have room for the image even when the event file failed
            run.finish("write_failed", run.image_now(), error=str(error))
        except (OSError, WriteFailed):
            pass
    kept = [p.name for p in (where / checkpoint.CHECKPOINT, where / "result.png") if p.is_file()]
    return RunStopped(
        f"{error} (step {steps}; kept in {where}: {', '.join(kept) or 'nothing'})", error.exit_code
    )


@contextlib.contextmanager
def background_write_errors() -> Iterator[list[OSError]]:
    """TensorBoard writes from a thread: its OSError (disk full) is kept for the one-line report
    instead of printed as a thread traceback; the main thread fails at its next write."""
    errors: list[OSError] = []
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if isinstance(args.exc_value, OSError):
            errors.append(args.exc_value)
        else:
            previous(args)

    threading.excepthook = hook
    try:
        yield errors
    finally:
        threading.excepthook = previous
