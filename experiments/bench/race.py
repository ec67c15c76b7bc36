"""Time to quality: how soon each implementation reaches the image the textbook loop makes in N evaluations.

Per evaluation speed says little about how soon an image is good: a line search spends evaluations,
a precision changes the path. Here every contestant solves the same problem (``problem.py``: the
plan of ``python -m nst backbone=NAME size=SIZE``, from the content image) and is judged by one
function: the float32 loss of its image clamped to [0, 1] (content + style, Gatys' terms, no range
wall), computed off the clock on snapshots taken at every accepted iterate.

* ``textbook`` (the reference) runs ``N`` evaluations of the PyTorch tutorial's loop
  (``baseline.Baseline``: L-BFGS ``max_iter=20`` without line search, the image clamped in the
  closure); its judged loss at the end is the target, its time ``T`` the reference time.
* ``--race-look`` (``look``): the textbook solves the product's own problem at a size above the working
  size: the plan's smaller scales first (their steps' evaluations each, on the clock), then ``N``
  evaluations at the race's size with the working size's anchor; the judge is that scale's loss,
  anchor included. Without it, the target is the one-scale loss at the race's size, which the
  size-consistent look does not aim for (docs/speed.md).
* every other contestant is the engine's code path (``problem.Ours``) with the plan's settings plus
  its overrides, stepped as Lightning steps it (``StyleTransfer.after_step`` included), for ``1.5 T``.

Reported per contestant: seconds to first reach the target (``x faster`` = ``T`` / that) and the judged
loss at ``T`` (``x lower`` = target / that), medians over repeats; a repeat runs every contestant
once, in turn.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from baseline import Baseline
from problem import Ours, Problem, at_size, make_problem, plan_for

from nst.module import StyleTransfer
from nst.plan import Plan

# The product's defaults first; the others are what they were chosen against (docs/speed.md).
CONTESTANTS: dict[str, list[str]] = {
    "default": [],
    "lbfgs_fp32": ["optimizer=lbfgs", "backbone.precision=fp32"],  # the defaults before issue 12
    "lbfgs_bf16": ["optimizer=lbfgs", "backbone.precision=bf16"],
    "plain_fp32": ["optimizer=lbfgs_plain", "backbone.precision=fp32"],
    "history_20": ["optimizer.history_size=20"],
    # The defaults without the working size: one optimisation at the race's size (what the look costs).
    "single_scale": ["working_size=null"],
    # The defaults without the anchor on the refinement scales (what keeping the look costs).
    "unanchored": ["refine_anchor=0"],
    "anchor_quarter": ["refine_anchor=0.25"],
}
DEFAULT_RACE = ("default", "lbfgs_fp32")
Snapshot = tuple[float, torch.Tensor]  # (seconds on the clock, image)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_textbook(problem: Problem, evaluations: int, look: bool = False) -> tuple[list[Snapshot], float]:
    """The tutorial's loop for ``evaluations`` closure calls; a snapshot at each (all are iterates).

    ``look``: the product's problem solved the textbook's way. The plan's smaller scales run first, on
    the clock (each for its steps' evaluations, from the previous result upsampled, as run_engine
    does), and every refinement scale has the working size's anchor (refine_anchor)."""
    plan = problem.plan
    scales = [*zip(plan.sizes[:-1], plan.steps[:-1])] if look else []
    snapshots: list[Snapshot] = []
    clock = _Clock(problem.device)
    image, working = None, None
    for size, count in [*scales, (plan.size, evaluations)]:
        last = size == plan.size
        anchor = (working, plan.anchor) if working is not None and plan.anchor else None
        impl = Baseline(problem if last else at_size(problem, size), anchor=anchor)
        if working is None:  # its model scores the working size's loss (its image is not used)
            working = impl
        if image is not None:
            impl.image.data.copy_(_upsampled(image, impl.image))
        optimizer, done = impl.optimizer(), [0]

        def closure(impl: Baseline = impl, done: list[int] = done, count: int = count, last: bool = last):
            if done[0] >= count:
                raise _Done
            done[0] += 1
            loss = impl.evaluate()
            if last:
                clock.pause()
                snapshots.append((clock.seconds(), impl.image.detach().clamp(0, 1).clone()))
                clock.resume()
            return loss

        try:
            while True:
                optimizer.step(closure)
        except _Done:
            pass
        image = impl.image.detach().clamp(0, 1)
    return snapshots, snapshots[-1][0]


