"""The loop's own cost: the same steps bare, in a plain Lightning fit, and as the engine runs them.

At a small size (64 px) one evaluation is a few milliseconds on a CPU, so whatever the loop adds per
step shows. Three loops run the same module and optimiser for the same number of steps:

* ``bare``: ``optimizer.step(closure)`` in a Python loop, the closure calling ``losses()`` and backward
  (what the module's ``training_step`` adds, a finiteness check and a copy, counts as overhead);
* ``lightning``: ``Trainer.fit`` with no logger, no callbacks, no progress bar;
* ``engine``: ``Trainer.fit`` as ``python -m nst`` sets it up (nst.trainer.make_trainer, the RunMonitor
  writing every loss term to TensorBoard each step and the image every 25 steps, a progress bar
  writing to /dev/null), checkpoints off.

Each loop runs ``repeats`` times, interleaved; the report holds the median seconds per step and the
per-step overhead over ``bare`` in milliseconds: the median over repeats of each repeat's difference
to its own bare run, with the range of those differences.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from problem import Ours, make_problem
from pytorch_lightning.loggers import TensorBoardLogger

from nst.callbacks import ProgressBar, RunMonitor
from nst.checkpoint import StopFlag
from nst.module import StyleTransfer, fast_math, step_loader
from nst.trainer import make_trainer, quiet_lightning

LOOPS = ("bare", "lightning", "engine")


def _bare(module: StyleTransfer, steps: int) -> None:
    optimizer = module.configure_optimizers()

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = module.losses().total
        loss.backward()
        return loss

    for _ in range(steps):
        optimizer.step(closure)


def _fit(module: StyleTransfer, steps: int, engine: bool, out_dir: Path) -> None:
    if engine:
        plan = module.bench_plan  # type: ignore[attr-defined]
        logger = TensorBoardLogger(save_dir=str(out_dir), name="tb", version="", default_hp_metric=False)
        monitor = RunMonitor(0, 1, 25, 0, lambda *a: None, StopFlag())
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            trainer = make_trainer(plan, logger, [monitor, ProgressBar("steps", steps)], out_dir)
            trainer.fit(module, train_dataloaders=step_loader(steps))
        return
    trainer = pl.Trainer(
        accelerator="auto", devices=1, max_epochs=1, logger=False, callbacks=[], enable_checkpointing=False,
        enable_model_summary=False, enable_progress_bar=False, num_sanity_val_steps=0,
        default_root_dir=str(out_dir),
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=step_loader(steps))


def measure(backbone: str, size: int, steps: int, repeats: int, device: torch.device) -> dict:
    """Median seconds per step of each loop, and the overhead over the bare loop (ms per step)."""
    quiet_lightning()
    problem = make_problem(backbone, size, device)
    seconds: dict[str, list[float]] = {loop: [] for loop in LOOPS}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats + 1):  # the first round warms up and is not counted
            for loop in LOOPS:
                module = Ours(problem).module
                module.bench_plan = problem.plan  # type: ignore[attr-defined]
                fast_math(device)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                if loop == "bare":
                    module.to(device)
                    _bare(module, steps)
                else:
                    _fit(module, steps, loop == "engine", Path(tmp) / f"{loop}{repeat}")
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                if repeat:
                    seconds[loop].append((time.perf_counter() - start) / steps)
    medians = {loop: statistics.median(values) for loop, values in seconds.items()}
    # Paired: each repeat's loop against the bare loop of the same repeat (the machine's drift between
    # repeats, +-3 ms a step here, cancels); the range shows what noise is left.
    paired = {loop: [1000 * (t - b) for t, b in zip(seconds[loop], seconds["bare"])] for loop in LOOPS}
    return {
        "backbone": backbone,
        "size": size,
        "steps": steps,
        "repeats": repeats,
        "optimizer": problem.plan.optimizer.name,
        "seconds_per_step": medians,
        "overhead_ms_per_step": {loop: statistics.median(values) for loop, values in paired.items()},
        "overhead_ms_range": {loop: [min(values), max(values)] for loop, values in paired.items()},
        "all_seconds": seconds,
    }


def table(result: dict) -> str:
    lines = [
        f"loop overhead ({result['backbone']}, {result['size']} px, {result['steps']} steps of "
        f"{result['optimizer']}, {result['repeats']} repeats; overhead = median of each repeat's "
        "difference to bare)",
        f"{'loop':<10} {'ms/step':>8} {'overhead ms':>12} {'range ms':>16} {'x bare':>7}",
    ]
    bare = result["seconds_per_step"]["bare"]
    for loop in LOOPS:
        per = result["seconds_per_step"][loop]
        low, high = result["overhead_ms_range"][loop]
        spread = f"{low:.2f}..{high:.2f}"
        lines.append(
            f"{loop:<10} {1000 * per:>8.2f} {result['overhead_ms_per_step'][loop]:>12.2f} {spread:>16} "
            f"{per / bare:>7.2f}"
        )
    return "\n".join(lines)
