"""A frozen VGG feature extractor with named layers, truncated after the deepest layer asked for."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nst.errors import NSTError
from nst.vgg import BLOCKS, layer_names, valid_names_hint

# Per-channel statistics of each input convention, in the channel order the network expects.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
