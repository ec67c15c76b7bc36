"""Interruptions, resume, divergence, overwriting and memory: no run loses a user's work."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_nst
from nst import assets

pytestmark = pytest.mark.slow

# Small reconstruction runs: real features, fast steps, and an L-BFGS history worth restoring.
RUN = (
    "backbone=vgg16_hed",
    "style=null",
    "init=noise",
    "size=64",
    "content_layers=[conv_3,conv_4]",
    "progress_bar=false",
)


def _pixels(path):
    return np.asarray(Image.open(path), dtype=np.int16)


def _interrupt(tmp_path, args, name):
    """``python -m nst ARGS`` into ``name``, stopped with Ctrl-C as soon as its first checkpoint is saved."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nst", *args, f"hydra.run.dir={name}"],
        cwd=tmp_path,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    checkpoint = tmp_path / name / "checkpoint.pt"
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpoint.exists(), "no checkpoint appeared"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1].startswith("nst: stopped: interrupted (SIGINT) at step ")
    assert (tmp_path / name / "result.png").is_file() and checkpoint.is_file()
    return checkpoint


def test_sigint_saves_then_resume_ends_where_an_uninterrupted_run_would(tmp_path):
    """A checkpoint with the whole L-BFGS history resumes bit-identically; here it is also one written
    before checkpoint_history existed (its config has no such key), which still resumes."""
    steps = ("steps=400", "checkpoint_every=20", "checkpoint_history=100")  # 100: optimizer.history_size
    checkpoint = _interrupt(tmp_path, [*RUN, *steps], "cut")
    metrics = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and 20 <= metrics["steps"] < 400
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["optimizer"]["state"][0]["s"].shape[0] == 100  # all of it, as before checkpoint_history
    lines = saved["config"].splitlines(keepends=True)
    saved["config"] = "".join(line for line in lines if not line.startswith("checkpoint_history:"))
    torch.save(saved, checkpoint)

    resumed = run_nst("resume=cut", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not (tmp_path / "outputs").exists()  # resume= continues "cut": no empty dated folder beside it
    reference = run_nst(*RUN, *steps, "hydra.run.dir=whole", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr[-2000:]
    done = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert done["status"] == "completed" and done["steps"] == whole["steps"] == 400
    assert not checkpoint.exists()  # a finished run drops its checkpoint
    difference = np.abs(_pixels(tmp_path / "cut/result.png") - _pixels(tmp_path / "whole/result.png"))
    # Measured: bit-identical (max difference 0 of 255) on this CPU with the L-BFGS state restored.
    assert difference.max() <= 1, difference.max()
    assert done["loss"]["total"] == pytest.approx(whole["loss"]["total"], rel=1e-3)


def test_a_resumed_fit_compares_its_last_step_with_the_best_image_saved_before_the_cut(tmp_path):
    """A fit ends on its best evaluated image when its last step scores worse (keep_best); the
    checkpoint carries that image and its loss, so a resumed fit compares with the same one as an
    uninterrupted run. Without them a sliced_wasserstein run with redraws, cut at a redraw, ended on
    another image (up to 9 of 255 off; tests/test_statistics.py). Here the saved best is replaced by
    flat grey with a loss no step reaches: the resumed run must end on it."""
    args = [*RUN, "steps=60", "checkpoint_every=10", "checkpoint_history=100"]
    checkpoint = _interrupt(tmp_path, args, "cut")
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["best_image"].shape == saved["image"].shape
    assert torch.isfinite(saved["best_loss"]) and float(saved["best_loss"]) > 0
    saved["best_image"] = torch.full_like(saved["best_image"], 0.5)
    saved["best_loss"] = torch.zeros_like(saved["best_loss"])
    torch.save(saved, checkpoint)

    resumed = run_nst("resume=cut", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    metrics = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["best_iterates"] == 1
    pixels = _pixels(tmp_path / "cut/result.png")
    assert np.abs(pixels - 127.5).max() <= 0.5  # 0.5 of 255: every pixel 127 or 128


def test_a_sweep_rerun_continues_its_interrupted_job_from_the_checkpoint(tmp_path):
    """skip_completed=true (a re-run sweep): a job stopped mid-run resumes from its checkpoint and ends
    as an uninterrupted run would; metrics.json says where it resumed. Made with other settings, it
    starts again from step 0."""
    steps = ("steps=200", "checkpoint_every=20", "checkpoint_history=100", "skip_completed=true")
    _interrupt(tmp_path, [*RUN, *steps], "job")
    cut = json.loads((tmp_path / "job" / "metrics.json").read_text())["steps"]
    assert 20 <= cut < 200
    shutil.copytree(tmp_path / "job", tmp_path / "other")

    again = run_nst(*RUN, *steps, "hydra.run.dir=job", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming:    {tmp_path / 'job'} at step {cut}" in again.stdout + again.stderr
    whole = run_nst(*RUN, *steps, "hydra.run.dir=whole", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr[-2000:]
    done = json.loads((tmp_path / "job" / "metrics.json").read_text())
    reference = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert done["status"] == "completed" and done["steps"] == reference["steps"] == 200
    assert done["resumed_at"] == [cut] and reference["resumed_at"] == []
    assert not (tmp_path / "job" / "checkpoint.pt").exists()
    difference = np.abs(_pixels(tmp_path / "job/result.png") - _pixels(tmp_path / "whole/result.png"))
    assert difference.max() <= 1, difference.max()  # measured: 0 (the whole L-BFGS history was saved)

    other = run_nst(*RUN, *steps[1:], "steps=150", "hydra.run.dir=other", cwd=tmp_path)
    assert other.returncode == 0, other.stderr[-2000:]
    assert "resuming:" not in other.stdout + other.stderr
    restarted = json.loads((tmp_path / "other" / "metrics.json").read_text())
    assert restarted["steps"] == 150 and restarted["resumed_at"] == []


def test_a_checkpoint_keeps_few_pairs_and_its_resume_ends_near_the_uninterrupted_loss(tmp_path):
    """The default checkpoint_history=5: the image, the fit's best image so far, 3 image-sized vectors
    of L-BFGS state and 5 pairs of 2, about 15x the image's float32 bytes (the whole history of 100
    pairs: 205x)."""
    run = ("backbone=vgg16_hed", "size=64", "progress_bar=false", "image_every=0")  # a style transfer
    steps = ("steps=100", "checkpoint_every=20")
    checkpoint = _interrupt(tmp_path, [*run, *steps], "cut")
    width, height = Image.open(tmp_path / "cut" / "result.png").size
    image_bytes = width * height * 3 * 4
    # Measured: 559750 bytes at 64x48 (15 x 36864 + 6790: the config, counters and pickle framing;
    # 522015 before the best image was kept); 7526559 bytes (204x) with the whole history then.
    assert checkpoint.stat().st_size <= 15 * image_bytes + 8000, checkpoint.stat().st_size
    assert torch.load(checkpoint, weights_only=True)["optimizer"]["state"][0]["s"].shape[0] == 5

    resumed = run_nst("resume=cut", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    reference = run_nst(*run, *steps, "hydra.run.dir=whole", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr[-2000:]
    done = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert done["status"] == "completed" and done["steps"] == whole["steps"] == 100
    # Not bit-identical: the resumed run rebuilds 95 pairs. Measured on this config (checkpoints at
    # steps 20 and 50, 0, 5 or 10 pairs kept): -1.9% to +2.3% of the uninterrupted run's final loss,
    # either way (64 px after 100 steps is far from converged; at 128 px, vgg19, 200 steps: within
    # 0.16%); the bound leaves about 2x.
    assert done["loss"]["total"] == pytest.approx(whole["loss"]["total"], rel=0.05)


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "nst", *RUN, "steps=5000", "checkpoint_every=10", "hydra.run.dir=run"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while (
        not (tmp_path / "run/checkpoint.pt").exists()
        and process.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert process.poll() is None, (
        f"the run ended before its first checkpoint: {process.communicate()[1][-2000:]}"
    )
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, (process.returncode, stderr[-2000:])
    status = json.loads((tmp_path / "run/metrics.json").read_text())["status"]
    assert status == "interrupted", (status, stderr[-2000:])


def test_divergence_stops_with_the_last_finite_image(tmp_path):
    result = run_nst(
        *RUN, "steps=20", "optimizer=lbfgs_plain", "optimizer.lr=1e30", "hydra.run.dir=run", cwd=tmp_path
    )
    assert result.returncode == 3, result.stderr[-2000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("nst: error: diverged: loss became") and "lower optimizer.lr" in line
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["status"] == "diverged" and np.isfinite(metrics["loss"]["total"])
    kept = _pixels(tmp_path / "run/result.png")
    assert kept.std() > 5  # a real image (the noise start or later), not a saturated or blank one


def test_existing_output_is_kept_unless_overwrite(tmp_path):
    target = tmp_path / "out.png"
    Image.new("RGB", (8, 8), "red").save(target)
    original = target.read_bytes()
    refused = run_nst(*RUN, "steps=2", "output=out.png", "hydra.run.dir=a", cwd=tmp_path)
    assert refused.returncode == 2 and "overwrite=true" in refused.stderr
    assert target.read_bytes() == original
    allowed = run_nst(*RUN, "steps=2", "output=out.png", "overwrite=true", "hydra.run.dir=b", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert Image.open(target).size == (64, 48)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_coarse_to_fine_runs_every_scale_and_logs_one_curve(tmp_path):
    result = run_nst(
        *RUN, "steps=10", "scales=[32,48]", "scale_steps=[6,4]", "hydra.run.dir=run", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["scales"] == [32, 48, 64] and metrics["steps"] == 20
    assert metrics["shape"] == [48, 64]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run/tb"), size_guidance={"scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("loss/total")] == list(range(1, 21))


@pytest.mark.parametrize(("backbone", "size"), [("vgg16_hed", 128), ("vgg16_hed", 256), ("vgg19", 128)])
def test_memory_estimate_is_close_to_the_measured_peak(tmp_path, backbone, size):
    result = run_nst(
        f"backbone={backbone}",
        "style=null",
        "steps=110",
        "optimizer=lbfgs_plain",
        f"size={size}",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    grown = metrics["peak_memory_mb"] - metrics["start_memory_mb"]
    ratio = metrics["memory_estimate_mb"] / grown
    # measured (bf16 / fp32): 1.13 / 1.00 at 128 px (vgg16_hed), 1.05 / 1.03 (vgg19); 1.06 at 256 px bf16
    assert 0.7 < ratio < 1.4, (metrics["memory_estimate_mb"], grown)


def test_runs_started_together_each_keep_their_own_folder(tmp_path):
    """Four runs launched at the same moment (a shell loop with &) get four folders and four results."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "nst", *RUN, "steps=3", f"seed={seed}"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(4)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-2000:]
    folders = sorted(p.parent for p in tmp_path.glob("outputs/*/*/metrics.json"))
    assert len(folders) == 4, folders
    seeds = sorted(json.loads((folder / "metrics.json").read_text())["seed"] for folder in folders)
    assert seeds == [0, 1, 2, 3]
    for folder in folders:
        assert (folder / "result.png").is_file() and list((folder / "tb").glob("events.out.tfevents.*"))
        assert not (folder / ".nst.lock").exists()
    images = {(folder / "result.png").read_bytes() for folder in folders}
    assert len(images) == 4  # four seeds, four different images: none overwrote another


def test_a_run_folder_in_use_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "run/.nst.lock").write_text(str(holder.pid))
        result = run_nst(*RUN, "steps=2", "hydra.run.dir=run", cwd=tmp_path)
        assert result.returncode == 2 and f"is in use by process {holder.pid}" in result.stderr
    finally:
        holder.kill()
    (tmp_path / "run/.nst.lock").write_text("999999999")  # its process is gone: taken over
    assert run_nst(*RUN, "steps=2", "hydra.run.dir=run", cwd=tmp_path).returncode == 0


class _Payload:
    """Unpickling this runs a shell command (what a crafted checkpoint would do)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_is_refused_and_its_payload_never_runs(tmp_path):
    import torch

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    marker = tmp_path / "payload_ran"
    torch.save({"config": "size: 64", "image": _Payload(marker)}, run_dir / "checkpoint.pt")
    result = run_nst("resume=run", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to load it" in lines[0], lines
    assert not marker.exists()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 200 KB tmpfs: room for the start of a run, not for all of it (needs root, as CI has)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        reason = f"cannot mount a tmpfs here: {made.stderr.decode().strip()}"
        if os.environ.get("CI"):  # CI runs as root: a skip there would hide the disk-full check
            pytest.fail(reason)
        pytest.skip(reason)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_mid_run_is_one_line_and_exit_4(tmp_path, tiny_disk):
    result = run_nst(
        *RUN,
        "steps=60",
        "image_every=1",
        "checkpoint_every=0",
        f"hydra.run.dir={tiny_disk}/run",
        cwd=tmp_path,
    )
    assert result.returncode == 4, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, lines
    assert lines[0].startswith("nst: error: cannot write ") and "No space left on device" in lines[0], lines[
        0
    ]
    assert "(step " in lines[0]


def test_a_time_budget_ends_the_run_as_completed_at_the_size_asked_for(tmp_path):
    result = run_nst(
        "backbone=vgg16_hed", "size=64", "scales=[32]", "scale_steps=[1000]", "steps=1000", "time_budget=3",
        "progress_bar=false", "hydra.run.dir=run", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["ended_by"] == "time_budget"
    assert 0 < metrics["steps"] < 1000 and metrics["wall_seconds"] >= 3
    # Ended at the coarse scale: the image was still carried to the full size.
    assert metrics["shape"] == [48, 64] and Image.open(tmp_path / "run/result.png").size == (64, 48)
    assert not (tmp_path / "run/checkpoint.pt").exists()


STARTUP_LINE = "nst: stopped: interrupted (SIGINT) during start-up: nothing was run"


@pytest.mark.parametrize("moment", ["while importing", "once hydra made the run folder"])
def test_ctrl_c_during_start_up_is_one_line_exit_130_and_leaves_no_run_folder(tmp_path, moment):
    args = [
        "backbone=random",
        "style=null",
        "size=32",
        "steps=2000",
        "progress_bar=false",
        "hydra.run.dir=run",
    ]
    process = subprocess.Popen([sys.executable, "-m", "nst", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    maps = Path(f"/proc/{process.pid}/maps")

    def started() -> bool:
        """PyYAML's C part loads while nst.cli imports Hydra; .hydra/: Hydra has made the run folder."""
        if moment == "while importing":
            return "_yaml" in maps.read_text()  # (a fixed sleep raced the interpreter's own start-up)
        return (tmp_path / "run" / ".hydra").exists()  # where 63-84 traceback lines left .hydra behind

    deadline = time.monotonic() + 60
    while not started():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and err.splitlines() == [STARTUP_LINE], (process.returncode, err)
    assert list(tmp_path.iterdir()) == []


def test_a_run_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("a file")  # as a read-only working directory: Hydra's mkdir fails
    result = run_nst("style=null", "hydra.run.dir=notes.txt/run", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "nst: error: cannot write notes.txt/run: Not a directory; run from a folder you can write to, "
        "or give hydra.run.dir=DIR"
    ]
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_a_short_run_that_overshoots_returns_its_best_image_not_garbage(tmp_path):
    """layers=report at 64 px, 5 L-BFGS steps without a line search: the last steps overshoot to colour
    blobs (measured loss 8.6e8 against the photo's 7.3e6). The run returns the best image it evaluated
    (here the photo itself), says so in metrics.json, and completes."""
    result = run_nst(
        "layers=report",
        "style_loss=gram",
        "size=64",
        "steps=5",
        "progress_bar=false",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["best_iterates"] == 1
    assert metrics["loss"]["total"] < 1e8
    photo = (
        Image.open(assets.resolve("tubingen"))
        .convert("RGB")
        .resize(Image.open(tmp_path / "run/result.png").size)
    )
    error = (_pixels(tmp_path / "run/result.png") - np.asarray(photo, dtype=np.int16)).astype(float)
    psnr = 10 * np.log10(255**2 / max(np.mean(error**2), 1e-9))
    assert psnr > 25, psnr  # the photo (a lone resize's rounding apart), not blobs (measured ~7 dB)
