"""Content, style (Gram), total-variation and range losses, and the typed result they add up to."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


class _Gram(torch.autograd.Function):
    """``flat^T flat / n`` in float32 for ``flat`` of shape (B, N, C), with a one-matmul backward.

    Autograd's own backward of ``a^T a`` makes two matmuls (one per operand) and adds them; the two
    are the same product with the gradient transposed, so ``flat @ (g + g^T) / n`` is the whole
    gradient (make bench: the Gram's forward + backward take half the time at 256 px on CPU).
    bf16 features (precision=bf16) get a float32 Gram and a bf16 gradient, the precision that the
    convolutions' backward pass runs in anyway.
    """

    @staticmethod
    def forward(ctx, flat: torch.Tensor, n: int) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(flat)
        ctx.n = n
        work = flat.to(torch.promote_types(flat.dtype, torch.float32))  # bf16 -> float32; else as is
        if work.shape[0] == 1:  # mm is faster than a batch of one bmm on oneDNN/MKL
            return (work[0].t() @ work[0]).div_(n).unsqueeze(0)
        return torch.bmm(work.transpose(1, 2), work).div_(n)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (flat,) = ctx.saved_tensors
        sym = (grad + grad.transpose(1, 2)).div_(ctx.n).to(flat.dtype)
        if flat.shape[0] == 1:
            return (flat[0] @ sym[0]).unsqueeze(0), None
        return torch.bmm(flat, sym), None


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix F F^T / (C * H * W) per image, as in the course report and the PyTorch tutorial.

    Differs from Gatys et al., who use F F^T and divide the loss by 4 N^2 M^2: the per-size
    normalisation keeps the weights comparable across image sizes and layers.
    """
    batch, channels, height, width = features.shape
    if features.is_contiguous(memory_format=torch.channels_last):
        # NHWC features flatten to (B, HW, C) as a view; the NCHW reshape would copy them every step.
        flat = features.permute(0, 2, 3, 1).reshape(batch, height * width, channels)
    else:
        flat = features.reshape(batch, channels, height * width).transpose(1, 2)
    return _Gram.apply(flat, channels * height * width)


def content_terms(
    features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Mean squared error between the image's and the content image's activations, per layer.

    Differs from Gatys et al. (half the sum of squares): the mean does not grow with image size.
    """
    return {name: F.mse_loss(features[name].to(target.dtype), target) for name, target in targets.items()}


def style_terms(
    features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor], relative: bool = False
) -> dict[str, torch.Tensor]:
    """Mean squared error between Gram matrices, per layer (target Grams are precomputed).

    Every layer weighs the same, as Gatys et al.'s w_l = 1/5 up to a constant: the layers with the
    largest activations dominate the sum (relu4_1 is ~95% of VGG-19's at the photo). ``relative``
    divides each layer's error by its target's mean square, so each term is the squared relative
    Frobenius distance ||G - G_s||^2 / ||G_s||^2 and every layer counts alike whatever its scale.
    """
    return {
        name: _relative(F.mse_loss(gram_matrix(features[name]), g), g, relative)
        for name, g in target_grams.items()
    }


def _relative(term: torch.Tensor, target: torch.Tensor, relative: bool) -> torch.Tensor:
    """``term`` over the target's mean square when ``relative`` (the style_loss=gram_relative terms)."""
    return term / target.float().square().mean().clamp_min(1e-30) if relative else term


def masked_gram(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Gram matrix of the features inside ``mask`` (1x1xHxW at the image's size, resized to the
    layer), normalised by the mask's area, so that a full mask gives :func:`gram_matrix`."""
    height, width = features.shape[-2:]
    weights = (
        F.interpolate(mask, size=(height, width), mode="area") if mask.shape[-2:] != (height, width) else mask
    )
    area = weights.mean().clamp_min(1e-6)
    return gram_matrix(features * weights.to(features.dtype)) / area


def masked_style_terms(
    features: dict[str, torch.Tensor],
    regions: list[tuple[float, torch.Tensor, dict[str, torch.Tensor]]],
    relative: bool = False,
) -> dict[str, torch.Tensor]:
    """Per layer: each region's (weight, mask, target Grams) masked-Gram error, weighted and summed
    (``relative``: each region's error over its own target's mean square, as :func:`style_terms`)."""
    names = regions[0][2].keys() if regions else ()
    return {
        name: sum(
            (
                weight
                * _relative(
                    F.mse_loss(masked_gram(features[name], mask), targets[name]), targets[name], relative
                )
                for weight, mask, targets in regions
            ),
            features[name].new_zeros((), dtype=torch.float32),
        )
        for name in names
    }


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels (suppresses high-frequency noise)."""
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()


def range_penalty(image: torch.Tensor) -> torch.Tensor:
    """Mean squared excess of pixels outside [0, 1]: a soft wall, not in Gatys et al.

    Pixels are optimised freely and clamped only at export; this wall keeps them near [0, 1] so the
    clamp changes little (measured: noise-init total loss after export 444 without it, 19.5 with it).
    A hard clamp in the loss kills the gradient of pixels that overshoot once, and an in-place clamp
    corrupts L-BFGS's curvature pairs.
    """
    return (image - 1).relu().square().mean() + (-image).relu().square().mean()


@dataclass
class LossTerms:
    """One evaluation's losses: the weighted total and every unweighted term by name."""

    total: torch.Tensor
    content: dict[str, torch.Tensor] = field(default_factory=dict)  # per content layer
    style: dict[str, torch.Tensor] = field(default_factory=dict)  # per style layer
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # range, tv (only when weighted)

    def detached(self) -> LossTerms:
        return LossTerms(
            total=self.total.detach(),
            content={k: v.detach() for k, v in self.content.items()},
            style={k: v.detach() for k, v in self.style.items()},
            extra={k: v.detach() for k, v in self.extra.items()},
        )

    def totals(self) -> dict[str, torch.Tensor]:
        """total, content and style (each summed over its layers), then the extra terms."""
        zero = self.total.new_zeros(())
        return {
            "total": self.total,
            "content": sum(self.content.values(), zero),
            "style": sum(self.style.values(), zero),
            **self.extra,
        }

    def flat(self) -> dict[str, torch.Tensor]:
        """TensorBoard's names: loss/total, loss/content, loss/style, loss/<extra>, content/<layer>, ..."""
        terms = {f"loss/{name}": value for name, value in self.totals().items()}
        terms.update({f"content/{k}": v for k, v in self.content.items()})
        terms.update({f"style/{k}": v for k, v in self.style.items()})
        return terms

    def numbers(self) -> dict[str, dict[str, float]]:
        """Plain floats for metrics.json: loss (totals), content_layers, style_layers."""
        terms = self.detached()
        return {
            "loss": {k: float(v) for k, v in terms.totals().items()},
            "content_layers": {k: float(v) for k, v in terms.content.items()},
            "style_layers": {k: float(v) for k, v in terms.style.items()},
        }
