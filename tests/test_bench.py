"""The benchmark compares like with like, and `experiments/bench/bench.py` writes a complete report."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nst.backbones import random_vgg_params
from nst.config import compose
from nst.plan import make_plan

BENCH = Path(__file__).resolve().parents[1] / "experiments" / "bench"
sys.path.insert(0, str(BENCH))  # the benchmark is a script folder, not part of the package
from baseline import Baseline  # noqa: E402
from problem import Ours, Problem  # noqa: E402


def tiny_problem(
    preprocessing: str, tmp_path: Path, style_loss: str = "gram", extra: tuple[str, ...] = ()
) -> Problem:
    overrides = ["backbone=random", f"backbone.preprocessing={preprocessing}", "backbone.precision=fp32"]
    cfg = compose(
        [
            *overrides,
            f"style_loss={style_loss}",
            "balance=fixed",
            "content_weight=1.0",
            "style_weight=1e6",
            *extra,
        ]
    )
    generator = torch.Generator().manual_seed(0)
    return Problem(
        plan=make_plan(cfg, tmp_path),
        weights="random",
        params=random_vgg_params("vgg19", 0),
        content=torch.rand(1, 3, 40, 48, generator=generator),
        style=torch.rand(1, 3, 48, 36, generator=generator),
        device=torch.device("cpu"),
    )


@pytest.mark.parametrize(
    ("preprocessing", "style_loss"), [("imagenet", "gram"), ("caffe", "gram"), ("caffe", "gram_relative")]
)
def test_baseline_and_ours_compute_the_same_loss_and_gradient(preprocessing, style_loss, tmp_path):
    """The textbook loop and the engine's path agree, with Gram's loss and with vgg19's default
    gram_relative (each layer's term over its target Gram's mean square)."""
    problem = tiny_problem(preprocessing, tmp_path, style_loss)
    assert problem.style_relative == (style_loss == "gram_relative")
    start = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(1))  # inside [0, 1]
    results = []
    for impl in (Baseline(problem), Baseline(problem, truncate=True, flush_denormal=True), Ours(problem)):
        impl.image.data.copy_(start)
        loss = impl.evaluate()
        results.append((loss.item(), impl.image.grad.clone()))
    reference_loss, reference_grad = results[0]
    assert reference_loss > 0
    for loss, grad in results[1:]:
        assert loss == pytest.approx(reference_loss, rel=1e-4)
        torch.testing.assert_close(grad, reference_grad, rtol=1e-3, atol=1e-3 * reference_grad.abs().max())


def test_bf16_ours_is_judged_in_float32_and_tracks_it(tmp_path):
    problem = tiny_problem("caffe", tmp_path)
    start = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(1))
    full, half = Ours(problem), Ours(problem, dtype=torch.bfloat16)
    assert half._judge is None  # built on first use: a timed run does not pay for its targets
    assert full.judge is full and half.judge is not half
    assert {p.dtype for p in half.judge.module.encoder.parameters()} == {torch.float32}
    losses, grads = [], []
    for impl in (full, half):
        impl.image.data.copy_(start)
        losses.append(impl.evaluate().item())
        grads.append(impl.image.grad.flatten())
    assert losses[1] == pytest.approx(losses[0], rel=0.02)  # measured 1.3e-4
    assert torch.nn.functional.cosine_similarity(*grads, dim=0) > 0.99  # measured 0.9997
    assert half.exported_loss() == pytest.approx(full.exported_loss())  # same image, float32 judge


def test_the_race_judges_everyone_by_the_textbook_objective(tmp_path):
    import race

    problem = tiny_problem("caffe", tmp_path)
    image = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(2))
    textbook = Baseline(problem)
    textbook.image.data.copy_(image)
    assert race.judge(problem)(image) == pytest.approx(textbook.evaluate().item(), rel=1e-4)


def test_the_look_race_gives_the_textbook_the_products_own_problem(tmp_path, monkeypatch):
    """--race-look: above the working size the textbook loop runs the plan's scales, and its last
    scale's loss has the working size's anchor, the loss the engine's last scale optimises; the judge
    reads that same loss. Without it, both are the one-scale loss at the race's size."""
    import race
    from problem import at_size

    problem = tiny_problem("caffe", tmp_path, extra=("size=96", "working_size=48", "steps=5"))
    plan = problem.plan
    assert plan.sizes == (48, 96) and plan.anchor == 1.0
    image = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(3))
    values = {}
    for name, anchor in (("single", None), ("look", (Baseline(at_size(problem, 48)), plan.anchor))):
        textbook = Baseline(problem, anchor=anchor)
        textbook.image.data.copy_(image)
        values[name] = textbook.evaluate().item()
        assert race.judge(problem, look=name == "look")(image) == pytest.approx(values[name], rel=1e-4)
    print("textbook loss, one scale and with the anchor:", values)
    assert values["look"] > 2 * values["single"]  # the anchor's term (measured 70x: a noise image)

    shapes = []  # (the image's shape, anchored) at each evaluation

    class Counted(Baseline):
        def evaluate(self):
            shapes.append((tuple(self.image.shape[-2:]), self.anchor is not None))
            return super().evaluate()

    monkeypatch.setattr(race, "Baseline", Counted)
    snapshots, _ = race.run_textbook(problem, 3, look=True)
    working = tuple(at_size(problem, 48).content.shape[-2:])
    assert shapes == [(working, False)] * 5 + [((40, 48), True)] * 3 and len(snapshots) == 3
    shapes.clear()
    race.run_textbook(problem, 3)
    assert shapes == [((40, 48), False)] * 3


