"""sliced_wasserstein's ``redraw_every``: which direction schedule synthesises a texture best.

Texture synthesis (``content=null``) of a style at 64 px from the same noise, once per
``redraw_every`` (and optimiser), each result scored by the same judge: the sliced Wasserstein distance
to the style at the default style layers, averaged over 8 sets of directions none of the runs drew
(seed 999). Lower is better.

    python experiments/bench/redraw.py --steps 100 --every 1 5 25 0
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from nst import stylize
from nst.assets import resolve
from nst.backbones import build_encoder
from nst.config import compose
from nst.images import read_image, resize_longest, to_tensor
from nst.plan import backbone_plan
from nst.statistics import SlicedWasserstein
from nst.vgg import canonical_layers


def judge(encoder, layers: list[str], image: torch.Tensor, style: torch.Tensor, draws: int = 8) -> float:
    """Sliced W2 to the style over ``draws`` direction sets of a seed no run uses, summed over layers."""
    statistic = SlicedWasserstein(seed=999, redraw_every=1)
    with torch.no_grad():
        features, target = encoder(image), encoder(style)
        total = 0.0
        for draw in range(draws):
            statistic.step = draw
            for name in layers:
                total += float(statistic.distance(features[name], statistic.target(target[name]), name))
    return total / draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="starry_night")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--every", type=int, nargs="+", default=[1, 5, 25, 0])
    parser.add_argument("--optimizers", nargs="+", default=["lbfgs_device"])
    parser.add_argument("--out", default="bench/redraw.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = compose([])
    backbone = backbone_plan(cfg.backbone)
    layers = canonical_layers(list(cfg.style_layers), backbone.arch, backbone.name)
    encoder = build_encoder(backbone, layers)
    style = to_tensor(resize_longest(read_image(resolve(args.style)), args.size))
    rows = []
    for optimizer in args.optimizers:
        for every in args.every:
            started = time.perf_counter()
            with tempfile.TemporaryDirectory() as scratch:
                result = stylize(
                    None, args.style, size=args.size, steps=args.steps, run_dir=Path(scratch) / "run",
                    style_loss="sliced_wasserstein", optimizer=optimizer,
                    **{"style_loss.redraw_every": every},
                )  # fmt: skip
            image = to_tensor(result)
            distance = judge(encoder, layers, image, style)
            seconds = round(time.perf_counter() - started, 1)
            row = {"optimizer": optimizer, "redraw_every": every, "distance": distance, "seconds": seconds}
            rows.append(row)
            print(json.dumps(rows[-1]), flush=True)
    start = judge(encoder, layers, torch.rand_like(style[..., : image.shape[-2], : image.shape[-1]]), style)
    print(json.dumps({"noise": start}))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows, "noise": start}, indent=1))


if __name__ == "__main__":
    main()
