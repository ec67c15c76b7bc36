import pytest
import torch

from nst.backbones import random_vgg_params
from nst.encoder import Preprocess, VGGEncoder
from nst.errors import NSTError
from nst.vgg import BLOCKS, canonical_layer, canonical_layers, layer_names, min_input_size


@pytest.mark.parametrize(
    ("name", "arch", "expected"),
    [
        ("conv_1", "vgg19", "conv1_1"),
        ("conv_4", "vgg19", "conv2_2"),  # the report's content layer
        ("conv_5", "vgg19", "conv3_1"),
        ("conv_9", "vgg19", "conv4_1"),
        ("conv_16", "vgg19", "conv5_4"),
        ("relu_8", "vgg19", "relu3_4"),
        ("conv_8", "vgg16", "conv4_1"),  # VGG-16 has 3 convs in block 3
        ("conv_13", "vgg16", "conv5_3"),
        ("pool_2", "vgg16", "pool2"),
        ("relu4_2", "vgg16", "relu4_2"),
        (" conv3_1 ", "vgg19", "conv3_1"),
    ],
)
def test_both_naming_conventions_map_to_paper_names(name, arch, expected):
    assert canonical_layer(name, arch) == expected


def test_vgg16_has_no_conv_14_and_says_so():
    with pytest.raises(NSTError) as err:
        canonical_layer("conv_14", "vgg16", "vgg16_hed")
    message = str(err.value)
    assert "conv_14" in message and "vgg16_hed" in message and "13 conv layers" in message
    assert "conv_1..conv_13" in message


@pytest.mark.parametrize("bad", ["conv5_4", "relu6_1", "fc7", "conv_0", "pool6", "conv1-1"])
def test_unknown_layer_lists_valid_names(bad):
    with pytest.raises(NSTError) as err:
        canonical_layer(bad, "vgg16", "vgg16_hed")
    assert bad in str(err.value)
    assert "relu1_1..relu5_3" in str(err.value)


def test_layer_tables_have_the_right_size():
    for arch, blocks in BLOCKS.items():
        names = layer_names(arch)
        assert sum(n.startswith("conv") for n in names) == sum(blocks)
        assert sum(n.startswith("pool") for n in names) == 5
    assert canonical_layers(["conv_4", "conv2_2", "relu_1"], "vgg19") == ["conv2_2", "relu1_1"]


def test_min_input_size_counts_pools_before_the_deepest_layer():
    assert min_input_size(["relu1_1"], "vgg16") == 1
    assert min_input_size(["relu1_1", "relu3_1"], "vgg16") == 4
    assert min_input_size(["relu5_1"], "vgg19") == 16
    assert min_input_size(["pool5"], "vgg19") == 32


def _encoder(layers, arch="vgg19", pooling="max"):
    return VGGEncoder(arch, random_vgg_params(arch, 0), "imagenet", layers, pooling)


def test_encoder_truncates_after_deepest_layer():
    encoder = _encoder(["relu1_1", "relu2_1"])
    assert encoder.names[-1] == "relu2_1"
    assert len(encoder.body) == layer_names("vgg19").index("relu2_1") + 1
    convs = [m for m in encoder.body if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 3
    out = encoder(torch.rand(1, 3, 32, 40))
    assert set(out) == {"relu1_1", "relu2_1"}
    assert out["relu1_1"].shape == (1, 64, 32, 40)
    assert out["relu2_1"].shape == (1, 128, 16, 20)


def test_encoder_is_frozen():
    encoder = _encoder(["relu3_1"])
    assert not any(p.requires_grad for p in encoder.parameters())
    assert not encoder.training


def test_requested_conv_output_is_not_overwritten_by_inplace_relu():
    encoder = _encoder(["conv1_1", "conv1_2", "relu2_1"])
    x = torch.rand(1, 3, 16, 16)
    out = encoder(x)
    assert out["conv1_1"].min() < 0  # a ReLU applied in place would have made it non-negative
    reference = torch.nn.functional.conv2d(
        encoder.preprocess(x), encoder.body[0].weight, encoder.body[0].bias, padding=1
    )
    torch.testing.assert_close(out["conv1_1"], reference)


def test_gradient_flows_to_the_image():
    encoder = _encoder(["relu1_1", "relu3_1"])
    image = torch.rand(1, 3, 24, 24, requires_grad=True)
    sum(f.square().mean() for f in encoder(image).values()).backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_bf16_encoder_activations_and_image_gradient_stay_close_to_fp32():
    layers = ["conv1_1", "relu1_1", "relu3_1", "relu4_2"]
    full = VGGEncoder("vgg19", random_vgg_params("vgg19", 0), "imagenet", layers)
    half = VGGEncoder("vgg19", random_vgg_params("vgg19", 0), "imagenet", layers, dtype=torch.bfloat16)
    assert {p.dtype for p in half.body.parameters()} == {torch.bfloat16}
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    grads = []
    for encoder in (full, half):
        x = image.clone().requires_grad_(True)
        out = encoder(x)
        assert {v.dtype for v in out.values()} == {encoder.dtype}
        sum(v.float().square().mean() for v in out.values()).backward()
        grads.append(x.grad)
        if encoder is full:
            reference = out
    for name in layers:  # bf16 keeps 8 bits of mantissa: errors of a few tenths of a percent per layer
        error = float((out[name].float() - reference[name]).norm().detach() / reference[name].norm().detach())
        assert 0 < error < 0.02, (name, error)  # measured 0.0029 (conv1_1) to 0.0073 (relu4_2)
    assert grads[1].dtype == torch.float32
    cosine = torch.nn.functional.cosine_similarity(grads[0].flatten(), grads[1].flatten(), dim=0)
    assert cosine > 0.99, cosine  # measured 0.9996


def test_avg_pooling_option():
    out_max = _encoder(["pool1"], pooling="max")(
        torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    )
    out_avg = _encoder(["pool1"], pooling="avg")(
        torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    )
    assert (out_max["pool1"] >= out_avg["pool1"] - 1e-6).all()
    assert (out_max["pool1"] - out_avg["pool1"]).abs().max() > 1e-3


def test_caffe_preprocessing_is_bgr_0_255_minus_mean():
    image = torch.zeros(1, 3, 1, 1)
    image[0, 0] = 1.0  # pure red
    out = Preprocess("caffe")(image).flatten().tolist()
    assert out == pytest.approx([-103.939, -116.779, 255 - 123.68])


def test_imagenet_preprocessing_is_mean_std():
    image = torch.full((1, 3, 1, 1), 0.5)
    out = Preprocess("imagenet")(image).flatten()
    expected = (0.5 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(out, expected)


def test_bad_encoder_options_fail_clearly():
    with pytest.raises(NSTError, match="pooling"):
        _encoder(["relu1_1"], pooling="median")
    with pytest.raises(NSTError, match="preprocessing"):
        VGGEncoder("vgg19", random_vgg_params("vgg19", 0), "tf", ["relu1_1"])
