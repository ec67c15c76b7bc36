"""One GPU per job: ``trainer.devices=free`` claims a GPU that no other nst run on this machine holds.

A sweep run by ``hydra/launcher=joblib hydra.launcher.n_jobs=<number of GPUs>`` then puts each job on
its own GPU. The claim is an advisory lock (``flock``) on a file per physical GPU, held for the whole
run: the kernel drops it when the process ends, however it ends, so a crashed job never keeps a GPU.
When every GPU is taken the run waits for one (more jobs than GPUs queue up). No torch needed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from nst.errors import NSTError


def lock_dir() -> Path:
    return Path(os.environ.get("NST_GPU_LOCKS") or Path(tempfile.gettempdir()) / "nst-gpu-locks")


def physical_ids(count: int) -> list[str]:
    """The machine-wide names of the ``count`` visible GPUs (CUDA_VISIBLE_DEVICES renumbers them)."""
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    return visible[:count] if len(visible) >= count else [str(i) for i in range(count)]


@contextlib.contextmanager
def claim_gpu(
    count: int, folder: Path | None = None, poll_seconds: float = 2.0, notify: Callable[[str], None] = print
) -> Iterator[int]:
    """Hold the first free one of the ``count`` visible GPUs; yield its (visible) index."""
    if count < 1:
        raise NSTError("trainer.devices=free gives each job its own GPU, but no CUDA GPU is visible")
    folder = folder or lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    names = physical_ids(count)
    waiting = False
    while True:
        for index, name in enumerate(names):
            handle = open(folder / f"gpu{name}.lock", "a+")  # noqa: SIM115 (held for the run)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                handle.truncate(0)
                handle.write(f"{os.getpid()}\n")
                handle.flush()
                yield index
            finally:
                handle.close()  # closing drops the lock
            return
        if not waiting:
            notify(f"nst: waiting for a free GPU (all {count} are held by other nst runs)")
            waiting = True
        time.sleep(poll_seconds)
