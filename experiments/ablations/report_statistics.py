"""Sections 7-8 of the report, the style statistics (``style_loss``): texture synthesis from white noise
with each statistic on two layer sets, and style transfer on two gallery pairs with each statistic.

Every result is cross-evaluated: scored by every statistic (nst.statistics) at the same fixed
evaluation layers (GRAM_EVAL_LAYERS of the run's backbone, fp32), so that no statistic is judged only
by its own yardstick. The sliced Wasserstein yardstick draws its own directions, 4x the channels from a
fixed seed: never those a run optimised against. Each distance is given relative to a baseline's
(white noise for the textures, the content photo for the transfers): 1.0 = no closer than it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from statistics import mean, median
from typing import Any

import torch
import torch.nn.functional as F
from report_figures import grid
from report_jobs import Job, gram_encoder, noise_like, reference, setting
from report_tables import table

from nst.quality import GRAM_EVAL_LAYERS, ssim
from nst.statistics import NAMES, SlicedWasserstein, Statistic, make_statistic

EVAL_DIRECTIONS = 4  # the sliced Wasserstein yardstick: 4 C directions per layer of C channels
EVAL_SEED = 20_210_613  # its directions' seed: no run's (a run draws from its own `seed`, 0 or 1)
LAYER_SETS = {"report": "conv_1..conv_4", "gatys": "relu1_1..relu5_1"}  # the study's `layers` choices
LAYOUT_EDGE = 12  # the layout check's thumbnails: the longer side, in pixels
COPY_R = 0.5  # a row whose mean layout r is above this copies the exemplar's composition


class FixedSlices(SlicedWasserstein):
    """Sliced Wasserstein with EVAL_DIRECTIONS x C fixed unit directions per layer (a yardstick)."""

    def directions(self, channels: int, layer: str, device: torch.device) -> torch.Tensor:
        generator = torch.Generator().manual_seed(EVAL_SEED + zlib.crc32(layer.encode()))
        rows = torch.randn(EVAL_DIRECTIONS * channels, channels, generator=generator)
        return F.normalize(rows, dim=1).to(device)


def yardsticks() -> dict[str, Statistic]:
    """One scorer per statistic; each call a fresh one (the sliced one caches its target's quantiles)."""
    return {name: FixedSlices() if name == "sliced_wasserstein" else make_statistic(name) for name in NAMES}


class Scorer:
    """A reference image's statistics at the fixed evaluation layers, and any image's distances to them.

    A distance is the square root of the statistic's per-layer value (each is a squared distance),
    divided by the baseline image's at that layer, then averaged over the layers: 1.0 = the baseline.
    """

    def __init__(self, encoder: torch.nn.Module, target: torch.Tensor, baseline: torch.Tensor) -> None:
        self.encoder, self.statistics = encoder, yardsticks()
        with torch.no_grad():
            features = encoder(target)
        self.targets = {
            (name, layer): stat.target(features[layer])
            for name, stat in self.statistics.items()
            for layer in encoder.layers
        }
        self.baseline = self.absolute(baseline)

    @torch.no_grad()
    def absolute(self, image: torch.Tensor) -> dict[tuple[str, str], float]:
        features = self.encoder(image)
        return {
            (name, layer): float(
                stat.distance(features[layer], self.targets[name, layer], layer).clamp_min(0).sqrt()
            )
            for name, stat in self.statistics.items()
            for layer in self.encoder.layers
        }

    def relative(self, image: torch.Tensor) -> dict[str, float]:
        """Per statistic: the mean over layers of the distance relative to the baseline's."""
        values = self.absolute(image)
        return {
            name: mean(values[name, layer] / self.baseline[name, layer] for layer in self.encoder.layers)
            for name in self.statistics
        }


def layout_correlation(image: torch.Tensor, style: torch.Tensor) -> float:
    """Pearson's r between grey thumbnails (LAYOUT_EDGE px on the longer side) of a texture and its
    exemplar, in place: near 0 for a texture that arranges the style its own way, near 1 for a copy
    of the exemplar's composition (a shifted or mirrored copy is not caught)."""
    height, width = image.shape[-2:]
    shape = (
        max(1, round(height * LAYOUT_EDGE / max(height, width))),
        max(1, round(width * LAYOUT_EDGE / max(height, width))),
    )
    thumbs = [
        F.interpolate(x.mean(1, keepdim=True), size=shape, mode="area").flatten() for x in (image, style)
    ]
    return float(torch.corrcoef(torch.stack(thumbs))[0, 1])


def statistic_of(job: Job) -> str:
    return str(job.cfg.style_loss.name)


def texture_name(job: Job) -> str:
    return str(job.cfg.ablation.texture)


def layer_set(job: Job) -> str:
    """The job's layer set, from its folder name (statistic+layers+style+seed, the study's subdir)."""
    return LAYER_SETS[job.name.split("+")[1]]


def seconds_per_evaluation(jobs: list[Job]) -> float:
    """The median over the jobs of each job's seconds per loss evaluation (metrics.json)."""
    return median(job.metrics["seconds_per_evaluation"] for job in jobs)


def mean_scores(scores: list[dict[str, float]]) -> dict[str, float]:
    return {name: mean(score[name] for score in scores) for name in scores[0]}


def group_means(
    jobs: list[Job], scores: dict[str, dict[str, float]], key: Callable[[Job], tuple]
) -> dict[tuple, dict[str, float]]:
    """The jobs' mean scores per group (``key``), in the jobs' order."""
    groups: dict[tuple, list[dict[str, float]]] = {}
    for job in jobs:
        groups.setdefault(key(job), []).append(scores[job.name])
    return {group: mean_scores(members) for group, members in groups.items()}


def texture_scores(jobs: list[Job]) -> dict[str, dict[str, float]]:
    """Every job's cross-evaluation against its style, relative to its own white-noise start, and the
    correlation of its layout with the style's (``layout``)."""
    encoder, scorers, scores = gram_encoder(jobs[0]), {}, {}
    for job in jobs:
        key = (texture_name(job), int(job.cfg.seed))
        if key not in scorers:
            scorers[key] = Scorer(encoder, reference(job, "style"), noise_like(job))
        scores[job.name] = scorers[key].relative(job.image)
        scores[job.name]["layout"] = layout_correlation(job.image, reference(job, "style"))
    return scores


def texture_figure(jobs: list[Job], out: Path) -> None:
    """Rows: the style images, then one row per statistic; columns: style x layer set (seed 0)."""
    shown = [job for job in jobs if int(job.cfg.seed) == min(int(j.cfg.seed) for j in jobs)]
    columns = list(dict.fromkeys((texture_name(job), layer_set(job)) for job in shown))
    styles = {texture_name(job): reference(job, "style") for job in shown}
    panels = [(f"style: {style}\n(for {layers})", styles[style]) for style, layers in columns]
    for name in NAMES:
        by_column = {(texture_name(j), layer_set(j)): j for j in shown if statistic_of(j) == name}
        panels += [
            (
                f"{name}\n{style}, {layers}",
                by_column[style, layers].image if (style, layers) in by_column else None,
            )
            for style, layers in columns
        ]
    grid(panels, out / "style_statistics.png", columns=len(columns))


def style_statistics(jobs: list[Job], out: Path) -> tuple[str, dict[str, Any]]:
    scores = texture_scores(jobs)
    texture_figure(jobs, out)
    table_numbers: dict[str, dict[str, dict[str, float]]] = {}
    seconds: dict[str, dict[str, float]] = {}
    rows = []
    for layers in LAYER_SETS.values():
        for name in NAMES:
            chosen = [j for j in jobs if statistic_of(j) == name and layer_set(j) == layers]
            if not chosen:
                continue
            averaged = table_numbers.setdefault(layers, {})[name] = mean_scores(
                [scores[j.name] for j in chosen]
            )
            speed = seconds.setdefault(layers, {})[name] = seconds_per_evaluation(chosen)
            rows.append([name, layers, *[averaged[y] for y in NAMES], averaged["layout"], speed, len(chosen)])
    per_style = group_means(jobs, scores, lambda j: (statistic_of(j), layer_set(j), texture_name(j)))
    numbers: dict[str, Any] = {
        "cross_evaluation": table_numbers,
        "cross_evaluation_per_style": {" / ".join(group): values for group, values in per_style.items()},
        "seconds_per_evaluation": seconds,
        "evaluation_layers": list(GRAM_EVAL_LAYERS),
        "evaluation_directions_per_channel": EVAL_DIRECTIONS,
        "styles": list(dict.fromkeys(texture_name(j) for j in jobs)),
        "seeds": sorted({int(j.cfg.seed) for j in jobs}),
        "per_job": scores,
    }
    distances = [f"{n} distance" for n in NAMES]
    header = ["run's statistic", "run's layers", *distances, "layout r", "s/evaluation", "results"]
    text = f"""## 7. Style statistics: texture synthesis with each statistic

![textures by statistic](style_statistics.png)

*Figure 7: texture synthesis from white noise ({setting(jobs[0])}) with each style statistic (rows:
`style_loss`, each at its calibrated scale) on the course report's layers (conv_1..conv_4) and Gatys'
(relu1_1..relu5_1); columns: style x layer set, seed {numbers["seeds"][0]}. `ihc` is a photographed
texture (stained tissue, scikit-image's `ihc.png`), the others paintings.*

Cross-evaluation: each result scored by every statistic at the fixed evaluation layers
{", ".join(GRAM_EVAL_LAYERS)} (fp32): the distance (square root of the statistic's value per layer)
relative to the white-noise start's, averaged over the layers, then over the styles
({", ".join(numbers["styles"])}) and seeds ({", ".join(map(str, numbers["seeds"]))}). 1.0 = no closer
than white noise; lower is closer. The sliced Wasserstein column uses {EVAL_DIRECTIONS} x C fixed
directions per layer (seed {EVAL_SEED}), not the C directions any run drew. A row is read across:
a statistic that is best only in its own column has learnt its own yardstick, not the texture.
layout r: Pearson's correlation between {LAYOUT_EDGE} px grey thumbnails of the result and of the style,
in place: near 0 where the texture arranges the style its own way, near 1 where it copies the
painting's composition (a statistic of the deepest layers can pin that down when the layer has fewer
positions than channels: relu5_1 of a 96 px image has 6 x 6 for 512).
s/evaluation: the median of the runs' seconds per loss evaluation (metrics.json), the statistic's
cost with the network's forward and backward pass.

{table(header, rows)}

{copies_line(table_numbers)}
"""
    return text, numbers


def copies_line(table_numbers: dict[str, dict[str, dict[str, float]]]) -> str:
    """One sentence naming the rows whose results copy the exemplar's composition (layout r > COPY_R)."""
    copies = [
        f"`{name}` on {layers} ({values['layout']:.2f})"
        for layers, rows in table_numbers.items()
        for name, values in rows.items()
        if values["layout"] > COPY_R
    ]
    if not copies:
        return f"No row copies the exemplar's composition: every layout r is at most {COPY_R}."
    return (
        f"Layout r above {COPY_R}: {', '.join(copies)}. These results reproduce the exemplar's "
        "composition in place rather than a texture of their own, so their low distances come partly "
        "from the copy."
    )


def transfer_scores(jobs: list[Job]) -> dict[str, dict[str, float]]:
    """Every transfer's cross-evaluation against its style, relative to its content photo's, and SSIM."""
    encoder, scorers, scores = gram_encoder(jobs[0]), {}, {}
    for job in jobs:
        content = reference(job, "content")
        key = (str(job.cfg.content), str(job.cfg.style))
        if key not in scorers:
            scorers[key] = Scorer(encoder, reference(job, "style"), content)
        scores[job.name] = scorers[key].relative(job.image) | {"ssim_to_photo": ssim(job.image, content)}
    return scores


def style_statistics_transfer(jobs: list[Job], out: Path) -> tuple[str, dict[str, Any]]:
    scores = transfer_scores(jobs)
    pairs = list(dict.fromkeys((str(j.cfg.content), str(j.cfg.style)) for j in jobs))
    panels = []
    for content, style in pairs:
        pair_jobs = [j for j in jobs if (str(j.cfg.content), str(j.cfg.style)) == (content, style)]
        panels += [(f"content: {content}", reference(pair_jobs[0], "content"))]
        panels += [(f"style: {style}", reference(pair_jobs[0], "style"))]
        panels += [
            (f"{statistic_of(j)}\nSSIM {scores[j.name]['ssim_to_photo']:.2f}", j.image) for j in pair_jobs
        ]
    grid(panels, out / "style_statistics_transfer.png", columns=len(panels) // len(pairs))
    averaged = {
        name: mean_scores([scores[j.name] for j in jobs if statistic_of(j) == name])
        for name in NAMES
        if any(statistic_of(j) == name for j in jobs)
    }
    seconds = {
        name: seconds_per_evaluation([j for j in jobs if statistic_of(j) == name]) for name in averaged
    }
    rows = [
        [name, *[values[y] for y in NAMES], values["ssim_to_photo"], seconds[name]]
        for name, values in averaged.items()
    ]
    numbers = {"cross_evaluation": averaged, "seconds_per_evaluation": seconds, "per_job": scores}
    header = ["run's statistic", *[f"{n} distance" for n in NAMES], "SSIM to photo", "s/evaluation"]
    text = f"""## 8. Style statistics in style transfer

![style transfer by statistic](style_statistics_transfer.png)

*Figure 8: the gallery's setting (content conv_3+conv_4, style conv_1..conv_4, its style weight;
{setting(jobs[0])}) with each style statistic, on {len(pairs)} of its pairs.*

Cross-evaluation as in section 7, each distance relative to the content photo's distance to the style
(1.0 = no more stylised than the photo), averaged over the pairs; SSIM to the photo (1 = unchanged).

{table(header, rows)}
"""
    return text, numbers
