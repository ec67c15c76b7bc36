"""`python -m nst --help`: what the tool does, its modes, groups and keys with the values in force.

The one-line meaning of each key is the comment beside it in conf/ (one source for both), and the
values are those of the config composed with the overrides given, so ``backbone=vgg19 --help``
shows vgg19's weights. Nothing here imports torch.
"""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from nst.config import CONF_DIR

INTRO = """\
nst: optimisation-based neural style transfer (Gatys et al.). The pixels of one image are
optimised against a frozen VGG so that its features match a content image and its Gram
matrices match a style image. Each run writes result.png, metrics.json and TensorBoard logs
into its own folder.

usage: python -m nst [KEY=VALUE ...] [GROUP=OPTION ...]   (or: nst ...)
       python -m nst -m KEY=A,B ...      a sweep: one run per value (multirun/...); its jobs run
                                         here one by one, or with hydra/launcher=joblib on every
                                         core, or with hydra/launcher=slurm as SLURM jobs
       python -m nst [...] --cfg job     print the whole config that would run

modes:
  style transfer          python -m nst content=tubingen style=starry_night
  content reconstruction  python -m nst style=null         (starts from white noise)
  texture synthesis       python -m nst content=null       (starts from white noise)
"""

EXAMPLES = """\
examples:
  python -m nst content=photo.jpg style=painting.jpg size=512 output=out.png
  python -m nst style=the_scream strength=2          more paint (0 = the photo, 1 = the default look)
  python -m nst layers=report backbone.precision=bf16
  python -m nst size=1024                            the look of size=256, refined up to 1024 px
  python -m nst size=1024 scales=[128,512]           explicit coarse to fine (working_size ignored)
  python -m nst size=2048 tile=512                   print size, tile by tile (one 512 px tile in memory)
  python -m nst -m layer_group=conv_1+conv_2,conv_3+conv_4 style=null
  python -m nst resume=outputs/DATE/TIME_NAME         continue an interrupted run

exit codes: 0 done, 2 bad input (one line, nothing written), 3 diverged, 4 a file could
not be written, 5 a folder run skipped or failed some images, 128+N stopped by signal N (130 for
Ctrl-C). README.md has the details.
"""

GROUPS = ("backbone", "optimizer", "init", "layers", "layer_group", "style_loss", "experiment", "ablation")


def comments(path: Path, indent: str = "") -> dict[str, str]:
    """``key: value  # comment`` lines of a YAML file at one indentation: {key: comment}."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(rf"^{indent}(\w+):.*?#\s*(.+)$", line)
        if match and not line.lstrip().startswith("#"):
            found[match[1]] = match[2].strip()
    return found


def options(group: str) -> list[str]:
    """A group's options (files of conf/GROUP/), without the shared ones (_*.yaml)."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))


def _value(value: object) -> str:
    text = OmegaConf.to_yaml(value).strip() if isinstance(value, DictConfig) else str(value)
    if isinstance(value, (list, tuple)) or OmegaConf.is_list(value):
        text = "[" + ",".join(str(v) for v in value) + "]"
    return "null" if value is None else text


def _rows(cfg: DictConfig, choices: dict[str, str]) -> list[tuple[str, str, str]]:
    meaning = comments(CONF_DIR / "config.yaml")
    backbone_file = CONF_DIR / "backbone" / f"{choices.get('backbone')}.yaml"
    optimizer_file = CONF_DIR / "optimizer" / f"{choices.get('optimizer')}.yaml"
    from_backbone = comments(backbone_file) if backbone_file.is_file() else {}
    rows = []
    for key, value in cfg.items():
        if key in ("backbone", "optimizer", "init", "trainer", "ablation", "hydra", "video", "style_loss"):
            continue
        if key in from_backbone or key in ("content_weight", "style_weight", "range_weight"):
            text = f"[backbone {choices.get('backbone')}] {from_backbone.get(key, 'its default')}"
        elif key in ("content_layers", "style_layers"):
            text = f"[layers {choices.get('layers')}, or layer_group] names: conv_4, relu4_2, pool2, ..."
        else:
            text = meaning.get(key, "")
        rows.append((key, _value(value), text))
    nested = comments(CONF_DIR / "config.yaml", "  ") | comments(backbone_file, "  ")
    for key in ("precision", "pooling", "weights"):
        rows.append((f"backbone.{key}", _value(cfg.backbone[key]), nested.get(key, "")))
    optimizer_notes = comments(optimizer_file) if optimizer_file.is_file() else {}
    for key, value in cfg.optimizer.items():
        if not key.startswith("_") and key != "name":
            rows.append((f"optimizer.{key}", _value(value), optimizer_notes.get(key, "")))
    rows.append(("init.path", _value(cfg.init.path), "the start image of init=image"))
    style_loss_file = CONF_DIR / "style_loss" / f"{choices.get('style_loss')}.yaml"
    style_loss_notes = comments(style_loss_file) if style_loss_file.is_file() else {}
    for key, value in cfg.style_loss.items():
        if value is not None and key != "name":
            rows.append((f"style_loss.{key}", _value(value), style_loss_notes.get(key, "")))
    for key in ("accelerator", "devices"):
        rows.append((f"trainer.{key}", _value(cfg.trainer[key]), nested.get(key, "")))
    for key, value in cfg.video.items():  # content=clip.mp4 (nst.video)
        rows.append((f"video.{key}", _value(value), nested.get(key, "")))
    return rows


def _wrap(items: list[str], indent: str, width: int = 96) -> list[str]:
    """Comma-separated items on lines of at most ``width``, never breaking an item."""
    lines, line = [], indent
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        if len(line) + len(piece) + 1 > width and line.strip():
            lines.append(line.rstrip())
            line = " " * len(indent)
        line += piece + " "
    return [*lines, line.rstrip()]


def _fits(group: str, arch: str) -> bool:
    from nst.errors import NSTError
    from nst.vgg import canonical_layers

    layers = OmegaConf.load(CONF_DIR / "layer_group" / f"{group}.yaml").content_layers
    try:
        canonical_layers(list(layers), arch)
    except NSTError:
        return False
    return True


def help_text(cfg: DictConfig, choices: dict[str, str]) -> str:
    """The whole --help page for a composed config and its group choices."""
    lines = [INTRO, "groups (GROUP=OPTION; * = in force):"]
    for group in GROUPS:
        chosen = choices.get(group)
        names = [f"{o}*" if o == chosen else o for o in options(group)]
        if group == "layer_group":  # the groups that name convs this backbone lacks say so
            names = [n if _fits(n, cfg.backbone.arch) else f"{n} (vgg19 only)" for n in names]
        lines += _wrap(names, f"  {group + ':':13s}")
    lines += ["", "keys (KEY=VALUE; the values in force; `--cfg job` prints the rest):"]
    for key, value, meaning in _rows(cfg, choices):
        shown = value if len(value) <= 24 else value[:21] + "..."
        lines.append(f"  {key:26s} {shown:24s} {meaning}".rstrip())
    from nst import assets

    names = ", ".join(assets.names())
    lines += ["", f"images and clips by name (assets/manifest.yaml): {names}", "", EXAMPLES]
    return "\n".join(lines)
