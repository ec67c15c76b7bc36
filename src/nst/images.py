"""Images: reading, resizing and writing them (every failure one clear NSTError), the run's sources
per scale, and the noise start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from nst import colour
from nst.errors import NSTError
from nst.files import atomic_write
from nst.vgg import min_input_size, too_deep

if TYPE_CHECKING:
    from nst.plan import Plan


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


def resized_size(wh: tuple[int, int], size: int) -> tuple[int, int]:
    """(width, height) with the longest edge ``size`` and the aspect ratio kept."""
    width, height = wh
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_longest(image: Image.Image, size: int) -> Image.Image:
    """Resize so that the longest edge is ``size`` pixels, keeping the aspect ratio."""
    new_size = resized_size(image.size, size)
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
    """Write atomically (the format from the extension); a failure is WriteFailed naming ``path``."""
    return atomic_write(Path(path), lambda tmp: to_pil(tensor).save(tmp))


def style_edge(size: int, style_scale: float, native: int | None = None) -> int:
    """The style image's longest edge for a result of ``size`` (style_scale sets brush-stroke size),
    never above its own ``native`` longest edge: enlarging a painting only blurs its features."""
    edge = max(1, round(size * style_scale))
    return min(edge, native) if native else edge


def shape_at(image: Image.Image, size: int) -> tuple[int, int]:
    """(height, width) of ``image`` resized so that its longest edge is ``size`` (as resize_longest)."""
    width, height = resized_size(image.size, size)
    return height, width


def noise_image(shape: tuple[int, int], seed: int) -> torch.Tensor:
    """The white-noise start: uniform in [0, 1], 1x3xHxW, the same for the same seed and shape."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, *shape, generator=generator)


def upsample(image: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The previous scale's result as the next scale's start (bicubic, kept in range)."""
    return F.interpolate(image.clamp(0, 1), size=shape, mode="bicubic", align_corners=False).clamp(0, 1)


def _lanczos(x: torch.Tensor, lobes: int = 3) -> torch.Tensor:
    return torch.where(x.abs() < lobes, torch.sinc(x) * torch.sinc(x / lobes), torch.zeros_like(x))


def lanczos_matrix(source: int, target: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``target x source`` weights of a Lanczos-3 resize of one axis, as Pillow computes them (a
    downsample widens the kernel by the factor, so every frequency above the new Nyquist is removed)."""
    scale = max(source / target, 1.0)
    support = 3 * scale
    centres = (torch.arange(target, dtype=torch.float64) + 0.5) * (source / target)
    pixels = torch.arange(source, dtype=torch.float64) + 0.5
    weights = _lanczos((pixels[None, :] - centres[:, None]) / scale)
    weights = torch.where((pixels[None, :] - centres[:, None]).abs() < support + 0.5, weights, 0.0)
    return (weights / weights.sum(1, keepdim=True)).to(dtype)


def downsample(image: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A 1x3xHxW image resized to ``shape`` by Lanczos-3 (differentiable: two matrix products), as an
    image viewer or Pillow shows a large image small."""
    rows = lanczos_matrix(image.shape[-2], shape[0], image.dtype).to(image.device)
    cols = lanczos_matrix(image.shape[-1], shape[1], image.dtype).to(image.device)
    return rows @ image @ cols.T


class Sources:
    """The run's input images, decoded once at the largest size needed, resized per scale."""

    def __init__(self, plan: Plan) -> None:
        limit, largest = plan.max_input_pixels, max(plan.sizes)
        self.plan = plan
        self.content = read_image(plan.content, limit, largest) if plan.content else None
        style_size = style_edge(largest, plan.style_scale)
        self.styles = [read_image(path, limit, style_size) for path in plan.styles]
        self.style = self.styles[0] if self.styles else None  # texture synthesis takes its shape
        self.masks = [read_image(path, limit, largest).convert("L") for path in plan.style_masks]
        self.init = read_image(plan.init_path, limit, largest) if plan.init_path else None
        self.min_edge = min_input_size(plan.layers, plan.backbone.arch)

    def shape_at(self, size: int) -> tuple[int, int]:
        """The result's (height, width) at ``size``: the content's, or the style's for texture synthesis."""
        return shape_at(self.content if self.content is not None else self.style, size)

    def check(self) -> None:
        """Every image is big enough for the deepest layer at every scale (no pixel is resized here)."""
        for size in self.plan.sizes:
            sources = [("the content image", self.content, size)]
            sources += [
                (
                    f"the style image {path.name}",
                    image,
                    style_edge(size, self.plan.style_scale, max(image.size)),
                )
                for path, image in zip(self.plan.styles, self.styles)
            ]
            if self.content is None:  # texture synthesis: the result takes the style's shape at `size`
                sources.append(("the result", self.style, size))
            for what, image, edge in sources:
                if image is None:
                    continue
                height, width = shape_at(image, edge)
                if min(height, width) < self.min_edge:
                    deep = too_deep(self.plan.layers, self.plan.backbone.arch, min(height, width))
                    raise NSTError(
                        f"{what} is {width}x{height} px at size {edge}, too small for layer(s) "
                        f"{deep}: each edge needs at least {self.min_edge} px "
                        "(raise size or use shallower layers)"
                    )

    def at(self, size: int) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
        """The content image and the style images the losses see at the scale of longest edge
        ``size`` (grey luminance, or the styles recoloured, under ``preserve_color``)."""
        content = self.content_at(size)
        scale = self.plan.style_scale
        styles = [
            to_tensor(resize_longest(image, style_edge(size, scale, max(image.size))))
            for image in self.styles
        ]
        if self.plan.preserve_color == "histogram":
            styles = [colour.match_colours(style, content) for style in styles]
        elif self.plan.preserve_color == "luminance":
            pairs = [colour.luminance_sources(content, style) for style in styles]
            content, styles = pairs[0][0], [style for _, style in pairs]
        return content, styles

    def masks_at(self, size: int) -> list[torch.Tensor] | None:
        """The style masks as 1x1xHxW weights in [0, 1] at the result's shape (None: no masks)."""
        if not self.masks:
            return None
        height, width = self.shape_at(size)
        resized = [mask.resize((width, height), Image.Resampling.BILINEAR) for mask in self.masks]
        return [torch.from_numpy(np.asarray(m, dtype=np.float32) / 255.0)[None, None] for m in resized]

    def content_at(self, size: int) -> torch.Tensor | None:
        return to_tensor(resize_longest(self.content, size)) if self.content is not None else None

    def presenter(self, size: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """What turns the optimised image into the result at ``size``: with preserve_color=luminance,
        the content's chroma put back on its luminance; else None (the image is the result)."""
        if self.plan.preserve_color != "luminance":
            return None
        content = self.content_at(size)
        return lambda image: colour.with_chroma_of(image, content)

    def initial_image(self, size: int, content: torch.Tensor | None) -> torch.Tensor:
        """The start of the first scale: the content image, seeded noise, or a given image."""
        if self.plan.init == "content":
            assert content is not None
            return content.clone()
        shape = self.shape_at(size)
        if self.plan.init == "noise":
            return noise_image(shape, self.plan.seed)
        return to_tensor(self.init.resize((shape[1], shape[0]), Image.Resampling.LANCZOS))
