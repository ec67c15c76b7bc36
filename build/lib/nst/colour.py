"""Keeping the content's colours (Gatys et al. 2016, "Preserving color in neural artistic style
transfer"): ``preserve_color=luminance`` or ``histogram``. Images are 1x3xHxW RGB in [0, 1].

``luminance``: the style is transferred on luminance only. Content and style become their YIQ
luminance Y (repeated on three channels for the VGG), the style's Y matched to the content's mean and
standard deviation; the result's Y then gets the content's I and Q back. YIQ (NTSC), as in the paper.

``histogram``: before the run, the style image's pixel colours are moved to the content's mean and
covariance (x -> A (x - mu_style) + mu_content, A = C_content^1/2 C_style^-1/2, symmetric roots).
"""

from __future__ import annotations

import torch

MODES = ("none", "luminance", "histogram")

RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)


def to_yiq(image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", RGB_TO_YIQ.to(image), image)


def from_yiq(image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(RGB_TO_YIQ.double()).to(image), image)


def grey(luma: torch.Tensor) -> torch.Tensor:
    """A 1x1xHxW luminance as a 1x3xHxW grey image."""
    return luma.expand(-1, 3, -1, -1).contiguous()


def luminance_sources(content: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Content and style as grey luminance images, the style's matched to the content's mean and std."""
    content_y, style_y = to_yiq(content)[:, :1], to_yiq(style)[:, :1]
    matched = (style_y - style_y.mean()) / style_y.std().clamp_min(1e-6) * content_y.std() + content_y.mean()
    return grey(content_y), grey(matched.clamp(0, 1))


def with_chroma_of(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The result's luminance with the content's I and Q (same size), clamped to [0, 1]."""
    yiq = torch.cat([to_yiq(result)[:, :1], to_yiq(content.to(result))[:, 1:]], dim=1)
    return from_yiq(yiq).clamp(0, 1)


def _sqrtm(matrix: torch.Tensor, power: float) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(1e-8) ** power) @ vectors.T


def colour_stats(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (3) and covariance (3x3) of the pixel colours of a 1x3xHxW image."""
    pixels = image.reshape(3, -1).double()
    mean = pixels.mean(dim=1)
    centred = pixels - mean[:, None]
    return mean, centred @ centred.T / max(pixels.shape[1] - 1, 1)


def match_colours(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The style image with the content's colour mean and covariance, clamped to [0, 1]."""
    style_mean, style_cov = colour_stats(style)
    content_mean, content_cov = colour_stats(content)
    transform = _sqrtm(content_cov, 0.5) @ _sqrtm(style_cov, -0.5)
    pixels = style.reshape(3, -1).double()
    moved = transform @ (pixels - style_mean[:, None]) + content_mean[:, None]
    return moved.reshape(style.shape).to(style.dtype).clamp(0, 1)
