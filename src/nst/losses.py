"""Content, style (Gram) and total-variation losses. Each returns named terms, summed by the caller."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix F F^T / (C * H * W) per image, as in the course report and the PyTorch tutorial."""
    batch, channels, height, width = features.shape
    if features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
        # NHWC features flatten to (B, HW, C) as a view; the NCHW reshape would copy them every step.
        flat = features.permute(0, 2, 3, 1).reshape(batch, height * width, channels)
        return torch.bmm(flat.transpose(1, 2), flat) / (channels * height * width)
    flat = features.reshape(batch, channels, height * width)
    return torch.bmm(flat, flat.transpose(1, 2)) / (channels * height * width)


def content_terms(
    features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Mean squared error between the image's and the content image's activations, per layer."""
    return {name: F.mse_loss(features[name], target) for name, target in targets.items()}


def style_terms(
    features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Mean squared error between Gram matrices, per layer (target Grams are precomputed)."""
    return {name: F.mse_loss(gram_matrix(features[name]), g) for name, g in target_grams.items()}


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels (suppresses high-frequency noise)."""
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()
