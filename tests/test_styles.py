"""Several styles: blended targets (style_blend) and spatial control by masks (style_masks)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_nst
from nst.assets import resolve
from nst.backbones import build_encoder
from nst.images import read_image, resize_longest, to_tensor
from nst.losses import gram_matrix, masked_gram
from nst.quality import gram_distances, mean_gram_distance

pytestmark = pytest.mark.slow
TEXTURE = ("backbone=vgg16_hed", "content=null", "style=[starry_night,the_scream]", "size=64", "steps=40",
           "progress_bar=false")  # fmt: skip


@pytest.fixture(scope="module")
def encoder(hed_backbone):
    return build_encoder(hed_backbone, ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])


def _style(name):
    return to_tensor(resize_longest(read_image(resolve(name)), 64))


def _distances(encoder, image):
    with torch.no_grad():
        return {name: mean_gram_distance(gram_distances(encoder, image, _style(name)))
                for name in ("starry_night", "the_scream")}  # fmt: skip


def test_blend_weights_pull_the_result_towards_the_heavier_style(tmp_path, encoder):
    distance = {}
    for name, blend in (("a", "[9,1]"), ("b", "[0.1,0.9]")):
        done = run_nst(*TEXTURE, f"style_blend={blend}", f"hydra.run.dir={name}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        assert metrics["style_blend"] == [0.9, 0.1] if name == "a" else [0.1, 0.9]  # normalised
        assert len(metrics["style"]) == 2
        distance[name] = _distances(encoder, to_tensor(read_image(tmp_path / name / "result.png")))
    a, b = distance["a"], distance["b"]
    # Measured (64 px, 40 steps; relative Gram distance): 0.9/0.1 -> starry_night 0.27, the_scream 1.22;
    # 0.1/0.9 -> starry_night 0.64, the_scream 0.37.
    assert a["starry_night"] < b["starry_night"] - 0.2 and b["the_scream"] < a["the_scream"] - 0.2, distance


def test_masks_put_each_style_in_its_own_region(tmp_path, encoder):
    left = np.zeros((30, 40), np.uint8)
    left[:, :20] = 255
    Image.fromarray(left).save(tmp_path / "left.png")  # any size: resized to the result
    Image.fromarray(255 - left).save(tmp_path / "right.png")
    done = run_nst(*TEXTURE, "content=tubingen", "size=96", "style_masks=[left.png,right.png]",
                   "hydra.run.dir=masked", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = to_tensor(read_image(tmp_path / "masked" / "result.png"))
    half = result.shape[-1] // 2
    halves = {"left": result[..., :half], "right": result[..., half:]}
    distance = {side: _distances(encoder, image) for side, image in halves.items()}
    # Measured (96 px, 40 steps): left half starry_night 0.30 vs the_scream 1.05; right half
    # the_scream 0.41 vs starry_night 0.72.
    assert distance["left"]["starry_night"] < distance["left"]["the_scream"] - 0.2, distance
    assert distance["right"]["the_scream"] < distance["right"]["starry_night"] - 0.2, distance


def test_a_full_mask_is_the_plain_gram_matrix():
    features = torch.rand(1, 8, 12, 10)
    assert torch.allclose(masked_gram(features, torch.ones(1, 1, 24, 20)), gram_matrix(features), atol=1e-6)
