"""A contact sheet of run results: rows of images, each shown at the same display height, captioned.

    .venv/bin/python scripts/sheet_figure.py --out docs/img/strength.jpg \\
        --row "tubingen x starry_night" runs/s0:"strength 0" runs/s1:"strength 1" ...

Each cell is RUN_DIR:CAPTION (RUN_DIR/result.png, or an image file); a larger result is downsampled
to the display height, so sizes are compared as a viewer at one display size sees them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

CAPTION = 18


def cell(spec: str, height: int) -> tuple[Image.Image, str]:
    path, _, caption = spec.partition(":")
    source = Path(path)
    return fit(
        Image.open(source / "result.png" if source.is_dir() else source).convert("RGB"), height
    ), caption


def fit(image: Image.Image, height: int) -> Image.Image:
    """``image`` at the display height (Lanczos), its aspect ratio kept."""
    width = round(image.width * height / image.height)
    return image.resize((width, height), Image.Resampling.LANCZOS)


def sheet(
    rows: list[tuple[str, list[tuple[Image.Image, str]]]], height: int, label_width: int = 0
) -> Image.Image:
    """Rows of (label, [(image at ``height``, caption), ...]), each cell captioned above it."""
    gap = 4
    width = label_width + max(sum(im.width + gap for im, _ in cells) for _, cells in rows)
    page = Image.new("RGB", (width, len(rows) * (height + CAPTION + gap)), "white")
    draw = ImageDraw.Draw(page)
    for r, (label, cells) in enumerate(rows):
        top = r * (height + CAPTION + gap)
        if label_width:
            draw.text((4, top + CAPTION + height // 2), label, fill="black")
        left = label_width
        for image, caption in cells:
            draw.text((left + 2, top + 3), caption, fill="black")
            page.paste(image, (left, top + CAPTION))
            left += image.width + gap
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--row", nargs="+", action="append", required=True, metavar="LABEL CELL",
                        help="a row: its label, then RUN_DIR:CAPTION cells")  # fmt: skip
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--label-width", type=int, default=0, help="px for the row labels (0: none)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = [(row[0], [cell(spec, args.height) for spec in row[1:]]) for row in args.row]
    page = sheet(rows, args.height, args.label_width)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    page.save(args.out, quality=88)
    print(args.out)


if __name__ == "__main__":
    main()
