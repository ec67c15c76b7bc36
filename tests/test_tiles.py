"""tile=PX: the grid, the blend, Gram matrices in pieces, and tiled runs against untiled ones.

Bounds were measured at one thread on a 2-core CPU (numbers beside each assert) and set with a margin.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import plan, run_nst
from nst import assets
from nst.backbones import build_encoder
from nst.engine import run
from nst.images import load_image, to_tensor
from nst.losses import gram_matrix
from nst.module import StyleTransfer
from nst.tiled import TiledScale, blend, feather, tiled_grams
from nst.tiles import grid, starts

RUN = ("progress_bar=false", "backbone=vgg16_hed", "size=128", "steps=30", "image_every=0", "log_every=0")


@pytest.mark.parametrize(("length", "tile", "overlap"), [(2048, 512, 64), (1536, 512, 64), (130, 64, 16)])
def test_tiles_cover_the_edge_and_overlap_at_least_as_asked(length, tile, overlap):
    origins = starts(length, tile, overlap)
    assert origins[0] == 0 and origins[-1] + tile == length
    assert all(a + tile - b >= overlap for a, b in zip(origins, origins[1:]))
    assert len(starts(length - 1, tile, overlap)) <= len(origins)  # never more tiles than needed


def test_the_blend_ramps_only_over_borders_shared_with_earlier_tiles():
    boxes = grid((96, 160), 64, 16)
    assert [(b.top, b.left) for b in boxes] == [(0, 0), (0, 48), (0, 96), (32, 0), (32, 48), (32, 96)]
    first, inner = feather(boxes[0]), feather(boxes[4])
    assert torch.all(first == 1)
    assert inner[0, 0, 0, 0] < 0.01 and inner[0, 0, -1, -1] == 1 and inner[0, 0, 40, 20] == 1
    assert torch.all(inner[0, 0, 40, 1:16] > inner[0, 0, 40, :15])  # rising across the shared columns


def test_a_tiles_anchor_sees_the_whole_canvas_with_the_tile_blended_in():
    """refine_anchor on a tiled scale: the working size's loss scores the canvas with the tile in it,
    blended as the finished tile will be, and its gradient reaches the tile through the blend only."""
    generator = torch.Generator().manual_seed(0)
    canvas = torch.rand(1, 3, 96, 160, generator=generator)
    before = canvas.clone()
    box = grid((96, 160), 64, 16)[4]  # shares its top rows and left columns with earlier tiles
    tile = torch.rand(1, 3, box.height, box.width, generator=generator).requires_grad_(True)
    scale = SimpleNamespace(run=SimpleNamespace(state=SimpleNamespace(image=canvas)))
    whole = TiledScale.placed(scale, box, torch.device("cpu"))(tile)
    expected = canvas.clone()
    blend(expected, tile.detach(), box)  # what the canvas holds once the tile is done
    assert torch.allclose(whole, expected, atol=1e-6) and torch.equal(canvas, before)
    whole.sum().backward()
    assert torch.allclose(tile.grad, feather(box).expand_as(tile))  # d(sum)/d(tile) = the blend weights


def test_gram_matrices_in_pieces_match_the_whole_image(tiny_encoder):
    layers = ["relu1_1", "relu2_1", "relu3_1"]
    encoder = tiny_encoder(layers)
    image = load_image(assets.resolve("starry_night"), 200)
    whole = encoder(image)
    pieces = tiled_grams(encoder, image, layers, "vgg16", tile=64)
    for name in layers:
        target = gram_matrix(whole[name])
        error = float((pieces[name] - target).norm() / target.norm())
        assert error < 0.01, (name, error)  # measured below 0.001 (only padding near the cuts differs)


def _run(tmp_path: Path, name: str, *overrides: str) -> tuple[dict, torch.Tensor]:
    metrics = run(plan(*RUN, *overrides, out_dir=tmp_path / name), tmp_path / name)
    return metrics, to_tensor(Image.open(metrics["image"]).convert("RGB"))


def _style_distance(image: torch.Tensor, tmp_path: Path) -> float:
    """The whole image's Gram distance to the style (the untiled run's style loss)."""
    settings = plan(*RUN, out_dir=tmp_path / "p")
    content = load_image(assets.resolve("tubingen"), 128)
    style = load_image(assets.resolve("starry_night"), 128)
    encoder = build_encoder(settings.backbone, settings.layers)
    module = StyleTransfer(
        encoder,
        image,
        content,
        style,
        list(settings.content_layers),
        list(settings.style_layers),
        1,
        1,
        0,
        0,
        None,
    )
    with torch.no_grad():
        return float(sum(module.losses(image).style.values()))


def _seam(image: torch.Tensor, overlap: int) -> float:
    """Mean |step| across the lines where tiles begin, over the median |step| between neighbours."""
    boxes = grid(tuple(image.shape[-2:]), 64, overlap)
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(dim=(0, 1, 2))
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(dim=(0, 1, 3))
    lines = [dx[c - 1] for c in {b.left for b in boxes if b.left}] + [
        dy[r - 1] for r in {b.top for b in boxes if b.top}
    ]
    return float(torch.stack(lines).mean() / torch.cat([dx, dy]).median())


@pytest.mark.slow
def test_tiles_match_the_global_style_statistics_without_seams(tmp_path):
    _, untiled = _run(tmp_path, "untiled")
    metrics, tiled = _run(tmp_path, "tiled", "tile=64", "tile_overlap=16", "scales=[64]")
    _, pasted = _run(tmp_path, "pasted", "tile=64", "tile_overlap=0", "scales=[64]")
    start = _style_distance(load_image(assets.resolve("tubingen"), 128), tmp_path)
    whole, tiles = _style_distance(untiled, tmp_path), _style_distance(tiled, tmp_path)
    print("style distance: start, untiled, tiled", start, whole, tiles)
    print("seams: tiled, pasted, untiled", _seam(tiled, 16), _seam(pasted, 0), _seam(untiled, 16))
    assert metrics["tiles"] == 6 and metrics["tile_grid"] == [2, 3] and metrics["tiled_scales"] == [128]
    assert metrics["tile"] == 64 and metrics["tile_overlap"] == 16 and metrics["steps"] == 30 + 6 * 30
    # Measured: 205 at the start, 0.35 untiled, 5.6 tiled. Each 64 px tile is pulled to the whole
    # image's statistics on its own, so the sum of tiles is further from them than one whole pass.
    assert tiles < start / 20
    assert tiles < 25 * whole
    # Measured: 1.25 at the tiles' edges, 1.07 on the same lines untiled, 1.80 where tiles are pasted.
    assert _seam(tiled, 16) < 1.4 * _seam(untiled, 16)
    assert _seam(pasted, 0) > 1.2 * _seam(tiled, 16)


@pytest.mark.slow
def test_a_tiled_run_stopped_mid_tile_resumes_where_it_was(tmp_path):
    args = [
        *RUN[:2],
        "size=128",
        "tile=64",
        "tile_overlap=16",
        "scales=[64]",
        "scale_steps=[5]",
        "steps=20",
        "checkpoint_every=30",
        "checkpoint_history=100",  # the whole L-BFGS history: the resumed tile is bit-identical
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "nst", *args, "hydra.run.dir=cut"],
        cwd=tmp_path,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    checkpoint = tmp_path / "cut" / "checkpoint.pt"
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # into the second tile
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    state = torch.load(checkpoint, weights_only=True)
    assert state["scale_index"] == 1 and state["tile_index"] >= 1, (state["tile_index"], state["steps_done"])
    resumed = run_nst("resume=cut", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole = run_nst(*args, "hydra.run.dir=whole", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr[-2000:]
    done = json.loads((tmp_path / "cut/metrics.json").read_text())
    assert done["status"] == "completed" and done["steps"] == 5 + 6 * 20 and done["tiles"] == 6
    a, b = (np.asarray(Image.open(tmp_path / f"{n}/result.png"), dtype=np.int16) for n in ("cut", "whole"))
    assert np.abs(a - b).max() <= 1  # measured
