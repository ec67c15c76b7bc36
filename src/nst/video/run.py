"""``content=clip.mp4``: every frame stylised, each tied to the frames before it (Ruder et al. 2016).

The run folder holds ``input/frame_NNNNN.png`` (the clip's frames at ``size``, numbered as in the
clip), ``frames/frame_NNNNN.png`` (the results, each written as soon as it is done), one sub-run per
frame under ``runs/frame_NNNNN/`` (its metrics.json and TensorBoard logs), ``result.mp4`` (H.264 at the
clip's frame rate, its audio copied), ``tb/`` (the losses and the result per frame index) and a
metrics.json listing every frame.

Frame t starts from frame t-1's result warped onto it by the optical flow between the input frames
(pixels without a consistent flow: the content frame), and its loss adds
``temporal_weight * mean(c * (x - warped)^2)`` with Ruder et al.'s consistency weights c; with
``video.temporal_frames=[1,2,4]`` (the default) one such term per earlier frame t-j, each weighted
only where no nearer frame's flow holds (Ruder et al.'s long-term terms). The previous
result is always read back from its PNG, so a stopped run continued with ``resume=RUN_DIR`` (from the
first unfinished frame: from its checkpoint when it has one, else redone) gives the frames an
uninterrupted run gives (bit for bit with ``checkpoint_history`` >= the optimizer's history).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from nst import checkpoint
from nst.console import say
from nst.errors import NSTError, RunStopped
from nst.files import atomic_write, write_json, write_text
from nst.images import load_image, resize_longest
from nst.plan import Plan
from nst.rundir import METRICS, VIDEO_CONFIG, completed, settings_differ

RESULT = "result.mp4"


def frame_name(index: int) -> str:
    return f"frame_{index:05d}"


def video_config(run_dir: Path) -> str | None:
    """The config of a video run in ``run_dir`` (what resume=RUN_DIR continues), or None."""
    path = run_dir / VIDEO_CONFIG
    return path.read_text() if path.is_file() else None


def _extract(plan: Plan, inputs: Path) -> list[Path]:
    """The clip's selected frames at ``size`` as PNGs (those already there, from a stopped run, kept)."""
    from nst.video.io import frames

    video = plan.video
    assert video is not None and plan.content is not None
    paths = [inputs / f"{frame_name(i)}.png" for i in range(video.first, video.last + 1)]
    if all(p.is_file() for p in paths):
        return paths
    inputs.mkdir(parents=True, exist_ok=True)
    decoded = 0
    for path, image in zip(paths, frames(plan.content, video.first, video.last)):
        decoded += 1
        if not path.is_file():
            atomic_write(
                path, lambda tmp, image=image: resize_longest(image, plan.size).save(tmp, format="PNG")
            )
    if decoded < len(paths):  # the header promised more frames than the stream holds
        raise NSTError(f"the video {plan.content} decoded {decoded} of the {len(paths)} frames asked for")
    return paths


def _frame(plan: Plan, inputs: list[Path], results: list[Path], k: int) -> Any:
    """Frame k's start and temporal term from the earlier frames' results (read back from their PNGs):
    frame k-1's warped result starts it; each offset j of video.temporal_frames (k-j >= 0) adds frame
    k-j's result warped onto frame k, weighted where no nearer frame's flow holds (Ruder et al.'s
    long-term weights: max(c_j - sum of the nearer c, 0))."""
    from nst.engine import VideoFrame
    from nst.module import Temporal
    from nst.video.flow import flows, long_term_weights, warp

    video = plan.video
    assert video is not None
    if k == 0 or not (video.warm_start or video.temporal_weight):
        return None
    size = plan.size
    now = load_image(inputs[k], size)
    targets, masks, start = [], [], None
    offsets = video.temporal_frames if video.temporal_weight else (1,)  # a warm start alone: the one before
    for j in (j for j in offsets if j <= k):  # ascending: 1, the frame before, first
        flow, mask = flows(load_image(inputs[k - j], size), now, video.flow_preset)  # now towards k-j
        warped = warp(load_image(results[k - j], size), flow)
        if j == 1 and video.warm_start:
            start = torch.where(mask > 0, warped, now)
        targets.append(warped)
        masks.append(mask)
    temporal = (
        Temporal(torch.cat(targets), torch.cat(long_term_weights(masks)), video.temporal_weight)
        if video.temporal_weight
        else None
    )
    return VideoFrame(start=start, temporal=temporal)


