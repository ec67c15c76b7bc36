"""docs/img/precision_pairs.jpg: is `backbone.precision=auto` (bf16 here) as good as fp32? Three pairs.

    .venv/bin/python scripts/precision_pairs.py [--size 256] [--steps 300] [--out FILE.jpg]

Each content x style pair runs twice with the product's defaults, once with ``backbone.precision=fp32``
and once with ``bf16``; both results (clamped, as saved) are then scored by the same float32 loss.
Prints a markdown table (wall time, float32 loss, the bf16/fp32 ratios) and writes one figure row
per pair: fp32 result, bf16 result, 4x amplified absolute difference.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments" / "bench"))
from problem import make_problem  # noqa: E402
from race import judge  # noqa: E402

from nst import stylize  # noqa: E402
from nst.images import to_tensor  # noqa: E402

PAIRS = (("tubingen", "starry_night"), ("golden_gate", "the_scream"), ("golden_gate", "frida_kahlo"))


def run_pair(content: str, style: str, args: argparse.Namespace, folder: Path) -> dict:
    row: dict = {"pair": f"{content} x {style}"}
    # The float32 loss (vgg19, the default layers and weights) of this pair: the race's judge.
    pair = [f"content={content}", f"style={style}"]
    loss = judge(make_problem("vgg19", args.size, torch.device("cpu"), pair))
    for precision in ("fp32", "bf16"):
        run_dir = folder / f"{content}-{style}-{precision}"
        started = time.perf_counter()
        image = stylize(
            content,
            style,
            size=args.size,
            steps=args.steps,
            backbone={"precision": precision},
            run_dir=run_dir,
        )
        row[f"{precision}_seconds"] = time.perf_counter() - started
        row[f"{precision}_image"] = np.asarray(image)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        row[f"{precision}_recorded"] = metrics["precision"]
        tensor = to_tensor(image)  # 1x3xHxW
        row[f"{precision}_loss"] = loss(tensor)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default="docs/img/precision_pairs.jpg")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_pair(c, s, args, Path(tmp)) for c, s in PAIRS]
    print("| pair | fp32 wall | bf16 wall | speed-up | fp32 loss | bf16 loss | bf16 / fp32 loss |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['pair']} | {r['fp32_seconds']:.1f} s | {r['bf16_seconds']:.1f} s | "
            f"{r['fp32_seconds'] / r['bf16_seconds']:.2f}x | {r['fp32_loss']:.4g} | {r['bf16_loss']:.4g} | "
            f"{r['bf16_loss'] / r['fp32_loss']:.3f} |"
        )
    figure, axes = plt.subplots(len(rows), 3, figsize=(9, 2.6 * len(rows)), squeeze=False)
    for row_axes, r in zip(axes, rows):
        difference = np.abs(r["fp32_image"].astype(float) - r["bf16_image"].astype(float)) * 4
        panels = (
            (r["fp32_image"], f"{r['pair']}\nfp32: loss {r['fp32_loss']:.4g}"),
            (r["bf16_image"], f"bf16: loss {r['bf16_loss']:.4g}"),
            (np.clip(difference, 0, 255).astype(np.uint8), "|fp32 - bf16| x 4"),
        )
        for ax, (picture, title) in zip(row_axes, panels):
            ax.imshow(picture)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    figure.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=110, pil_kwargs={"quality": 88})
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
