"""docs/img/video_strip.jpg: consecutive frames of measure.py's clip, its frames stylised independently
and with video mode, one row each.

    python experiments/video/strip.py /tmp/video_measure docs/img/video_strip.jpg --video tw1e7
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("measured", type=Path, help="measure.py's --out folder")
    parser.add_argument("target", type=Path)
    parser.add_argument("--video", default="default", help="the setting shown as video mode")
    parser.add_argument("--first", type=int, default=3)
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--scale", type=int, default=2, help="enlarge by this factor (nearest)")
    args = parser.parse_args()
    names = [f"frame_{i:05d}.png" for i in range(args.first, args.first + args.count)]
    rows = [args.measured / "default" / "input", args.measured / "independent" / "frames"]
    rows.append(args.measured / args.video / "frames")
    tiles = [[Image.open(row / name).convert("RGB") for name in names] for row in rows]
    width, height = tiles[0][0].size
    gap = 4
    sheet = Image.new("RGB", (args.count * (width + gap) - gap, len(rows) * (height + gap) - gap), "white")
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            sheet.paste(tile, (c * (width + gap), r * (height + gap)))
    sheet = sheet.resize((sheet.width * args.scale, sheet.height * args.scale), Image.Resampling.NEAREST)
    args.target.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.target, quality=88)
    print(f"{args.target}: {sheet.width}x{sheet.height}, {args.target.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