def _note_even(plan: Plan, first_input: Path) -> None:
    from PIL import Image

    from nst.video.io import even_size

    with Image.open(first_input) as image:
        width, height = image.size
    if even_size(width, height) != (width, height):
        even = "x".join(map(str, even_size(width, height)))
        say(
            f"nst: note: the frames are {width}x{height} px; H.264 (yuv420p) needs even edges, so "
            f"{RESULT} is {even} px (the last odd row/column dropped); frames/ keeps them whole"
        )


class FrameLog:
    """The losses of every frame (by frame index) and each result in the run's TensorBoard folder."""

    def __init__(self, out_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(out_dir / "tb"))

    def add(self, index: int, data: dict[str, Any], image: Path) -> None:
        from nst.images import read_image, to_tensor

        for name, value in data["loss"].items():
            if isinstance(value, (int, float)):
                self.writer.add_scalar(f"video/{name}", value, index)
        self.writer.add_scalar("video/seconds", data.get("wall_seconds") or 0.0, index)
        self.writer.add_image("video/frame", to_tensor(read_image(image))[0], index)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def run_video(plan: Plan, out_dir: Path) -> dict[str, Any]:
    """Stylise the selected frames of ``plan.content``, then encode them; return the run's record."""
    from nst.backbones import build_encoder, resolve_precision
    from nst.engine import run
    from nst.resources import expected_device

    video = plan.video
    assert video is not None
    inputs = _start(plan, out_dir)
    indices = list(range(video.first, video.last + 1))
    results = [out_dir / "frames" / f"{frame_name(i)}.png" for i in indices]
    results[0].parent.mkdir(parents=True, exist_ok=True)
    _note_even(plan, inputs[0])
    device = expected_device(plan.accelerator, plan.devices)
    plan = replace(plan, backbone=resolve_precision(plan.backbone, device))
    encoder = build_encoder(plan.backbone, plan.layers)  # once for the clip
    _say_plan(plan, inputs[0], len(indices), encoder.to(device), device)
    log = FrameLog(out_dir)
    entries: list[dict[str, Any]] = []
    count, total_steps = len(indices), video.first_steps + video.steps * (len(indices) - 1)
    try:
        for k, (index, source, result) in enumerate(zip(indices, inputs, results)):
            sub = out_dir / "runs" / frame_name(index)
            done = completed(sub)
            if done is not None and result.is_file():  # finished before a stop: not redone
                entries.append(_entry(index, result, done))
                continue
            state = _resume_or_clear(sub, f"frame {k + 1}/{count} ({frame_name(index)})")
            one = _frame_plan(plan, k, source, result, out_dir / "runs" / frame_name(indices[0]))
            before = video.first_steps + video.steps * (k - 1) if k else 0
            progress = (f"frame {k + 1}/{count}", before, total_steps) if plan.progress_bar else None
            try:
                data = run(one, sub, state, encoder, progress, _frame(plan, inputs, results, k))
            except RunStopped as stop:
                if stop.label != "stopped":
                    raise
                _record(out_dir, plan, entries, "interrupted")
                raise RunStopped(
                    f"interrupted at frame {index} ({k + 1}/{count}); the finished frames are in "
                    f"{results[0].parent}; continue with resume={out_dir}",
                    stop.exit_code,
                    label="stopped",
                ) from None
            entries.append(_entry(index, result, data))
            log.add(index, data, result)
            _say_frame(k, count, index, data, video, entries)
    except KeyboardInterrupt:  # Ctrl-C between two frames' steps (start-up, flow, writing): the same
        _record(out_dir, plan, entries, "interrupted")
        raise RunStopped(
            f"interrupted (SIGINT) after {len(entries)} of {count} frames; the finished frames are in "
            f"{results[0].parent}; continue with resume={out_dir}",
            128 + 2,
            label="stopped",
        ) from None
    finally:
        log.close()
    target = _encode(plan, results, out_dir)  # before the record says completed
    return _record(out_dir, plan, entries, "completed") | {"image": str(target)}


