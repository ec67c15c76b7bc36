"""The Hydra entry point: validate everything, build the module and trainer, run, write results."""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from PIL import Image
from pytorch_lightning.loggers import TensorBoardLogger

from nst import assets
from nst.backbones import build_encoder
from nst.callbacks import ProgressBar, RunMonitor
from nst.encoder import canonical_layers, min_input_size
from nst.errors import NSTError
from nst.images import load_image, read_image, resize_longest, save_image, to_tensor
from nst.module import StyleTransfer, step_loader

log = logging.getLogger("nst")
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"  # the repository's conf/ (editable install)


@dataclass
class Plan:
    """Everything a run needs, validated before any heavy work starts."""

    content_path: Path | None
    style_path: Path | None
    size: int
    steps: int
    content_layers: list[str]
    style_layers: list[str]
    init: str


def _positive_int(cfg: DictConfig, key: str) -> int:
    value = cfg.get(key)
    try:
        number = int(value)
        if number != float(value):
            raise ValueError
    except (TypeError, ValueError):
        raise NSTError(f"{key} must be a positive integer, got {value!r}") from None
    if number <= 0:
        raise NSTError(f"{key} must be a positive integer, got {value!r}")
    return number


def _layer_list(cfg: DictConfig, key: str) -> list[str]:
    value = cfg.get(key)
    if value is None:
        return []
    if isinstance(value, str):  # content_layers=relu4_2 means [relu4_2]
        value = [value]
    return [str(v) for v in value]


def plan(cfg: DictConfig) -> Plan:
    """Cheap checks first (no image decoded, no weights read), each failing with one clear line."""
    if cfg.content is None and cfg.style is None:
        raise NSTError(
            "content and style are both null: give content (reconstruction), style (texture "
            "synthesis) or both (style transfer)"
        )
    size = _positive_int(cfg, "size")
    steps = _positive_int(cfg, "steps")
    arch, name = cfg.backbone.arch, cfg.backbone.name
    content_layers = canonical_layers(_layer_list(cfg, "content_layers"), arch, name)
    style_layers = canonical_layers(_layer_list(cfg, "style_layers"), arch, name)
    if cfg.content is not None and not content_layers:
        raise NSTError("content_layers is empty but a content image is given (content=null skips it)")
    if cfg.style is not None and not style_layers:
        raise NSTError("style_layers is empty but a style image is given (style=null skips it)")
    used = (content_layers if cfg.content is not None else []) + (
        style_layers if cfg.style is not None else []
    )
    smallest = min_input_size(used, arch)
    if size < smallest:
        raise NSTError(f"size={size} is too small for layer(s) {used}: needs at least {smallest} px")
    init = str(cfg.init.kind)
    if init not in ("content", "noise", "image"):
        raise NSTError(f"unknown init '{init}'; valid: content, noise, image")
    if init == "content" and cfg.content is None:
        init = "noise"  # texture synthesis has no content image to start from
    return Plan(
        content_path=assets.resolve(cfg.content) if cfg.content is not None else None,
        style_path=assets.resolve(cfg.style) if cfg.style is not None else None,
        size=size,
        steps=steps,
        content_layers=content_layers,
        style_layers=style_layers,
        init=init,
    )


def initial_image(cfg: DictConfig, plan_: Plan, shape: tuple[int, int], content: torch.Tensor | None):
    if plan_.init == "content":
        assert content is not None
        return content.clone()
    if plan_.init == "noise":
        generator = torch.Generator().manual_seed(int(cfg.seed))
        return torch.rand(1, 3, *shape, generator=generator)
    path = cfg.init.get("path")
    if path is None:
        raise NSTError("init=image needs init.path=PATH (a file or a manifest name)")
    image = read_image(assets.resolve(path)).resize((shape[1], shape[0]), Image.Resampling.LANCZOS)
    return to_tensor(image)


