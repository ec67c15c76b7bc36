"""The sweep outputs as the report reads them back: one finished job per folder (its config, metrics,
result image and TensorBoard curves), the images it ran on, and the backbone its config plans.

Nothing here measures or draws: the study sections (report_from_noise, report_transfer) do.
"""

from __future__ import annotations

import copy
import io
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nst import assets
from nst.backbones import build_encoder
from nst.config import CONF_DIR, validated
from nst.images import load_image, noise_image, read_image, resize_longest, style_edge, to_tensor
from nst.plan import make_plan
from nst.quality import GRAM_EVAL_LAYERS
from nst.vgg import canonical_layers


class ReportInputError(Exception):
    """An input the report cannot use; report.py prints it as one line and exits 2."""


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
    cut_at: int | None = None  # read at this step of a longer run (report.py --at-step)


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


def read_snapshots(job: Job) -> list[tuple[int, torch.Tensor]]:
    """The images the job logged to TensorBoard as it formed (tag ``image``: the start, every
    ``image_every`` steps, the end), as (step, 1x3xHxW tensor) in step order, one per step."""
    events = EventAccumulator(str(job.path / "tb"), size_guidance={"images": 0})
    events.Reload()
    if "image" not in events.Tags()["images"]:
        return []
    last = job.cut_at if job.cut_at is not None else float("inf")  # a job cut short: up to its cut
    images = [e for e in events.Images("image") if e.step <= last]
    by_step = {e.step: e.encoded_image_string for e in images}  # a step logged twice (a resume): the last
    return [
        (step, to_tensor(Image.open(io.BytesIO(data)).convert("RGB")))
        for step, data in sorted(by_step.items())
    ]


def load_study(root: Path, at_step: int | None = None) -> list[Job]:
    """The study's finished jobs in sweep order; with ``at_step``, each as a cap of that many steps
    would have left it (:func:`cut_at`)."""
    jobs = [job for d in sorted(root.iterdir()) if d.is_dir() and (job := load_job(d))]
    for job in jobs:
        job.curves = read_curves(job)
    jobs = [cut_at(job, at_step) for job in jobs] if at_step is not None else jobs
    return sorted(jobs, key=lambda job: job.num)  # sweep order: layer groups shallow to deep


def cut_at(job: Job, step: int) -> Job:
    """The job as a run capped at ``step`` steps would have ended, read from the run itself: a job
    that stopped by then is unchanged; one that went on is its image logged at ``step`` (TensorBoard,
    every image_every steps), the losses logged at that step, the curves up to it, and its seconds and
    evaluations pro rata (estimates). The optimiser's path does not depend on the cap, and the stop
    rule had not ended the job by ``step``, so a capped run would have made the same image (up to
    TensorBoard's 8-bit truncation)."""
    ran = int(job.metrics["steps"])
    if ran <= step:
        return job
    image = dict(read_snapshots(job)).get(step)
    if image is None:
        raise ReportInputError(
            f"--at-step {step}: {job.path} logged no image at step {step} "
            f"(it logs one every image_every={job.cfg.get('image_every')} steps): choose a step it logged"
        )
    logged = {tag: dict(points) for tag, points in job.curves.items()}
    loss = {key: logged.get(f"loss/{key}", {}).get(step, value) for key, value in job.metrics["loss"].items()}
    share = step / ran
    metrics = job.metrics | {
        "steps": step,
        "evaluations": round(int(job.metrics["evaluations"]) * share),
        "wall_seconds": float(job.metrics["wall_seconds"]) * share,
        "loss": loss,
        "converged": False,
        "converged_step": None,
        "converged_at": [None],
    }
    cfg = copy.deepcopy(job.cfg)
    cfg.steps = step
    curves = {
        tag: [(s, v) for s, v in points if s <= step]
        for tag, points in job.curves.items()
        if not tag.startswith("final/")
    }
    return Job(job.name, job.path, job.num, cfg, metrics, image, curves, cut_at=step)


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


def report_layers(job: Job) -> dict[str, list[str]]:
    """The course report's layer choice (conf/layers/report.yaml) in the job's backbone's canonical names."""
    backbone = make_plan(validated(job.cfg), Path(tempfile.gettempdir())).backbone
    choice = OmegaConf.load(CONF_DIR / "layers" / "report.yaml")
    return {
        key: canonical_layers(list(choice[key]), backbone.arch, backbone.name)
        for key in ("content_layers", "style_layers")
    }


def setting(job: Job) -> str:
    m = job.metrics
    optimizer = (
        "L-BFGS (strong Wolfe)" if job.cfg.optimizer.get("line_search_fn") else "L-BFGS (no line search)"
    )
    if stop_rule_of(job) is None:
        return f"{m['backbone']}, {m['size']} px, {m['steps']} steps of {optimizer}, {m['init']} init"
    cap = f"at most {job.cfg.steps} steps"
    return f"{m['backbone']}, {m['size']} px, {optimizer} to convergence ({cap}), {m['init']} init"


def stop_rule_of(job: Job) -> tuple[float, int] | None:
    """The job's stop rule (stop.rel_change, stop.window), or None: it ran every step it was given."""
    stop = job.cfg.get("stop")
    return None if stop is None or stop.rel_change is None else (float(stop.rel_change), int(stop.window))


def converged_step(job: Job) -> int | None:
    """The step the job's stop rule ended it at; None where it ran to its cap (or had no rule)."""
    return job.metrics.get("converged_step") if job.metrics.get("converged") else None
