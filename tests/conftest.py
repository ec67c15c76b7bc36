"""Shared fixtures: tiny stand-in encoders, the real offline backbone, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = ROOT.parent / "shared" / "assets"

if not os.environ.get("NST_ASSET_MIRROR") and DEFAULT_MIRROR.is_dir():
    os.environ["NST_ASSET_MIRROR"] = str(DEFAULT_MIRROR)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = torch.mean((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).item()
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


def run_nst(*overrides: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m nst`` as a user runs it, in ``cwd``; output dirs go under ``cwd``."""
    env = dict(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "nst", *overrides],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def hed_cfg():
    return OmegaConf.load(ROOT / "conf" / "backbone" / "vgg16_hed.yaml")


@pytest.fixture(scope="session")
def hed_params(hed_cfg):
    from nst.backbones import load_conv_params

    return load_conv_params(hed_cfg)
