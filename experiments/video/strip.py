"""docs/img/video_vtest.jpg: consecutive frames of measure.py's clip, then one row per measured setting
(by default its frames stylised independently and with video mode); with ``--changes``, under each
stylised row what changed since the frame before (|frame t - frame t-1|, amplified): flicker shows as
a busy row, a steady video as one where only what moves in the clip lights up.

    python experiments/video/strip.py /tmp/vtest docs/img/video_vtest.jpg --first 6 --scale 1 --changes
    python experiments/video/strip.py /tmp/occluder /tmp/occluder.jpg --rows short_term,default
    python experiments/video/strip.py /tmp/occluder docs/img/video_occluder.jpg --rows default,long_term
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def change(before: Image.Image, now: Image.Image, gain: float) -> Image.Image:
    """|now - before| per pixel (the RGB mean), times ``gain``, as a grey image."""
    a, b = (np.asarray(im, dtype=np.float32) for im in (before, now))
    return Image.fromarray(np.clip(np.abs(b - a).mean(2) * gain, 0, 255).astype(np.uint8)).convert("RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("measured", type=Path, help="measure.py's --out folder")
    parser.add_argument("target", type=Path)
    parser.add_argument("--rows", default="independent,default", help="the settings shown, one row each")
    parser.add_argument("--first", type=int, default=3)
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--scale", type=int, default=2, help="enlarge by this factor (nearest)")
    parser.add_argument("--changes", action="store_true", help="a row of |frame t - frame t-1| under each")
    parser.add_argument("--gain", type=float, default=4.0, help="with --changes: the amplification")
    args = parser.parse_args()
    names = [f"frame_{i:05d}.png" for i in range(args.first, args.first + args.count)]
    settings = args.rows.split(",")
    missing = [name for name in settings if not (args.measured / name / "frames").is_dir()]
    if missing:
        raise SystemExit(f"error: no frames of {', '.join(missing)} in {args.measured}: run measure.py")
    rows = [args.measured / settings[0] / "input", *(args.measured / name / "frames" for name in settings)]
    tiles = [[Image.open(row / name).convert("RGB") for name in names] for row in rows]
    if args.changes:  # after each stylised row, its frame-to-frame changes (frame first-1 must exist)
        before = f"frame_{args.first - 1:05d}.png"
        for r in range(len(rows) - 1, 0, -1):
            frames = [Image.open(rows[r] / before).convert("RGB"), *tiles[r]]
            tiles.insert(r + 1, [change(a, b, args.gain) for a, b in zip(frames, frames[1:])])
    width, height = tiles[0][0].size
    gap = 4
    sheet = Image.new("RGB", (args.count * (width + gap) - gap, len(tiles) * (height + gap) - gap), "white")
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            sheet.paste(tile, (c * (width + gap), r * (height + gap)))
    sheet = sheet.resize((sheet.width * args.scale, sheet.height * args.scale), Image.Resampling.NEAREST)
    args.target.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.target, quality=88)
    print(f"{args.target}: {sheet.width}x{sheet.height}, {args.target.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
