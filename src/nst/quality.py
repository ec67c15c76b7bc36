"""Image-quality numbers (not metrics.json): PSNR, SSIM and Gram distances against a reference."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.image import structural_similarity_index_measure

from nst.losses import gram_matrix

# Gatys et al.'s style layers: one per block, so texture statistics are compared at every scale.
GRAM_EVAL_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def psnr(image: torch.Tensor, reference: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two 1x3xHxW images in [0, 1] (clamped as exported)."""
    mse = F.mse_loss(image.clamp(0, 1), reference.clamp(0, 1)).item()
    return float(10 * torch.log10(torch.tensor(1.0 / max(mse, 1e-12))))


def ssim(image: torch.Tensor, reference: torch.Tensor) -> float:
    """Structural similarity (Wang et al. 2004, 11x11 Gaussian window) of two images in [0, 1]."""
    value = structural_similarity_index_measure(image.clamp(0, 1), reference.clamp(0, 1), data_range=1.0)
    return float(value)


def mean_abs_difference(image: torch.Tensor, other: torch.Tensor) -> float:
    """Mean absolute pixel difference in [0, 1] units."""
    return float((image.clamp(0, 1) - other.clamp(0, 1)).abs().mean())


@torch.no_grad()
def gram_distances(encoder: nn.Module, image: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """Per layer, the relative Frobenius distance ||G(image) - G(reference)|| / ||G(reference)||.

    Relative, so layers with very different activation scales weigh alike and 0 means identical
    statistics; the images may differ in size because Gram matrices are normalised by C*H*W.
    """
    features, targets = encoder(image), encoder(reference)
    grams = {name: gram_matrix(targets[name]) for name in encoder.layers}
    return {name: float(distance) for name, distance in relative_gram_distances(features, grams).items()}


def relative_gram_distances(
    features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Differentiable: per layer of ``target_grams``, ||G(features) - G_target|| / ||G_target||."""
    return {
        name: torch.linalg.norm(gram_matrix(features[name]) - target) / torch.linalg.norm(target)
        for name, target in target_grams.items()
    }


def mean_gram_distance(distances: dict[str, float], layers: Sequence[str] | None = None) -> float:
    names = list(layers or distances)
    return sum(distances[name] for name in names) / len(names)


# The look (make look): what a result keeps of the photo and takes from the painting, scored by a
# network the run did not use. Gatys et al.'s style layers for the style, relu4_2 for the content.
LOOK_STYLE_LAYERS = GRAM_EVAL_LAYERS
LOOK_CONTENT_LAYER = "relu4_2"


@torch.no_grad()
def style_ratio(encoder: nn.Module, image: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> float:
    """The result's mean Gram distance to the style over the content photo's own distance to it.

    1 = no closer to the style than the photo; 0 = the style's statistics exactly (at
    ``LOOK_STYLE_LAYERS``, which ``encoder`` must return).
    """
    result = mean_gram_distance(gram_distances(encoder, image, style), LOOK_STYLE_LAYERS)
    photo = mean_gram_distance(gram_distances(encoder, content, style), LOOK_STYLE_LAYERS)
    return result / photo


@torch.no_grad()
def content_similarity(encoder: nn.Module, image: torch.Tensor, content: torch.Tensor) -> float:
    """Cosine similarity of the result's and the photo's ``LOOK_CONTENT_LAYER`` activations (1 = the
    photo's features; the two images must have the same shape)."""
    ours = encoder(image)[LOOK_CONTENT_LAYER].flatten().float()
    theirs = encoder(content)[LOOK_CONTENT_LAYER].flatten().float()
    return float(F.cosine_similarity(ours, theirs, dim=0))
