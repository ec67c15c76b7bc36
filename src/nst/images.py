"""Reading, resizing and writing images; every failure becomes one clear NSTError."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from nst.errors import NSTError


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with any transparency composited on white."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits rather than clip (PIL's convert('L') clips at 255).
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        return Image.fromarray((array / peak * 255.0).round().astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def read_image(path: str | Path, max_pixels: int | None = None, size: int | None = None) -> Image.Image:
    """Decode ``path`` as RGB, upright (EXIF orientation applied).

    ``max_pixels`` refuses larger images from their header alone, before any pixel is decoded (a
    decompression bomb costs nothing). ``size`` lets JPEGs decode at a reduced scale when the
    longest edge asked for is much smaller than the file's.
    """
    path = Path(path)
    if not path.exists():
        raise NSTError(f"image not found: {path}")
    if not path.is_file():
        raise NSTError(f"not a file: {path}")
    limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None  # our own limit below replaces Pillow's warning/error pair
        with Image.open(path) as image:
            width, height = image.size
            if max_pixels and width * height > max_pixels:
                raise NSTError(
                    f"image {path} is {width}x{height} = {width * height:,} pixels, above "
                    f"max_input_pixels={max_pixels:,}; shrink it or raise max_input_pixels"
                )
            if size and image.format == "JPEG":
                image.draft("RGB", (size, size))  # DCT-domain downscale: never below `size`
            image = ImageOps.exif_transpose(image)
            image.load()
            return _to_rgb(image)
    except UnidentifiedImageError:
        raise NSTError(f"not an image (or a format Pillow cannot read): {path}") from None
    except PermissionError:
        raise NSTError(f"cannot read {path}: permission denied") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise NSTError(f"cannot decode {path}: {err}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def resize_longest(image: Image.Image, size: int) -> Image.Image:
    """Resize so that the longest edge is ``size`` pixels, keeping the aspect ratio."""
    width, height = image.size
    scale = size / max(width, height)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if new_size == image.size:
        return image
    return image.resize(new_size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> float tensor 1x3xHxW in [0, 1]."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def load_image(path: str | Path, size: int) -> torch.Tensor:
    return to_tensor(resize_longest(read_image(path, size=size), size))


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """1x3xHxW (any range) -> PIL RGB, clamped to [0, 1] only here, at export."""
    array = tensor.detach().float().clamp(0, 1).mul(255).round().byte()
    return Image.fromarray(array[0].permute(1, 2, 0).cpu().numpy())


def save_image(tensor: torch.Tensor, path: str | Path) -> Path:
    """Write atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower() or ".png"
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{suffix}")
    try:
        to_pil(tensor).save(tmp)
        os.replace(tmp, path)
    except (OSError, ValueError) as err:
        tmp.unlink(missing_ok=True)
        raise NSTError(f"cannot write image {path}: {err}") from None
    return path
