"""The report's figures, as PNG files: titled image grids (a difference map drawn on a colour scale),
a seed pair's row, and curves per step: the jobs' logged losses, and measures of their logged images."""

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
    """The TensorBoard scalar ``tag`` of each job against steps, on a log scale."""
    series_plot(jobs, {job.name: job.curves.get(tag, []) for job in jobs}, path, ylabel, log=True)


def series_plot(
    jobs: list[Job], series: dict[str, list[tuple[int, float]]], path: Path, ylabel: str, log: bool = False
) -> None:
    """One line per job of its (step, value) points; a dot at the step where the job converged."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for job in jobs:
        points = series.get(job.name, [])
        if points:
            floor = 1e-12 if log else float("-inf")
            (line,) = ax.plot([s for s, _ in points], [max(v, floor) for _, v in points], label=job.name)
            step = converged_step(job)
            at = [v for s, v in points if s == step]  # the value at the step the job converged
            if at:
                ax.plot([step], [max(at[0], floor)], "o", color=line.get_color(), markersize=5)
    if log:
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
