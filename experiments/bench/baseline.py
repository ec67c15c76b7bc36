"""The textbook baseline of `make bench`: neural style transfer the way the PyTorch tutorial writes it.

The whole VGG ``features`` walked module by module with content/style loss modules inserted,
out-of-place ReLUs, Gram by ``mm``, the image clamped in place inside the closure, and
``torch.optim.LBFGS`` with its defaults (``max_iter=20``). It shares only the conv weights, the
layers, the loss weights and the input images with the engine (see :class:`BaselineProblem`).
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from nst.encoder import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD
from nst.images import downsample
from nst.vgg import layer_names


class BaselineProblem(Protocol):
    """What the baseline takes from the benchmark's problem (bench.Problem has it)."""

    arch: str
    preprocessing: str
    params: list[tuple[torch.Tensor, torch.Tensor]]
    content_layers: list[str]
    style_layers: list[str]
    content_weight: float
    style_weight: float
    style_relative: bool  # gram_relative (vgg19's default): each term over its target's mean square
    style_scale: float  # its calibration against Gram's strength (style_loss.scale; 1 for gram)
    content: torch.Tensor
    style: torch.Tensor
    device: torch.device


def _tutorial_gram(features: torch.Tensor) -> torch.Tensor:
    a, b, c, d = features.size()
    flat = features.view(a * b, c * d)
    return torch.mm(flat, flat.t()).div(a * b * c * d)


class _Normalization(nn.Module):
    def __init__(self, preprocessing: str, device: torch.device) -> None:
        super().__init__()
        if preprocessing == "caffe":  # BGR, 0..255, mean pixel subtracted, written as (x - mean) / std
            self.order = [2, 1, 0]
            mean, std = torch.tensor(CAFFE_MEAN_BGR) / 255.0, torch.full((3,), 1 / 255.0)
        else:
            self.order = [0, 1, 2]
            mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self.mean = mean.view(-1, 1, 1).to(device)
        self.std = std.view(-1, 1, 1).to(device)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return (img[:, self.order] - self.mean) / self.std


class _ContentLoss(nn.Module):
    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        self.target = target.detach()
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = F.mse_loss(x, self.target)
        return x


class _StyleLoss(nn.Module):
    def __init__(self, target_feature: torch.Tensor, relative: bool = False, scale: float = 1.0) -> None:
        super().__init__()
        self.target = _tutorial_gram(target_feature).detach()
        # gram_relative, written the tutorial's way: the MSE over the target Gram's mean square, x scale
        self.divisor = self.target.square().mean() / scale if relative else torch.ones(())
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = F.mse_loss(_tutorial_gram(x), self.target) / self.divisor
        return x


class Baseline:
    """The PyTorch tutorial's model: ``features`` walked module by module, loss modules inserted."""

    def __init__(
        self,
        problem: BaselineProblem,
        truncate: bool = False,
        flush_denormal: bool = False,
        anchor: tuple[Baseline, float] | None = None,
    ) -> None:
        """``anchor``: (the working size's textbook model, refine_anchor's weight) on a refinement scale
        of the look's race: the image, downsampled to that size as the engine does, scored by it."""
        p = problem
        self.anchor = anchor
        self.flush_denormal = (
            flush_denormal  # the textbook leaves x86 denormals on (slow); like-for-like flushes
        )
        features: list[nn.Module] = []
        params = iter(p.params)
        for name in layer_names(p.arch):  # the whole `features`, as torchvision builds it
            if name.startswith("conv"):
                weight, bias = next(params)
                conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1).to(p.device)
                conv.weight.data.copy_(weight)
                conv.bias.data.copy_(bias)
                features.append(conv)
            elif name.startswith("relu"):
                features.append(nn.ReLU(inplace=False))  # the tutorial's choice: in place breaks its losses
            else:
                features.append(nn.MaxPool2d(2, 2))
        model = nn.Sequential(_Normalization(p.preprocessing, p.device))
        prefix = [model[0]]  # targets come from the plain layers (style and content sizes may differ)
        self.content_losses: list[_ContentLoss] = []
        self.style_losses: list[_StyleLoss] = []
        for name, layer in zip(layer_names(p.arch), features):
            model.add_module(name, layer)
            prefix.append(layer)
            if name in p.content_layers:
                loss = _ContentLoss(nn.Sequential(*prefix)(p.content).detach())
                model.add_module(f"content_loss_{name}", loss)
                self.content_losses.append(loss)
            if name in p.style_layers:
                loss = _StyleLoss(nn.Sequential(*prefix)(p.style).detach(), p.style_relative, p.style_scale)
                model.add_module(f"style_loss_{name}", loss)
                self.style_losses.append(loss)
        if truncate:  # the tutorial's own trim: nothing after the last loss module
            last = max(i for i, m in enumerate(model) if isinstance(m, _ContentLoss | _StyleLoss))
            model = model[: last + 1]
        self.model = model.eval().requires_grad_(False)
        self.content_weight = p.content_weight
        self.style_weight = p.style_weight
        self.image = p.content.clone().requires_grad_(True)

    def evaluate(self) -> torch.Tensor:
        """The tutorial's closure: clamp in place, zero the gradient, forward, weighted sum, backward."""
        torch.set_flush_denormal(self.flush_denormal)
        with torch.no_grad():
            self.image.clamp_(0, 1)
        self.image.grad = None
        return self.loss_backward()

    def loss_backward(self) -> torch.Tensor:
        loss = self.loss(self.image)
        if self.anchor is not None:
            model, weight = self.anchor
            loss = loss + weight * model.loss(downsample(self.image, tuple(model.image.shape[-2:])))
        loss.backward()
        return loss

    def loss(self, image: torch.Tensor) -> torch.Tensor:
        """The weighted content and style terms of ``image``."""
        self.model(image)
        style_score = sum(sl.loss for sl in self.style_losses)
        content_score = sum(cl.loss for cl in self.content_losses)
        return self.style_weight * style_score + self.content_weight * content_score

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.LBFGS([self.image])  # defaults: max_iter=20, no line search