def _encode(plan: Plan, results: list[Path], out_dir: Path) -> Path:
    """result.mp4 from the frames (the clip's rate, its audio from the first frame on), and output=."""
    from nst.video.io import encode

    video = plan.video
    assert video is not None and plan.content is not None
    target = out_dir / RESULT
    first_second = (video.first - 1) / float(video.rate)
    encode(results, target, video.rate, plan.content if video.audio else None, first_second)
    if plan.output is not None:
        shutil.copyfile(target, plan.output)
    return target


def _start(plan: Plan, out_dir: Path) -> list[Path]:
    """The run folder with its config (what resume=RUN_DIR reads) and the clip's frames as PNGs."""
    fresh = not (out_dir / VIDEO_CONFIG).exists()
    if not fresh:  # a stopped run of this folder: its frames are reused only with its settings
        changed = settings_differ(out_dir, plan.config)  # None for a damaged file: nothing to compare
        if changed:
            raise NSTError(
                f"{out_dir} holds a video run made with other settings ({', '.join(changed[:5])}): "
                "use another run folder"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / VIDEO_CONFIG, plan.config)
    try:
        return _extract(plan, out_dir / "input")
    except NSTError:
        if fresh:  # nothing made yet worth keeping: the CLI removes the emptied run folder
            shutil.rmtree(out_dir / "input", ignore_errors=True)
            (out_dir / VIDEO_CONFIG).unlink(missing_ok=True)
        raise


def _frame_plan(plan: Plan, k: int, source: Path, result: Path, first_run: Path) -> Plan:
    """Frame k's own plan: its input frame, its result PNG and its steps; after the first frame,
    balance=auto keeps the first frame's factor for the whole clip (no flicker from it)."""
    video = plan.video
    assert video is not None
    steps = video.first_steps if k == 0 else video.steps
    one = replace(plan, content=source, output=result, overwrite=True, steps=(steps,))
    if k > 0 and plan.balance == "auto":
        factor = json_of(first_run)["balance_factor"]
        one = replace(one, balance="fixed", style_weight=plan.style_weight * factor)
    return one


def _resume_or_clear(sub: Path, label: str) -> checkpoint.RunState | None:
    """The frame in progress when the run stopped goes on from its checkpoint (said in one line);
    without one its sub-run is cleared and the frame is redone."""
    state = _saved_state(sub)
    if state is None:
        shutil.rmtree(sub, ignore_errors=True)
    else:
        say(f"{label}: goes on from its checkpoint at step {state.steps_done}", stderr=False)
    return state


def _saved_state(sub: Path) -> checkpoint.RunState | None:
    """The checkpoint of a frame stopped mid-way (Ctrl-C, a signal, or its last one before a kill -9),
    or None: none, or one that cannot be read (the frame is then redone)."""
    if not (sub / checkpoint.CHECKPOINT).is_file():
        return None
    try:
        return checkpoint.load(sub)
    except NSTError:
        return None


def json_of(sub: Path) -> dict[str, Any]:
    import json

    return json.loads((sub / METRICS).read_text())


def _entry(index: int, result: Path, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "frame": index,
        "result": str(result),
        "loss": data.get("loss", {}),
        "steps": data.get("steps"),
        "wall_seconds": data.get("wall_seconds"),
        **({"converged_step": data.get("converged_step")} if "converged" in data else {}),  # stop.rel_change
    }


