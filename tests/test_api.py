"""`from nst import stylize`: the engine from Python, and the package working when installed as a wheel."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nst import NSTError, stylize
from nst.assets import resolve

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"size": 48, "backbone": "vgg16_hed", "style_weight": 40.0}


@pytest.mark.slow
def test_stylize_takes_images_in_any_form_and_returns_the_result(tmp_path):
    content = Image.open(resolve("tubingen"))  # a PIL image
    pixels = np.array(Image.open(resolve("starry_night")).resize((64, 51)))
    style = torch.from_numpy(pixels).permute(2, 0, 1) / 255  # a CHW tensor
    losses = {}
    for steps in (1, 15):
        folder = tmp_path / f"run{steps}"
        image = stylize(content, style, steps=steps, run_dir=folder, **SMALL)
        assert isinstance(image, Image.Image) and image.size == (48, 36)
        assert np.array_equal(np.asarray(image), np.asarray(Image.open(folder / "result.png")))
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["status"] == "completed" and metrics["steps"] == steps
        losses[steps] = metrics["loss"]["style"]
    assert losses[15] < 0.2 * losses[1], losses  # measured: the style loss falls ~20x in 15 steps


def test_stylize_is_quiet_and_leaves_nothing_behind_by_default(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    image = stylize("tubingen", None, size=32, steps=2, backbone="vgg16_hed")  # a reconstruction
    assert image.size == (32, 24)
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert list(tmp_path.iterdir()) == []  # the temporary run folder is gone


@pytest.mark.parametrize(
    "arguments, expected",
    [
        ({"size": -3}, "size must be a positive integer, got -3"),
        ({"sizee": 3}, "unknown key 'sizee'"),
        ({"content": "no_such_photo.jpg"}, "image not found: 'no_such_photo.jpg'"),
        ({"backbone": "vgg99"}, "unknown backbone 'vgg99'"),
        ({"optimizer": {"lr": "fast"}}, "optimizer.lr must be a positive number"),
        ({"style": torch.zeros(2, 8, 8)}, "style as a tensor must be 3xHxW or 1x3xHxW"),
        ({"content": 42}, "content must be a path, a manifest name, a PIL image or a tensor"),
        ({"style": ["starry_night", 4.5]}, "style1 must be a path, a manifest name, a PIL image or a tensor"),
        ({"style": ["starry_night", "the_scream"], "style_blend": [1]}, "1 weights for 2 style image(s)"),
        ({"preserve_color": "sepia"}, "unknown preserve_color 'sepia'"),
    ],
)
def test_bad_values_raise_nst_error_with_the_command_lines_line(arguments, expected):
    with pytest.raises(NSTError) as error:
        stylize(**{"steps": 1, **arguments})
    assert expected in str(error.value) and error.value.exit_code == 2
    assert "\n" not in str(error.value)


@pytest.mark.slow
def test_the_wheel_works_outside_the_repository(tmp_path):
    """Built and installed like a user's `pip install`: configs and manifest travel as package data."""
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Built from a copy: setuptools writes build/ into the source tree, and a stale build/lib there
    # could put modules that no longer exist into the wheel.
    source = tmp_path / "source"
    skip = shutil.ignore_patterns(".git", ".venv", "build", "dist", "outputs", "multirun", "*.egg-info")
    shutil.copytree(ROOT, source, symlinks=True, ignore=skip)  # src/nst/conf stays a link to conf/
    build = ["pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)]
    built = subprocess.run([sys.executable, "-m", *build], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("nst-*.whl")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    env = dict(os.environ, PYTHONPATH=str(target), OMP_NUM_THREADS="1")  # the wheel's nst comes first
    helped = subprocess.run([sys.executable, "-m", "nst", "--help"], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert helped.returncode == 0 and "backbone:    random, vgg16_hed, vgg19*" in helped.stdout, helped.stderr
    script = (
        "import nst, nst.config, nst.assets\n"
        "from nst import stylize\n"
        "print(nst.__file__, nst.config.CONF_DIR, nst.assets.MANIFEST)\n"
        "print(stylize('tubingen', 'starry_night', size=32, steps=2, backbone='vgg16_hed').size)\n"
    )
    used = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert used.returncode == 0, used.stderr[-2000:]
    files, size = used.stdout.strip().splitlines()
    assert all(path.startswith(str(target)) for path in files.split()), files  # nothing from the checkout
    assert size == "(32, 24)"


def test_stylize_takes_masks_as_images_and_tensors(tmp_path):
    left = Image.new("L", (40, 32), 0)
    left.paste(255, (0, 0, 20, 32))  # a PIL mask: the left half
    right = torch.zeros(32, 40)
    right[:, 20:] = 1  # a tensor mask (HxW): the right half
    content = Image.new("RGB", (40, 32), "teal")
    image = stylize(content, ["starry_night", "the_scream"], style_masks=[left, right], size=32, steps=2,
                    backbone="random", run_dir=tmp_path / "run")  # fmt: skip
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert image.size == (32, 26) and metrics["status"] == "completed"
    assert [Path(p).name for p in metrics["style_masks"]] == ["style_masks0.png", "style_masks1.png"]