def _quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in (
        ".*does not have many workers.*",
        ".*Checkpoint directory.*",
        ".*predict_dataloader.*",
        ".*TensorBoardLogger.*",
        ".*tensorboardX.*",
        ".*LeafSpec.*",
        ".*module\\(s\\) in eval mode.*",
    ):
        warnings.filterwarnings("ignore", message=message)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _flat_hparams(cfg: DictConfig) -> dict[str, Any]:
    """Scalar hyper-parameters for TensorBoard's HPARAMS tab (lists become strings)."""
    flat: dict[str, Any] = {}

    def visit(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                visit(value, f"{prefix}{key}." if not isinstance(value, dict) else f"{prefix}{key}.")
            return
        key = prefix.rstrip(".")
        flat[key] = node if isinstance(node, (int, float, str, bool)) else str(node)

    container = OmegaConf.to_container(cfg, resolve=True)
    container.pop("trainer", None)  # type: ignore[union-attr]
    visit(container, "")
    return flat


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """One style-transfer / reconstruction / synthesis run; returns the metrics it wrote."""
    _quiet_lightning()
    plan_ = plan(cfg)
    content = load_image(plan_.content_path, plan_.size) if plan_.content_path else None
    style = None
    if plan_.style_path:
        style_size = max(1, round(plan_.size * float(cfg.style_scale)))
        style = load_image(plan_.style_path, style_size)
    if content is not None:
        shape = tuple(content.shape[-2:])
    else:  # texture synthesis: the style image's aspect ratio at `size`
        shape = tuple(to_tensor(resize_longest(read_image(plan_.style_path), plan_.size)).shape[-2:])
    layers = (plan_.content_layers if content is not None else []) + (
        plan_.style_layers if style is not None else []
    )
    encoder = build_encoder(cfg.backbone, list(dict.fromkeys(layers)))
    init = initial_image(cfg, plan_, shape, content)

    out_dir.mkdir(parents=True, exist_ok=True)
    logger = TensorBoardLogger(save_dir=str(out_dir), name="tb", version="", default_hp_metric=False)
    monitor = RunMonitor(int(cfg.image_every))
    callbacks: list[pl.Callback] = [monitor]
    if cfg.progress_bar:
        callbacks.append(ProgressBar())
    pl.seed_everything(int(cfg.seed), verbose=False)
    try:
        trainer = pl.Trainer(
            **OmegaConf.to_container(cfg.trainer, resolve=True),
            max_epochs=1,
            logger=logger,
            callbacks=callbacks,
            log_every_n_steps=int(cfg.log_every),
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=bool(cfg.progress_bar),
            num_sanity_val_steps=0,
            default_root_dir=str(out_dir),
        )
    except Exception as err:  # a misconfigured trainer (e.g. accelerator=gpu without a GPU)
        raise NSTError(f"cannot build the trainer: {err}") from None
    device = trainer.strategy.root_device

    def on(tensor: torch.Tensor | None) -> torch.Tensor | None:
        return None if tensor is None else tensor.to(device)

    module = StyleTransfer(
        encoder=encoder.to(device),
        init_image=init.to(device),
        content_image=on(content),
        style_image=on(style),
        content_layers=plan_.content_layers,
        style_layers=plan_.style_layers,
        content_weight=float(cfg.content_weight),
        style_weight=float(cfg.style_weight),
        tv_weight=float(cfg.tv_weight),
        range_weight=float(cfg.range_weight),
        optimizer=instantiate(cfg.optimizer),
    )
    started = time.perf_counter()
    trainer.fit(module, train_dataloaders=step_loader(plan_.steps))
    wall = time.perf_counter() - started

    result = module.export()
    with torch.no_grad():
        final = {k: float(v) for k, v in module.losses(result).items()}
    image_path = save_image(result, out_dir / "result.png")
    if cfg.output:
        output = Path(str(cfg.output)).expanduser()
        save_image(result, output)
    monitor.log_image(trainer, module)
    metrics = {
        "status": "completed",
        "steps": monitor.steps_done,
        "wall_seconds": round(wall, 3),
        "seconds_per_step": round(monitor.median_step_seconds, 5),
        "evaluations": module.evaluations,
        "seconds_per_evaluation": round(sum(monitor.step_seconds) / max(module.evaluations, 1), 5),
        "loss": {k.split("/", 1)[1]: v for k, v in final.items() if k.startswith("loss/")},
        "content_layers": {k.split("/", 1)[1]: v for k, v in final.items() if k.startswith("content/")},
        "style_layers": {k.split("/", 1)[1]: v for k, v in final.items() if k.startswith("style/")},
        "backbone": cfg.backbone.name,
        "size": plan_.size,
        "shape": list(shape),
        "seed": int(cfg.seed),
        "init": plan_.init,
        "optimizer": cfg.optimizer._target_.rsplit(".", 1)[-1],
        "device": str(device),
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        "content": str(plan_.content_path) if plan_.content_path else None,
        "style": str(plan_.style_path) if plan_.style_path else None,
        "image": str(image_path),
    }
    logger.log_hyperparams(
        _flat_hparams(cfg),
        {f"final/{k}": v for k, v in metrics["loss"].items()} | {"final/wall_seconds": wall},
    )
    logger.finalize("success")
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def completed_metrics(out_dir: Path) -> dict[str, Any] | None:
    """The metrics of a finished run in ``out_dir``, or None if it is absent or incomplete."""
    try:
        metrics = json.loads((out_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    complete = metrics.get("status") == "completed" and Path(metrics.get("image", "")).is_file()
    return metrics if complete else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    done = completed_metrics(out_dir) if cfg.get("skip_completed") else None
    if done is not None:  # a re-run sweep resumes: finished jobs are not run again
        print(f"skipped:     {out_dir} (already completed)")
        return done["loss"]["total"]
    try:
        metrics = run(cfg, out_dir)
    except NSTError as err:
        print(f"nst: error: {err}", file=sys.stderr)
        sys.exit(2)
    except OmegaConfBaseException as err:
        print(f"nst: error: bad configuration: {str(err).splitlines()[0]}", file=sys.stderr)
        sys.exit(2)
    print(f"image:       {metrics['image']}")
    if cfg.output:
        print(f"output:      {cfg.output}")
    print(f"metrics:     {out_dir / 'metrics.json'}")
    print(f"tensorboard: tensorboard --logdir {out_dir / 'tb'}")
    return metrics["loss"]["total"]  # the value a Hydra sweeper would minimise


if __name__ == "__main__":
    main()
