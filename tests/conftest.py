"""Shared fixtures: a tiny random encoder, composed configs and plans, the real offline backbone, and a
CLI runner (``python -m nst`` in a subprocess, as a user runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = ROOT.parent / "shared" / "assets"  # the Makefile's NST_ASSET_MIRROR default too

if not os.environ.get("NST_ASSET_MIRROR") and DEFAULT_MIRROR.is_dir():
    os.environ["NST_ASSET_MIRROR"] = str(DEFAULT_MIRROR)


def run_nst(*overrides: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m nst`` as a user runs it, in ``cwd``; output dirs go under ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "nst", *overrides],
        cwd=cwd,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def compose(*overrides: str):
    """The config ``python -m nst OVERRIDES`` runs with."""
    from nst.config import compose as compose_config

    return compose_config(list(overrides))


def plan(*overrides: str, out_dir: Path):
    """The validated plan of ``python -m nst OVERRIDES`` (raises NSTError like the CLI reports)."""
    from nst.plan import make_plan

    return make_plan(compose(*overrides), out_dir)


@pytest.fixture(scope="session")
def tiny_encoder():
    """``tiny_encoder(layers)``: a random VGG-16 truncated after ``layers``: milliseconds, no weights file."""
    import torch

    from nst.backbones import random_vgg_params
    from nst.encoder import VGGEncoder

    params = random_vgg_params("vgg16", seed=0)

    def make(layers=("relu1_1", "relu2_1"), preprocessing="imagenet", dtype=None):
        return VGGEncoder("vgg16", params, preprocessing, list(layers), dtype=dtype or torch.float32)

    return make


@pytest.fixture(scope="session")
def hed_backbone():
    """The offline VGG-16 (HED) backbone's settings, as the default config plans them."""
    from nst.plan import backbone_plan

    return backbone_plan(compose("backbone=vgg16_hed").backbone)


@pytest.fixture(scope="session")
def hed_params(hed_backbone):
    from nst.backbones import load_conv_params

    return load_conv_params(hed_backbone)
