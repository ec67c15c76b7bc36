"""metrics.json and TensorBoard's HPARAMS: what a run records about itself."""

from dataclasses import replace

import pytest
import torch

from conftest import plan
from nst import record
from nst.checkpoint import RunState
from nst.losses import LossTerms


def _metrics(tmp_path, seconds, evaluations, before=0):
    """metrics.json of a run whose steps took ``seconds`` with ``evaluations`` each, resumed after
    ``before`` steps of an earlier process."""
    state = RunState(config="", steps_done=before + len(seconds), evaluations=before + sum(evaluations))
    state.step_seconds, state.step_evaluations = list(seconds), list(evaluations)
    return record.build(
        plan("backbone=random", "style=null", out_dir=tmp_path), state, LossTerms(total=torch.tensor(1.0)),
        status="completed", image=tmp_path / "result.png", device=torch.device("cpu"), wall_seconds=9.0,
        start_mb=0.0, estimate_mb=0.0,
    )  # fmt: skip


def test_seconds_per_step_and_per_evaluation_are_both_medians(tmp_path):
    # One evaluation a step, a slow first step (warm-up), resumed after 100 steps of another process.
    data = _metrics(tmp_path, [2.0, 0.1, 0.1, 0.12], [1, 1, 1, 1], before=100)
    assert data["seconds_per_step"] == data["seconds_per_evaluation"] == 0.12  # the old mean: 0.022
    # A line search: 2-3 evaluations a step.
    data = _metrics(tmp_path, [0.2, 0.3, 0.2], [2, 3, 2])
    assert data["seconds_per_step"] == 0.2 and data["seconds_per_evaluation"] == pytest.approx(0.1)


def test_hparams_show_the_precision_that_ran_not_auto(tmp_path):
    from nst.backbones import resolve_precision

    class Logger:  # what log_hparams asks of Lightning's TensorBoardLogger
        log_dir = str(tmp_path)

        def log_hyperparams(self, params, metrics):
            self.params = params

        def finalize(self, status):
            pass

    planned = plan("backbone=random", "style=null", "backbone.precision=auto", out_dir=tmp_path)
    ran = replace(planned, backbone=resolve_precision(planned.backbone, torch.device("cpu")))  # as Run does
    logger = Logger()
    record.log_hparams(logger, ran, {"loss": {"total": 1.0}, "wall_seconds": 1.0})
    assert logger.params["backbone"]["precision"] == ran.backbone.precision in ("fp32", "bf16")
    assert "precision: auto" in (tmp_path / "hparams.yaml").read_text()  # as given (skip_completed)
