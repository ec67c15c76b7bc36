"""The Python API: ``from nst import stylize``, for notebooks and applications.

The same engine, defaults and checks as ``python -m nst``: the keyword arguments are the command
line's keys (``python -m nst --help`` lists them), and a bad value raises :class:`nst.NSTError`
carrying the one line the command line would print.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from omegaconf.errors import OmegaConfBaseException

from nst.errors import NSTError


def _value(value: Any) -> str:
    """A Python value as Hydra override text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_value(v) for v in value) + "]"
    from nst.config import plain, quote

    text = str(value)
    return text if plain(text) else quote(text)


def _overrides(settings: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """``{"optimizer": "adam", "backbone": {"precision": "bf16"}}`` -> ``optimizer=adam``,
    ``backbone.precision=bf16``."""
    for key, value in settings.items():
        if isinstance(value, Mapping):
            yield from _overrides(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}={_value(value)}"


def _image_argument(value: Any, name: str, folder: Path) -> Any:
    """Paths and manifest names pass through; a PIL image or a tensor is written to ``folder``."""
    if value is None or isinstance(value, (str, Path)):
        return value
    if isinstance(value, (list, tuple)):  # several styles
        return [_image_argument(v, f"{name}{i}", folder) for i, v in enumerate(value)]
    from PIL import Image

    if not isinstance(value, Image.Image):
        import torch

        if not isinstance(value, torch.Tensor):
            kind = type(value).__name__
            raise NSTError(f"{name} must be a path, a manifest name, a PIL image or a tensor, got {kind}")
        tensor = value.detach().float().cpu()
        tensor = tensor[None, None] if tensor.dim() == 2 else tensor  # HxW: a mask, a grey image
        tensor = tensor.unsqueeze(0) if tensor.dim() == 3 else tensor
        tensor = tensor.expand(-1, 3, -1, -1) if tensor.dim() == 4 and tensor.shape[1] == 1 else tensor
        if tensor.dim() != 4 or tensor.shape[:2] != (1, 3):
            shape = tuple(value.shape)
            raise NSTError(
                f"{name} as a tensor must be 3xHxW or 1x3xHxW (RGB in [0, 1]), or HxW or 1xHxW (grey), "
                f"got {shape}"
            )
        from nst.images import to_pil

        value = to_pil(tensor)
    path = folder / f"{name}.png"
    value.convert("RGB").save(path)
    return str(path)


def _compose(overrides: list[str]) -> Any:
    """The config of ``overrides``; a composition error raises the command line's one line."""
    from nst import config

    try:
        return config.compose(overrides)
    except Exception as err:  # Hydra's and OmegaConf's composition errors, as the CLI words them
        if not isinstance(err, OmegaConfBaseException) and type(err).__module__.split(".")[0] != "hydra":
            raise
        raise NSTError(config.error_line(err)) from None


def stylize(
    content: Any = "tubingen",
    style: Any = "starry_night",
    *,
    size: int | None = None,
    steps: int | None = None,
    run_dir: str | Path | None = None,
    progress: bool = False,
    **settings: Any,
):
    """Optimise an image as ``python -m nst`` does and return it as a ``PIL.Image``.

    ``content`` / ``style``: a path, a manifest name (``tubingen``, ``starry_night``, ...), a PIL
    image or a tensor (3xHxW or 1x3xHxW, RGB in [0, 1]); ``None`` for texture synthesis /
    content reconstruction; ``style`` may be a list of them (with ``style_blend``, ``style_masks``).
    ``size`` and ``steps`` and any other key of the command line (``style_weight=2.0``,
    ``backbone="vgg16_hed"``, ``optimizer="adam"``, ``backbone={"precision": "bf16"}``,
    ``preserve_color="luminance"``) take the same defaults and checks. ``run_dir``: keep the run's
    folder (result.png, metrics.json, TensorBoard logs) there; by default it is a temporary folder,
    removed afterwards. Quiet unless ``progress=True``.

    Raises :class:`nst.NSTError` (``str(error)`` is the one-line reason, ``error.exit_code`` the
    command line's exit code) for bad input, a diverged run or a failed write.

    Example::

        from nst import stylize
        image = stylize("photo.jpg", "starry_night", size=256, steps=200, style_weight=2.0)
        image.save("stylised.png")
    """
    from nst.engine import run
    from nst.plan import make_plan
    from nst.rundir import claim

    with tempfile.TemporaryDirectory(prefix="nst-") as scratch:
        folder = Path(run_dir).expanduser().absolute() if run_dir is not None else Path(scratch) / "run"
        inputs = Path(scratch)
        images = {"content": content, "style": style, "style_masks": settings.pop("style_masks", None)}
        given = {
            k: _image_argument(v, k, inputs) for k, v in images.items() if v is not None or k != "style_masks"
        }
        given |= {
            k: v for k, v in (("size", size), ("steps", steps), ("progress_bar", progress)) if v is not None
        }
        cfg = _compose(list(_overrides({**given, **settings})))
        if cfg.resume is not None:
            raise NSTError("resume is for the command line (python -m nst resume=RUN_DIR)")
        plan = make_plan(cfg, folder)
        if plan.folder_run:
            raise NSTError("stylize takes one content image; a folder of them: python -m nst content=DIR")
        if plan.video_run:
            raise NSTError("stylize takes one content image; a video: python -m nst content=clip.mp4")
        with claim(folder):
            data = run(plan, folder)
        from PIL import Image

        with Image.open(data["image"]) as image:
            return image.convert("RGB")  # a copy in memory: the temporary folder goes
