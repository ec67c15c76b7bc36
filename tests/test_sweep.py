"""`python -m nst.sweep`: one table per sweep, from the jobs' own files, listing what is missing."""

import csv
import json

from omegaconf import OmegaConf
from PIL import Image

from conftest import run_nst
from nst.sweep import main, table


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


def test_a_job_folder_named_with_slashes_is_found_not_missing(tmp_path):
    """Folders named by a path's overrides (``0_content=/abs/a.jpg,seed=0``) nest; the table finds them."""
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    multirun = {"hydra": {"overrides": {"task": ["content=/x/a.jpg,/y/b.jpg"]}, "sweeper": {}}}
    OmegaConf.save(OmegaConf.create(multirun), sweep / "multirun.yaml")
    done = {"status": "completed", "loss": {"total": 1.0}, "image": "r.png"}
    _job(sweep, "0_content=/x/a.jpg", ["content=/x/a.jpg"], done)
    _job(sweep, "1_content=/y/b.jpg", ["content=/y/b.jpg"], {"status": "failed", "error": "not an image: b"})
    rows = table(sweep)
    assert [(r["job"], r["status"]) for r in rows] == [
        ("0_content=/x/a.jpg", "completed"), ("1_content=/y/b.jpg", "failed")
    ]  # fmt: skip
    assert rows[1]["error"] == "not an image: b"


def test_job_names_are_one_short_readable_level():
    from nst.rundir import job_name

    name = job_name(7, ["content=/abs/my photos/Tübingen.JPG", "seed=1", "style_weight=0.5"])
    assert name == "7_content=T_bingen,seed=1,style_weight=0.5"  # the path's stem, a number kept whole
    assert job_name(3, ["style=[/a/x.jpg,/b/y.png]", "hydra/launcher=joblib"]) == (
        "3_style=x+y,hydra_launcher=joblib"
    )
    long = job_name(12, ["content=/a.jpg", "style=" + "s" * 200])
    assert len(long) == 80 and long.startswith("12_content=a,style=sss")
    assert "/" not in long


def test_a_sweep_over_image_paths_names_its_jobs_and_tables_every_one(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (40, 30), (200, 120, 40)).save(photos / "photo@2x.jpg")
    (photos / "broken.jpg").write_text("not a jpeg")
    paths = ",".join(str(photos / name) for name in ("photo@2x.jpg", "broken.jpg"))
    done = run_nst("-m", f"content={paths}", "backbone=random", "size=32", "steps=2", "style=null",
                   "progress_bar=false", "hydra.sweep.dir=sweep", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]  # the broken image's job failed; the other ran
    sweep = tmp_path / "sweep"
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0_content=photo_2x", "1_content=broken"]
    assert "sweep: 1 of 2 jobs completed" in done.stderr  # the table at the end of the sweep
    assert main([str(sweep)]) == 0
    rows = list(csv.DictReader((sweep / "sweep.csv").open()))
    assert [(r["job"], r["status"]) for r in rows] == [("0_content=photo_2x", "completed"),
                                                       ("1_content=broken", "failed")]  # fmt: skip
    assert rows[1]["error"].startswith("not an image") and rows[1]["error"].endswith("broken.jpg")
    assert rows[0]["overrides"] == f"content={photos / 'photo@2x.jpg'}"
    hparams = _tensorboard_hparams(sweep / "0_content=photo_2x" / "tb")  # the swept key, as run
    assert hparams["override/content"] == str(photos / "photo@2x.jpg") and "override/size" not in hparams
    assert hparams["backbone/precision"] in ("fp32", "bf16")  # what ran, not auto


def _tensorboard_hparams(tb):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(str(tb))
    events.Reload()
    for raw in events.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        if data.HasField("session_start_info"):
            values = data.session_start_info.hparams.items()
            return {key: getattr(value, value.WhichOneof("kind")) for key, value in values}
    raise AssertionError(f"no hparams in {tb}")


def test_a_sweep_refused_while_composing_leaves_no_folder(tmp_path):
    done = run_nst("-m", "seed=0,1", "sizee=1,2", "backbone=random", "steps=2", cwd=tmp_path)
    assert done.returncode == 2 and "unknown key 'sizee'" in done.stderr, done.stderr[-2000:]
    assert list(tmp_path.iterdir()) == []  # no multirun/<date>/<time>/ holding only multirun.yaml
