"""Report metrics: PSNR, SSIM and Gram distance behave as their definitions say."""

import pytest
import torch

from nst.quality import GRAM_EVAL_LAYERS, gram_distances, mean_abs_difference, mean_gram_distance, psnr, ssim


@pytest.fixture(scope="module")
def encoder(tiny_encoder):
    return tiny_encoder(GRAM_EVAL_LAYERS)


def test_psnr_and_ssim_of_an_image_with_itself_and_with_noise():
    image = torch.rand(1, 3, 32, 40, generator=torch.Generator().manual_seed(0))
    assert psnr(image, image) == pytest.approx(120.0)  # mse floored at 1e-12
    assert ssim(image, image) == pytest.approx(1.0)
    darker = image * 0.9
    expected = 10 * torch.log10(1 / ((image - darker) ** 2).mean()).item()
    assert psnr(darker, image) == pytest.approx(expected, rel=1e-5)
    other = torch.rand(1, 3, 32, 40, generator=torch.Generator().manual_seed(1))
    assert abs(ssim(other, image)) < 0.1  # measured 0.02
    assert mean_abs_difference(other, image) == pytest.approx(1 / 3, abs=0.02)  # E|U - V| = 1/3


def test_gram_distance_is_zero_for_the_same_statistics_and_ignores_position(encoder):
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    same = gram_distances(encoder, image, image)
    assert list(same) == list(GRAM_EVAL_LAYERS) and max(same.values()) == 0
    # A shifted copy keeps the Gram statistics (measured 0.098), a flat grey image does not (0.98).
    shifted = torch.roll(image, shifts=(7, 5), dims=(2, 3))
    flat = torch.full_like(image, 0.5)
    assert mean_gram_distance(gram_distances(encoder, shifted, image)) < 0.2 * mean_gram_distance(
        gram_distances(encoder, flat, image)
    )


def test_style_ratio_is_one_at_the_photo_and_zero_at_the_style(tiny_encoder):
    from nst.quality import LOOK_CONTENT_LAYER, LOOK_STYLE_LAYERS, content_similarity, style_ratio

    encoder = tiny_encoder([*LOOK_STYLE_LAYERS, LOOK_CONTENT_LAYER])
    gen = torch.Generator().manual_seed(0)
    photo = torch.rand(1, 3, 48, 64, generator=gen).mul(0.3).add(torch.linspace(0, 0.6, 64))
    style = torch.rand(1, 3, 40, 40, generator=gen)
    assert style_ratio(encoder, photo, photo, style) == pytest.approx(1.0)
    assert style_ratio(encoder, style, photo, style) == pytest.approx(0.0, abs=1e-6)
    # Halfway in pixels is part of the way in statistics (measured 0.85 on these random features).
    mixed = 0.5 * photo + 0.5 * torch.nn.functional.interpolate(style, size=(48, 64))
    assert 0.1 < style_ratio(encoder, mixed, photo, style) < 0.95
    assert content_similarity(encoder, photo, photo) == pytest.approx(1.0, abs=1e-6)
    # The photo's own features are more alike than a texture's of the same shape (measured 0.95 vs 0.92).
    noise = torch.rand(1, 3, 48, 64, generator=gen)
    assert content_similarity(encoder, noise, photo) < content_similarity(encoder, mixed, photo) < 1.0
