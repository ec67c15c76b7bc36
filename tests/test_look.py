"""`make look` (experiments/look/look.py) never scores a result made with other settings as today's;
its reference points (controls.py) are what they say."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nst.config import compose
from nst.images import to_tensor
from nst.plan import make_plan
from nst.quality import content_similarity, style_ratio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments" / "look"))
import controls  # noqa: E402
import look  # noqa: E402


def _finished(runs: Path, job: "look.Job", variant_made: str, picture: str = "result.png") -> Path:
    """A finished run of ``job``'s pair and size, made by ``variant_made``'s command (its resolved
    config recorded as the CLI records it), holding ``picture``."""
    folder = job.folder(runs)
    made = look.Job(job.pair, job.size, variant_made)
    config = make_plan(compose(look.overrides(made, runs / "inputs", [])), folder).config
    (folder / "tb").mkdir(parents=True)
    (folder / "tb" / "hparams.yaml").write_text(config)
    (folder / picture).parent.mkdir(parents=True, exist_ok=True)
    (folder / picture).write_bytes(b"")
    return folder


def test_a_result_made_with_todays_command_is_reused(tmp_path):
    job = look.Job(0, 256, "new")
    _finished(tmp_path, job, "new")
    look.check_settings(job, tmp_path, tmp_path / "inputs", [])  # nothing differs: no exit


def test_a_result_made_before_a_defaults_change_stops_the_script(tmp_path):
    """The previous default (Gram's loss on Gatys' layers) in a `new` folder: stopped, with the keys."""
    job = look.Job(0, 256, "new")
    folder = _finished(tmp_path, job, "gram")
    with pytest.raises(SystemExit) as stop:
        look.check_settings(job, tmp_path, tmp_path / "inputs", [])
    message = str(stop.value)
    assert str(folder) in message and "style_loss" in message and "another --runs" in message


@pytest.mark.parametrize("made_by", ["new", "gram"])
def test_a_smaller_size_read_from_a_larger_run_is_checked_against_that_run(tmp_path, made_by):
    """256 px read from a 1024 px run's scales/256px.png: that run's command (1024 px) is compared."""
    small = look.Job(0, 256, "new")
    folder = _finished(tmp_path, look.Job(0, 1024, "new"), made_by, picture="scales/256px.png")
    assert small.maker(tmp_path) == look.Job(0, 1024, "new")
    if made_by == "new":
        look.check_settings(small, tmp_path, tmp_path / "inputs", [])
        return
    with pytest.raises(SystemExit, match="style_loss") as stop:
        look.check_settings(small, tmp_path, tmp_path / "inputs", [])
    assert str(folder) in str(stop.value)


def _photo_and_stars() -> tuple[Image.Image, Image.Image]:
    """A colour ramp (the photo) and sparse bright dots on near-black (a Hubble-like style)."""
    yy, xx = np.mgrid[0:64, 0:96]
    photo = Image.fromarray(np.stack([xx * 2, yy * 3, 255 - xx * 2], -1).astype("uint8"))
    dots = (torch.rand(64, 64, 3, generator=torch.Generator().manual_seed(0)) > 0.97).float() * 0.9 + 0.03
    return photo, Image.fromarray((dots.numpy() * 255).astype("uint8"))


def test_the_dimmed_control_is_the_photo_at_the_styles_brightness():
    photo, stars = _photo_and_stars()
    dimmed = controls.dimmed(photo, stars)
    assert abs(to_tensor(dimmed).mean().item() - to_tensor(stars).mean().item()) < 1 / 255
    assert controls.dimmed(stars, photo) is None  # a brighter style: no dimmed control


def test_the_direct_control_meets_the_scores_it_is_optimised_for():
    """40 Adam steps against the evaluator at 64x96 px (measured: style ratio 1.00 -> 0.25, content
    similarity 0.94): a reference of what an image made for the scores reaches."""
    photo, stars = _photo_and_stars()
    judge = look.Judge("vgg19")
    image = controls.direct(judge, photo, stars, weight=1.0, steps=40)
    x, c, s = to_tensor(image), to_tensor(photo), to_tensor(stars)
    assert style_ratio(judge.encoder, x, c, s) < 0.5
    assert content_similarity(judge.encoder, x, c) > 0.8
