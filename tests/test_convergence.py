"""stop.rel_change / stop.window: a fit ends once converged, metrics.json says so, a resume agrees."""

import json

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import run_nst
from nst.convergence import StopRule, stop_rule
from nst.errors import NSTError

# A small reconstruction with real features: its loss keeps falling (~5% per 10 steps after step 150),
# so a loose rule is what ends it early here.
RUN = ("backbone=vgg16_hed", "style=null", "init=noise", "size=32", "content_layers=[conv_5]",
       "progress_bar=false", "image_every=0")  # fmt: skip
RULE = ("stop.rel_change=0.1", "stop.window=10")


def _losses(run_dir):
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    return [e.value for e in events.Scalars("loss/total")]


def _metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


def test_the_rule_judges_the_best_loss_over_the_window():
    rule = StopRule(rel_change=0.01, window=3)
    assert not rule.converged([5.0, 5.0, 5.0])  # no step before the window yet
    assert rule.converged([5.0, 5.0, 5.0, 5.0])  # flat
    assert not rule.converged([10.0, 9.0, 8.0, 7.0, 6.0])  # still falling 10% a step
    assert rule.converged([10.0, 6.0, 5.99, 5.98, 5.97])  # 0.5% over the last three
    # One bad step does not end a fit whose best loss still falls, nor hide one that has stalled.
    assert not rule.converged([10.0, 8.0, 20.0, 7.0, 6.0])
    assert rule.converged([10.0, 6.0, 30.0, 6.0, 5.99])


def test_stop_rule_checks_its_keys():
    class Keys:
        def __init__(self, rel_change, window):
            self.rel_change, self.window = rel_change, window

    assert stop_rule(Keys(None, 50)) is None
    assert stop_rule(Keys(1e-3, 50)) == StopRule(1e-3, 50)
    for bad in (Keys(0, 50), Keys(1.0, 50), Keys(-0.1, 50), Keys(True, 50), Keys(1e-3, 0), Keys(None, -1)):
        with pytest.raises(NSTError, match=r"^stop\.(rel_change|window) must be"):
            stop_rule(bad)


@pytest.mark.slow
def test_a_fit_stops_at_the_first_step_the_rule_holds_and_says_so(tmp_path):
    done = run_nst(*RUN, *RULE, "steps=400", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = _metrics(tmp_path / "run")
    assert metrics["status"] == "completed" and metrics["converged"] is True
    step = metrics["converged_step"]
    # Measured: converged at step 111 of the 400 allowed (loss 2.0e3 -> 8.2; 7.8 after 120 steps).
    assert 20 <= step < 300 and metrics["steps"] == step and metrics["converged_at"] == [step]
    losses = _losses(tmp_path / "run")
    assert len(losses) == step  # no step after the rule held
    rule = StopRule(0.1, 10)
    assert rule.converged(losses) and not any(rule.converged(losses[:n]) for n in range(1, step))
    assert f"converged:   at step {step} (the best loss fell by less than 0.1" in done.stdout

    capped = run_nst(*RUN, *RULE, f"steps={step - 1}", "hydra.run.dir=capped", cwd=tmp_path)
    assert capped.returncode == 0, capped.stderr[-2000:]
    metrics = _metrics(tmp_path / "capped")
    assert metrics["converged"] is False and metrics["converged_step"] is None
    assert metrics["steps"] == step - 1 and metrics["converged_at"] == [None]
    assert "converged:   no: the step cap came first" in capped.stdout

    plain = run_nst(*RUN, "steps=120", "hydra.run.dir=plain", cwd=tmp_path)  # no rule: every step runs
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert _metrics(tmp_path / "plain")["steps"] == 120 and "converged" not in _metrics(tmp_path / "plain")
    assert "converged:" not in plain.stdout


@pytest.mark.slow
def test_each_scale_converges_on_its_own(tmp_path):
    args = (*RUN, *RULE, "size=48", "scales=[32]", "scale_steps=[400]", "steps=400", "hydra.run.dir=run")
    done = run_nst(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = _metrics(tmp_path / "run")
    first, second = metrics["converged_at"]
    # Measured: the 32 px scale converged at step 111, the 48 px one 97 steps later.
    assert first is not None and second is not None and first < second < first + 400
    assert metrics["converged"] is True and metrics["steps"] == second == metrics["converged_step"]


@pytest.mark.slow
def test_a_resumed_fit_stops_where_the_uninterrupted_one_did(tmp_path):
    """The fit's losses travel in the checkpoint: the rule sees the whole fit after a resume."""
    from test_reliability import _interrupt

    args = [*RUN, *RULE, "steps=400", "checkpoint_every=10", "checkpoint_history=100"]
    _interrupt(tmp_path, args, "cut")
    resumed = run_nst("resume=cut", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole = run_nst(*args, "hydra.run.dir=whole", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr[-2000:]
    cut, reference = _metrics(tmp_path / "cut"), _metrics(tmp_path / "whole")
    assert cut["converged_step"] == reference["converged_step"] == reference["steps"] == cut["steps"]
    pixels = [np.asarray(Image.open(tmp_path / run / "result.png"), np.int16) for run in ("cut", "whole")]
    assert np.abs(pixels[0] - pixels[1]).max() <= 1  # measured: bit-identical


def test_a_saved_config_from_before_the_stop_rule_resumes_without_one():
    from omegaconf import OmegaConf

    from conftest import compose
    from nst.config import validated

    saved = OmegaConf.to_yaml(compose("stop.rel_change=0.01"), resolve=True)
    assert validated(saved).stop.rel_change == 0.01
    lines = saved.splitlines(True)
    start = lines.index("stop:\n")
    older = "".join(lines[:start] + lines[start + 3 :])
    assert "rel_change" not in older
    assert validated(older).stop.rel_change is None
