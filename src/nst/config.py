"""The config's types, checked by Hydra when it composes (values and defaults live in conf/).

``conf/config.yaml`` starts from ``nst_schema`` (below), so a value of the wrong type
(``seed=abc``) or a key that does not exist (``sizee=128``) fails while composing, before
anything runs; :func:`nst.plan.make_plan` then checks the values. Defaults are not repeated
here: every field is ``MISSING`` and takes its value, with a comment saying why, from conf/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

# CONF_DIR and ADDED_SINCE live in nst.rundir (which imports only nst.errors); nst.config.CONF_DIR stays.
from nst.rundir import ADDED_SINCE, CONF_DIR, FORMER_DEFAULTS, job_name, run_name


@dataclass
class BackboneConfig:
    name: str = MISSING
    source: str = MISSING  # hed | torchvision | random
    arch: str = MISSING  # vgg16 | vgg19
    preprocessing: str = MISSING  # caffe | imagenet
    weights: str | None = None
    download: bool | None = None  # torchvision only: try to download missing weights
    seed: int | None = None  # random only: the weights' seed
    pooling: str = MISSING  # max | avg
    precision: str = MISSING  # the VGG's arithmetic: fp32 | bf16
    balance_reference: float | None = None  # balance=auto: S0 / C0 of the calibration pair (nst.balance)


@dataclass
class InitConfig:
    kind: str = MISSING  # content | noise | image
    path: str | None = None


@dataclass
class StyleLossConfig:
    name: str = MISSING  # gram | mean_std | w2 | sliced_wasserstein (nst.statistics)
    scale: float = MISSING  # multiplies the statistic's distance: its strength calibrated against gram
    ridge: float | None = None  # w2 only: x the style's mean channel variance, added to the diagonals
    redraw_every: int | None = None  # sliced_wasserstein only: steps between direction draws (0: never)
    relative: bool | None = None  # gram only: each layer's error over its target's mean square
    balance_scale: float = 1.0  # balance=auto: x style_weight (this statistic's look against gram's)


@dataclass
class TrainerConfig:
    accelerator: str = MISSING
    devices: Any = MISSING  # 1, [0], "auto", ...


@dataclass
class AblationConfig:
    root: str = MISSING
    study: str = MISSING
    groups: dict[str, str] = field(default_factory=dict)  # per backbone: the layer groups swept
    style_weight: dict[str, float] = field(default_factory=dict)  # per backbone, with the report's layers
    textures: dict[str, str] = field(default_factory=dict)  # style_statistics: a style's name -> its image
    texture: str | None = None  # style_statistics: the swept style's name (a key of textures)
    swept_textures: str = ""  # style_statistics: the names it sweeps, comma-separated
    swept_seeds: str = ""  # style_statistics: the seeds it sweeps, comma-separated


@dataclass
class VideoConfig:
    frames: list[int] | None = MISSING  # [first, last], 1-based, inclusive; null = every frame
    first_steps: int | None = MISSING  # steps of the first frame (null: `steps`)
    steps: int = MISSING  # steps of every later frame (it starts from the previous result)
    temporal_weight: float = MISSING
    warm_start: bool = MISSING
    flow_preset: str = MISSING  # ultrafast | fast | medium (OpenCV DIS)
    temporal_frames: list[int] = MISSING  # offsets of the earlier frames tied to: long-term [1, 2, 4], or [1]


@dataclass
class StopConfig:
    rel_change: float | None = MISSING  # converged: the best loss fell by less than this over `window` steps
    window: int = MISSING


@dataclass
class Config:
    backbone: BackboneConfig = MISSING
    optimizer: Any = MISSING  # torch.optim keyword arguments under _target_, checked by the plan
    init: InitConfig = MISSING
    style_loss: StyleLossConfig = MISSING
    trainer: TrainerConfig = MISSING
    ablation: AblationConfig | None = None
    content: str | None = MISSING
    style: Any = MISSING  # a path or manifest name, a list of them, or null
    style_blend: list[float] | None = MISSING
    style_masks: list[str] | None = MISSING
    output: str | None = MISSING
    size: int = MISSING
    style_scale: float = MISSING
    preserve_color: str = MISSING
    steps: int = MISSING
    working_size: int | None = MISSING
    refine_steps: int = MISSING
    refine_anchor: float = MISSING
    scales: list[int] | None = MISSING
    scale_steps: list[int] | None = MISSING
    seed: int = MISSING
    content_layers: Any = MISSING  # a list of names, or one name
    style_layers: Any = MISSING
    content_weight: float = MISSING
    style_weight: float = MISSING
    strength: float = MISSING
    balance: str = MISSING
    tv_weight: float = MISSING
    range_weight: float = MISSING
    log_every: int = MISSING
    image_every: int = MISSING
    progress_bar: bool = MISSING
    checkpoint_every: int = MISSING
    checkpoint_history: int = MISSING
    resume: str | None = MISSING
    overwrite: bool = MISSING
    max_input_pixels: int = MISSING
    force: bool = MISSING
    deterministic: bool = MISSING
    debug: bool = MISSING
    compile: bool = MISSING
    time_budget: float | None = MISSING
    stop: StopConfig = MISSING
    skip_completed: bool = MISSING
    tile: int | None = MISSING
    tile_overlap: int = MISSING
    video: VideoConfig = MISSING


def register() -> None:
    """The schema and the run and sweep-job folder name resolvers, before Hydra composes."""
    ConfigStore.instance().store(name="nst_schema", node=Config)
    if not OmegaConf.has_resolver("nst_run_name"):
        OmegaConf.register_new_resolver("nst_run_name", run_name)
    if not OmegaConf.has_resolver("nst_job_name"):
        OmegaConf.register_new_resolver("nst_job_name", job_name)


def validated(cfg: DictConfig | dict | str) -> DictConfig:
    """A config from elsewhere (a checkpoint) checked against the same schema."""
    data = OmegaConf.create(cfg) if isinstance(cfg, str) else cfg
    merged = OmegaConf.merge(OmegaConf.structured(Config), data)
    if OmegaConf.is_missing(merged, "style_loss"):  # saved before style_loss existed: a Gram run
        merged.style_loss = OmegaConf.merge(
            OmegaConf.structured(StyleLossConfig), OmegaConf.load(CONF_DIR / "style_loss" / "gram.yaml")
        )
    missing = [key for key in ADDED_SINCE if _missing(merged, key)]  # saved before the key existed
    if missing:
        defaults = OmegaConf.load(CONF_DIR / "config.yaml")  # merged, not assigned: a group is typed
        for key in missing:
            merged = OmegaConf.merge(merged, _nested(key, OmegaConf.select(defaults, key)))
        for key, value in FORMER_DEFAULTS.items():  # its default changed since: the value such runs had
            if any(key == gone or key.startswith(f"{gone}.") for gone in missing):
                merged = OmegaConf.merge(merged, _nested(key, value))
    return merged


def _missing(cfg: DictConfig, key: str) -> bool:
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return isinstance(node, DictConfig) and OmegaConf.is_missing(node, leaf)


def _nested(key: str, value: Any) -> dict[str, Any]:
    """{"a": {"b": value}} for the dotted key "a.b"."""
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def compose(overrides: list[str] | None = None, with_hydra: bool = False) -> DictConfig:
    """The config ``python -m nst OVERRIDES`` runs with (for tests, benchmarks and scripts).

    ``with_hydra`` keeps Hydra's own node (``cfg.hydra.runtime.choices``: the option of each group).
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides or []), return_hydra_config=with_hydra)


