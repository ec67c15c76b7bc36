"""`python -m nst.sweep`: one table per sweep, from the jobs' own files, listing what is missing."""

import csv
import json

from omegaconf import OmegaConf

from nst.sweep import main


def _job(sweep, name, overrides, metrics=None):
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), job / ".hydra" / "overrides.yaml")
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))


def test_a_half_finished_sweep_lists_every_job_and_what_is_missing(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    multirun = {
        "hydra": {
            "overrides": {"task": ["seed=0,1,2", "size=32"]},
            "sweeper": {"params": {"init": "noise,image"}},
        }
    }
    OmegaConf.save(OmegaConf.create(multirun), sweep / "multirun.yaml")
    done = {"status": "completed", "loss": {"total": 2.5, "content": 2.0, "style": 0.5}, "steps": 4,
            "wall_seconds": 1.5, "peak_memory_mb": 900.0, "image": "a.png"}  # fmt: skip
    _job(sweep, "0_seed=0", ["seed=0", "size=32", "init=noise"], done)
    _job(sweep, "1_seed=0", ["seed=0", "size=32", "init=image"], done | {"loss": {"total": 1.0}})
    _job(sweep, "2_seed=1", ["seed=1", "size=32", "init=noise"], done | {"status": "interrupted", "loss": {}})
    _job(sweep, "3_seed=1", ["seed=1", "size=32", "init=image"])  # started, never wrote metrics
    assert main([str(sweep), "--sort", "loss"]) == 0
    assert "2 of 6 jobs completed" in capsys.readouterr().out
    rows = list(csv.DictReader((sweep / "sweep.csv").open()))
    assert [r["status"] for r in rows[:2]] == ["completed", "completed"]
    assert [float(r["loss"]) for r in rows[:2]] == [1.0, 2.5]  # sorted by the final loss
    statuses = sorted(r["status"] for r in rows)
    assert statuses == ["completed", "completed", "interrupted", "missing", "missing", "running or failed"]
    missing = sorted(r["overrides"] for r in rows if r["status"] == "missing")
    assert missing == ["seed=2 init=image", "seed=2 init=noise"]  # only the swept keys are shown
    assert "| 1_seed=0 | seed=0 init=image | completed | 1 |" in (sweep / "sweep.md").read_text()


def test_a_folder_that_is_not_a_sweep_is_one_line_and_exit_2(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nst.sweep: error: ") and "no multirun.yaml" in err[0]
