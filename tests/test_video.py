"""content=clip.mp4: video I/O, optical flow and consistency, the temporal term, resume, bad input.

Every clip is made here (a photograph panned by a known number of pixels, or a square moving over a
background) and encoded with PyAV into tmp_path."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import plan, run_nst
from nst.assets import resolve
from nst.errors import NSTError
from nst.images import read_image, resize_longest, to_tensor
from nst.video import io
from nst.video.flow import consistency, dis_flow, flows, long_term_weights, warp, warping_error

RUN = ("backbone=vgg16_hed", "style=starry_night", "size=48", "progress_bar=false", "image_every=0")


def _photo(width: int) -> np.ndarray:
    return np.asarray(resize_longest(read_image(resolve("tubingen")), width))


def _encode(path: Path, frames: list[np.ndarray], rate: Fraction = Fraction(12), audio: bool = False) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.height, stream.width = frames[0].shape[:2] if frames else (48, 64)
        stream.pix_fmt, stream.options = "yuv420p", {"crf": "10"}
        sound = container.add_stream("aac", rate=44100) if audio else None
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if sound is not None:
            seconds = len(frames) / float(rate)
            tone = np.sin(np.linspace(0, 440 * 2 * np.pi * seconds, int(44100 * seconds))).astype(np.float32)
            samples = av.AudioFrame.from_ndarray(0.2 * tone[None], format="fltp", layout="mono")
            samples.sample_rate, samples.pts = 44100, 0
            for packet in [*sound.encode(samples), *sound.encode()]:
                container.mux(packet)
    return path


def _pan(path: Path, count: int = 4, width: int = 64, height: int = 48, shift: int = 2, **kw) -> Path:
    """A pan over the photograph: frame t is the crop moved right by t * shift px."""
    photo = _photo(width + shift * count + 16)
    frames = [photo[8 : 8 + height, 8 + shift * t : 8 + shift * t + width] for t in range(count)]
    return _encode(path, frames, **kw)


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    return to_tensor(Image.fromarray(np.ascontiguousarray(pixels)))


# --- flow and consistency -------------------------------------------------------------------


def test_dis_flow_recovers_a_known_shift():
    photo = _photo(320)
    a = _tensor(photo[20:212, 20:276])
    b = _tensor(photo[18:210, 17:273])  # the scene moved by (+3, +2): a(x) = b(x + (3, 2))
    flow = dis_flow(a, b, "medium")[16:-16, 16:-16]
    endpoint = (flow - torch.tensor([3.0, 2.0])).norm(dim=-1).mean()
    assert endpoint < 0.2  # measured 0.07 px (experiments/video/flow_presets.py)


def test_consistency_marks_the_disoccluded_strip_and_the_border():
    background = _photo(320)[10:154, 20:212]  # 144x192 (at 72x96 DIS smears the motion over the frame)
    frames = []
    for x0 in (64, 72):  # a white square moves 8 px to the right over a still background
        frame = background.copy()
        frame[48:96, x0 : x0 + 48] = 255
        frames.append(_tensor(frame))
    flow, mask = flows(frames[0], frames[1], "medium")  # frame 1 towards frame 0, where it holds
    revealed = mask[0, 0, 52:92, 65:71].mean()  # the background the square uncovered
    still = mask[0, 0, 4:40, 4:188].mean()
    assert revealed < 0.3 and still > 0.9, (float(revealed), float(still))
    # Any flow pointing out of the frame has zero weight.
    out = torch.zeros(10, 10, 2)
    out[:, :, 0] = -3.0
    assert consistency(out, -out)[0, 0, :, :3].sum() == 0 and consistency(out, -out)[0, 0, :, 3:].min() == 1


def test_the_warped_previous_frame_matches_the_next_where_valid():
    photo = _photo(200)
    frames = [_tensor(photo[10:106, 10 + 3 * t : 138 + 3 * t]) for t in range(2)]
    flow, mask = flows(frames[0], frames[1], "medium")
    error = (warp(frames[0], flow) - frames[1]).abs().mean(1, keepdim=True)
    assert mask.mean() > 0.8
    assert (error * mask).sum() / mask.sum() < 0.02  # bilinear resampling of a 3-px shift
    assert warping_error(frames, frames) < 2e-3


def test_long_term_weights_tie_each_pixel_to_its_nearest_consistent_frame():
    """Ruder et al.'s long-term weights: frame t-j counts only where no nearer frame's flow holds."""
    before = torch.ones(1, 1, 4, 6)
    before[..., 2:4] = 0  # occluded in the frame before: columns 2 and 3
    two_back = torch.ones(1, 1, 4, 6)
    two_back[..., 3] = 0  # column 2 was visible two frames back, column 3 was not
    four_back = torch.ones(1, 1, 4, 6)  # everything visible four frames back
    w1, w2, w4 = long_term_weights([before, two_back, four_back])
    assert torch.equal(w1, before)  # the frame before keeps its consistency weights
    assert w2[..., 2].eq(1).all() and w2.sum() == 4  # column 2 only
    assert w4[..., 3].eq(1).all() and w4.sum() == 4  # column 3 only
    assert torch.equal(w1 + w2 + w4, torch.ones_like(before))  # every pixel tied once, to its nearest
    nowhere = torch.zeros(1, 1, 4, 6)
    assert sum(long_term_weights([nowhere, nowhere])).sum() == 0


# --- video files -------------------------------------------------------------------------------


def test_decode_and_encode_keep_frame_count_rate_and_audio(tmp_path):
    clip = _pan(tmp_path / "pan.mp4", count=7, width=64, height=48, rate=Fraction(30000, 1001), audio=True)
    info = io.probe(clip)
    assert (info.frames, info.rate, info.audio) == (7, Fraction(30000, 1001), True)
    pngs = []
    for index, image in enumerate(io.frames(clip)):
        pngs.append(tmp_path / f"{index}.png")
        image.save(pngs[-1])
    assert len(pngs) == 7 and Image.open(pngs[0]).size == (64, 48)
    odd = [tmp_path / f"odd{i}.png" for i in range(7)]
    for path, png in zip(odd, pngs):
        Image.open(png).crop((0, 0, 63, 47)).save(path)
    io.encode(odd, tmp_path / "out.mp4", info.rate, clip)
    again = io.probe(tmp_path / "out.mp4")
    assert (again.frames, again.rate, again.audio, again.width, again.height) == (7, info.rate, True, 62, 46)
    assert len(list(io.frames(tmp_path / "out.mp4", 3, 5))) == 3


# --- bad input: one line, exit 2, nothing left behind ------------------------------------------


def test_bad_video_inputs_are_refused_when_planning(tmp_path):
    clip = _pan(tmp_path / "pan.mp4", count=3)
    (tmp_path / "broken.mp4").write_text("not a video")
    with av.open(str(tmp_path / "sound.mp4"), "w") as container:  # audio only, no video frame at all
        stream = container.add_stream("aac", rate=44100)
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 44100), np.float32), format="fltp", layout="mono")
        samples.sample_rate, samples.pts = 44100, 0
        for packet in [*stream.encode(samples), *stream.encode()]:
            container.mux(packet)
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(clip, videos / "a.mp4")
    d = tmp_path
    cases = {
        "broken.mp4": (f"content={d}/broken.mp4",),
        "sound.mp4 holds no video stream": (f"content={d}/sound.mp4",),
        "outside the clip: pan.mp4 has frames 1..3": (f"content={clip}", "video.frames=[2,5]"),
        "above max_input_pixels=1,000": (f"content={clip}", "max_input_pixels=1000"),
        "holds videos, no images": (f"content={videos}",),
        "tile (print size by tiles) does not apply": (f"content={clip}", "tile=32"),
        "scales (coarse-to-fine) does not apply": (f"content={clip}", "scales=[32]"),
        "a video runs at one scale": (f"content={clip}", "size=512"),
        "output names the video file": (f"content={clip}", f"output={d}/out.png"),
        "video.frames selects frames of a video": ("content=tubingen", "video.frames=[1,2]"),
    }
    for expected, overrides in cases.items():
        with pytest.raises(NSTError, match=re.escape(expected)):
            plan(*overrides, out_dir=tmp_path / "run")


def test_a_broken_video_is_one_line_exit_2_and_no_run_folder(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    done = run_nst(*RUN, "content=broken.mp4", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("nst: error: cannot read the video")
    assert not (tmp_path / "outputs").exists()


# --- end to end ------------------------------------------------------------------------------


def _frames(run: Path) -> list[np.ndarray]:
    return [
        np.asarray(Image.open(p), dtype=np.float32) / 255
        for p in sorted((run / "frames").glob("frame_*.png"))
    ]


@pytest.mark.slow
def test_a_clip_is_stylised_frame_by_frame_and_resumes_to_the_same_frames(tmp_path, monkeypatch):
    _pan(tmp_path / "pan.mp4", count=4, width=64, height=48, audio=True)
    steps = ("video.first_steps=8", "video.steps=4", "video.frames=[1,3]")
    done = run_nst(*RUN, "content=pan.mp4", *steps, "output=styled.mp4", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "frame 3/3 (frame_00003)" in done.stdout and "estimate:" in done.stdout
    assert 0 <= done.stdout.find("video:       3 frames of ") < done.stdout.find("frame 1/3")  # ahead
    assert re.search(
        r"video: .* memory ~\d+ MB above the process, time ~\d+ (s|min) \(estimates\)", done.stdout
    )
    run = tmp_path / "run"
    assert sorted(p.name for p in (run / "frames").iterdir()) == [f"frame_0000{i}.png" for i in (1, 2, 3)]
    info = io.probe(tmp_path / "styled.mp4")
    assert (info.frames, info.rate, info.audio, info.width, info.height) == (3, 12, True, 48, 36)
    record = json.loads((run / "metrics.json").read_text())
    assert record["status"] == "completed" and [f["frame"] for f in record["frames"]] == [1, 2, 3]
    assert "temporal" in record["frames"][1]["loss"] and record["frames"][1]["steps"] == 4
    # A run stopped during frame 3 (frames 1-2 done, frame 3's sub-run unfinished) goes on from frame 3.
    stopped = tmp_path / "stopped"
    shutil.copytree(run, stopped)
    (stopped / "frames" / "frame_00003.png").unlink()
    (stopped / "result.mp4").unlink()
    sub = stopped / "runs" / "frame_00003" / "metrics.json"
    sub.write_text(json.dumps(json.loads(sub.read_text()) | {"status": "interrupted"}))
    top = {"status": "interrupted", "frames": record["frames"][:2], "completed_frames": 2}  # as a stop writes
    (stopped / "metrics.json").write_text(json.dumps(record | top))
    pristine = tmp_path / "pristine"
    shutil.copytree(stopped, pristine)
    again = run_nst(f"resume={stopped}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "frame 3/3" in again.stdout and "frame 2/3" not in again.stdout
    for a, b in zip(_frames(run), _frames(stopped), strict=True):
        assert np.abs(a - b).max() <= 1 / 255
    # The same stopped run met again by a re-run sweep (skip_completed) or by SLURM's restart of its job
    # (SLURM_RESTART_COUNT): the same command goes on from frame 3, as resume= does.
    for name, extra, restarts in (("swept", ["skip_completed=true"], "0"), ("requeued", [], "1")):
        shutil.copytree(pristine, tmp_path / name)
        monkeypatch.setenv("SLURM_RESTART_COUNT", restarts)
        same = run_nst(*RUN, "content=pan.mp4", *steps, f"hydra.run.dir={name}", *extra, cwd=tmp_path)
        assert same.returncode == 0, same.stderr[-2000:]
        assert "at the first unfinished frame" in same.stdout, same.stdout
        assert "frame 3/3" in same.stdout and "frame 2/3" not in same.stdout
        for a, b in zip(_frames(run), _frames(tmp_path / name), strict=True):
            assert np.abs(a - b).max() <= 1 / 255
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    # Asked with other settings, a stopped video's frames are never mixed with new ones: one line, exit 2.
    shutil.copytree(pristine, tmp_path / "other")
    other = ("content=pan.mp4", *steps, "video.steps=5", "hydra.run.dir=other")
    swept = run_nst(*RUN, *other, "skip_completed=true", cwd=tmp_path)
    assert swept.returncode == 2 and swept.stderr.count("\n") == 1, swept.stderr
    assert "holds an unfinished run made with other settings (video.steps)" in swept.stderr
    plain = run_nst(*RUN, *other, cwd=tmp_path)
    assert (
        plain.returncode == 2 and "holds a video run made with other settings (video.steps)" in plain.stderr
    )
    assert not (tmp_path / "other" / "frames" / "frame_00003.png").exists()
    # A real Ctrl-C while frame 2 runs: frame 1 is kept and not redone; frame 2 goes on from the
    # checkpoint the stop wrote, and with the whole L-BFGS history in it the frames are bit for bit those
    # of an uninterrupted run.
    args = [
        *RUN,
        "content=pan.mp4",
        *steps,
        "video.steps=300",  # ~5 s at 16 ms a step (the fastest machine seen): the stop lands inside it
        "checkpoint_history=100",
        "hydra.run.dir=ctrl_c",
    ]
    process = subprocess.Popen([sys.executable, "-m", "nst", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while not (tmp_path / "ctrl_c" / "runs" / "frame_00002" / "tb").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and err.count("\n") == 1 and "continue with resume=" in err, err
    assert [p.name for p in (tmp_path / "ctrl_c" / "frames").iterdir()] == ["frame_00001.png"]
    kept = (tmp_path / "ctrl_c" / "frames" / "frame_00001.png").stat().st_mtime_ns
    resumed = run_nst("resume=ctrl_c", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "frame 2/3" in resumed.stdout and "frame 1/3" not in resumed.stdout
    assert re.search(r"frame 2/3 \(frame_00002\): goes on from its checkpoint at step [1-9]", resumed.stdout)
    assert (tmp_path / "ctrl_c" / "frames" / "frame_00001.png").stat().st_mtime_ns == kept
    assert io.probe(tmp_path / "ctrl_c" / "result.mp4").frames == 3
    whole = run_nst(*args[:-1], "hydra.run.dir=whole", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr[-2000:]
    for a, b in zip(_frames(tmp_path / "whole"), _frames(tmp_path / "ctrl_c"), strict=True):
        assert np.abs(a - b).max() == 0  # measured: bit-identical


@pytest.mark.slow
def test_the_temporal_term_and_warm_start_lower_the_warping_error(tmp_path):
    from nst.images import load_image

    _pan(tmp_path / "pan.mp4", count=4, width=64, height=48, shift=2)
    steps = ("size=64", "video.first_steps=20", "video.steps=10")
    errors = {}
    settings = {
        "independent": ("video.temporal_weight=0", "video.warm_start=false"),
        "short_term": ("video.temporal_frames=[1]",),
        "long_term": ("video.temporal_frames=[1,2,3]",),  # as the default [1,2,4]: frame 3 tied to 2, 1, 0
    }
    for name, overrides in settings.items():
        done = run_nst(*RUN, "content=pan.mp4", *steps, *overrides, f"hydra.run.dir={name}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        frames = [load_image(p, 64) for p in sorted((tmp_path / name / "frames").glob("*.png"))]
        inputs = [load_image(p, 64) for p in sorted((tmp_path / name / "input").glob("*.png"))]
        errors[name] = warping_error(frames, inputs)
    print("warping errors:", errors)  # shown by pytest -rP
    # measured 0.21-0.25x (vgg16_hed at its default temporal_weight 1e4), 0.09x at 1e5; the goal is 0.5x
    assert errors["short_term"] < 0.4 * errors["independent"], errors
    # long-term terms: measured 0.25x, as the short-term term alone (a pan uncovers nothing seen before)
    assert errors["long_term"] < 0.4 * errors["independent"], errors
    recorded = json.loads((tmp_path / "long_term" / "metrics.json").read_text())["video"]
    assert recorded["temporal_frames"] == [1, 2, 3]
