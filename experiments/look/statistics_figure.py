"""The README's style statistics figure: the default pair stylised with each ``style_loss``.

Runs ``python -m nst style_loss=NAME size=128 steps=100`` on the defaults for each statistic into
``--runs`` (a finished run is not run again), then writes the content, the style and the four
results side by side, each shown 2x, to ``--out``, and prints each run's final losses.

    python experiments/look/statistics_figure.py            # docs/img/style_statistics.jpg
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from nst import assets
from nst.images import read_image
from nst.statistics import NAMES

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ("size=128", "steps=100", "progress_bar=false", "image_every=0")
SHOWN = 256  # each panel's width: the 128 px results shown 2x
LABEL = 14  # pixels of caption above each panel


def run(name: str, runs: Path) -> Path:
    out = runs / name
    metrics = out / "metrics.json"
    if not (metrics.is_file() and json.loads(metrics.read_text()).get("status") == "completed"):
        command = [sys.executable, "-m", "nst", f"style_loss={name}", *SETTINGS, f"hydra.run.dir={out}"]
        subprocess.run(command, cwd=ROOT, check=True)
    loss = json.loads(metrics.read_text())["loss"]
    print(f"{name:20s} content {loss['content']:.3g}  style {loss['style']:.3g}")
    return out / "result.png"


def panel(image: Image.Image, caption: str) -> Image.Image:
    shown = image.convert("RGB").resize((SHOWN, round(SHOWN * image.height / image.width)), Image.LANCZOS)
    tile = Image.new("RGB", (SHOWN, shown.height + LABEL), "white")
    tile.paste(shown, (0, LABEL))
    ImageDraw.Draw(tile).text((2, 1), caption, fill="black")
    return tile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "outputs" / "style_statistics_figure")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "style_statistics.jpg")
    args = parser.parse_args()
    tiles = [
        panel(read_image(assets.resolve("tubingen")), "content"),
        panel(read_image(assets.resolve("starry_night")), "style"),
        *(panel(Image.open(run(name, args.runs)), f"style_loss={name}") for name in NAMES),
    ]
    gap = 4
    figure = Image.new(
        "RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), max(t.height for t in tiles)), "white"
    )
    for index, tile in enumerate(tiles):
        figure.paste(tile, (index * (SHOWN + gap), 0))
    figure.save(args.out, quality=90)
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
