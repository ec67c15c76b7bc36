"""CPU threads shared between the nst runs of one machine.

PyTorch gives every process as many OpenMP threads as there are cores. Two such runs on the same
cores spin at each other's barriers: on 2 cores, two runs side by side each took ~8x as long as one
alone, not 2x. So a CPU run registers itself (a file named by its process id in a per-user folder of
the temporary directory) and uses ``cores // live runs`` threads (at least one), checked again about
once a second from the training loop: a run started alone gives up threads when a second one starts
and takes them back when it ends. ``OMP_NUM_THREADS`` set by the user (or by a launcher such as
joblib) turns this off: a fixed thread count is kept as given.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

POLL_SECONDS = 1.0


def registry() -> Path:
    return Path(tempfile.gettempdir()) / f"nst-runs-{os.getuid()}"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process with a recycled id: alive, not ours to judge
        return True
    return True


def live_runs(folder: Path) -> int:
    """The registered runs whose process is alive (a dead one's file, left by a kill -9, is removed)."""
    count = 0
    for entry in folder.glob("*"):
        if not entry.name.isdigit():
            continue
        if alive(int(entry.name)):
            count += 1
        else:
            entry.unlink(missing_ok=True)
    return count


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class CpuShare:
    """This process's share of the cores while it runs (see the module docstring)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or registry()
        self.cores = cores()
        self.original = torch.get_num_threads()
        self.entry = self.folder / str(os.getpid())
        self.last_poll = 0.0
        self.lowest = self.original

    def __enter__(self) -> CpuShare:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.entry.touch()
        except OSError:  # an unwritable temporary directory: run alone, as before
            self.entry = None  # type: ignore[assignment]
        self.poll(force=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.entry is not None:
            self.entry.unlink(missing_ok=True)
        torch.set_num_threads(self.original)

    def threads(self) -> int:
        runs = max(1, live_runs(self.folder)) if self.entry is not None else 1
        return max(1, min(self.original, self.cores // runs))

    def poll(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_poll < POLL_SECONDS:
            return
        self.last_poll = now
        wanted = self.threads()
        if wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)
        self.lowest = min(self.lowest, wanted)


_active: CpuShare | None = None


@contextlib.contextmanager
def shared_cpu(device: torch.device) -> Iterator[CpuShare | None]:
    """Share the cores with the machine's other nst runs for the duration of a CPU run (None: not
    shared: a GPU run, or ``OMP_NUM_THREADS`` given)."""
    global _active
    if device.type != "cpu" or os.environ.get("OMP_NUM_THREADS") or _active is not None:
        yield None
        return
    with CpuShare() as share:
        _active = share
        try:
            yield share
        finally:
            _active = None


def poll() -> None:
    """Called once a step: adjust the threads when runs came or went (about once a second)."""
    if _active is not None:
        _active.poll()
