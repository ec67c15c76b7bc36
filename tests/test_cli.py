"""The command-line contract, run as a user runs it (a subprocess), and every bad input of the engine."""

import json
import re
from pathlib import Path

import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import run_nst


def test_every_override_of_the_readme_example_works_together(tmp_path):
    result = run_nst(
        "content=tubingen",
        "style=starry_night",
        "output=out.png",
        "size=64",
        "steps=6",
        "seed=0",
        "backbone=vgg16_hed",
        "init=noise",
        "optimizer=adam",
        "content_layers=[conv_3,conv_4]",
        "style_layers=[conv_1,conv_2,conv_3,conv_4]",
        "content_weight=1",
        "style_weight=1e6",
        "image_every=3",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    run = tmp_path / "run"
    out = Image.open(tmp_path / "out.png")
    assert max(out.size) == 64 and out.size == Image.open(run / "result.png").size
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["steps"] == 6
    assert metrics["backbone"] == "vgg16_hed" and metrics["size"] == 64 and metrics["seed"] == 0
    assert metrics["optimizer"] == "Adam" and metrics["init"] == "noise"
    assert set(metrics["content_layers"]) == {"conv2_1", "conv2_2"}  # conv_3, conv_4
    assert set(metrics["style_layers"]) == {"conv1_1", "conv1_2", "conv2_1", "conv2_2"}
    for key in ("total", "content", "style"):
        assert metrics["loss"][key] > 0
    assert metrics["wall_seconds"] > 0 and 0 < metrics["seconds_per_step"] < metrics["wall_seconds"]
    assert metrics["peak_memory_mb"] > 100
    events = EventAccumulator(str(run / "tb"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    scalars = events.Tags()["scalars"]
    for tag in ("loss/total", "loss/content", "loss/style", "content/conv2_2", "style/conv1_1"):
        assert tag in scalars
    assert len(events.Scalars("loss/total")) == 6
    assert len(events.Images("image")) >= 3  # steps 3 and 6, and the final image
    assert (run / "tb").glob("events.out.tfevents.*")
    assert "metrics:" in result.stdout and "tensorboard --logdir" in result.stdout


def test_same_seed_same_image(tmp_path):
    args = ("style=null", "size=48", "steps=4", "init=noise", "progress_bar=false")
    first = run_nst(*args, "hydra.run.dir=a", cwd=tmp_path)
    second = run_nst(*args, "hydra.run.dir=b", cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert (tmp_path / "a/result.png").read_bytes() == (tmp_path / "b/result.png").read_bytes()


# Each bad input or fault: the overrides, and what the one-line message must say.
BAD_INPUTS = {
    "missing image": (["content=nope.jpg"], "image not found"),
    "text file as image": (["style=notes.txt"], "not an image"),
    "truncated jpeg": (["content=broken.jpg"], "broken.jpg"),
    "directory as image": (["content=folder.png"], "not a file"),
    "image above the pixel limit": (["max_input_pixels=1000"], "above max_input_pixels=1,000"),
    "image too thin for the layers": (["content=thin.png"], "each edge needs at least 16 px"),
    "unknown layer": (["style_layers=[relu1_1,relu9_9]"], "unknown layer 'relu9_9'"),
    "conv_14 on vgg16": (["content_layers=[conv_14]"], "13 conv layers"),
    "both null": (["content=null", "style=null"], "both null"),
    "zero size": (["size=0"], "size must be a positive integer"),
    "negative steps": (["steps=-5"], "steps must be a positive integer"),
    "size not a number": (["size=big"], "size must be a positive integer"),
    "fractional steps": (["steps=2.5"], "steps must be a positive integer"),
    "scales not below size": (["size=64", "scales=[32,64]"], "scales must increase"),
    "scale_steps length": (["size=64", "scales=[32]", "scale_steps=[5,5]"], "one entry per scale"),
    "negative style weight": (["style_weight=-1"], "style_weight must be a non-negative number"),
    "zero style scale": (["style_scale=0"], "style_scale must be positive"),
    "zero learning rate": (["optimizer.lr=0"], "optimizer.lr must be a positive number"),
    "zero lbfgs history": (["optimizer.history_size=0"], "history_size must be a positive integer"),
    "unknown optimizer option": (["+optimizer.momentum=0.9"], "bad optimizer options"),
    "unknown line search": (["optimizer.line_search_fn=armijo"], "line_search_fn must be null"),
    "missing hed weights": (["backbone.weights=/nonexistent/hed.h5"], "weights file not found"),
    "corrupt hed weights": (["backbone.weights=notes.txt"], "sha256"),
    "missing vgg19 weights": (
        ["backbone=vgg19", "backbone.download=false"],
        "backbone=vgg16_hed works offline",
    ),
    "init image without path": (["init=image"], "init.path"),
    "init image missing": (["init=image", "init.path=gone.png"], "image not found"),
    "empty style layers": (["style_layers=[]"], "style_layers is empty"),
    "too small for the layers": (["size=8"], "needs at least 16 px"),
    "existing output": (["output=taken.png"], "exists; pass overwrite=true"),
    "output under a file": (["output=notes.txt/out.png"], "not writable"),
    "output without image extension": (["output=result.xyz"], "unknown image extension"),
    "memory estimate above what is free": (["size=60000", "content=tiny.png"], "lower size"),
    "resume a missing run": (["resume=no_such_run"], "not a run directory"),
    "resume a run without checkpoint": (["resume=folder.png"], "no checkpoint.pt"),
    "no gpu": (["trainer.accelerator=gpu"], "no CUDA GPU is available"),
    "unknown accelerator": (["trainer.accelerator=tpu_v9"], "cannot build the trainer"),
    "unknown precision": (["precision=fp16"], "unknown precision 'fp16'; valid: fp32, bf16"),
}


def _make_inputs(folder: Path) -> None:
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    (folder / "folder.png").mkdir()
    Image.new("RGB", (400, 4), "gray").save(folder / "thin.png")
    Image.new("RGB", (64, 48), "gray").save(folder / "tiny.png")
    Image.new("RGB", (8, 8), "red").save(folder / "taken.png")


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_clear_line_and_exit_2(case, tmp_path, monkeypatch):
    _make_inputs(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    overrides, expected = BAD_INPUTS[case]
    result = run_nst(*overrides, "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 2, (case, result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("nst: error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    # Nothing half-written, nothing changed: only Hydra's own log and config in the run dir.
    after = {
        p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if "run" not in p.relative_to(tmp_path).parts
    }
    assert after == {p: t for p, t in before.items() if p in after} and set(after) == set(before)
    leftovers = {p.name for p in (tmp_path / "run").iterdir()} - {".hydra", "cli.log"}
    assert not leftovers, leftovers


def test_debug_shows_the_traceback(tmp_path):
    result = run_nst("content=nope.jpg", "debug=true", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr and "NSTError" in result.stderr


def test_completed_run_is_skipped_when_asked(tmp_path):
    args = ("style=null", "size=32", "steps=2", "skip_completed=true", "hydra.run.dir=run")
    first = run_nst(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    stamp = (tmp_path / "run/result.png").stat().st_mtime_ns
    second = run_nst(*args, cwd=tmp_path)
    assert second.returncode == 0 and "already completed" in second.stdout
    assert (tmp_path / "run/result.png").stat().st_mtime_ns == stamp
    (tmp_path / "run/result.png").unlink()  # an incomplete run dir is run again
    third = run_nst(*args, cwd=tmp_path)
    assert third.returncode == 0 and "already completed" not in third.stdout
    assert (tmp_path / "run/result.png").is_file()


def test_the_readme_mode_commands_run(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    commands = re.findall(r"^\| [a-z ]+ \| `python -m nst ([^`]+)` \|", readme, flags=re.M)
    assert len(commands) == 3, commands  # style transfer, content reconstruction, texture synthesis
    for index, command in enumerate(commands):
        result = run_nst(*command.split(), "size=32", "steps=2", f"hydra.run.dir=r{index}", cwd=tmp_path)
        assert result.returncode == 0, (command, result.stderr[-1000:])
        assert json.loads((tmp_path / f"r{index}/metrics.json").read_text())["status"] == "completed"


def test_progress_bar_in_a_log_redraws_about_ten_times_not_every_step(tmp_path):
    result = run_nst("style=null", "size=32", "steps=40", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    redraws = [part for part in result.stdout.split("\r") if "steps:" in part]
    assert "40/40" in redraws[-1]
    assert len(redraws) <= 30, len(redraws)  # measured 23 (83 when it redrew every step)