_PLAIN = re.compile(r"[A-Za-z0-9_./@:+-]+")  # values Hydra's override grammar takes unquoted (ASCII only)


def quote(text: str) -> str:
    """``text`` as one of Hydra's quoted strings: the very same string once parsed and resolved
    (quotes escaped, backslashes doubled where they precede a quote, ``${`` not an interpolation)."""

    def escape(match: re.Match) -> str:
        return match[1] * 2 + {"'": "\\'", "${": "\\${", "": ""}[match[2]]

    return "'" + re.sub(r"(\\*)('|\$\{|$)", escape, text) + "'"


def plain(text: str) -> bool:
    """Whether Hydra's override grammar reads ``text`` unquoted as this very string."""
    return bool(_PLAIN.fullmatch(text)) and text not in ("null", "true", "false")


_TYPE_WORDS = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false", "String": "a string"}


def error_line(err: BaseException) -> str:
    """One line for a composition error (a typo, a wrong type, an unknown option of a group)."""
    override = getattr(err, "override", None)  # Hydra's OverrideParseException: the grammar refused it
    if override is not None:
        key, _, value = override.partition("=")  # (Hydra's own reason names a token, not the fix)
        return (
            f"cannot read {override!r}: Hydra's override grammar needs a value with brackets, quotes, "
            f"commas, '=' or non-ASCII letters quoted, e.g. \"{key}={quote(value)}\" (the double quotes "
            "are for the shell)"
        )
    cause = err.__cause__ or err
    text = str(cause)
    full_key = str(getattr(cause, "full_key", "") or "")
    key = re.sub(r"\[\d+\]$", "", full_key)
    converted = re.search(r"Value '(.*)' of type '\w+' could not be converted to (\w+)", text)
    if key and converted:
        kind = _TYPE_WORDS.get(converted[2], converted[2])
        if key != full_key:  # an element of a list
            kind = f"a list of {kind.removeprefix('an ').removeprefix('a ')}s"
        return f"{key} must be {kind}, got '{converted[1]}'"
    boolean = re.search(r"Value '(.*)' is not a valid bool", text)
    if key and boolean:
        return f"{key} must be true or false, got '{boolean[1]}'"
    if key and "is not a ListConfig" in text:
        return f"{key} must be a list, e.g. {key}=[1,2]"
    unknown_key = re.search(r"Could not override '([^']+)'|Key '([^']+)' not in '\w+'", str(err) + text)
    if unknown_key:
        name = unknown_key[1] or full_key or unknown_key[2]
        return f"unknown key '{name}' (`python -m nst --cfg job` lists every key)"
    missing = re.search(r"Could not find '([^'/]+)/([^']+)'", text)
    if missing:
        options = re.findall(r"^\t(\S+)$", text.split("Config search path")[0], flags=re.M)
        valid = ", ".join(o for o in options if not o.startswith("_"))
        return f"unknown {missing[1]} '{missing[2]}'; valid: {valid}"
    return f"bad configuration: {text.strip().splitlines()[0] if text.strip() else type(err).__name__}"
