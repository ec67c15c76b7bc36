"""One run: validate everything, then optimise scale by scale, checkpointing, and write the results."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from pytorch_lightning.loggers import TensorBoardLogger

from nst import assets, checkpoint
from nst.backbones import build_encoder, encoder_dtype, native_bf16
from nst.callbacks import ProgressBar, RunMonitor, log_image
from nst.checkpoint import Diverged, Interrupted, StopFlag
from nst.encoder import canonical_layers, min_input_size
from nst.errors import NSTError
from nst.images import read_image, resize_longest, save_image, to_tensor
from nst.module import StyleTransfer, step_loader
from nst.resources import check_memory, current_memory_mb, expected_device, peak_memory_mb

log = logging.getLogger("nst")

EXIT_DIVERGED = 3


class RunStopped(Exception):
    """The run ended early (interrupted or diverged) after saving what it had; carries the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Plan:
    """Everything a run needs, validated before any heavy work starts."""

    content_path: Path | None
    style_path: Path | None
    sizes: list[int]  # coarse-to-fine: every scale's longest edge; the last is `size`
    steps: list[int]  # steps at each scale
    content_layers: list[str]
    style_layers: list[str]
    init: str
    output: Path | None
    precision: str  # the VGG's arithmetic: fp32 or bf16

    @property
    def layers(self) -> list[str]:
        return list(dict.fromkeys(self.content_layers + self.style_layers))


def _positive_int(value: Any, key: str) -> int:
    try:
        number = int(value)
        if isinstance(value, bool) or number != float(value):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise NSTError(f"{key} must be a positive integer, got {value!r}") from None
    if number <= 0:
        raise NSTError(f"{key} must be a positive integer, got {value!r}")
    return number


def _int_list(value: Any, key: str) -> list[int]:
    if value is None:
        return []
    if isinstance(value, (int, str)):
        value = [value]
    return [_positive_int(v, key) for v in value]


def _layer_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # content_layers=relu4_2 means [relu4_2]
        return [value]
    return [str(v) for v in value]


def _check_optimizer(cfg: DictConfig) -> None:
    options = cfg.optimizer
    lr = options.get("lr")
    if lr is None or not isinstance(lr, (int, float)) or lr <= 0:
        raise NSTError(f"optimizer.lr must be a positive number, got {lr!r}")
    if "history_size" in options:
        _positive_int(options.history_size, "optimizer.history_size")
    if options.get("line_search_fn") not in (None, "strong_wolfe"):
        raise NSTError(
            f"optimizer.line_search_fn must be null or strong_wolfe, got {options.line_search_fn!r}"
        )
    try:
        instantiate(options)([torch.zeros(1, requires_grad=True)])  # unknown options fail here
    except Exception as err:  # a misspelt optimizer option
        raise NSTError(f"bad optimizer options: {str(err).splitlines()[0]}") from None


def _check_writable(folder: Path, what: str) -> None:
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise NSTError(f"{what} {folder} is not writable")


