"""Checkpoint size and resume fidelity against ``checkpoint_history`` (the curvature pairs kept).

One uninterrupted run (``python -m nst`` with the given overrides, the full history in its
checkpoints) is the reference; its checkpoints at the steps ``--at`` are copied as they appear. For
each of them and each K the checkpoint is compacted as ``checkpoint_history=K`` writes it
(``nst.lbfgs.compact``), saved to its own run folder and resumed with ``resume=``. The rows: the
checkpoint's bytes (and per image float32 bytes), the resumed run's steps and final loss, its
relative difference to the uninterrupted run's loss and the largest pixel difference (of 255)::

    python experiments/bench/checkpoint_history.py --keep 0 5 10 100 --at 100 -- size=128 steps=200

``--sizes-only`` runs only to the first checkpoint and reports the file the run itself wrote for
each K (a real run per K, no resume): ``--at 11 --sizes-only -- size=256 steps=12``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from nst import checkpoint
from nst.lbfgs import compact

QUIET = ("progress_bar=false", "image_every=0")


def nst(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "nst", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_copy(process: subprocess.Popen, source: Path, target: Path) -> None:
    """Copy ``source`` (written atomically) as soon as it appears."""
    while not source.exists():
        if process.poll() is not None:
            raise SystemExit(f"the run ended without a checkpoint: {process.stderr.read()[-2000:]}")
        time.sleep(0.02)
    shutil.copyfile(source, target)


def finished(process: subprocess.Popen) -> None:
    _, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"nst failed ({process.returncode}): {err[-2000:]}")


def image_bytes(state: checkpoint.RunState) -> int:
    return state.image.numel() * 4


def sizes_only(args: argparse.Namespace, work: Path) -> list[dict]:
    rows = []
    for keep in args.keep:
        run = work / f"k{keep}"
        process = nst([*args.overrides, *QUIET, f"checkpoint_every={args.at[0]}",
                       f"checkpoint_history={keep}", f"hydra.run.dir={run}"], work)  # fmt: skip
        wait_copy(process, run / checkpoint.CHECKPOINT, work / f"k{keep}.pt")
        process.send_signal(signal.SIGINT)  # the size is known: no need for the rest
        process.communicate()
        state = torch_load(work / f"k{keep}.pt")
        size = (work / f"k{keep}.pt").stat().st_size
        rows.append(
            {"keep": keep, "step": state.steps_done, "bytes": size, "x_image": size / image_bytes(state)}
        )
    return rows


def torch_load(path: Path) -> checkpoint.RunState:
    folder = path.parent / f"load_{path.stem}"
    folder.mkdir(exist_ok=True)
    shutil.copyfile(path, folder / checkpoint.CHECKPOINT)
    return checkpoint.load(folder)


def copy_versions(process: subprocess.Popen, source: Path, steps: set[int], work: Path) -> dict[int, Path]:
    """Every version of ``source`` (written atomically, replaced at each checkpoint) whose step is in
    ``steps``, copied as it appears, until the run ends."""
    copies, seen = {}, None
    while process.poll() is None:
        try:
            stamp = source.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp is not None and stamp != seen:
            seen, target = stamp, work / "latest.pt"
            try:
                shutil.copyfile(source, target)
            except FileNotFoundError:  # removed as the run finished
                continue
            step = torch_load(target).steps_done
            if step in steps:
                copies[step] = target.rename(work / f"at{step}.pt")
        time.sleep(0.02)
    return copies


def fidelity(args: argparse.Namespace, work: Path) -> list[dict]:
    started = time.perf_counter()
    every = math.gcd(*args.at)
    process = nst([*args.overrides, *QUIET, f"checkpoint_every={every}", "checkpoint_history=1000000",
                   "hydra.run.dir=whole"], work)  # fmt: skip
    copies = copy_versions(process, work / "whole" / checkpoint.CHECKPOINT, set(args.at), work)
    finished(process)
    if sorted(copies) != sorted(args.at):
        raise SystemExit(f"checkpoints copied at steps {sorted(copies)}, not {args.at}")
    print(f"reference run: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    whole = json.loads((work / "whole" / "metrics.json").read_text())
    whole_pixels = np.asarray(Image.open(work / "whole" / "result.png"), dtype=np.int16)
    rows = [{"keep": "uninterrupted", "steps": whole["steps"], "loss": whole["loss"]["total"]}]
    for at in args.at:
        saved = torch_load(copies[at])
        for keep in args.keep:
            run = work / f"at{at}_k{keep}"
            run.mkdir()
            smaller = replace(saved, optimizer=compact(saved.optimizer, keep))
            checkpoint.save(run / checkpoint.CHECKPOINT, smaller)
            size = (run / checkpoint.CHECKPOINT).stat().st_size
            finished(nst(["resume=" + str(run)], work))
            done = json.loads((run / "metrics.json").read_text())
            pixels = np.asarray(Image.open(run / "result.png"), dtype=np.int16)
            rows.append(
                {
                    "checkpoint_step": at,
                    "keep": keep,
                    "bytes": size,
                    "x_image": size / image_bytes(saved),
                    "steps": done["steps"],
                    "loss": done["loss"]["total"],
                    "relative_difference": done["loss"]["total"] / whole["loss"]["total"] - 1,
                    "max_pixel_difference": int(np.abs(pixels - whole_pixels).max()),
                }
            )
            print(rows[-1], file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", type=int, nargs="+", default=[0, 5, 10, 100])
    parser.add_argument("--at", type=int, nargs="+", default=[100], help="the steps of the checkpoints")
    parser.add_argument("--sizes-only", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows here (JSON)")
    parser.add_argument("overrides", nargs="*", help="python -m nst overrides (after --)")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    with tempfile.TemporaryDirectory() as tmp:
        rows = (sizes_only if args.sizes_only else fidelity)(args, Path(tmp))
    print(json.dumps(rows, indent=1))
    if args.out is not None:
        args.out.write_text(json.dumps({"overrides": args.overrides, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
