"""Peak-memory estimate before the first step, and the measured peak after it."""

from __future__ import annotations

import resource
from typing import Any

import torch

from nst.errors import NSTError
from nst.plan import Plan
from nst.vgg import conv_widths, deepest, layer_names

# Measured on CPU (vgg16_hed to relu4_2, 128/256/512 px, 110 L-BFGS steps, 2026-12-07): peak RSS
# growth = the optimizer state + 2 x weights + OVERHEAD_MB + a factor x the activation bytes of one
# forward pass up to the deepest layer (autograd keeps them for the backward pass). The factor is
# larger in bf16 (against bf16 bytes) because part of the saved tensors stay float32; the fit is within
# 1% of the measured growth at 256 and 512 px in both precisions; at 128 px bf16 it reads 13% high.
ACTIVATION_FACTOR = {"fp32": 1.55, "bf16": 2.2}
OVERHEAD_MB = 15  # trainer, logger and allocator slack
MB = 2**20


def activation_bytes(shape: tuple[int, int], arch: str, deepest_layer: str, element: int = 4) -> int:
    """Bytes of every layer output of one forward pass up to ``deepest_layer`` (``element`` bytes each:
    4 in float32, 2 with precision=bf16)."""
    height, width = shape
    total = 3 * height * width
    widths = iter(conv_widths(arch))
    channels = 3
    order = layer_names(arch)
    for name in order[: order.index(deepest_layer) + 1]:
        if name.startswith("pool"):
            height, width = height // 2, width // 2
        elif name.startswith("conv"):
            channels = next(widths)
        total += channels * height * width
    return element * total


def estimate_peak_mb(plan: Plan, shape: tuple[int, int]) -> float:
    """Memory a run adds on top of the process at start: activations, optimizer state, weights."""
    arch = plan.backbone.arch
    last = deepest(plan.layers, arch)
    pixels = 3 * shape[0] * shape[1]
    if plan.optimizer.is_lbfgs:
        # history_size pairs (s, y) plus the direction, previous gradient and line-search copies.
        state = (2 * int(plan.optimizer.options.get("history_size", 100)) + 6) * pixels * 4
    else:
        state = 3 * pixels * 4  # Adam: two moments and the gradient
    order = layer_names(arch)
    n_convs = sum(1 for name in order[: order.index(last) + 1] if name.startswith("conv"))
    widths = conv_widths(arch)
    weights = sum(9 * w_in * w_out for w_in, w_out in zip([3, *widths], widths[:n_convs])) * 4
    precision = "bf16" if plan.backbone.precision == "bf16" else "fp32"  # auto is resolved before this
    element = 2 if precision == "bf16" else 4
    activations = ACTIVATION_FACTOR[precision] * activation_bytes(shape, arch, last, element)
    return OVERHEAD_MB + (activations + state + 2 * weights) / MB


def available_mb(device: torch.device) -> float:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free / MB
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def canvas_mb(shape: tuple[int, int]) -> float:
    """A tiled run's whole-image buffers: the canvas, the content, the style and their decoded and
    resized copies (counted as 8 float32 RGB images of the result's size)."""
    return 8 * 3 * shape[0] * shape[1] * 4 / MB


def check_memory(
    plan: Plan, shape: tuple[int, int], device: torch.device, canvas: tuple[int, int] | None = None
) -> float:
    """Refuse a run whose estimated peak exceeds the available memory, unless force=true.

    ``canvas``: a tiled run, ``shape`` is one tile's and ``canvas`` the whole result's.
    """
    needed = estimate_peak_mb(plan, shape) + (canvas_mb(canvas) if canvas else 0)
    free = available_mb(device)
    if needed > free and not plan.force:
        if canvas:
            raise NSTError(
                f"one tile of {shape[1]}x{shape[0]} px (of a {canvas[1]}x{canvas[0]} result) needs about "
                f"{needed:,.0f} MB but {free:,.0f} MB is available on {device}: lower tile "
                "(force=true runs anyway)"
            )
        raise NSTError(
            f"this run needs about {needed:,.0f} MB but {free:,.0f} MB is available on {device}: "
            f"lower size, tile=PX, optimizer.history_size or use optimizer=adam (force=true runs anyway)"
        )
    return needed


def expected_device(accelerator: str, devices: Any = 1) -> torch.device:
    """The device the trainer will pick, known before building it (for the memory check)."""
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise NSTError(f"trainer.accelerator={accelerator} but no CUDA GPU is available (use auto or cpu)")
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", devices[0] if isinstance(devices, list) else 0)
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
