"""The run's record: metrics.json (what was run and what came out) and TensorBoard's HPARAMS."""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from pytorch_lightning.loggers import TensorBoardLogger

from nst.checkpoint import RunState
from nst.files import write_json, write_text
from nst.losses import LossTerms
from nst.plan import Plan
from nst.resources import peak_memory_mb
from nst.rundir import METRICS


def build(
    plan: Plan,
    state: RunState,
    losses: LossTerms,
    *,
    status: str,
    image: Path,
    device: torch.device,
    wall_seconds: float,
    start_mb: float,
    estimate_mb: float,
    **extra: Any,
) -> dict[str, Any]:
    """metrics.json's content: status, progress, final losses, the inputs and the settings that matter."""
    return {
        "status": status,
        "steps": state.steps_done,
        "evaluations": state.evaluations,
        "best_iterates": state.best_iterates,  # scales or tiles whose result is an earlier, better image
        "wall_seconds": round(wall_seconds, 3),
        **per_step_seconds(state),
        **losses.numbers(),
        "backbone": plan.backbone.name,
        "size": plan.size,
        "scales": list(plan.sizes),
        "shape": list(state.image.shape[-2:]) if state.image is not None else None,
        "seed": plan.seed,
        "init": plan.init,
        "init_path": str(plan.init_path) if plan.init_path else None,
        "style_scale": plan.style_scale,
        "style_loss": plan.style_loss.name + ("_relative" if plan.style_loss.relative else ""),
        "style_weight": plan.style_weight,  # the backbone's calibrated weight x strength, as optimised
        "content_weight": plan.content_weight,
        "preserve_color": plan.preserve_color,
        "optimizer": plan.optimizer.name,
        "device": str(device),
        "precision": plan.backbone.precision,
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        "start_memory_mb": round(start_mb, 1),
        "memory_estimate_mb": round(estimate_mb, 1),
        "content": str(plan.content) if plan.content else None,
        "style": str(plan.style) if len(plan.styles) == 1 else [str(p) for p in plan.styles] or None,
        "style_blend": list(plan.style_blend) if len(plan.styles) > 1 else None,
        "style_masks": [str(p) for p in plan.style_masks] or None,
        "tile": plan.tile,
        "tile_overlap": plan.tile_overlap if plan.tile else None,
        "tiled_scales": [size for size in plan.sizes if plan.tiled(size)],
        "image": str(image),
        "slurm_job_id": slurm_job_id(),
        **convergence(plan, state),
        "resumed_at": list(state.resumed_at),
        **extra,
    }


def convergence(plan: Plan, state: RunState) -> dict[str, Any]:
    """With a stop rule: whether every fit (scale, tile) converged before its cap, the step where the
    last one did, and each fit's step (None: it ran to its cap). Without one: nothing."""
    if plan.stop is None:
        return {}
    steps = state.converged_at
    return {
        "converged": bool(steps) and all(step is not None for step in steps),
        "converged_step": steps[-1] if steps else None,
        "converged_at": list(steps),
    }


def per_step_seconds(state: RunState) -> dict[str, float | None]:
    """``seconds_per_step`` and ``seconds_per_evaluation``: both medians over the steps this process
    ran (a step's time over its evaluations for the second), so a slow first step or a resume moves
    neither, and they are equal when every step is one evaluation."""
    times, counts = state.step_seconds, state.step_evaluations
    per_evaluation = [seconds / n for seconds, n in zip(times, counts) if n > 0]

    def median(values: list[float]) -> float | None:
        return round(statistics.median_high(values), 5) if values else None

    return {"seconds_per_step": median(times), "seconds_per_evaluation": median(per_evaluation)}


def slurm_job_id() -> str | None:
    """The SLURM job this run is (``123_4`` for an array task, as squeue shows it), or None."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")


def write(out_dir: Path, data: dict[str, Any]) -> Path:
    return write_json(out_dir / METRICS, data)


def job_overrides() -> dict[str, str]:
    """The overrides that tell this job from its sweep's others (the swept keys, every override of a
    single run), as ``override/KEY``: a group choice such as ``layer_group`` is no config value."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from nst.rundir import swept_keys

    if not HydraConfig.initialized():  # nst.stylize, a script: no command line
        return {}
    hydra_cfg = HydraConfig.get()
    pairs = [str(o).split("=", 1) for o in hydra_cfg.overrides.task if "=" in str(o)]
    swept = swept_keys(hydra_cfg.sweep.dir) if hydra_cfg.mode == RunMode.MULTIRUN else None
    return {f"override/{k}": v for k, v in pairs if not swept or k in swept}


def log_hparams(logger: TensorBoardLogger, plan: Plan, data: dict[str, Any]) -> None:
    """The config as it ran (``backbone.precision`` resolved: fp32 or bf16, not auto) and the job's
    overrides beside the final losses, for TensorBoard's HPARAMS tab."""
    config = OmegaConf.to_container(OmegaConf.create(plan.config))
    config["backbone"]["precision"] = plan.backbone.precision  # type: ignore[index]
    final = {f"final/{k}": v for k, v in data["loss"].items()} | {"final/wall_seconds": data["wall_seconds"]}
    logger.log_hyperparams(config | job_overrides(), final)
    logger.finalize("success")
    # Lightning writes hparams.yaml once, at the first save, while still empty: the resolved config instead.
    write_text(Path(logger.log_dir) / "hparams.yaml", plan.config)
