"""The cost of each style statistic (style_loss=..., nst.statistics) per loss evaluation.

On real VGG-19 features (the default backbone, float32) of the default pair at each size, at every
style layer of the default (relu1_1..relu5_1): the statistic's forward (the distance of the content
photo's features to the style's target) and backward (to the features), summed over the layers; the
VGG's own forward and backward are the same for every statistic and are left out. Statistics run
interleaved, ``--repeats`` times each; the median, and its ratio to the Gram's in the same run. VGG-19's
forward and backward alone are timed beside them: a whole evaluation is that plus the statistic.

    OMP_NUM_THREADS=1 python experiments/bench/style_statistics.py --sizes 256 512 --repeats 7

(Named style_statistics.py: a statistics.py here would shadow Python's own module for the scripts
beside it.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from nst.assets import resolve
from nst.backbones import build_encoder
from nst.config import compose
from nst.images import read_image, resize_longest, to_tensor
from nst.module import fast_math
from nst.plan import backbone_plan
from nst.statistics import NAMES, make_statistic
from nst.vgg import canonical_layers


def bench_size(encoder, layers: list[str], size: int, repeats: int) -> dict[str, dict]:
    content = to_tensor(resize_longest(read_image(resolve("tubingen")), size))
    style = to_tensor(resize_longest(read_image(resolve("starry_night")), size))
    with torch.no_grad():
        features, style_features = encoder(content), encoder(style)
    leaves = {n: features[n].detach().clone().requires_grad_() for n in layers}
    cases = {}
    for name in NAMES:
        statistic = make_statistic(name, seed=0)
        targets = {n: statistic.target(style_features[n]) for n in layers}

        def evaluate(statistic=statistic, targets=targets) -> None:
            total = sum(statistic.distance(leaves[n], targets[n], n) for n in layers)
            total.backward()

        evaluate()  # warm-up (and sliced_wasserstein's target projections, cached once per draw)
        cases[name] = evaluate
    image = content.clone().requires_grad_()

    def backbone() -> None:  # what every statistic's evaluation adds: VGG's forward and backward
        features = encoder(image)
        sum(features[n].mean() for n in layers).backward()

    backbone()
    cases["vgg"] = backbone
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):  # interleaved: a noisy neighbour slows every statistic alike
        for name, evaluate in cases.items():
            start = time.perf_counter()
            evaluate()
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    gram, vgg = median["gram"], median.pop("vgg")
    rows = {
        name: {
            "median_s": round(m, 5),
            "ratio_to_gram": round(m / gram, 2),
            "evaluation_s": round(vgg + m, 5),  # with VGG-19's forward and backward
            "evaluation_ratio_to_gram": round((vgg + m) / (vgg + gram), 2),
        }
        for name, m in median.items()
    }
    return rows | {"vgg": {"median_s": round(vgg, 5)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default="bench/style_statistics.json")
    args = parser.parse_args()
    fast_math(torch.device("cpu"))
    cfg = compose([])
    backbone = replace(backbone_plan(cfg.backbone), precision="fp32")
    layers = canonical_layers(list(cfg.style_layers), backbone.arch, backbone.name)
    encoder = build_encoder(backbone, layers)
    report = {
        "threads": torch.get_num_threads(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3] if os.path.exists("/proc/loadavg") else None,
        "layers": layers,
        "sizes": {},
    }
    for size in args.sizes:
        report["sizes"][size] = rows = bench_size(encoder, layers, size, args.repeats)
        print(f"{size} px (median of {args.repeats}; forward + backward of the statistic, all style layers)")
        for name, row in rows.items():
            if name == "vgg":
                print(f"  VGG-19 forward + backward alone: {row['median_s'] * 1000:.1f} ms")
                continue
            print(
                f"  {name:20s} {row['median_s'] * 1000:9.1f} ms  {row['ratio_to_gram']:5.2f}x gram   whole "
                f"evaluation {row['evaluation_s'] * 1000:9.1f} ms  {row['evaluation_ratio_to_gram']:5.2f}x"
            )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
