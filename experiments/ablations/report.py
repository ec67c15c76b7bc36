"""Build the ablation report (Markdown + PNG figures + summary.json) from the sweep outputs alone.

python experiments/ablations/report.py --runs multirun/ablations/vgg19 --out experiments/ablations/vgg19
python experiments/ablations/report.py --studies   # conf/ablation's studies in section order (make's list)

Every number is computed here from each job's result.png, metrics.json, .hydra/config.yaml and
TensorBoard events; nothing is typed in. The README opens with the course report's claims, each
judged by the rule of its `claim_*` function (also in summary.json under "claims").
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402
from PIL import Image  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from nst import assets  # noqa: E402
from nst.backbones import build_encoder  # noqa: E402
from nst.config import CONF_DIR, validated  # noqa: E402
from nst.images import load_image, noise_image, read_image, resize_longest, style_edge, to_tensor  # noqa: E402
from nst.losses import gram_matrix  # noqa: E402
from nst.plan import make_plan  # noqa: E402
from nst.quality import (  # noqa: E402
    GRAM_EVAL_LAYERS,
    gram_distances,
    mean_abs_difference,
    mean_gram_distance,
    psnr,
    ssim,
)
from nst.vgg import canonical_layers  # noqa: E402

DIFF_SCALE = 0.5  # difference images map 0..0.5 (half the pixel range) onto the colour scale


@dataclass
class Job:
    """One finished job of a sweep: its name (the sweep subdir), config, metrics and image."""

    name: str
    path: Path
    num: int
    cfg: DictConfig
    metrics: dict[str, Any]
    image: torch.Tensor
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)


def load_job(path: Path) -> Job | None:
    metrics_file = path / "metrics.json"
    if not metrics_file.is_file() or not (path / "result.png").is_file():
        return None
    metrics = json.loads(metrics_file.read_text())
    if metrics.get("status") != "completed":
        return None
    hydra_cfg = OmegaConf.load(path / ".hydra" / "hydra.yaml")
    image = to_tensor(Image.open(path / "result.png").convert("RGB"))
    return Job(
        path.name,
        path,
        int(hydra_cfg.hydra.job.num),
        OmegaConf.load(path / ".hydra" / "config.yaml"),
        metrics,
        image,
    )


def read_curves(job: Job) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the job's TensorBoard events, as (step, value) pairs."""
    events = EventAccumulator(str(job.path / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def load_study(root: Path) -> list[Job]:
    jobs = [job for d in sorted(root.iterdir()) if d.is_dir() and (job := load_job(d))]
    for job in jobs:
        job.curves = read_curves(job)
    return sorted(jobs, key=lambda job: job.num)  # sweep order: layer groups shallow to deep


def reference(job: Job, key: str) -> torch.Tensor:
    """The job's content or style image at the size the job used, read as the engine read it."""
    path = job.metrics.get(key) or str(assets.resolve(job.cfg[key]))
    size = int(job.metrics["size"])
    if key == "style":  # as Sources.at: style_scale x size, never above the style's own size
        image = read_image(path)
        return to_tensor(
            resize_longest(image, style_edge(size, float(job.metrics["style_scale"]), max(image.size)))
        )
    return load_image(path, size)


def noise_like(job: Job) -> torch.Tensor:
    """The job's white-noise starting image (the engine's own seeded noise)."""
    return noise_image(tuple(job.image.shape[-2:]), int(job.cfg.seed))


def gram_encoder(job: Job) -> torch.nn.Module:
    """The job's backbone, as the engine plans it from the saved config, at the Gram evaluation layers."""
    backbone = make_plan(validated(job.cfg), Path(tempfile.gettempdir())).backbone
    layers = canonical_layers(list(GRAM_EVAL_LAYERS), backbone.arch, backbone.name)
    return build_encoder(backbone, layers)


# ---------------------------------------------------------------- figures


def to_numpy(image: torch.Tensor):
    return image[0].clamp(0, 1).permute(1, 2, 0).numpy()


def grid(
    panels: list[tuple[str, Any]], path: Path, columns: int | None = None, cmap: str | None = None
) -> None:
    """A row-major grid of images, each titled; a 2-D array panel is drawn with ``cmap``."""
    columns = columns or len(panels)
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.3 * columns, 2.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, image) in zip(axes.flat, panels):
        if image is None:
            continue
        if isinstance(image, torch.Tensor):
            ax.imshow(to_numpy(image))
        else:
            shown = ax.imshow(image, cmap=cmap, vmin=0, vmax=DIFF_SCALE)
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def curves_plot(jobs: list[Job], tag: str, path: Path, ylabel: str) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for job in jobs:
        points = job.curves.get(tag, [])
        if points:
            ax.plot([s for s, _ in points], [max(v, 1e-12) for _, v in points], label=job.name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def difference_map(a: torch.Tensor, b: torch.Tensor):
    """Per-pixel absolute difference, averaged over RGB."""
    return (a.clamp(0, 1) - b.clamp(0, 1)).abs().mean(1)[0].numpy()


# ---------------------------------------------------------------- studies


def setting(job: Job) -> str:
    m = job.metrics
    optimizer = (
        "L-BFGS (strong Wolfe)" if job.cfg.optimizer.get("line_search_fn") else "L-BFGS (no line search)"
    )
    return f"{m['backbone']}, {m['size']} px, {m['steps']} steps of {optimizer}, {m['init']} init"


def table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def content_layers(jobs: list[Job], out: Path) -> tuple[str, dict[str, Any]]:
    content = reference(jobs[0], "content")
    rows, numbers, panels = [], {}, [("content photo", content)]
    for job in jobs:
        score = {"psnr_db": psnr(job.image, content), "ssim": ssim(job.image, content)}
        numbers[job.name] = score | {"content_loss": job.metrics["loss"]["content"]}
        panels.append((f"{job.name}\nPSNR {score['psnr_db']:.1f} dB, SSIM {score['ssim']:.2f}", job.image))
        layers = ", ".join(job.metrics["content_layers"])
        rows.append(
            [
                job.name,
                layers,
                score["psnr_db"],
                score["ssim"],
                job.metrics["loss"]["content"],
                job.metrics["wall_seconds"],
            ]
        )
    grid(panels, out / "content_layers.png", columns=min(len(panels), 4))
    curves_plot(jobs, "loss/content", out / "content_layers_curves.png", "content loss")
    first, last = jobs[0].name, jobs[-1].name
    text = f"""## 1. Content reconstruction by layer group

![content reconstruction](content_layers.png)

*Figure 1: reconstructing `{jobs[0].cfg.content}` from white noise with the content loss at one layer group
({setting(jobs[0])}). PSNR falls from {numbers[first]["psnr_db"]:.1f} dB ({first}) to
{numbers[last]["psnr_db"]:.1f} dB ({last}): deeper layers keep the layout and lose the exact pixels.*

{table(["layer group", "layers", "PSNR (dB)", "SSIM", "final content loss", "seconds"], rows)}

![content loss curves](content_layers_curves.png)

*Content loss per step for each layer group (TensorBoard tag `loss/content`).*
"""
    return text, numbers


def pair_numbers(a: Job, b: Job) -> dict[str, float]:
    return {
        "pixel_mean_abs_difference": mean_abs_difference(a.image, b.image),
        "psnr_between_seeds_db": psnr(a.image, b.image),
    }


def seed_grid(reference: tuple[str, Any], a: Job, b: Job, caption: Callable[[Job], str], path: Path) -> None:
    """The reference, both seeds' results (captioned) and their per-pixel difference, in one row."""
    grid(
        [
            reference,
            (f"{a.name}: {caption(a)}", a.image),
            (f"{b.name}: {caption(b)}", b.image),
            (f"|{a.name} - {b.name}|", difference_map(a.image, b.image)),
        ],
        path,
        cmap="inferno",
    )


def last_third_drop(points: list[tuple[int, float]]) -> float | None:
    """The fraction of the logged loss shed over the last third of the steps (0 = a flat curve)."""
    start = points[(2 * len(points)) // 3][1] if len(points) >= 3 else 0.0
    return 1 - points[-1][1] / start if start > 0 else None


def content_seeds(jobs: list[Job], out: Path) -> tuple[str, dict[str, Any]]:
    a, b = jobs[:2]
    content = reference(a, "content")
    numbers = pair_numbers(a, b) | {
        job.name: {
            "psnr_db": psnr(job.image, content),
            "content_loss": job.metrics["loss"]["content"],
            "content_loss_drop_last_third": last_third_drop(job.curves.get("loss/content", [])),
        }
        for job in jobs
    }
    seed_grid(
        ("content photo", content),
        a,
        b,
        lambda job: f"PSNR {numbers[job.name]['psnr_db']:.1f} dB",
        out / "content_seeds.png",
    )
    curves_plot(jobs, "loss/content", out / "content_seeds_curves.png", "content loss")
    rows = [
        [
            job.name,
            numbers[job.name]["psnr_db"],
            numbers[job.name]["content_loss"],
            numbers[job.name]["content_loss_drop_last_third"],
        ]
        for job in jobs
    ]
    layers = ", ".join(a.metrics["content_layers"])
    text = f"""## 2. Two random initialisations of content reconstruction ({layers})

![content seeds](content_seeds.png)

*Figure 2: two seeds ({setting(a)}) and their per-pixel absolute difference
(RGB mean, scale 0 to {DIFF_SCALE}).
Mean absolute difference {numbers["pixel_mean_abs_difference"]:.4f}; PSNR between the two results
{numbers["psnr_between_seeds_db"]:.1f} dB.*

{table(["seed", "PSNR vs photo (dB)", "final content loss", "loss shed in the last third"], rows)}

![content loss curves of the seeds](content_seeds_curves.png)

*Content loss per step of each seed (TensorBoard tag `loss/content`): a seed whose curve flattens far
above the other's has stalled (the last column: the fraction of the loss shed over the last third).*
"""
    return text, numbers


def texture_layers(jobs: list[Job], out: Path) -> tuple[str, dict[str, Any]]:
    style = reference(jobs[0], "style")
    encoder = gram_encoder(jobs[0])
    baseline = gram_distances(encoder, noise_like(jobs[0]), style)
    numbers: dict[str, Any] = {"white_noise": baseline | {"mean": mean_gram_distance(baseline)}}
    panels = [("style image", style)]
    for job in jobs:
        distances = gram_distances(encoder, job.image, style)
        numbers[job.name] = distances | {"mean": mean_gram_distance(distances)}
        panels.append((f"{job.name}\nGram distance {numbers[job.name]['mean']:.3f}", job.image))
    grid(panels, out / "texture_layers.png", columns=min(len(panels), 4))
    curves_plot(jobs, "loss/style", out / "texture_layers_curves.png", "style loss (own layers)")
    layers = list(baseline)
    rows = [[name, *[values[layer] for layer in layers], values["mean"]] for name, values in numbers.items()]
    best = min((name for name in numbers if name != "white_noise"), key=lambda n: numbers[n]["mean"])
    text = f"""## 3. Texture synthesis by layer group (`{jobs[0].cfg.style}`)

![texture synthesis](texture_layers.png)

*Figure 3: texture synthesis from white noise with the style loss at one layer group ({setting(jobs[0])}).
Titles give the mean relative Gram distance to the style image at the fixed evaluation layers
{", ".join(layers)} (0 = identical statistics); the white-noise start scores
{numbers["white_noise"]["mean"]:.3f},
the closest group is {best} ({numbers[best]["mean"]:.3f}).*

Relative Gram distance ||G(x) - G(style)|| / ||G(style)|| per evaluation layer:

{table(["layer group", *layers, "mean"], rows)}

![style loss curves](texture_layers_curves.png)

*Style loss per step on each job's own layers (TensorBoard tag `loss/style`; not comparable across groups).*
"""
    return text, numbers


def texture_seeds(jobs: list[Job], out: Path) -> tuple[str, dict[str, Any]]:
    a, b = jobs[:2]
    style = reference(a, "style")
    encoder = gram_encoder(a)
    noise = mean_gram_distance(gram_distances(encoder, noise_like(a), style))
    numbers: dict[str, Any] = pair_numbers(a, b) | {
        "gram_distance_between_seeds": mean_gram_distance(gram_distances(encoder, a.image, b.image)),
        "gram_distance_white_noise_to_style": noise,
        "pixel_mean_abs_difference_white_noise_starts": mean_abs_difference(noise_like(a), noise_like(b)),
    }
    for job in jobs:
        numbers[job.name] = {
            "gram_distance_to_style": mean_gram_distance(gram_distances(encoder, job.image, style))
        }
    seed_grid(
        ("style image", style),
        a,
        b,
        lambda job: f"Gram {numbers[job.name]['gram_distance_to_style']:.3f}",
        out / "texture_seeds.png",
    )
    rows = [
        ["Gram distance between the two seeds", numbers["gram_distance_between_seeds"]],
        *[
            [f"Gram distance {job.name} to style", numbers[job.name]["gram_distance_to_style"]]
            for job in jobs
        ],
        ["Gram distance white noise to style", noise],
        ["pixel mean absolute difference between seeds", numbers["pixel_mean_abs_difference"]],
        [
            "pixel mean absolute difference between the two white-noise starts",
            numbers["pixel_mean_abs_difference_white_noise_starts"],
        ],
        ["PSNR between seeds (dB)", numbers["psnr_between_seeds_db"]],
    ]
    layers = ", ".join(a.metrics["style_layers"])
    text = f"""## 4. Two random initialisations of texture synthesis (`{a.cfg.style}`, {layers})

![texture seeds](texture_seeds.png)

*Figure 4: two seeds ({setting(a)}) and their per-pixel absolute difference
(RGB mean, scale 0 to {DIFF_SCALE}).
Globally similar: their Gram statistics differ by {numbers["gram_distance_between_seeds"]:.3f} (white noise
to style: {noise:.3f}); locally different: mean absolute pixel difference
{numbers["pixel_mean_abs_difference"]:.3f}.*

{table(["measure (mean over " + ", ".join(GRAM_EVAL_LAYERS) + ")", "value"], rows)}
"""
    return text, numbers


def init_study(jobs: list[Job], out: Path) -> tuple[str, dict[str, Any]]:
    content, style = reference(jobs[0], "content"), reference(jobs[0], "style")
    numbers = {
        job.name: job.metrics["loss"]
        | {k: job.metrics[k] for k in ("wall_seconds", "seconds_per_step", "evaluations", "steps")}
        for job in jobs
    }
    panels = [("content photo", content), ("style image", style)]
    for job in jobs:
        m = numbers[job.name]
        panels.append((f"init={job.name}\nloss {m['total']:.3g}, {m['wall_seconds']:.0f} s", job.image))
    grid(panels, out / "init.png")
    curves_plot(jobs, "loss/total", out / "init_curves.png", "total loss")
    rows = [
        [
            job.name,
            m["total"],
            m["content"],
            m["style"],
            m["steps"],
            m["evaluations"],
            m["wall_seconds"],
            m["seconds_per_step"],
        ]
        for job, m in ((job, numbers[job.name]) for job in jobs)
    ]
    header = ["init", "total loss", "content loss", "style loss", "steps", "evaluations", "seconds"]
    header.append("s/step (median)")
    text = f"""## 5. Style transfer: content init vs noise init

![init study](init.png)

*Figure 5: `{jobs[0].cfg.content}` in the style of `{jobs[0].cfg.style}` started from the content photo
and from white noise, same optimizer and steps ({jobs[0].metrics["backbone"]}, {jobs[0].metrics["size"]} px).*

{table(header, rows)}

![total loss curves](init_curves.png)

*Total loss per step (TensorBoard tag `loss/total`).*
"""
    return text, numbers


def encoded_grams(encoder: torch.nn.Module, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """The image's Gram matrices at the encoder's layers (computed once, compared many times)."""
    with torch.no_grad():
        features = encoder(image)
        return {name: gram_matrix(features[name]) for name in encoder.layers}


def mean_relative_gram_distance(grams: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> float:
    """``mean_gram_distance(gram_distances(...))`` for Gram matrices already computed."""
    return mean_gram_distance(
        {
            name: float(torch.linalg.norm(grams[name] - target[name]) / torch.linalg.norm(target[name]))
            for name in target
        }
    )


def resized(image: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(image, size=like.shape[-2:], mode="bilinear", antialias=True, align_corners=False)


def report_layers(job: Job) -> dict[str, list[str]]:
    """The course report's layer choice (conf/layers/report.yaml) in the job's backbone's canonical names."""
    backbone = make_plan(validated(job.cfg), Path(tempfile.gettempdir())).backbone
    choice = OmegaConf.load(CONF_DIR / "layers" / "report.yaml")
    return {
        key: canonical_layers(list(choice[key]), backbone.arch, backbone.name)
        for key in ("content_layers", "style_layers")
    }


def gallery(jobs: list[Job], out: Path) -> tuple[str, dict[str, Any]]:
    contents = list(dict.fromkeys(str(job.cfg.content) for job in jobs))
    styles = list(dict.fromkeys(str(job.cfg.style) for job in jobs))
    by_pair = {(str(job.cfg.content), str(job.cfg.style)): job for job in jobs}
    photos = {name: reference(next(j for j in jobs if j.cfg.content == name), "content") for name in contents}
    paintings = {name: reference(next(j for j in jobs if j.cfg.style == name), "style") for name in styles}
    panels: list[tuple[str, Any]] = [("", None)]
    panels += [(name, paintings[name]) for name in styles]
    for content_name in contents:
        panels.append((content_name, photos[content_name]))
        panels += [
            (
                f"{content_name} x {s}",
                by_pair[(content_name, s)].image if (content_name, s) in by_pair else None,
            )
            for s in styles
        ]
    grid(panels, out / "gallery.png", columns=len(styles) + 1)
    # Recognisable and stylised, measured: SSIM to its own photo vs the other photos (resized to the
    # result), Gram distance to its own style vs the other styles and vs the photo's own distance.
    encoder = gram_encoder(jobs[0])
    style_grams = {name: encoded_grams(encoder, image) for name, image in paintings.items()}
    photo_grams = {name: encoded_grams(encoder, image) for name, image in photos.items()}
    numbers: dict[str, Any] = {}
    for job in jobs:
        content_name, style_name = str(job.cfg.content), str(job.cfg.style)
        grams = encoded_grams(encoder, job.image)
        to_style = {name: mean_relative_gram_distance(grams, g) for name, g in style_grams.items()}
        numbers[job.name] = (
            job.metrics["loss"]
            | {"wall_seconds": job.metrics["wall_seconds"]}
            | {
                "psnr_to_photo_db": psnr(job.image, photos[content_name]),
                "ssim_to_photo": ssim(job.image, photos[content_name]),
                "ssim_to_other_photos": max(
                    (ssim(job.image, resized(photos[c], job.image)) for c in contents if c != content_name),
                    default=None,
                ),
                "gram_distance_to_style": to_style[style_name],
                "gram_distance_to_other_styles": min(
                    (d for name, d in to_style.items() if name != style_name), default=None
                ),
                "gram_distance_photo_to_style": mean_relative_gram_distance(
                    photo_grams[content_name], style_grams[style_name]
                ),
            }
        )
    first = jobs[0].metrics
    numbers["setting"] = {  # what claim (f) compares with the course report's choice
        "content_layers": list(first["content_layers"]),
        "style_layers": list(first["style_layers"]),
        "report_layers": report_layers(jobs[0]),
        "style_weight": float(jobs[0].cfg.style_weight),
    }
    rows = [
        [
            job.cfg.content,
            job.cfg.style,
            job.metrics["loss"]["total"],
            job.metrics["loss"]["content"],
            job.metrics["loss"]["style"],
            m["psnr_to_photo_db"],
            m["ssim_to_photo"],
            m["ssim_to_other_photos"] if m["ssim_to_other_photos"] is not None else "-",
            m["gram_distance_to_style"],
            m["gram_distance_photo_to_style"],
            m["gram_distance_to_other_styles"] if m["gram_distance_to_other_styles"] is not None else "-",
            job.metrics["wall_seconds"],
        ]
        for job, m in ((job, numbers[job.name]) for job in jobs)
    ]
    header = ["content", "style", "total loss", "content loss", "style loss", "PSNR to photo (dB)"]
    header += ["SSIM to photo", "SSIM to other photo", "Gram to style", "Gram photo to style"]
    header += ["Gram to nearest other style", "seconds"]
    style_names = ", ".join(first["style_layers"])
    content_names = ", ".join(first["content_layers"])
    text = f"""## 6. Gallery

![gallery](gallery.png)

*Figure 6: every style (top row) on every content photograph (left column); {setting(jobs[0])},
Gatys et al.'s layers ({style_names} for style, {content_names} for content).*

SSIM to the job's own photo and to the other photo (resized to the result), and the mean relative
Gram distance (at {", ".join(GRAM_EVAL_LAYERS)}) of the result to its own style, of the photo to
that style, and of the result to the nearest other style of the gallery:

{table(header, rows)}
"""
    return text, numbers


# ---------------------------------------------------------------- claims of the course report
# One function per claim of ../shared/seed (the course report), each judging it on the numbers the
# study functions above returned (the summary), by the rule written next to it as a list of checks.


@dataclass
class Check:
    """One condition of a claim's rule, its value on these runs, and the line shown when it fails.

    A failed ``core`` check makes the claim "not reproduced"; when only other checks fail it is "partly".
    """

    text: str
    passed: bool
    why: str
    core: bool = False


@dataclass
class Claim:
    key: str  # (a), (b), ... in the report's order
    study: str
    claim: str
    measured: str = "study not run"
    checks: list[Check] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if not self.checks:
            return "not measured"
        if any(c.core and not c.passed for c in self.checks):
            return "not reproduced"
        return "reproduced" if all(c.passed for c in self.checks) else "partly"

    @property
    def why(self) -> str:
        failed = [c for c in self.checks if not c.passed]
        return "; ".join(c.why for c in sorted(failed, key=lambda c: not c.core))

    @property
    def rule(self) -> str:
        core = " and ".join(c.text for c in self.checks if c.core)
        more = " and ".join(c.text for c in self.checks if not c.core)
        return f"not reproduced unless {core}; reproduced if also {more}, else partly"

    def as_dict(self) -> dict[str, Any]:
        checks = [{"rule": c.text, "core": c.core, "passed": c.passed} for c in self.checks]
        return {
            "key": self.key,
            "study": self.study,
            "claim": self.claim,
            "measured": self.measured,
            "verdict": self.verdict,
            "why": self.why,
            "rule": self.rule if self.checks else "",
            "checks": checks,
            "numbers": self.numbers,
        }


def claim_content_layers(summary: dict[str, Any]) -> Claim:
    claim = Claim(
        "a", "content_layers", "shallow content layers reconstruct the photo near-perfectly, deep ones do not"
    )
    if not (s := summary.get("content_layers")):
        return claim
    groups = s["jobs"]
    psnrs, ssims = [s[g]["psnr_db"] for g in groups], [s[g]["ssim"] for g in groups]
    rises = [(psnrs[i + 1] - psnrs[i], groups[i], groups[i + 1]) for i in range(len(groups) - 1)]
    rise, shallower, deeper = max(rises, default=(0.0, "", ""))
    claim.numbers = {"groups": groups, "psnr_db": psnrs, "ssim": ssims}
    claim.measured = "PSNR dB (SSIM) shallow to deep: " + ", ".join(
        f"{p:.1f} ({q:.2f})" for p, q in zip(psnrs, ssims)
    )
    claim.checks = [
        Check(
            f"PSNR({groups[0]}) > PSNR({groups[-1]}) + 5 dB",
            psnrs[0] > psnrs[-1] + 5,
            f"{groups[0]} is only {psnrs[0] - psnrs[-1]:.1f} dB above {groups[-1]}",
            core=True,
        ),
        Check(
            f"PSNR({groups[0]}) >= 25 dB (near-perfect)",
            psnrs[0] >= 25,
            f"{groups[0]} reaches {psnrs[0]:.1f} dB, not near-perfect (< 25 dB)",
        ),
        Check(
            "PSNR never rises by more than 0.5 dB from a group to the next deeper one",
            rise <= 0.5,
            f"PSNR rises {rise:.1f} dB from {shallower} to {deeper}",
        ),
    ]
    return claim


def claim_content_seeds(summary: dict[str, Any]) -> Claim:
    claim = Claim("b", "content_seeds", "two seeds of a content reconstruction differ only by noise")
    if not (s := summary.get("content_seeds")):
        return claim
    a, b = s["jobs"][:2]
    pa, pb, between = s[a]["psnr_db"], s[b]["psnr_db"], s["psnr_between_seeds_db"]
    la, lb = s[a]["content_loss"], s[b]["content_loss"]
    # If each result is the photo plus its own independent noise of equal power, the two noises add
    # between the results: PSNR(a, b) = mean PSNR to the photo - 10 log10(2) = -3.0 dB.
    expected = (pa + pb) / 2 - 10 * math.log10(2)
    loss_ratio = max(la, lb) / max(min(la, lb), 1e-12)
    drops = [s[a].get("content_loss_drop_last_third"), s[b].get("content_loss_drop_last_third")]
    lagging, leading = (b, a) if lb > la else (a, b)
    stall_why = (
        f"{lagging} stalled: final content loss {max(la, lb):.3g} vs {min(la, lb):.3g} ({loss_ratio:.1f}x)"
    )
    if None not in drops:
        shed = s[lagging]["content_loss_drop_last_third"], s[leading]["content_loss_drop_last_third"]
        stall_why += f", shedding {shed[0]:.0%} of it over the last third of the steps vs {shed[1]:.0%}"
    claim.numbers = {
        "psnr_to_photo_db": [pa, pb],
        "psnr_between_seeds_db": between,
        "psnr_between_if_independent_noise_db": expected,
        "content_loss": [la, lb],
        "content_loss_ratio": loss_ratio,
        "content_loss_drop_last_third": drops,
    }
    claim.measured = (
        f"PSNR to photo {pa:.1f} / {pb:.1f} dB; between seeds {between:.1f} dB (independent noise: "
        f"{expected:.1f}); final content loss {la:.3g} / {lb:.3g} ({loss_ratio:.1f}x)"
    )
    claim.checks = [
        Check(
            "|PSNR(seed a) - PSNR(seed b)| <= 1 dB",
            abs(pa - pb) <= 1,
            f"the seeds' PSNRs to the photo differ by {abs(pa - pb):.1f} dB",
            core=True,
        ),
        Check(
            "PSNR between seeds = mean PSNR to photo - 3.0 dB, +-1.5 dB (independent noise)",
            abs(between - expected) <= 1.5,
            f"PSNR between seeds {between:.1f} dB vs {expected:.1f} dB for independent noise: the seeds "
            + ("share their errors" if between > expected else "differ by more than noise"),
            core=True,
        ),
        Check(
            "each seed >= 20 dB from the photo (almost exact)",
            min(pa, pb) >= 20,
            f"PSNR to the photo only {min(pa, pb):.1f} / {max(pa, pb):.1f} dB: not almost exact",
        ),
        Check(
            "final content losses within 2x (no seed stalled or lagged)",
            loss_ratio <= 2,
            stall_why,
        ),
    ]
    return claim


REPORT_STYLE_GROUP = "conv_1..conv_4"  # the course report's style layers, a job of texture_layers


def claim_texture_layers(summary: dict[str, Any]) -> Claim:
    claim = Claim(
        "c",
        "texture_layers",
        f"texture from the first two blocks, {REPORT_STYLE_GROUP}, is closest to the style",
    )
    if not (s := summary.get("texture_layers")) or REPORT_STYLE_GROUP not in s["jobs"]:
        return claim
    mean = {name: s[name]["mean"] for name in s["jobs"]}
    noise = s["white_noise"]["mean"]
    first_two = [name for name in s["jobs"] if name != REPORT_STYLE_GROUP][:2]  # sweep order: shallow first
    best, worst = min(mean, key=mean.__getitem__), max(mean, key=mean.__getitem__)
    choice = mean[REPORT_STYLE_GROUP]
    claim.numbers = {"gram_distance": mean, "white_noise": noise, "best": best}
    claim.measured = (
        f"mean Gram distance to the style: {REPORT_STYLE_GROUP} {choice:.3f}; closest {best} "
        f"{mean[best]:.3f}; farthest {worst} {mean[worst]:.3f}; white noise {noise:.3f}"
    )
    claim.checks = [
        Check(
            f"the closest group is {', '.join(first_two)} or {REPORT_STYLE_GROUP}",
            best in [*first_two, REPORT_STYLE_GROUP],
            f"the closest group is {best}, deeper than the first two blocks",
            core=True,
        ),
        Check(
            f"Gram({REPORT_STYLE_GROUP}) <= 1.05 x the closest group's",
            choice <= 1.05 * mean[best],
            f"{REPORT_STYLE_GROUP} ({choice:.3f}) is not the closest: {best} ({mean[best]:.3f})",
        ),
        Check(
            f"Gram({REPORT_STYLE_GROUP}) < 0.5 x white noise's",
            choice < 0.5 * noise,
            f"{REPORT_STYLE_GROUP} ({choice:.3f}) is not clearly closer than white noise ({noise:.3f})",
        ),
    ]
    return claim


def claim_texture_seeds(summary: dict[str, Any]) -> Claim:
    claim = Claim("d", "texture_seeds", "two seeds of a texture are globally similar and locally different")
    if not (s := summary.get("texture_seeds")):
        return claim
    a, b = s["jobs"][:2]
    da, db = s[a]["gram_distance_to_style"], s[b]["gram_distance_to_style"]
    noise, between = s["gram_distance_white_noise_to_style"], s["gram_distance_between_seeds"]
    pixels, pixels_noise = s["pixel_mean_abs_difference"], s["pixel_mean_abs_difference_white_noise_starts"]
    claim.numbers = {
        "gram_distance_to_style": [da, db],
        "gram_distance_white_noise_to_style": noise,
        "gram_distance_between_seeds": between,
        "pixel_mean_abs_difference": pixels,
        "pixel_mean_abs_difference_white_noise_starts": pixels_noise,
    }
    claim.measured = (
        f"Gram to style {da:.3f} / {db:.3f}, between seeds {between:.3f} (white noise {noise:.3f}); "
        f"pixel difference {pixels:.3f} (two noise starts {pixels_noise:.3f})"
    )
    claim.checks = [
        Check(
            "globally similar: Gram of each seed to the style and between the seeds < 0.5 x white noise's",
            max(da, db, between) < 0.5 * noise,
            f"Gram distances {da:.3f}, {db:.3f}, {between:.3f} not all below half of noise's {noise:.3f}",
            core=True,
        ),
        Check(
            "locally different: pixel difference > 0.3 x that of the two white-noise starts",
            pixels > 0.3 * pixels_noise,
            f"pixel difference {pixels:.3f} is small against the noise starts' {pixels_noise:.3f}",
            core=True,
        ),
        Check(
            "the seeds' Gram distances to the style within 20% of each other",
            abs(da - db) <= 0.2 * max(da, db),
            f"one seed is much closer to the style ({da:.3f} vs {db:.3f})",
        ),
    ]
    return claim


def claim_init(summary: dict[str, Any]) -> Claim:
    claim = Claim("e", "init", "content init beats noise init at equal time")
    if not (s := summary.get("init")) or not {"content", "noise"} <= set(s["jobs"]):
        return claim
    c, n = s["content"], s["noise"]
    time_ratio = max(c["wall_seconds"], n["wall_seconds"]) / max(
        min(c["wall_seconds"], n["wall_seconds"]), 1e-9
    )
    claim.numbers = {"content": c, "noise": n, "time_ratio": time_ratio}
    claim.measured = (
        f"total loss {c['total']:.3g} (content init) vs {n['total']:.3g} (noise); content loss "
        f"{c['content']:.3g} vs {n['content']:.3g}; {c['wall_seconds']:.1f} vs {n['wall_seconds']:.1f} s"
    )
    claim.checks = [
        Check(
            "total loss(content init) < total loss(noise init)",
            c["total"] < n["total"],
            f"noise init ends lower ({n['total']:.3g} vs {c['total']:.3g})",
            core=True,
        ),
        Check(
            "seconds within 1.25x (equal time)",
            time_ratio <= 1.25,
            f"the runs took {c['wall_seconds']:.1f} vs {n['wall_seconds']:.1f} s, not equal time",
        ),
        Check(
            "content loss(noise init) > content loss(content init) (noise init shows less content)",
            n["content"] > c["content"],
            f"noise init keeps as much content ({n['content']:.3g} vs {c['content']:.3g})",
        ),
    ]
    return claim


def claim_gallery(summary: dict[str, Any]) -> Claim:
    claim = Claim(
        "f",
        "gallery",
        "the report's setting (content conv_3+conv_4, style conv_1..conv_4, starter weights) "
        "gives recognisable stylised images",
    )
    if not (s := summary.get("gallery")):
        return claim
    jobs, setting = s["jobs"], s["setting"]
    # Recognisable: SSIM to its own photo above SSIM to the gallery's other photo. Stylised: closer to
    # its style (Gram) than the photo is. Its style: closer to it than to any other gallery style.
    recognised = [
        j for j in jobs if (o := s[j]["ssim_to_other_photos"]) is not None and s[j]["ssim_to_photo"] > o
    ]
    stylised = [j for j in jobs if s[j]["gram_distance_to_style"] < s[j]["gram_distance_photo_to_style"]]
    own_style = [
        j
        for j in jobs
        if (o := s[j]["gram_distance_to_other_styles"]) is None or s[j]["gram_distance_to_style"] < o
    ]
    used = {key: setting[key] for key in ("content_layers", "style_layers")}
    report = setting["report_layers"]
    same_layers = used == report

    def mean(key: str) -> float:
        return sum(s[j][key] for j in jobs) / len(jobs)

    claim.numbers = {
        "jobs": len(jobs),
        "recognised": len(recognised),
        "stylised": len(stylised),
        "nearest_own_style": len(own_style),
        "mean_psnr_to_photo_db": mean("psnr_to_photo_db"),
        "mean_ssim_to_photo": mean("ssim_to_photo"),
        "layers": used,
        "report_layers": setting["report_layers"],
        "style_weight": setting["style_weight"],
    }
    n = len(jobs)
    claim.measured = (
        f"{len(recognised)}/{n} nearer (SSIM) their own photo than the other, {len(stylised)}/{n} nearer "
        f"(Gram) their style than the photo is, {len(own_style)}/{n} nearest their own style; mean PSNR "
        f"to photo {mean('psnr_to_photo_db'):.1f} dB, SSIM {mean('ssim_to_photo'):.2f}; layers "
        f"{', '.join(used['content_layers'])} / {', '.join(used['style_layers'])}"
    )
    claim.checks = [
        Check(
            "every result is nearer (SSIM) its own photo than the other photo",
            len(recognised) == n,
            f"only {len(recognised)}/{n} results are nearer their own photo",
            core=True,
        ),
        Check(
            "every result is nearer (Gram) its style than its photo is",
            len(stylised) == n,
            f"only {len(stylised)}/{n} results moved toward their style",
            core=True,
        ),
        Check(
            ">= 3/4 of the results are nearest (Gram) their own style among the gallery's",
            len(own_style) >= 0.75 * n,
            f"only {len(own_style)}/{n} results are nearest their own style",
        ),
        Check(
            "the gallery runs the report's layers (conf/layers/report.yaml)",
            same_layers,
            f"the gallery runs {', '.join(used['content_layers'])} / {', '.join(used['style_layers'])}, "
            f"not the report's {', '.join(report['content_layers'])} / {', '.join(report['style_layers'])} "
            f"(style_weight {setting['style_weight']:g})",
        ),
    ]
    return claim


CLAIMS = [
    claim_content_layers,
    claim_content_seeds,
    claim_texture_layers,
    claim_texture_seeds,
    claim_init,
    claim_gallery,
]


def claims_section(claims: list[Claim]) -> str:
    rows = [[f"({c.key})", c.claim, c.measured, f"**{c.verdict}**", c.why or "-"] for c in claims]
    rules = "\n".join(f"- ({c.key}) `{c.study}`: {c.rule}." for c in claims if c.checks)
    return f"""## Claims of the course report

{table(["", "claim (course report)", "measured here", "verdict", "why"], rows)}

Rules (`experiments/ablations/report.py`, `claim_*`; every number above is computed from the runs):

{rules}
"""


# The report's section for each study, in section order (the order `make ablations` runs them in).
BUILDERS = {
    "content_layers": content_layers,
    "content_seeds": content_seeds,
    "texture_layers": texture_layers,
    "texture_seeds": texture_seeds,
    "init": init_study,
    "gallery": gallery,
}


def studies() -> list[str]:
    """The studies: one per file of conf/ablation/ (not the shared _*.yaml), in section order."""
    found = {path.stem for path in (CONF_DIR / "ablation").glob("[!_]*.yaml")}
    unknown = sorted(found - BUILDERS.keys())
    if unknown:
        raise SystemExit(f"report: error: conf/ablation/{unknown[0]}.yaml has no report section (BUILDERS)")
    return [study for study in BUILDERS if study in found]


def build(runs: Path, out: Path) -> dict[str, Any]:
    """Write README.md, the figures and summary.json for every study found under ``runs``."""
    out.mkdir(parents=True, exist_ok=True)
    sections, summary, total_seconds, missing = [], {}, 0.0, []
    backbones, networks = set(), set()  # the metrics' backbone name, and its source and layer count
    for study in studies():
        jobs = load_study(runs / study) if (runs / study).is_dir() else []
        if not jobs:
            missing.append(study)
            continue
        text, numbers = BUILDERS[study](jobs, out)
        for job in jobs:
            backbones.add(job.metrics["backbone"])
            node = job.cfg.backbone
            networks.add(f"`{job.metrics['backbone']}` ({node.arch}, weights from {node.source})")
        seconds = sum(job.metrics["wall_seconds"] for job in jobs)
        total_seconds += seconds
        sections.append(
            text + f"\n*{len(jobs)} jobs, {seconds:.0f} s of optimisation; runs in `{runs / study}`.*\n"
        )
        summary[study] = numbers | {"jobs": [job.name for job in jobs], "wall_seconds": seconds}
    summary["total_wall_seconds"] = total_seconds
    summary["missing_studies"] = missing
    summary["backbone"] = ", ".join(sorted(backbones)) or "none"
    claims = [judge(summary) for judge in CLAIMS]
    summary["claims"] = [claim.as_dict() for claim in claims]
    network = "; ".join(sorted(networks)) or "no finished jobs"
    head = f"""# Layer ablations of neural style transfer on `{summary["backbone"]}` (generated)

Network: {network}. Generated by `experiments/ablations/report.py` from the sweep outputs in `{runs}`:
every number below is computed from the jobs' images, metrics.json and TensorBoard events. Optimisation
time of all jobs: {total_seconds:.0f} s (the sum of the jobs' `wall_seconds`, excluding start-up).
{"Missing studies (no finished jobs): " + ", ".join(missing) if missing else ""}
"""
    (out / "README.md").write_text(head + "\n" + claims_section(claims) + "\n" + "\n".join(sections))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, help="ABLATIONS_DIR/BACKBONE: one folder per study")
    parser.add_argument("--out", type=Path, help="where README.md, the PNGs and summary.json go")
    parser.add_argument("--studies", action="store_true", help="print the studies in order and exit")
    args = parser.parse_args(argv)
    if args.studies:
        print(" ".join(studies()))
        return 0
    if args.runs is None or args.out is None:
        parser.error("--runs and --out are required")
    if not args.runs.is_dir():
        print(f"report: error: no sweep outputs at {args.runs} (run `make ablations` first)", file=sys.stderr)
        return 2
    summary = build(args.runs, args.out)
    found = len(studies()) - len(summary["missing_studies"])
    print(f"report: {args.out / 'README.md'} ({found} studies)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
