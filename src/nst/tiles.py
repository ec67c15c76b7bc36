"""Print size by tiles (``tile=PX tile_overlap=PX``): the checks of the two keys and the tile grid.

A scale whose longest edge exceeds ``tile`` is optimised tile by tile (:mod:`nst.tiled`); every
smaller scale, and the whole-image warm start that a tiled run begins with, runs untiled. Nothing
here imports torch: the plan uses it before any heavy import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nst.errors import NSTError

MIN_TILE = 64  # below this a tile is mostly border: VGG's padding reaches ~16 px in at relu5_1


@dataclass(frozen=True)
class Box:
    """One tile: its top-left corner and shape in the image at the tiled scale."""

    top: int
    left: int
    height: int
    width: int
    ramp_top: int = 0  # rows shared with the tile above, blended from it to this one (0: pasted)
    ramp_left: int = 0  # columns shared with the tile to the left, likewise

    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)


def starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one edge: as few tiles as give at least ``overlap`` px of overlap, spread
    evenly so that every overlap is the same (to a pixel) and the last tile ends at the edge."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def grid(shape: tuple[int, int], tile: int, overlap: int) -> list[Box]:
    """The tiles covering an image of (height, width), row by row (the order they are optimised in).

    Each tile blends in over the rows and columns it shares with the tiles above and to its left,
    which are done before it; ``overlap=0`` pastes tiles without blending (seams: for comparison).
    """
    height, width = shape
    tile_h, tile_w = min(tile, height), min(tile, width)
    rows, columns = starts(height, tile, overlap), starts(width, tile, overlap)

    def shared(origins: list[int], i: int, length: int) -> int:
        return origins[i - 1] + length - origins[i] if i and overlap else 0

    return [
        Box(top, left, tile_h, tile_w, shared(rows, r, tile_h), shared(columns, c, tile_w))
        for r, top in enumerate(rows)
        for c, left in enumerate(columns)
    ]


def tile_shape(shape: tuple[int, int], tile: int | None) -> tuple[int, int]:
    """(height, width) of one tile of an image of ``shape`` (an edge shorter than ``tile`` is whole)."""
    return (min(tile, shape[0]), min(tile, shape[1])) if tile else shape


def grid_shape(shape: tuple[int, int], tile: int, overlap: int) -> tuple[int, int]:
    """(rows, columns) of :func:`grid`."""
    return len(starts(shape[0], tile, overlap)), len(starts(shape[1], tile, overlap))


def check_tiles(cfg: Any, sizes: tuple[int, ...], smallest: int, folder_run: bool) -> tuple[int | None, int]:
    """``tile`` and ``tile_overlap`` checked against each other and the run (one NSTError line)."""
    tile, overlap = cfg.tile, cfg.tile_overlap
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise NSTError(f"tile_overlap must be a non-negative integer (pixels), got {overlap!r}")
    if tile is None:
        return None, overlap
    least = max(MIN_TILE, smallest)
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < least:
        raise NSTError(f"tile must be an integer of at least {least} px (null = no tiles), got {tile!r}")
    if 2 * overlap >= tile:
        raise NSTError(f"tile_overlap must be less than half the tile ({tile} px), got {overlap}")
    if sizes[0] > tile:
        raise NSTError(
            f"tile={tile}: the first scale ({sizes[0]} px) must fit in one tile: tiles start from a "
            f"whole-image pass (e.g. scales=[{tile}])"
        )
    if cfg.style_masks is not None:
        raise NSTError("tile does not work with style_masks yet (a tile may hold no part of a mask)")
    if folder_run:
        raise NSTError("tile does not work with content=DIR yet: stylise the print-size images one by one")
    return tile, overlap


def tiled_sizes(
    tile: int | None, sizes: tuple[int, ...], steps: tuple[int, ...], scales_given: bool
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Without ``scales``, a tiled run starts with one whole-image pass at ``tile`` px (its warm start:
    the composition and large strokes come from a pass that sees the whole image)."""
    if tile is None or scales_given or sizes[-1] <= tile:
        return sizes, steps
    return (tile, *sizes), (steps[-1], *steps)
