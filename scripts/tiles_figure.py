"""docs/img/tiles_2048.jpg: a tiled print-size result, whole and as a full-resolution crop at a seam.

    .venv/bin/python -m nst size=2048 tile=512 hydra.run.dir=runs/tiles_2048 ...
    .venv/bin/python scripts/tiles_figure.py runs/tiles_2048 [--crop 512] [--out docs/img/tiles_2048.jpg]

Left: the whole result, downscaled, with its tile grid drawn (thin lines where tiles begin) and the
crop's frame. Right: the crop at full resolution (1:1), centred where four tiles meet, the tile starts
marked by ticks outside the picture only, so that any seam in it is the result's own.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw

from nst.tiles import grid

LINE, FRAME = (255, 255, 255), (255, 64, 64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the run folder of a tiled result (result.png, metrics.json)")
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("--out", type=Path, default=Path("docs/img/tiles_2048.jpg"))
    args = parser.parse_args()
    metrics = json.loads((args.run / "metrics.json").read_text())
    result = Image.open(args.run / "result.png").convert("RGB")
    boxes = grid((result.height, result.width), metrics["tile"], metrics["tile_overlap"])
    columns = sorted({b.left for b in boxes if b.left})
    rows = sorted({b.top for b in boxes if b.top})
    inner = next(b for b in boxes if b.left == columns[len(columns) // 2] and b.top == rows[len(rows) // 2])
    # Centred on the middle of the blended band of the most central tile: where seams would show.
    cx, cy = inner.left + inner.ramp_left // 2, inner.top + inner.ramp_top // 2
    half = args.crop // 2
    x0, y0 = max(0, cx - half), max(0, cy - half)
    crop = result.crop((x0, y0, x0 + args.crop, y0 + args.crop))

    scale = args.crop / result.height  # the overview is as high as the crop
    overview = result.resize((round(result.width * scale), args.crop), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(overview)
    for x in columns:
        draw.line([(x * scale, 0), (x * scale, overview.height)], fill=LINE, width=1)
    for y in rows:
        draw.line([(0, y * scale), (overview.width, y * scale)], fill=LINE, width=1)
    draw.rectangle(
        [x0 * scale, y0 * scale, (x0 + args.crop) * scale, (y0 + args.crop) * scale], outline=FRAME, width=3
    )

    margin = 12
    figure = Image.new(
        "RGB", (overview.width + 2 * margin + args.crop, overview.height + margin), (255, 255, 255)
    )
    figure.paste(overview, (0, 0))
    left = overview.width + margin
    figure.paste(crop, (left + margin, margin))
    ticks = ImageDraw.Draw(figure)
    for x in [c for c in columns if x0 < c < x0 + args.crop] + [inner.left + inner.ramp_left]:
        ticks.line([(left + margin + x - x0, 0), (left + margin + x - x0, margin - 2)], fill=FRAME, width=3)
    for y in [r for r in rows if y0 < r < y0 + args.crop] + [inner.top + inner.ramp_top]:
        ticks.line([(left, margin + y - y0), (left + margin - 2, margin + y - y0)], fill=FRAME, width=3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.save(args.out, quality=88)
    print(
        f"{args.out}: {figure.width}x{figure.height}, crop {args.crop} px at ({x0}, {y0}) at full resolution"
    )


if __name__ == "__main__":
    main()
