"""The report's figures, as PNG files: titled image grids (a difference map drawn on a colour scale),
a seed pair's row, and loss curves per step from the jobs' TensorBoard events."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from report_jobs import Job, converged_step  # noqa: E402

DIFF_SCALE = 0.5  # difference images map 0..0.5 (half the pixel range) onto the colour scale


def to_numpy(image: torch.Tensor):
    return image[0].clamp(0, 1).permute(1, 2, 0).numpy()


def grid(
    panels: list[tuple[str, Any]], path: Path, columns: int | None = None, cmap: str | None = None
) -> None:
    """A row-major grid of images, each titled; a 2-D array panel is drawn with ``cmap``."""
    columns = columns or len(panels)
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.3 * columns, 2.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, image) in zip(axes.flat, panels):
        if image is None:
            continue
        if isinstance(image, torch.Tensor):
            ax.imshow(to_numpy(image))
        else:
            shown = ax.imshow(image, cmap=cmap, vmin=0, vmax=DIFF_SCALE)
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def curves_plot(jobs: list[Job], tag: str, path: Path, ylabel: str) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for job in jobs:
        points = job.curves.get(tag, [])
        if points:
            (line,) = ax.plot([s for s, _ in points], [max(v, 1e-12) for _, v in points], label=job.name)
            step = converged_step(job)
            at = [v for s, v in points if s == step]  # the loss logged at the step the job converged
            if at:
                ax.plot([step], [max(at[0], 1e-12)], "o", color=line.get_color(), markersize=5)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def difference_map(a: torch.Tensor, b: torch.Tensor):
    """Per-pixel absolute difference, averaged over RGB."""
    return (a.clamp(0, 1) - b.clamp(0, 1)).abs().mean(1)[0].numpy()


def seed_grid(reference: tuple[str, Any], a: Job, b: Job, caption: Callable[[Job], str], path: Path) -> None:
    """The reference, both seeds' results (captioned) and their per-pixel difference, in one row."""
    grid(
        [
            reference,
            (f"{a.name}: {caption(a)}", a.image),
            (f"{b.name}: {caption(b)}", b.image),
            (f"|{a.name} - {b.name}|", difference_map(a.image, b.image)),
        ],
        path,
        cmap="inferno",
    )