def test_a_coarse_scale_of_the_race_reloads_the_images_not_the_weights(tmp_path):
    from problem import at_size, make_problem

    problem = make_problem("random", 64, torch.device("cpu"))
    coarse = at_size(problem, 32)
    assert coarse.params is problem.params  # the engine keeps one encoder for every scale
    assert max(problem.content.shape[-2:]) == 64 and max(coarse.content.shape[-2:]) == 32
    assert max(coarse.style.shape[-2:]) == 32 and coarse.plan is problem.plan


def test_the_race_reads_time_to_target_and_loss_at_the_reference_time():
    import race

    # The start image at 0 s, then three steps.
    snapshots = [
        (0.0, torch.tensor(9.0)),
        (1.0, torch.tensor(5.0)),
        (2.0, torch.tensor(3.0)),
        (3.0, torch.tensor(1.0)),
    ]
    result = race.outcome(snapshots, float, target=3.0, when=2.5)
    assert (result.seconds_to_target, result.loss_at_reference_time, result.evaluations) == (2.0, 3.0, 3)
    missed = race.outcome(snapshots, float, target=0.5, when=1.5)
    assert missed.seconds_to_target is None and missed.loss_at_reference_time == 5.0
    # A first step that ends after the reference time: judged on the start image, not NaN.
    late = race.outcome(snapshots, float, target=3.0, when=0.5)
    assert late.loss_at_reference_time == 9.0 and late.seconds_to_target == 2.0


@pytest.mark.slow  # runs the benchmark's command line in a subprocess
def test_bench_smoke_writes_json_with_positive_numbers(tmp_path):
    out = tmp_path / "bench.json"
    command = [sys.executable, str(BENCH / "bench.py"), "--sizes", "48", "--backbones", "random"]
    command += ["--impls", "baseline,ours,ours_bf16", "--repeats", "1", "--warmup", "1", "--max-evals", "5"]
    command += ["--race-sizes", "48", "--race-backbone", "random", "--race-evals", "6", "--race-repeats", "1"]
    command += ["--race-with", "default,lbfgs_fp32", "--overhead-steps", "3", "--overhead-repeats", "2"]
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert {"cpu", "cores", "torch"} <= set(report["machine"])
    (case,) = report["cases"]
    assert case["size"] == 48 and case["pixels"] > 0 and case["initial_loss"] > case["loss_target"] > 0
    assert set(case["impls"]) == {"baseline", "ours", "ours_bf16"}
    for result in case["impls"].values():
        for key in ("seconds_per_eval", "evals_per_second", "cpu_seconds_per_eval", "peak_memory_mb"):
            assert result[key] > 0, key
        assert result["to_target"]["evaluations"] > 0
    assert case["impls"]["ours"]["speedup_vs_baseline"] > 0
    assert "baseline" in done.stdout and "s/eval" in done.stdout
    (race,) = report["time_to_quality"]
    textbook = race["rows"]["textbook"]
    assert race["size"] == 48 and textbook["steps"] == 6 and textbook["seconds_to_target"] > 0
    for name in ("default", "lbfgs_fp32"):
        row = race["rows"][name]
        assert row["x_faster"] > 0 and row["loss_at_reference_time"] > 0 and row["steps"] > 0
    overhead = report["loop_overhead"]
    assert set(overhead["seconds_per_step"]) == {"bare", "lightning", "engine"}
    assert all(v > 0 for v in overhead["seconds_per_step"].values())
    assert overhead["overhead_ms_per_step"]["bare"] == 0 and overhead["repeats"] == 2
    for loop in ("lightning", "engine"):  # the median paired difference lies within its range
        low, high = overhead["overhead_ms_range"][loop]
        assert low <= overhead["overhead_ms_per_step"][loop] <= high
    assert "x faster" in done.stdout and "overhead" in done.stdout


def test_the_race_weighs_the_style_as_a_run_does(tmp_path):
    """balance=auto (vgg19's default, gram_relative x balance_scale): the race's plan carries the
    style weight the engine's run applies, not the raw one from the backbone's file."""
    from problem import plan_for

    from nst.engine import Run

    plan = plan_for("vgg19", 64)
    assert plan.style_loss.relative and plan.balance == "auto"
    raw = plan_for("vgg19", 64, ["balance=fixed"])
    assert raw.style_weight == 6.0 and abs(plan.style_weight / raw.style_weight - 1) > 0.1
    run = Run(dataclasses.replace(raw, balance="auto"), tmp_path / "run", None)
    assert plan.style_weight == pytest.approx(run.plan.style_weight, rel=1e-6)
