"""The LightningModule: the image is the only parameter; a frozen encoder scores it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from nst.checkpoint import Diverged
from nst.losses import content_terms, gram_matrix, style_terms, total_variation

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class StepIndices(Dataset):
    """Lightning needs a dataloader: this one yields the step number, one per optimisation step."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> int:
        return index


def step_loader(steps: int) -> DataLoader:
    return DataLoader(StepIndices(steps), batch_size=None, shuffle=False, num_workers=0)


def fast_math(device: torch.device) -> None:
    """Process-wide numeric settings of the hot path (measured by `make bench`, see docs/speed.md)."""
    if device.type == "cuda":  # TF32 convs and Gram matmuls on Ampere+ (make bench --no-fast-gpu-math)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:  # denormal gradients in deep layers cost up to 5x per evaluation on x86 CPUs; flush them
        torch.set_flush_denormal(True)


class StyleTransfer(pl.LightningModule):
    """Optimises ``image`` against content activations and style Gram matrices of a frozen encoder.

    ``content_image=None`` is texture synthesis; ``style_image=None`` is content reconstruction.
    """

    def __init__(
        self,
        encoder: nn.Module,
        init_image: torch.Tensor,
        content_image: torch.Tensor | None,
        style_image: torch.Tensor | None,
        content_layers: list[str],
        style_layers: list[str],
        content_weight: float,
        style_weight: float,
        tv_weight: float,
        range_weight: float,
        optimizer: OptimizerFactory,
        optimizer_state: dict | None = None,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.image = nn.Parameter(init_image.detach().clone(memory_format=torch.contiguous_format))
        self.content_layers = content_layers if content_image is not None else []
        self.style_layers = style_layers if style_image is not None else []
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        self.range_weight = range_weight
        self.optimizer_factory = optimizer
        self.optimizer_state = optimizer_state
        self.evaluations = 0
        self.last_terms: dict[str, torch.Tensor] = {}
        self.register_buffer("last_finite", self.image.detach().clone(), persistent=False)
        # Targets once, under no_grad; non-persistent so checkpoints hold only the image and optimizer.
        with torch.no_grad():
            if content_image is not None:
                feats = encoder(content_image)
                for name in self.content_layers:
                    self.register_buffer(f"content_{name}", feats[name].float(), persistent=False)
            if style_image is not None:
                feats = encoder(style_image)
                for name in self.style_layers:
                    self.register_buffer(f"style_{name}", gram_matrix(feats[name]), persistent=False)
        if compile:  # after the targets: their (other-sized) images would force a second compilation
            self.encoder = torch.compile(encoder)

    def content_targets(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, f"content_{name}") for name in self.content_layers}

    def style_targets(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, f"style_{name}") for name in self.style_layers}

    def losses(self, image: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Weighted total plus every unweighted term, named for logging."""
        image = self.image if image is None else image
        features = self.encoder(image)
        content = content_terms(features, self.content_targets())
        style = style_terms(features, self.style_targets())
        zero = image.new_zeros(())
        content_sum = sum(content.values(), zero)
        style_sum = sum(style.values(), zero)
        total = self.content_weight * content_sum + self.style_weight * style_sum
        terms = {"loss/content": content_sum, "loss/style": style_sum}
        if self.range_weight:
            # Pixels are optimised freely and clamped only at export; this soft wall keeps them near
            # [0, 1] so the clamp changes little (measured: noise-init total loss after export 444
            # without it, 19.5 with it). A hard clamp in the loss kills the gradient of pixels that
            # overshoot once, and an in-place clamp corrupts L-BFGS's curvature pairs.
            excess = (image - 1).relu().square().mean() + (-image).relu().square().mean()
            total = total + self.range_weight * excess
            terms["loss/range"] = excess
        if self.tv_weight:
            tv = total_variation(image)
            total = total + self.tv_weight * tv
            terms["loss/tv"] = tv
        terms = {"loss/total": total, **terms}
        terms.update({f"content/{k}": v for k, v in content.items()})
        terms.update({f"style/{k}": v for k, v in style.items()})
        return terms

    def training_step(self, batch: int, batch_idx: int) -> torch.Tensor:
        self.evaluations += 1  # L-BFGS's line search may evaluate several times per step
        terms = self.losses()
        total = terms["loss/total"]
        if not torch.isfinite(total):
            raise Diverged(float(total), self.evaluations)
        with torch.no_grad():
            self.last_finite.copy_(self.image)
        # Logged by the RunMonitor callback with a step that runs on across scales and resumes.
        self.last_terms = {name: value.detach() for name, value in terms.items()}
        self.log("loss", total, prog_bar=True, logger=False)
        return total

    def on_fit_start(self) -> None:
        fast_math(self.device)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        optimizer = self.optimizer_factory([self.image])
        if self.optimizer_state is not None:  # resuming: the L-BFGS history comes back too
            optimizer.load_state_dict(self.optimizer_state)
            self.optimizer_state = None
        return optimizer

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:  # type: ignore[override]
        # First-order optimisers are projected back into [0, 1] after each step. L-BFGS is never
        # projected: moving the point under it would break its curvature history.
        if not isinstance(self.trainer.optimizers[0], torch.optim.LBFGS):
            with torch.no_grad():
                self.image.clamp_(0, 1)

    def export(self) -> torch.Tensor:
        """The image as a user sees it: clamped to [0, 1] (never clamped during optimisation)."""
        return self.image.detach().clamp(0, 1)
