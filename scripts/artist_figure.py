"""docs/img/artist_features.jpg: preserve_color, several styles and masks, made with the Python API.

    .venv/bin/python scripts/artist_figure.py [--size 192] [--steps 150] [--out docs/img/artist_features.jpg]

One row of panels: the photo, the two paintings, then one result per feature, each titled with the
settings that made it. Every result is a `stylize()` call with the defaults (vgg19) plus those settings.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from nst import stylize  # noqa: E402
from nst.assets import resolve  # noqa: E402

PHOTO, FIRST, SECOND = "tubingen", "starry_night", "the_scream"


def halves_masks(folder: Path) -> tuple[str, str]:
    """Left (sky side) and right halves, with a soft 10% seam."""
    width, height = 400, 300
    ramp = np.clip((np.arange(width) - 0.45 * width) / (0.1 * width), 0, 1)
    right = np.tile(ramp, (height, 1))
    paths = folder / "left.png", folder / "right.png"
    Image.fromarray(((1 - right) * 255).astype(np.uint8)).save(paths[0])
    Image.fromarray((right * 255).astype(np.uint8)).save(paths[1])
    return str(paths[0]), str(paths[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--out", type=Path, default=Path("docs/img/artist_features.jpg"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        left, right = halves_masks(Path(scratch))
        runs = [
            ("style transfer", {}),
            # Grey statistics differ less than colour ones: the same strength takes ~10x the weight.
            (
                "preserve_color=luminance\nstyle_weight=10",
                {"preserve_color": "luminance", "style_weight": 10},
            ),  # noqa: E501
            ("preserve_color=histogram", {"preserve_color": "histogram"}),
            ("style=[starry_night,the_scream]\nstyle_blend=[0.5,0.5]", {"style": [FIRST, SECOND]}),
            ("style_masks=[left,right]", {"style": [FIRST, SECOND], "style_masks": [left, right]}),
        ]
        panels = [(PHOTO, Image.open(resolve(PHOTO))), (FIRST, Image.open(resolve(FIRST))),
                  (SECOND, Image.open(resolve(SECOND)))]  # fmt: skip
        for title, settings in runs:
            settings = {"style": FIRST, **settings}
            started = time.perf_counter()
            image = stylize(PHOTO, size=args.size, steps=args.steps, **settings)
            print(f"{title.replace(chr(10), ' ')}: {time.perf_counter() - started:.0f} s")
            panels.append((title, image))
    figure, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.6))
    for axis, (title, image) in zip(axes, panels):
        axis.imshow(np.asarray(image.convert("RGB")))
        axis.set_title(title, fontsize=8)
        axis.axis("off")
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=110, pil_kwargs={"quality": 90})
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
