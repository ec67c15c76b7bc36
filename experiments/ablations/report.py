"""Build the ablation report (Markdown + PNG figures + summary.json) from the sweep outputs alone.

python experiments/ablations/report.py --runs multirun/ablations/vgg16_hed \
    --out experiments/ablations/vgg16_hed
python experiments/ablations/report.py --studies   # conf/ablation's studies in section order (make's list)

Every number is computed here from each job's result.png, metrics.json, .hydra/config.yaml and
TensorBoard events; nothing is typed in.
"""

from __future__ import annotations

import argparse
import json
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
from omegaconf import DictConfig, OmegaConf  # noqa: E402
from PIL import Image  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from nst import assets  # noqa: E402
from nst.backbones import build_encoder  # noqa: E402
from nst.config import CONF_DIR, validated  # noqa: E402
from nst.images import load_image, noise_image, style_edge, to_tensor  # noqa: E402
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
    if key == "style":
        size = style_edge(size, float(job.metrics["style_scale"]))
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


def content_seeds(jobs: list[Job], out: Path) -> tuple[str, dict[str, Any]]:
    a, b = jobs[:2]
    content = reference(a, "content")
    numbers = pair_numbers(a, b) | {job.name: {"psnr_db": psnr(job.image, content)} for job in jobs}
    seed_grid(
        ("content photo", content),
        a,
        b,
        lambda job: f"PSNR {numbers[job.name]['psnr_db']:.1f} dB",
        out / "content_seeds.png",
    )
    rows = [[job.name, numbers[job.name]["psnr_db"], job.metrics["loss"]["content"]] for job in jobs]
    layers = ", ".join(a.metrics["content_layers"])
    text = f"""## 2. Two random initialisations of content reconstruction ({layers})

![content seeds](content_seeds.png)

*Figure 2: two seeds ({setting(a)}) and their per-pixel absolute difference
(RGB mean, scale 0 to {DIFF_SCALE}).
Mean absolute difference {numbers["pixel_mean_abs_difference"]:.4f}; PSNR between the two results
{numbers["psnr_between_seeds_db"]:.1f} dB.*

{table(["seed", "PSNR vs photo (dB)", "final content loss"], rows)}
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


def gallery(jobs: list[Job], out: Path) -> tuple[str, dict[str, Any]]:
    contents = list(dict.fromkeys(str(job.cfg.content) for job in jobs))
    styles = list(dict.fromkeys(str(job.cfg.style) for job in jobs))
    by_pair = {(str(job.cfg.content), str(job.cfg.style)): job for job in jobs}
    panels: list[tuple[str, Any]] = [("", None)]
    panels += [(name, reference(by_pair[(contents[0], name)], "style")) for name in styles]
    for content_name in contents:
        panels.append((content_name, reference(by_pair[(content_name, styles[0])], "content")))
        panels += [
            (
                f"{content_name} x {s}",
                by_pair[(content_name, s)].image if (content_name, s) in by_pair else None,
            )
            for s in styles
        ]
    grid(panels, out / "gallery.png", columns=len(styles) + 1)
    numbers = {job.name: job.metrics["loss"] | {"wall_seconds": job.metrics["wall_seconds"]} for job in jobs}
    rows = [
        [
            job.cfg.content,
            job.cfg.style,
            job.metrics["loss"]["total"],
            job.metrics["loss"]["content"],
            job.metrics["loss"]["style"],
            job.metrics["wall_seconds"],
        ]
        for job in jobs
    ]
    style_names = ", ".join(jobs[0].metrics["style_layers"])
    content_names = ", ".join(jobs[0].metrics["content_layers"])
    text = f"""## 6. Gallery

![gallery](gallery.png)

*Figure 6: every style (top row) on every content photograph (left column); {setting(jobs[0])},
Gatys et al.'s layers ({style_names} for style, {content_names} for content).*

{table(["content", "style", "total loss", "content loss", "style loss", "seconds"], rows)}
"""
    return text, numbers


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
    for study in studies():
        jobs = load_study(runs / study) if (runs / study).is_dir() else []
        if not jobs:
            missing.append(study)
            continue
        text, numbers = BUILDERS[study](jobs, out)
        seconds = sum(job.metrics["wall_seconds"] for job in jobs)
        total_seconds += seconds
        sections.append(
            text + f"\n*{len(jobs)} jobs, {seconds:.0f} s of optimisation; runs in `{runs / study}`.*\n"
        )
        summary[study] = numbers | {"jobs": [job.name for job in jobs], "wall_seconds": seconds}
    summary["total_wall_seconds"] = total_seconds
    summary["missing_studies"] = missing
    head = f"""# Layer ablations of neural style transfer (generated)

Generated by `experiments/ablations/report.py` from the sweep outputs in `{runs}`: every number below is
computed from the jobs' images, metrics.json and TensorBoard events. Optimisation time of all jobs:
{total_seconds:.0f} s (the sum of the jobs' `wall_seconds`, excluding start-up).
{"Missing studies (no finished jobs): " + ", ".join(missing) if missing else ""}
"""
    (out / "README.md").write_text(head + "\n" + "\n".join(sections))
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
