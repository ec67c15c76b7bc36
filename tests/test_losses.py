import pytest
import torch

from nst.losses import content_terms, gram_matrix, masked_style_terms, style_terms, total_variation


def test_gram_matrix_matches_definition():
    features = torch.randn(1, 4, 3, 5, generator=torch.Generator().manual_seed(0))
    flat = features[0].reshape(4, 15)
    expected = flat @ flat.T / (4 * 3 * 5)
    torch.testing.assert_close(gram_matrix(features)[0], expected)
    assert torch.allclose(gram_matrix(features)[0], gram_matrix(features)[0].T)


def test_gram_ignores_spatial_arrangement():
    features = torch.randn(1, 8, 6, 6, generator=torch.Generator().manual_seed(0))
    shuffled = features.flatten(2)[..., torch.randperm(36)].reshape(1, 8, 6, 6)
    torch.testing.assert_close(gram_matrix(features), gram_matrix(shuffled))


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("channels_last", [False, True])
def test_gram_gradient_matches_autograd_of_the_definition(batch, channels_last):
    """The hand-written one-matmul backward equals autograd's through ``F F^T``, any target."""
    gen = torch.Generator().manual_seed(batch)
    features = torch.randn(batch, 5, 4, 3, generator=gen, dtype=torch.float64)
    if channels_last:
        features = features.contiguous(memory_format=torch.channels_last)
    target = torch.randn(batch, 5, 5, generator=gen, dtype=torch.float64)  # not symmetric on purpose
    weights = torch.randn(batch, 5, 5, generator=gen, dtype=torch.float64)

    def reference(x):
        flat = x.reshape(batch, 5, 12)
        return flat @ flat.transpose(1, 2) / 60

    grads = []
    for gram in (gram_matrix, reference):
        x = features.clone().requires_grad_(True)
        ((gram(x) - target) * weights).square().sum().backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1])
    assert torch.autograd.gradcheck(gram_matrix, (features.clone().requires_grad_(True),))


def test_gram_of_bf16_features_is_float32_with_a_bf16_gradient():
    features = torch.randn(1, 8, 6, 5, generator=torch.Generator().manual_seed(0))
    half = features.bfloat16().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    gram = gram_matrix(half)
    assert gram.dtype == torch.float32
    torch.testing.assert_close(gram, gram_matrix(half.detach().float()))  # exact: computed in float32
    gram.square().sum().backward()
    full = half.detach().float().requires_grad_(True)
    gram_matrix(full).square().sum().backward()
    assert half.grad.dtype == torch.bfloat16
    torch.testing.assert_close(half.grad.float(), full.grad, rtol=0.02, atol=1e-3 * full.grad.abs().max())


def test_style_and_content_terms_are_zero_at_target_and_positive_elsewhere():
    a = {"x": torch.randn(1, 8, 6, 6), "y": torch.randn(1, 4, 3, 3)}
    b = {k: v + 0.1 for k, v in a.items()}
    assert all(v.item() == 0 for v in content_terms(a, a).values())
    assert all(v.item() > 0 for v in content_terms(a, b).values())
    grams = {k: gram_matrix(v) for k, v in a.items()}
    assert all(v.item() < 1e-12 for v in style_terms(a, grams).values())
    assert set(style_terms(b, grams)) == {"x", "y"}
    assert all(v.item() > 0 for v in style_terms(b, grams).values())


def test_relative_style_terms_are_squared_relative_distances_and_scale_free():
    """style_loss=gram_relative: each term is ||G - G_s||^2 / ||G_s||^2, so a layer whose activations
    are 10x larger counts as much, where the plain terms grow 10^4x; a full mask changes nothing."""
    generator = torch.Generator().manual_seed(0)
    image, style = (
        {"x": torch.rand(1, 4, 6, 5, generator=generator), "y": torch.rand(1, 8, 3, 3, generator=generator)}
        for _ in range(2)
    )
    grams = {n: gram_matrix(f) for n, f in style.items()}
    relative = style_terms(image, grams, relative=True)
    for name, g in grams.items():
        distance = torch.linalg.norm(gram_matrix(image[name]) - g) / torch.linalg.norm(g)
        torch.testing.assert_close(relative[name], distance.square())
    louder = {"x": image["x"], "y": 10 * image["y"]}
    louder_grams = {"x": grams["x"], "y": 100 * grams["y"]}
    torch.testing.assert_close(style_terms(louder, louder_grams, relative=True)["y"], relative["y"])
    plain, plain_louder = style_terms(image, grams)["y"], style_terms(louder, louder_grams)["y"]
    torch.testing.assert_close(plain_louder, 1e4 * plain)
    full = [(1.0, torch.ones(1, 1, 6, 5), grams)]
    masked = masked_style_terms(image, full, relative=True)
    for name in grams:
        torch.testing.assert_close(masked[name], relative[name])


def test_total_variation():
    flat = torch.full((1, 3, 8, 8), 0.3)
    assert total_variation(flat).item() == 0
    stripes = torch.zeros(1, 3, 8, 8)
    stripes[..., ::2] = 1.0  # vertical stripes: every horizontal neighbour differs by 1
    assert abs(total_variation(stripes).item() - 1.0) < 1e-6
