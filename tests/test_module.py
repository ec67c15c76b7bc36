"""The LightningModule on a tiny random encoder: the image is the only parameter, targets are
unsaved buffers, one optimiser step lowers the loss, and the loss terms are structured."""

import math

import pytest
import torch

from nst.errors import Diverged
from nst.losses import LossTerms
from nst.module import StyleTransfer

LAYERS = ("relu1_1", "relu2_1")


def make_module(tiny_encoder, content_weight=1.0, style_weight=1e4, tv_weight=0.0, lr=0.05, content=True):
    generator = torch.Generator().manual_seed(0)
    content_image = torch.rand(1, 3, 24, 32, generator=generator)
    style_image = torch.rand(1, 3, 20, 20, generator=generator)
    return StyleTransfer(
        encoder=tiny_encoder(LAYERS),
        init_image=torch.rand(1, 3, 24, 32, generator=generator),
        content_image=content_image if content else None,
        style_image=style_image,
        content_layers=["relu2_1"] if content else [],
        style_layers=list(LAYERS),
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=tv_weight,
        range_weight=10.0,
        optimizer=lambda params: torch.optim.Adam(params, lr=lr),
    )


def test_the_image_is_the_only_parameter(tiny_encoder):
    module = make_module(tiny_encoder)
    trainable = [name for name, p in module.named_parameters() if p.requires_grad]
    assert trainable == ["image"]


def test_targets_are_buffers_that_checkpoints_do_not_hold(tiny_encoder):
    module = make_module(tiny_encoder)
    buffers = dict(module.named_buffers())
    assert {"content_relu2_1", "style_relu1_1", "style_relu2_1"} <= set(buffers)
    assert buffers["style_relu1_1"].shape == (1, 64, 64)  # a Gram matrix: C x C
    saved = module.state_dict()
    assert not any(key.startswith(("content_", "style_", "last_finite")) for key in saved)


def test_one_step_lowers_the_loss_and_terms_are_structured(tiny_encoder):
    module = make_module(tiny_encoder, tv_weight=0.5)
    optimizer = module.configure_optimizers()
    with torch.no_grad():
        before = module.losses()
    assert isinstance(before, LossTerms)
    flat = before.flat()
    assert set(flat) == {
        "loss/total", "loss/content", "loss/style", "loss/range", "loss/tv",
        "content/relu2_1", "style/relu1_1", "style/relu2_1",
    }  # fmt: skip
    expected = (
        1.0 * flat["loss/content"]
        + 1e4 * flat["loss/style"]
        + 10.0 * flat["loss/range"]
        + 0.5 * flat["loss/tv"]
    )
    assert float(before.total) == pytest.approx(float(expected), rel=1e-5)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = module.training_step(0, 0)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        after = float(module.losses().total)
    assert losses == sorted(losses, reverse=True)  # every step lowered it
    assert after < 0.5 * losses[0], (losses, after)  # measured: 0.196 -> 0.061 in 5 Adam steps at lr 0.05
    assert module.evaluations == 5 and not module.last_terms.total.requires_grad


def test_no_content_image_means_no_content_terms(tiny_encoder):
    module = make_module(tiny_encoder, content=False)
    numbers = module.losses().numbers()
    assert numbers["content_layers"] == {} and numbers["loss"]["content"] == 0
    assert set(numbers["style_layers"]) == set(LAYERS)


def test_a_non_finite_loss_raises_diverged(tiny_encoder):
    module = make_module(tiny_encoder)
    with torch.no_grad():
        module.image.fill_(float("nan"))
    with pytest.raises(Diverged):
        module.training_step(0, 0)


def test_export_clamps_but_the_parameter_is_free(tiny_encoder):
    module = make_module(tiny_encoder)
    with torch.no_grad():
        module.image[0, 0, 0, 0] = 1.7
    assert float(module.image.detach().max()) == pytest.approx(1.7)
    assert float(module.export().max()) == 1.0


def test_an_overshooting_fit_returns_the_best_image_it_evaluated(tiny_encoder):
    """Steps far too long (SGD at lr 1e5) leave a worse image than the start: keep_best puts back the
    best one evaluated, so the result is never worse than the image the fit started from."""
    module = make_module(tiny_encoder)
    start = module.image.detach().clone()
    optimizer = torch.optim.SGD([module.image], lr=1e5)
    evaluated = []
    for _ in range(2):
        optimizer.zero_grad()
        loss = module.training_step(0, 0)
        loss.backward()
        optimizer.step()
        evaluated.append(float(loss.detach()))
    with torch.no_grad():
        last = float(module.losses().total)
    assert math.isfinite(last) and last > 1e6 * evaluated[0], (evaluated, last)  # 0.03 -> 5e3 -> 7e19
    assert module.keep_best()
    with torch.no_grad():
        kept = float(module.losses().total)
    assert kept == pytest.approx(min(evaluated), rel=1e-5) and kept <= evaluated[0]
    assert torch.equal(module.image.detach(), start)  # here the best is the start itself


def test_a_descending_fit_keeps_its_last_image(tiny_encoder):
    module = make_module(tiny_encoder)
    optimizer = module.configure_optimizers()  # Adam at lr 0.05: every step lowers the loss
    for _ in range(5):
        optimizer.zero_grad()
        module.training_step(0, 0).backward()
        optimizer.step()
    last = module.image.detach().clone()
    assert not module.keep_best() and torch.equal(module.image.detach(), last)