def plan(cfg: DictConfig, out_dir: Path, resuming: bool = False) -> Plan:
    """Cheap checks first (no image decoded, no weights read), each failing with one clear line."""
    if cfg.content is None and cfg.style is None:
        raise NSTError(
            "content and style are both null: give content (reconstruction), style (texture "
            "synthesis) or both (style transfer)"
        )
    size = _positive_int(cfg.size, "size")
    steps = _positive_int(cfg.steps, "steps")
    coarse = _int_list(cfg.get("scales"), "scales")
    if coarse and (coarse != sorted(set(coarse)) or coarse[-1] >= size):
        raise NSTError(f"scales must increase and stay below size={size}, got {coarse}")
    coarse_steps = _int_list(cfg.get("scale_steps"), "scale_steps") or [steps] * len(coarse)
    if len(coarse_steps) != len(coarse):
        raise NSTError(f"scale_steps needs one entry per scale ({len(coarse)}), got {coarse_steps}")
    for key in ("content_weight", "style_weight", "tv_weight", "range_weight", "style_scale"):
        value = cfg.get(key)
        if not isinstance(value, (int, float)) or value < 0 or value != value:
            raise NSTError(f"{key} must be a non-negative number, got {value!r}")
    if cfg.style_scale <= 0:
        raise NSTError(f"style_scale must be positive, got {cfg.style_scale!r}")
    arch, name = cfg.backbone.arch, cfg.backbone.name
    content_layers = canonical_layers(_layer_list(cfg.content_layers), arch, name)
    style_layers = canonical_layers(_layer_list(cfg.style_layers), arch, name)
    if cfg.content is not None and not content_layers:
        raise NSTError("content_layers is empty but a content image is given (content=null skips it)")
    if cfg.style is not None and not style_layers:
        raise NSTError("style_layers is empty but a style image is given (style=null skips it)")
    if cfg.content is None:
        content_layers = []
    if cfg.style is None:
        style_layers = []
    smallest = min_input_size(content_layers + style_layers, arch)
    first = (coarse or [size])[0]
    if first < smallest:
        raise NSTError(
            f"size {first} is too small for layer(s) {content_layers + style_layers}: "
            f"needs at least {smallest} px"
        )
    init = str(cfg.init.kind)
    if init not in ("content", "noise", "image"):
        raise NSTError(f"unknown init '{init}'; valid: content, noise, image")
    if init == "content" and cfg.content is None:
        init = "noise"  # texture synthesis has no content image to start from
    if init == "image" and not cfg.init.get("path"):
        raise NSTError("init=image needs init.path=PATH (a file or a manifest name)")
    _check_optimizer(cfg)
    precision = str(cfg.get("precision", "fp32"))  # run dirs from before the option have no key
    encoder_dtype(precision)
    output = Path(str(cfg.output)).expanduser() if cfg.output else None
    if output is not None:
        if output.suffix.lower() not in Image.registered_extensions():
            raise NSTError(f"output {output}: unknown image extension (use .png, .jpg, ...)")
        if output.exists() and not cfg.get("overwrite") and not resuming:
            raise NSTError(f"output {output} exists; pass overwrite=true to replace it")
        if output.is_dir():
            raise NSTError(f"output {output} is a directory")
        _check_writable(output.parent, "output folder")
    _check_writable(out_dir, "run directory")
    return Plan(
        content_path=assets.resolve(cfg.content) if cfg.content is not None else None,
        style_path=assets.resolve(cfg.style) if cfg.style is not None else None,
        sizes=[*coarse, size],
        steps=[*coarse_steps, steps],
        content_layers=content_layers,
        style_layers=style_layers,
        init=init,
        output=output,
        precision=precision,
    )


class Images:
    """The decoded sources, resized per scale (each file is decoded once)."""

    def __init__(self, cfg: DictConfig, plan_: Plan) -> None:
        limit = int(cfg.get("max_input_pixels") or 0) or None
        largest = max(plan_.sizes)
        self.style_scale = float(cfg.style_scale)
        self.content = read_image(plan_.content_path, limit, largest) if plan_.content_path else None
        style_size = round(largest * self.style_scale)
        self.style = read_image(plan_.style_path, limit, style_size) if plan_.style_path else None
        self.init = None
        if plan_.init == "image":
            self.init = read_image(assets.resolve(cfg.init.path), limit, largest)
        self.min_edge = min_input_size(plan_.layers, cfg.backbone.arch)
        self.layers = plan_.layers

    @staticmethod
    def _shape(image: Image.Image, size: int) -> tuple[int, int]:
        width, height = image.size
        scale = size / max(width, height)
        return max(1, round(height * scale)), max(1, round(width * scale))  # as resize_longest

    def shape_at(self, size: int) -> tuple[int, int]:
        """The result's (height, width) at ``size``: the content's, or the style's for texture synthesis."""
        return self._shape(self.content if self.content is not None else self.style, size)

    def check(self, size: int) -> None:
        """Every image is big enough for the deepest layer at ``size`` (no pixel is resized here)."""
        sources = [
            ("the content image", self.content, size),
            ("the style image", self.style, max(1, round(size * self.style_scale))),
        ]
        if self.content is None:  # texture synthesis: the result takes the style's shape at `size`
            sources.append(("the result", self.style, size))
        for what, image, edge in sources:
            if image is None:
                continue
            height, width = self._shape(image, edge)
            if min(height, width) < self.min_edge:
                raise NSTError(
                    f"{what} is {width}x{height} px at size {edge}, too small for layer(s) {self.layers}: "
                    f"each edge needs at least {self.min_edge} px (raise size or use shallower layers)"
                )

    def at(self, size: int) -> tuple[torch.Tensor | None, torch.Tensor | None, tuple[int, int]]:
        content = style = None
        if self.content is not None:
            content = to_tensor(resize_longest(self.content, size))
        if self.style is not None:
            style = to_tensor(resize_longest(self.style, max(1, round(size * self.style_scale))))
        return content, style, self.shape_at(size)


