"""One region of a multi-scale run at every scale it kept, each enlarged to the full result's pixels.

    python experiments/look/crop.py RUN_DIR OUT.jpg [--at 0.42 0.30] [--box 384 288]

RUN_DIR is a run folder of a size > working_size run (``result.png`` and ``scales/<N>px.png``).
The sheet shows the same region of the picture at each scale, left to right, so that the detail
each refinement adds can be seen at full resolution.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from PIL import Image, ImageDraw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder with result.png and scales/")
    parser.add_argument("out", type=Path, help="the sheet to write (.jpg or .png)")
    parser.add_argument(
        "--at",
        type=float,
        nargs=2,
        default=(0.42, 0.30),
        metavar=("X", "Y"),
        help="the region's top-left corner, as fractions of the result's width and height",
    )
    parser.add_argument(
        "--box",
        type=int,
        nargs=2,
        default=(384, 288),
        metavar=("W", "H"),
        help="the region's size in the full result's pixels",
    )
    args = parser.parse_args(argv)

    result = args.run / "result.png"
    if not result.is_file():
        print(f"error: {result} not found (give a run folder)", file=sys.stderr)
        return 2
    big = Image.open(result).convert("RGB")
    w, h = args.box
    x, y = round(big.width * args.at[0]), round(big.height * args.at[1])
    if not (0 <= x and 0 <= y and x + w <= big.width and y + h <= big.height):
        print(
            f"error: the region {w}x{h} at ({x}, {y}) leaves the {big.width}x{big.height} result",
            file=sys.stderr,
        )
        return 2
    region = (x, y, x + w, y + h)

    scales = sorted(  # (size, path), smallest first: 512px after 64px, by number not by name
        (int(m.group(1)), path)
        for path in (args.run / "scales").glob("*px.png")
        if (m := re.fullmatch(r"(\d+)px", path.stem))
    )
    if args.out.resolve() in {result.resolve(), *(path.resolve() for _, path in scales)}:
        print(f"error: {args.out} is one of the run's own images; give another path", file=sys.stderr)
        return 2
    cells = []
    for size, path in scales:
        im = Image.open(path).convert("RGB")
        f = im.width / big.width
        crop = im.crop(tuple(round(v * f) for v in region)).resize((w, h), Image.Resampling.LANCZOS)
        cells.append((f"{size} px", crop))
    cells.append((f"{max(big.size)} px (result)", big.crop(region)))

    sheet = Image.new("RGB", (len(cells) * (w + 4) - 4, h + 22), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, crop) in enumerate(cells):
        sheet.paste(crop, (i * (w + 4), 22))
        draw.text((i * (w + 4) + 4, 5), label, fill="black")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=90)
    print(f"{args.out}: {len(cells)} scales, region {region} of {big.width}x{big.height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