def _say_plan(
    plan: Plan, first_input: Path, count: int, encoder: torch.nn.Module, device: torch.device
) -> None:
    """Before the first frame: what the clip will take (steps, memory, time); a sharper estimate of the
    time follows the first frame."""
    from PIL import Image

    from nst.resources import estimate_peak_mb

    video = plan.video
    assert video is not None
    with Image.open(first_input) as image:
        width, height = image.size
    total = video.first_steps + video.steps * (count - 1)
    line_search = plan.optimizer.is_lbfgs and plan.optimizer.options.get("line_search_fn") is not None
    seconds = pass_seconds(encoder, (height, width), device) * total * (2 if line_search else 1)
    say(
        f"video:       {count} frames of {width}x{height} px at {float(video.rate):g} fps; "
        f"{video.first_steps} steps for the first frame, {video.steps} for each other ({total} in all); "
        f"memory ~{estimate_peak_mb(plan, (height, width)):.0f} MB above the process, "
        f"time ~{_minutes(seconds)} (estimates)",
        stderr=False,
    )


def pass_seconds(encoder: torch.nn.Module, shape: tuple[int, int], device: torch.device) -> float:
    """Seconds of one forward and backward pass of ``encoder`` at ``shape``: most of a step's time.
    Timed on the second of two passes (the first pays for one-off set-up)."""
    image = torch.rand(1, 3, *shape, device=device, requires_grad=True)
    seconds = 0.0
    for _ in range(2):
        started = time.perf_counter()
        features = encoder(image)
        sum(f.float().square().mean() for f in features.values()).backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - started
    return seconds


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _say_frame(k: int, count: int, index: int, data: dict, video: Any, entries: list[dict]) -> None:
    loss = data["loss"]
    temporal = f", temporal {loss['temporal']:.3g}" if "temporal" in loss else ""
    say(
        f"frame {k + 1}/{count} ({frame_name(index)}): loss {loss['total']:.4g}{temporal}, "
        f"{data['wall_seconds']:.1f} s",
        stderr=False,
    )
    if k == 0 and count > 1:  # the estimate for the rest, from the first frame's pace
        per_frame = data["wall_seconds"] * video.steps / max(video.first_steps, 1)
        say(
            f"estimate:    ~{per_frame:.0f} s a frame for the {count - 1} others "
            f"(~{per_frame * (count - 1) / 60:.1f} min), from the first frame's {data['wall_seconds']:.1f} s",
            stderr=False,
        )


def _record(out_dir: Path, plan: Plan, entries: list[dict[str, Any]], status: str) -> dict[str, Any]:
    video = plan.video
    assert video is not None and plan.content is not None
    seconds = [e["wall_seconds"] or 0.0 for e in entries]
    data = {
        "status": status,
        "content": str(plan.content.absolute()),
        "style": [str(p) for p in plan.styles] or None,
        "video": {
            "frames": [video.first, video.last],
            "rate": str(video.rate),
            "first_steps": video.first_steps,
            "steps": video.steps,
            "temporal_weight": video.temporal_weight,
            "warm_start": video.warm_start,
            "flow_preset": video.flow_preset,
            "temporal_frames": list(video.temporal_frames),
        },
        "frames": entries,
        "completed_frames": len(entries),
        "steps": sum(e.get("steps") or 0 for e in entries),
        "wall_seconds": round(sum(seconds), 3),
        "first_frame_seconds": seconds[0] if seconds else None,
        "later_frame_seconds": round(sum(seconds[1:]) / (len(seconds) - 1), 3) if len(seconds) > 1 else None,
        "loss": {"total": sum(e["loss"].get("total", 0.0) for e in entries) / max(len(entries), 1)},
        "image": str(out_dir / RESULT),
    }
    write_json(out_dir / METRICS, data)
    return data