def _upsampled(image: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The previous scale's result as the next scale's start: bicubic to ``like``'s size, in [0, 1]."""
    return F.interpolate(image, size=like.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)


def _working_loss(working: Problem, plan: Plan) -> StyleTransfer:
    """refine_anchor's loss: ``plan``'s working size (its first scale; ``working`` holds the images
    at that size), without the range wall."""
    return Ours(replace(working, plan=replace(plan, sizes=plan.sizes[:1], range_weight=0.0))).module


class _Done(Exception):
    pass


class _Clock:
    """Seconds of work, with snapshot copies kept off the clock."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        _sync(device)
        self.start = time.perf_counter()
        self.paused_at: float | None = None
        self.off = 0.0

    def pause(self) -> None:
        _sync(self.device)
        self.paused_at = time.perf_counter()

    def resume(self) -> None:
        assert self.paused_at is not None
        self.off += time.perf_counter() - self.paused_at
        self.paused_at = None

    def seconds(self) -> float:
        now = self.paused_at if self.paused_at is not None else time.perf_counter()
        return now - self.start - self.off


def run_engine(problem: Problem, overrides: list[str], budget: float) -> list[Snapshot]:
    """The engine's code path with ``overrides``, stepped for ``budget`` seconds; coarse-to-fine scales
    of the plan run first (on the clock), each from the previous one's result, as the engine does."""
    plan = plan_for(problem.backbone, problem.plan.size, overrides)
    # At 0 s every contestant holds the content image it starts from: a contestant whose first step
    # ends after the reference time (a tiny size, a slow first call) is judged on that, not on nothing.
    snapshots: list[Snapshot] = [(0.0, problem.content.clamp(0, 1).clone())]
    clock = _Clock(problem.device)
    image = anchor = None
    for size, steps in zip(plan.sizes, plan.steps):
        scaled = problem if size == plan.size else at_size(problem, size)
        impl = Ours(replace(scaled, plan=replace(plan, sizes=(size,), steps=(steps,))), anchor=anchor)
        if plan.anchor and anchor is None and len(plan.sizes) > 1:  # the working size's loss, no range wall
            anchor = _working_loss(scaled, plan)
        if image is not None:
            impl.image.data.copy_(_upsampled(image, impl.image))
        optimizer = impl.optimizer()
        last = size == plan.size
        for _ in range(steps if not last else 10**9):
            optimizer.step(impl.evaluate)
            impl.module.after_step(optimizer)
            if last:
                clock.pause()
                snapshots.append((clock.seconds(), impl.module.export().clone()))
                clock.resume()
                if clock.seconds() >= budget:
                    break
        image = impl.image.detach()
    return snapshots


@dataclass
class Outcome:
    seconds_to_target: float | None  # None: not reached within the budget
    loss_at_reference_time: float
    evaluations: int  # steps at the final size (the snapshots after the start image)


def judge(problem: Problem, look: bool = False) -> Callable[[torch.Tensor], float]:
    """The float32 loss of an image in [0, 1]: the same for every contestant. ``look``: the loss the
    product's last scale optimises, with the working size's anchor where the plan refines."""
    plan = problem.plan
    fp32 = replace(plan, backbone=replace(plan.backbone, precision="fp32"))
    anchor = None
    if look and plan.anchor and len(plan.sizes) > 1:
        anchor = _working_loss(at_size(problem, plan.sizes[0]), fp32)
    module = Ours(replace(problem, plan=fp32), anchor=anchor).module

    def loss(image: torch.Tensor) -> float:
        with torch.no_grad():
            return float(module.losses(image).total)

    return loss


def outcome(
    snapshots: list[Snapshot], loss: Callable[[torch.Tensor], float], target: float, when: float
) -> Outcome:
    reached, at_time = None, float("nan")
    for seconds, image in snapshots:
        value = loss(image)
        if seconds <= when:
            at_time = value
        if reached is None and value <= target:
            reached = seconds
        if reached is not None and seconds > when:
            break
    return Outcome(reached, at_time, len(snapshots) - 1)


def race(
    backbone: str,
    size: int,
    evaluations: int,
    repeats: int,
    names: list[str],
    device: torch.device,
    look: bool = False,
) -> dict:
    """Every contestant against the textbook loop at one size; medians over ``repeats``. ``look``: the
    textbook solves the product's problem (its scales and anchor), judged by the last scale's loss."""
    problem = make_problem(backbone, size, device)
    loss = judge(problem, look)
    runs: dict[str, list[Outcome]] = {name: [] for name in names}
    references: list[tuple[float, float]] = []  # (textbook seconds, its judged final loss)
    for _ in range(repeats):
        textbook, seconds = run_textbook(problem, evaluations, look)
        target = loss(textbook[-1][1])
        references.append((seconds, target))
        for name in names:
            snapshots = run_engine(problem, CONTESTANTS[name], 1.5 * seconds)
            runs[name].append(outcome(snapshots, loss, target, seconds))
    rows = {"textbook": _textbook_row(references, evaluations, look)}
    for name, outcomes in runs.items():
        rows[name] = _row(outcomes, references, CONTESTANTS[name])
    objective = "look" if look else "single"
    return {
        "backbone": backbone,
        "size": size,
        "objective": objective,
        "evaluations": evaluations,
        "repeats": repeats,
        "rows": rows,
    }


def _textbook_row(references: list[tuple[float, float]], evaluations: int, look: bool) -> dict:
    seconds = statistics.median(s for s, _ in references)
    return {
        "overrides": "(tutorial, the look's scales and anchor)" if look else "(tutorial)",
        "seconds_to_target": seconds,
        "x_faster": 1.0,
        "loss_at_reference_time": statistics.median(t for _, t in references),
        "x_lower": 1.0,
        "steps": evaluations,
        "all": [{"seconds": s, "loss": t} for s, t in references],
    }


def _row(outcomes: list[Outcome], references: list[tuple[float, float]], overrides: list[str]) -> dict:
    # A contestant that missed the target within 1.5 T counts as 1.5 T (its "x faster" is then <= 0.67).
    faster = [s / (o.seconds_to_target or 1.5 * s) for o, (s, _) in zip(outcomes, references)]
    lower = [t / o.loss_at_reference_time for o, (_, t) in zip(outcomes, references)]
    reached = [o.seconds_to_target for o in outcomes if o.seconds_to_target is not None]
    return {
        "overrides": " ".join(overrides) or "(python -m nst)",
        "seconds_to_target": statistics.median(reached) if len(reached) == len(outcomes) else None,
        "x_faster": statistics.median(faster),
        "loss_at_reference_time": statistics.median(o.loss_at_reference_time for o in outcomes),
        "x_lower": statistics.median(lower),
        "steps": statistics.median(o.evaluations for o in outcomes),
        "all": [vars(o) for o in outcomes],
    }


def table(results: list[dict]) -> str:
    header = (
        f"{'backbone':<10} {'px':>5} {'contestant':<12} {'to target s':>11} {'x faster':>8} "
        f"{'loss at T':>11} {'x lower':>8} {'steps':>6}  settings"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        for name, row in result["rows"].items():
            seconds = row["seconds_to_target"]
            lines.append(
                f"{result['backbone']:<10} {result['size']:>5} {name:<12} "
                f"{'-' if seconds is None else format(seconds, '.2f'):>11} {row['x_faster']:>8.2f} "
                f"{row['loss_at_reference_time']:>11.4g} {row['x_lower']:>8.2f} {row['steps']:>6.0f}  "
                f"{row['overrides']}"
            )
    lines.append(
        "target: the textbook loop's judged loss after N evaluations (its time T); x faster = T / time to "
        "that loss; x lower = target / loss at T; medians over repeats"
    )
    return "\n".join(lines)
