"""Peak-memory estimate before the first step, and the measured peak after it."""

from __future__ import annotations

import resource
from typing import Any

import torch

from nst.encoder import BLOCKS, layer_names
from nst.errors import NSTError

# Measured on CPU (vgg16_hed, 64-512 px): peak RSS growth / sum of activation bytes up to the
# deepest layer, with autograd's saved tensors and the backward pass's transient buffers.
ACTIVATION_FACTOR = 3.0
MB = 2**20


def activation_bytes(shape: tuple[int, int], arch: str, deepest: str) -> int:
    """Bytes of every layer output of one forward pass up to ``deepest`` (float32)."""
    height, width = shape
    total = 3 * height * width
    channels = 3
    block = 0
    widths = [64, 128, 256, 512, 512]
    for name in layer_names(arch)[: layer_names(arch).index(deepest) + 1]:
        if name.startswith("pool"):
            height, width, block = height // 2, width // 2, block + 1
        else:
            channels = widths[block]
        total += channels * height * width
    return 4 * total


def estimate_peak_mb(cfg: Any, layers: list[str], shape: tuple[int, int]) -> float:
    """Memory a run adds on top of the process at start: activations, optimizer state, weights."""
    arch = cfg.backbone.arch
    order = layer_names(arch)
    deepest = max(layers, key=order.index)
    pixels = 3 * shape[0] * shape[1]
    optimizer = cfg.optimizer
    if "LBFGS" in optimizer._target_:
        # history_size pairs (s, y) plus the direction, previous gradient and line-search copies.
        state = (2 * int(optimizer.history_size) + 6) * pixels * 4
    else:
        state = 3 * pixels * 4  # Adam: two moments and the gradient
    n_convs = sum(1 for name in order[: order.index(deepest) + 1] if name.startswith("conv"))
    widths = [c for block, n in enumerate(BLOCKS[arch]) for c in [min(64 * 2**block, 512)] * n]
    weights = sum(9 * w_in * w_out for w_in, w_out in zip([3, *widths], widths[:n_convs])) * 4
    return (ACTIVATION_FACTOR * activation_bytes(shape, arch, deepest) + state + 2 * weights) / MB


def available_mb(device: torch.device) -> float:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free / MB
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def check_memory(cfg: Any, plan_: Any, shape: tuple[int, int], device: torch.device) -> float:
    """Refuse a run whose estimated peak exceeds the available memory, unless force=true."""
    needed = estimate_peak_mb(cfg, plan_.layers, shape)
    free = available_mb(device)
    if needed > free and not cfg.get("force"):
        raise NSTError(
            f"this run needs about {needed:,.0f} MB but {free:,.0f} MB is available on {device}: "
            f"lower size, optimizer.history_size or use optimizer=adam (force=true runs anyway)"
        )
    return needed


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / MB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
