"""A frozen VGG feature extractor with named layers, truncated after the deepest layer asked for.

Two naming conventions are accepted and mapped onto one canonical form:

* paper names: ``conv1_1``, ``relu1_1``, ..., ``pool1`` ... ``pool5`` (canonical);
* course/tutorial names: ``conv_N`` / ``relu_N`` for the N-th convolution of the network and
  ``pool_N`` for the N-th pooling layer (so ``conv_4`` is ``conv2_2``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import nn

from nst.errors import NSTError

# Convolutions per block: the only difference between the VGG variants used here.
BLOCKS: dict[str, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}

# Per-channel statistics of each input convention, in the channel order the network expects.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_names(arch: str) -> list[str]:
    """Canonical names of every layer of ``arch`` in network order."""
    names = []
    for block, n_convs in enumerate(BLOCKS[arch], start=1):
        for i in range(1, n_convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def _conv_positions(arch: str) -> list[tuple[int, int]]:
    return [(b, i) for b, n in enumerate(BLOCKS[arch], start=1) for i in range(1, n + 1)]


def valid_names_hint(arch: str) -> str:
    n_convs = sum(BLOCKS[arch])
    last_block = len(BLOCKS[arch])
    last_conv = BLOCKS[arch][-1]
    return (
        f"conv_1..conv_{n_convs}, relu_1..relu_{n_convs}, pool_1..pool_{last_block}, "
        f"conv1_1..conv{last_block}_{last_conv}, relu1_1..relu{last_block}_{last_conv}, "
        f"pool1..pool{last_block}"
    )


def canonical_layer(name: str, arch: str, backbone: str | None = None) -> str:
    """Map either naming convention to the canonical paper name, or fail with the valid names."""
    label = backbone or arch
    name = str(name).strip()
    if name in layer_names(arch):
        return name
    match = re.fullmatch(r"(conv|relu|pool)_(\d+)", name)
    if match:
        kind, number = match.group(1), int(match.group(2))
        positions = _conv_positions(arch)
        count = len(BLOCKS[arch]) if kind == "pool" else len(positions)
        if 1 <= number <= count:
            if kind == "pool":
                return f"pool{number}"
            block, index = positions[number - 1]
            return f"{kind}{block}_{index}"
        raise NSTError(
            f"layer '{name}' does not exist on {label}: {arch.upper()[:3]}-{arch[3:]} has "
            f"{count} {'pooling' if kind == 'pool' else 'conv'} layers "
            f"({kind}_1..{kind}_{count}); valid names: {valid_names_hint(arch)}"
        )
    raise NSTError(f"unknown layer '{name}' for {label}; valid names: {valid_names_hint(arch)}")


def canonical_layers(names: Sequence[str], arch: str, backbone: str | None = None) -> list[str]:
    out: list[str] = []
    for name in names:
        canon = canonical_layer(name, arch, backbone)
        if canon not in out:
            out.append(canon)
    return out


def min_input_size(layers: Sequence[str], arch: str) -> int:
    """Smallest edge in pixels for which every requested (canonical) layer has at least 1x1 output."""
    order = layer_names(arch)
    pools_before = max(
        (sum(1 for n in order[: order.index(layer) + 1] if n.startswith("pool")) for layer in layers),
        default=0,
    )
    return 2**pools_before


class Preprocess(nn.Module):
    """Maps an RGB image in [0, 1] to the input convention the weights were trained with."""

    def __init__(self, convention: str) -> None:
        super().__init__()
        if convention == "caffe":  # BGR, 0..255, mean pixel subtracted, no std division
            scale = torch.full((3,), 255.0)
            mean = torch.tensor(CAFFE_MEAN_BGR)
            self.flip = True
        elif convention == "imagenet":  # RGB, 0..1, per-channel mean and std
            scale = 1.0 / torch.tensor(IMAGENET_STD)
            mean = torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)
            self.flip = False
        else:
            raise NSTError(f"unknown preprocessing '{convention}'; valid: caffe, imagenet")
        self.convention = convention
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", mean.view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.flip:
            image = image.flip(1)
        # One fused multiply-add: x * scale - shift.
        return torch.addcmul(-self.shift, image, self.scale)


class VGGEncoder(nn.Module):
    """Runs a VGG up to the deepest requested layer and returns the requested activations by name."""

    def __init__(
        self,
        arch: str,
        conv_params: Sequence[tuple[torch.Tensor, torch.Tensor]],
        preprocessing: str,
        layers: Sequence[str],
        pooling: str = "max",
        channels_last: bool = True,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if arch not in BLOCKS:
            raise NSTError(f"unknown architecture '{arch}'; valid: {', '.join(BLOCKS)}")
        if pooling not in ("max", "avg"):
            raise NSTError(f"unknown pooling '{pooling}'; valid: max, avg")
        if len(conv_params) != sum(BLOCKS[arch]):
            raise ValueError(f"{arch} needs {sum(BLOCKS[arch])} conv layers, got {len(conv_params)}")
        order = layer_names(arch)
        unknown = [name for name in layers if name not in order]
        if unknown:
            raise NSTError(f"unknown layer(s) {unknown}; valid names: {valid_names_hint(arch)}")
        if not layers:
            raise NSTError("no layers requested from the encoder")
        self.arch = arch
        self.layers = list(layers)
        self.preprocess = Preprocess(preprocessing)
        deepest = max(order.index(name) for name in layers)
        self.names = order[: deepest + 1]  # truncation: nothing after the deepest needed layer
        wanted = set(layers)
        modules: list[nn.Module] = []
        params = iter(conv_params)
        for position, name in enumerate(self.names):
            if name.startswith("conv"):
                weight, bias = next(params)
                conv = nn.Conv2d(weight.shape[1], weight.shape[0], kernel_size=3, padding=1)
                with torch.no_grad():
                    conv.weight.copy_(weight)
                    conv.bias.copy_(bias)
                modules.append(conv)
            elif name.startswith("relu"):
                # In place unless the conv output before it is itself requested (it would be overwritten).
                modules.append(nn.ReLU(inplace=self.names[position - 1] not in wanted))
            else:
                pool = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
                modules.append(pool(kernel_size=2, stride=2))
        self.body = nn.ModuleList(modules)
        self.requires_grad_(False)
        self.eval()
        # NHWC lets oneDNN / cuDNN skip a layout reorder per conv (make bench: ~1.3x per evaluation on CPU).
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)
        # bf16 convs (precision=bf16): the image, preprocessing, losses and optimiser stay float32;
        # only the VGG body runs in bf16, and its activations come back in bf16 (the losses compute
        # in float32 from them).
        self.dtype = dtype
        self.body.to(dtype)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.preprocess(image).to(self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out: dict[str, torch.Tensor] = {}
        for name, module in zip(self.names, self.body):
            x = module(x)
            if name in self.layers:
                out[name] = x
        return out
