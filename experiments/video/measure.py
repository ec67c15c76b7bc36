"""Video: temporal consistency against independent frames (README: Video).

By default the clip is made here: a slow pan with a slight zoom over a photograph of the manifest
(crops of Tubingen, resized to the frame size), encoded with PyAV (``--occluder``: a post crosses it);
``--clip vtest`` takes frames of the filmed clip of the manifest instead (``make clip``). Each
setting runs the whole clip through ``run_video`` and is scored by

* the warping error (Lai et al. 2018): per consecutive pair, the mean over non-occluded pixels of
  ||V_t - warp(V_t+1)||^2 (frames in [0, 1]; flow and mask from the input video), over the clip; the
  input video's own is the floor;
* the style loss per frame (unweighted, from each frame's metrics.json);
* the seconds of the frames after the first against the first's.

    OMP_NUM_THREADS=1 python experiments/video/measure.py --size 96 --frames 8 --out /tmp/video_measure
    python experiments/video/measure.py --occluder --size 128 --frames 16 --first-steps 300 --steps 100 \\
        --out /tmp/occluder --only independent,short_term,default
    make clip && python experiments/video/measure.py --clip vtest --size 256 --frames 12 --first-steps 300 \\
        --steps 100 --out /tmp/vtest --only independent,short_term,default
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from nst.assets import resolve
from nst.config import compose
from nst.images import load_image, read_image
from nst.plan import make_plan
from nst.video.flow import warping_error
from nst.video.run import run_video


def make_clip(
    path: Path, frames: int, width: int, height: int, photo: str = "tubingen", occluder: bool = False
) -> Path:
    """A pan left to right with a 10% zoom in over ``photo``: crops resized to width x height; with
    ``occluder``, a dark post (a tenth of the width) crosses the frame in front of the scene, left to
    right, so the background it uncovers was seen a few frames before (what long-term terms tie to)."""
    image = read_image(resolve(photo))
    big_w, big_h = image.size
    crop_h = int(big_h * 0.8)
    crop_w = int(crop_h * width / height)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(12))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "12"}
        for t in range(frames):
            zoom = 1 - 0.1 * t / max(frames - 1, 1)
            w, h = crop_w * zoom, crop_h * zoom
            x0 = (big_w - crop_w) * 0.2 + t * big_w * 0.006
            y0 = (big_h - h) / 2
            crop = image.crop((round(x0), round(y0), round(x0 + w), round(y0 + h)))
            crop = crop.resize((width, height), Image.Resampling.LANCZOS)
            pixels = np.asarray(crop).copy()
            if occluder:  # enters at the left edge, leaves at the right on the last frame
                post = max(width // 10, 2)
                left = round(-post + (width + post) * t / max(frames - 1, 1))
                pixels[:, max(left, 0) : max(left + post, 0)] = (40, 30, 25)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = t
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def run_setting(clip: Path, out: Path, overrides: list[str]) -> dict:
    cfg = compose([f"content={clip}", *overrides, "progress_bar=false", "image_every=0", "log_every=0"])
    plan = make_plan(cfg, out)
    return run_video(plan, out)


def score(out: Path, size: int) -> dict:
    record = json.loads((out / "metrics.json").read_text())
    frames = [load_image(e["result"], size) for e in record["frames"]]
    inputs = [load_image(p, size) for p in sorted((out / "input").glob("frame_*.png"))]
    style = [e["loss"]["style"] for e in record["frames"]]
    return {
        "warping_error": warping_error(frames, inputs),
        "input_warping_error": warping_error(inputs, inputs),
        "warping_error_stride4": warping_error(frames, inputs, stride=4),  # frames t and t+4
        "input_warping_error_stride4": warping_error(inputs, inputs, stride=4),
        "style_loss": style,
        "mean_style_loss": sum(style) / len(style),
        "first_frame_seconds": record["first_frame_seconds"],
        "later_frame_seconds": record["later_frame_seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--first-steps", type=int, default=150)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("video_measure"))
    parser.add_argument("--setting", action="append", default=[], help="NAME:override,override (repeatable)")
    parser.add_argument("--only", default=None, help="run only these settings (comma-separated names)")
    parser.add_argument(
        "--occluder", action="store_true", help="a dark post crosses the clip in front of the scene"
    )
    parser.add_argument(
        "--clip", default=None, help="a real clip (a path or a manifest name: vtest) instead of the pan"
    )
    parser.add_argument("--first", type=int, default=1, help="with --clip: its first frame (1-based)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    height = round(args.size * 3 / 4) // 2 * 2
    common = [f"size={args.size}", f"video.first_steps={args.first_steps}", f"video.steps={args.steps}"]
    if args.clip:  # frames first..first+frames-1 of a real clip
        clip = resolve(args.clip).absolute()
        common.append(f"video.frames=[{args.first},{args.first + args.frames - 1}]")
    else:
        clip = args.out / "pan.mp4"
        if not clip.is_file():  # kept: settings run in separate processes share it (--only)
            make_clip(clip, args.frames, args.size, height, occluder=args.occluder)
    independent = ["video.temporal_weight=0", "video.warm_start=false"]
    settings = {
        "independent": independent,  # the same steps as the default: first_steps, then steps
        "independent_full": [*independent, f"video.steps={args.first_steps}"],  # first_steps every frame
        "short_term": ["video.temporal_frames=[1]"],  # tied to the frame before only
        "default": [],  # long-term terms: video.temporal_frames=[1,2,4]
    }
    for text in args.setting:
        name, _, overrides = text.partition(":")
        settings[name] = [o for o in re.split(r",(?![^\[]*\])", overrides) if o]  # not inside [1,2,4]
    table = {}
    only = args.only.split(",") if args.only else list(settings)
    for name, overrides in settings.items():
        out = args.out / name
        scored = out / "score.json"
        if name not in only and not scored.is_file():
            continue
        if not scored.is_file():  # a setting already scored (by this or another process) is kept
            run_setting(clip, out, common + overrides)
            scored.write_text(json.dumps(score(out, args.size) | {"overrides": overrides}))
        table[name] = row = json.loads(scored.read_text())
        print(
            f"{name:14s} warping error {row['warping_error']:.5f} (input {row['input_warping_error']:.5f}), "
            f"4 apart {row['warping_error_stride4']:.5f} (input {row['input_warping_error_stride4']:.5f})  "
            f"style {row['mean_style_loss']:.4g}  first {row['first_frame_seconds']:.1f} s  "
            f"later {row['later_frame_seconds']:.1f} s",
            flush=True,
        )
    base = table.get("independent")
    for row in table.values() if base else []:
        row["warping_error_vs_independent"] = row["warping_error"] / base["warping_error"]
        row["style_loss_vs_independent"] = row["mean_style_loss"] / base["mean_style_loss"]
        row["later_vs_first_seconds"] = row["later_frame_seconds"] / row["first_frame_seconds"]
        full = table.get("independent_full")
        if full:
            row["warping_error_vs_independent_full"] = row["warping_error"] / full["warping_error"]
            row["style_loss_vs_independent_full"] = row["mean_style_loss"] / full["mean_style_loss"]
    (args.out / "measure.json").write_text(json.dumps(table, indent=2))
    json.dump(
        {k: {m: v for m, v in r.items() if m != "style_loss"} for k, r in table.items()}, sys.stdout, indent=1
    )


if __name__ == "__main__":
    main()
