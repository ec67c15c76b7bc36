"""Peak-memory estimate before the first step, and the measured peak after it."""

from __future__ import annotations

import resource
from typing import Any

import torch

from nst.encoder import BLOCKS, layer_names
from nst.errors import NSTError

# Measured on CPU (vgg16_hed, 128-512 px): peak RSS growth = 2 x weights + 1.43 x the activation
# bytes of one forward pass up to the deepest layer (autograd keeps them for the backward pass).
ACTIVATION_FACTOR = 1.5
OVERHEAD_MB = 50  # trainer, logger and allocator slack, measured at 128-256 px with a full L-BFGS history
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
    return (
        OVERHEAD_MB + (ACTIVATION_FACTOR * activation_bytes(shape, arch, deepest) + state + 2 * weights) / MB
    )


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


def expected_device(cfg: Any) -> torch.device:
    """The device the trainer will pick, known before building it (for the memory check)."""
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise NSTError(f"trainer.accelerator={accelerator} but no CUDA GPU is available (use auto or cpu)")
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", 0)
    return torch.device("cpu")


def current_memory_mb() -> float:
    """Resident memory of this process now (CPU); what a run's estimate adds to."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / MB


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / MB
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a run started by a
    # big parent (a test runner, a notebook) would report the parent's peak.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