def initial_image(
    cfg: DictConfig, plan_: Plan, images: Images, shape: tuple[int, int], content: torch.Tensor | None
) -> torch.Tensor:
    if plan_.init == "content":
        assert content is not None
        return content.clone()
    if plan_.init == "noise":
        generator = torch.Generator().manual_seed(int(cfg.seed))
        return torch.rand(1, 3, *shape, generator=generator)
    return to_tensor(images.init.resize((shape[1], shape[0]), Image.Resampling.LANCZOS))


def upsample(image: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The previous scale's result as the next scale's start (bicubic, kept in range)."""
    return F.interpolate(image.clamp(0, 1), size=shape, mode="bicubic", align_corners=False).clamp(0, 1)


def _quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in (
        ".*does not have many workers.*",
        ".*Checkpoint directory.*",
        ".*TensorBoardLogger.*",
        ".*tensorboardX.*",
        ".*LeafSpec.*",
        r".*module\(s\) in eval mode.*",
    ):
        warnings.filterwarnings("ignore", message=message)


def _flat_hparams(cfg: DictConfig) -> dict[str, Any]:
    """Scalar hyper-parameters for TensorBoard's HPARAMS tab (lists become strings)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    container.pop("trainer", None)  # type: ignore[union-attr]
    flat: dict[str, Any] = {}

    def visit(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                visit(value, f"{prefix}{key}.")
        else:
            flat[prefix.rstrip(".")] = node if isinstance(node, (int, float, str, bool)) else str(node)

    visit(container, "")
    return flat


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def completed_metrics(out_dir: Path) -> dict[str, Any] | None:
    """The metrics of a finished run in ``out_dir``, or None if it is absent or incomplete."""
    try:
        metrics = json.loads((out_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    complete = metrics.get("status") == "completed" and Path(metrics.get("image", "")).is_file()
    return metrics if complete else None


def _make_trainer(cfg: DictConfig, logger: TensorBoardLogger, callbacks: list[pl.Callback], out_dir: Path):
    options = OmegaConf.to_container(cfg.trainer, resolve=True)
    if cfg.get("deterministic"):
        options.update(deterministic=True, benchmark=False)  # autotuned kernels may differ run to run
    try:
        return pl.Trainer(
            **options,
            max_epochs=1,
            logger=logger,
            callbacks=callbacks,
            enable_checkpointing=False,  # our own checkpoint holds the image and optimizer, not VGG
            enable_model_summary=False,
            enable_progress_bar=bool(cfg.progress_bar),
            num_sanity_val_steps=0,
            log_every_n_steps=1,  # losses go to TensorBoard through RunMonitor; this only silences a warning
            default_root_dir=str(out_dir),
        )
    except Exception as err:  # a misconfigured trainer (e.g. accelerator=gpu without a GPU)
        raise NSTError(f"cannot build the trainer: {str(err).splitlines()[0]}") from None


def run(cfg: DictConfig, out_dir: Path, resume: dict[str, Any] | None = None) -> dict[str, Any]:
    """One style-transfer / reconstruction / synthesis run; returns the metrics it wrote."""
    _quiet_lightning()
    plan_ = plan(cfg, out_dir, resuming=resume is not None)
    images = Images(cfg, plan_)
    for size in plan_.sizes:
        images.check(size)  # every scale, now: not after an hour at the first one
    start_mb = current_memory_mb()
    target_device = expected_device(cfg)
    estimate_mb = check_memory(cfg, plan_, images.shape_at(plan_.sizes[-1]), target_device)
    if plan_.precision == "bf16" and not native_bf16(target_device):
        print(
            f"nst: note: precision=bf16 is emulated on this {target_device.type} (no AVX512-BF16/"
            "AMX): expect it to be slower than precision=fp32",
            file=sys.stderr,
        )
    encoder = build_encoder(cfg.backbone, plan_.layers, plan_.precision)
    out_dir.mkdir(parents=True, exist_ok=True)
    logger = TensorBoardLogger(save_dir=str(out_dir), name="tb", version="", default_hp_metric=False)
    pl.seed_everything(int(cfg.seed), verbose=False)

    scale_index = resume["scale_index"] if resume else 0
    step_in_scale = resume["step_in_scale"] if resume else 0
    steps_done = resume["steps_done"] if resume else 0
    evaluations = resume.get("evaluations", 0) if resume else 0
    wall_before = resume.get("wall_seconds", 0.0) if resume else 0.0
    image = resume["image"] if resume else None
    optimizer_state = resume["optimizer"] if resume else None
    step_seconds: list[float] = []
    started = time.perf_counter()
    config_yaml = OmegaConf.to_yaml(cfg)
    module: StyleTransfer | None = None
    device = torch.device("cpu")

    def save_state(trainer: pl.Trainer, current: StyleTransfer, monitor: RunMonitor) -> None:
        checkpoint.save(
            out_dir / checkpoint.CHECKPOINT,
            {
                "image": current.image.detach(),
                "optimizer": trainer.optimizers[0].state_dict(),
                "scale_index": scale_index,
                "step_in_scale": step_in_scale + trainer.global_step,
                "steps_done": monitor.step(trainer),
                "evaluations": evaluations + current.evaluations,
                "wall_seconds": wall_before + time.perf_counter() - started,
                "config": config_yaml,
            },
        )

    def metrics(status: str, result: torch.Tensor, image_path: Path, **extra: Any) -> dict[str, Any]:
        assert module is not None
        module.to(device)  # Lightning's teardown moves the module back to the CPU after fit
        with torch.no_grad():
            final = {k: float(v) for k, v in module.losses(result.to(device)).items()}
        ordered = sorted(step_seconds)
        wall = wall_before + time.perf_counter() - started
        data = {
            "status": status,
            "steps": steps_done,
            "evaluations": evaluations,
            "wall_seconds": round(wall, 3),
            "seconds_per_step": round(ordered[len(ordered) // 2], 5) if ordered else None,
            "seconds_per_evaluation": round(sum(step_seconds) / max(evaluations, 1), 5),
            "loss": {k.split("/", 1)[1]: v for k, v in final.items() if k.startswith("loss/")},
            "content_layers": {k.split("/", 1)[1]: v for k, v in final.items() if k.startswith("content/")},
            "style_layers": {k.split("/", 1)[1]: v for k, v in final.items() if k.startswith("style/")},
            "backbone": cfg.backbone.name,
            "size": plan_.sizes[-1],
            "scales": plan_.sizes,
            "shape": list(result.shape[-2:]),
            "seed": int(cfg.seed),
            "init": plan_.init,
            "optimizer": cfg.optimizer._target_.rsplit(".", 1)[-1],
            "device": str(device),
            "precision": plan_.precision,
            "peak_memory_mb": round(peak_memory_mb(device), 1),
            "start_memory_mb": round(start_mb, 1),
            "memory_estimate_mb": round(estimate_mb, 1),
            "content": str(plan_.content_path) if plan_.content_path else None,
            "style": str(plan_.style_path) if plan_.style_path else None,
            "image": str(image_path),
            **extra,
        }
        write_json(out_dir / "metrics.json", data)
        return data

    with StopFlag() as stop:
        while scale_index < len(plan_.sizes):
            size = plan_.sizes[scale_index]
            content, style, shape = images.at(size)
            if image is None:
                image = initial_image(cfg, plan_, images, shape, content)
            elif tuple(image.shape[-2:]) != shape:
                image = upsample(image, shape)
            monitor: RunMonitor = RunMonitor(
                step_offset=steps_done,
                log_every=int(cfg.log_every),
                image_every=int(cfg.image_every),
                checkpoint_every=int(cfg.checkpoint_every),
                save_checkpoint=lambda trainer, current: save_state(trainer, current, monitor),  # noqa: B023
                stop=stop,
            )
            scales = f"scale {scale_index + 1}/{len(plan_.sizes)} ({size} px)" if len(plan_.sizes) > 1 else ""
            callbacks: list[pl.Callback] = [monitor]
            if cfg.progress_bar:
                callbacks.append(ProgressBar(scales or "steps", plan_.steps[scale_index] - step_in_scale))
            trainer = _make_trainer(cfg, logger, callbacks, out_dir)
            device = trainer.strategy.root_device
            module = StyleTransfer(
                encoder=encoder.to(device),
                init_image=image.to(device),
                content_image=None if content is None else content.to(device),
                style_image=None if style is None else style.to(device),
                content_layers=plan_.content_layers,
                style_layers=plan_.style_layers,
                content_weight=float(cfg.content_weight),
                style_weight=float(cfg.style_weight),
                tv_weight=float(cfg.tv_weight),
                range_weight=float(cfg.range_weight),
                optimizer=instantiate(cfg.optimizer),
                optimizer_state=optimizer_state,
                compile=bool(cfg.get("compile", False)),
            )
            remaining = plan_.steps[scale_index] - step_in_scale
            stopped: Interrupted | Diverged | None = None
            try:
                trainer.fit(module, train_dataloaders=step_loader(remaining))
            except (Interrupted, Diverged) as error:
                stopped = error
            steps_done = monitor.step(trainer)
            evaluations += module.evaluations
            step_seconds += monitor.step_seconds
            if isinstance(stopped, Interrupted):
                current = module.export()
                metrics(
                    "interrupted", current, save_image(current, out_dir / "result.png"), signal=str(stopped)
                )
                raise RunStopped(
                    f"interrupted ({stopped}) at step {steps_done}: image and checkpoint saved in "
                    f"{out_dir}; continue with resume={out_dir}",
                    128 + stopped.signum,
                )
            if isinstance(stopped, Diverged):
                kept = module.last_finite.detach().clamp(0, 1)
                path = save_image(kept, out_dir / "result.png")
                metrics("diverged", kept, path, error=str(stopped))
                raise RunStopped(
                    f"diverged: {stopped} (step {steps_done}); the last finite image is in {path}; "
                    f"lower optimizer.lr or the loss weights",
                    EXIT_DIVERGED,
                )
            image = module.image.detach().to("cpu")
            optimizer_state = None  # a new scale starts a fresh L-BFGS history
            step_in_scale = 0
            scale_index += 1

    assert module is not None
    result = module.export()
    image_path = save_image(result, out_dir / "result.png")
    if plan_.output is not None:
        save_image(result, plan_.output)
    log_image(trainer, module, steps_done)
    data = metrics("completed", result, image_path)
    logger.log_hyperparams(
        _flat_hparams(cfg),
        {f"final/{k}": v for k, v in data["loss"].items()} | {"final/wall_seconds": data["wall_seconds"]},
    )
    logger.finalize("success")
    (out_dir / checkpoint.CHECKPOINT).unlink(missing_ok=True)  # done: the checkpoint is dead weight
    return data
