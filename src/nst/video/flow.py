"""Optical flow between input frames, the forward-backward consistency weights and warping
(Ruder, Dosovitskiy and Brox 2016, short- and long-term; the warping error of Lai et al. 2018).

A flow ``w`` of frame A towards frame B is HxWx2 (dx, dy) in pixels: A(x) ~ B(x + w(x)). Warping B
by it, ``warp(B, w)``, gives B seen from A.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

PRESETS = ("ultrafast", "fast", "medium")


def _grey(frame: torch.Tensor) -> np.ndarray:
    """1x3xHxW in [0, 1] -> HxW uint8 luminance (what DIS takes)."""
    rgb = frame[0].detach().float().clamp(0, 1).cpu()
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return luma.mul(255).round().byte().numpy()


def dis_flow(a: torch.Tensor, b: torch.Tensor, preset: str = "medium") -> torch.Tensor:
    """The flow of frame ``a`` towards frame ``b`` (both 1x3xHxW in [0, 1]) by OpenCV's DIS
    (Kroeger et al. 2016): HxWx2 float32. Deterministic for the same frames."""
    import cv2

    cv2.setNumThreads(1)  # the run's own threads do the work; the flow is a small part of a frame
    flow = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}"))
    return torch.from_numpy(flow.calc(_grey(a), _grey(b), None))


def _grid(flow: torch.Tensor) -> torch.Tensor:
    """Sampling positions x + w(x), normalised to [-1, 1] for grid_sample (1xHxWx2)."""
    height, width = flow.shape[:2]
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    x = (xs + flow[..., 0]) * 2 / max(width - 1, 1) - 1
    y = (ys + flow[..., 1]) * 2 / max(height - 1, 1) - 1
    return torch.stack((x, y), dim=-1)[None]


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``image`` (1xCxHxW) sampled at x + flow(x), bilinear; outside the frame: the border pixel
    (those pixels get zero consistency weight anyway)."""
    grid = _grid(flow).to(image.device, image.dtype)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def consistency(flow: torch.Tensor, back: torch.Tensor) -> torch.Tensor:
    """Ruder et al.'s weights c (1x1xHxW, 0 or 1) for warping with ``flow`` (A towards B), given
    ``back`` (B towards A): 0 where disoccluded (the flows do not cancel), on a motion boundary, or
    where x + w(x) falls outside the frame."""
    height, width = flow.shape[:2]
    w = flow.permute(2, 0, 1)[None]  # 1x2xHxW
    w_back = warp(back.permute(2, 0, 1)[None], flow)  # w~ = the backward flow at x + w(x)
    both = (w + w_back).square().sum(1)
    occluded = both >= 0.01 * (w.square().sum(1) + w_back.square().sum(1)) + 0.5
    du = torch.gradient(w[0, 0])
    dv = torch.gradient(w[0, 1])
    gradient = du[0].square() + du[1].square() + dv[0].square() + dv[1].square()
    boundary = gradient[None] > 0.01 * w.square().sum(1) + 0.002
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    x, y = xs + flow[..., 0], ys + flow[..., 1]
    outside = ((x < 0) | (x > width - 1) | (y < 0) | (y > height - 1))[None]
    return (~(occluded | boundary | outside)).float()[:, None]


def flows(a: torch.Tensor, b: torch.Tensor, preset: str) -> tuple[torch.Tensor, torch.Tensor]:
    """What carries frame ``a``'s result onto frame ``b``: the flow of ``b`` towards ``a`` and its
    consistency weights (1x1xHxW)."""
    towards_a, towards_b = dis_flow(b, a, preset), dis_flow(a, b, preset)
    return towards_a, consistency(towards_a, towards_b)


def long_term_weights(masks: list[torch.Tensor]) -> list[torch.Tensor]:
    """Ruder et al.'s long-term weights from the consistency weights of the earlier frames, nearest
    first: each frame's weight is kept only where no nearer frame's flow holds,
    max(c_j - sum of the nearer c, 0), so every pixel is tied to its nearest consistent frame."""
    weights, covered = [], torch.zeros_like(masks[0]) if masks else None
    for mask in masks:
        weights.append((mask - covered).clamp_min(0))
        covered = covered + mask
    return weights


def warping_error(
    frames: list[torch.Tensor], inputs: list[torch.Tensor], preset: str = "medium", stride: int = 1
) -> float:
    """Lai et al. 2018: the mean over consecutive pairs of sum M ||V_t - warp(V_t+1)||^2 / sum M, with
    the flow and the non-occlusion mask M from the ``inputs`` (frames in [0, 1], 1x3xHxW). ``stride``
    k compares frames t and t+k instead: what a region looks like again after something passed over it
    (the long-term terms' aim), which consecutive pairs never see."""
    errors = []
    for t in range(len(frames) - stride):
        flow, mask = flows(inputs[t + stride], inputs[t], preset)  # t towards t+k, with its weights
        diff = (frames[t] - warp(frames[t + stride], flow)).square().sum(1, keepdim=True)
        errors.append(float((diff * mask).sum() / mask.sum().clamp_min(1)))
    return sum(errors) / max(len(errors), 1)
