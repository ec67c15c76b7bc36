"""Every ablation study composes into a sweep whose jobs are valid runs on the backbones it names."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.types import RunMode

from nst.encoder import canonical_layers

CONF = Path(__file__).resolve().parents[1] / "conf"
STUDIES = sorted(p.stem for p in (CONF / "ablation").glob("[!_]*.yaml"))
GROUPS = sorted(p.stem for p in (CONF / "layer_group").glob("*.yaml"))


def _compose(overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def test_the_six_studies_exist():
    expected = ["content_layers", "content_seeds", "gallery", "init", "texture_layers", "texture_seeds"]
    assert STUDIES == expected


@pytest.mark.parametrize("backbone", ["vgg16_hed", "vgg19"])
@pytest.mark.parametrize("study", STUDIES)
def test_every_study_is_a_resumable_sweep_of_valid_jobs(study, backbone):
    cfg = _compose([f"ablation={study}", f"backbone={backbone}", "ablation.root=/tmp/abl"])
    assert cfg.hydra.mode == RunMode.MULTIRUN and cfg.skip_completed is True
    assert cfg.hydra.sweep.dir == f"/tmp/abl/{backbone}/{study}"  # stable: a re-run resumes there
    params = dict(cfg.hydra.sweeper.params)
    assert params, study
    # Expand the sweep by hand: every job composes and names only layers the backbone has.
    for key, values in params.items():
        for value in str(values).split(","):
            job = _compose([f"ablation={study}", f"backbone={backbone}", f"{key}={value}"])
            for layers in ("content_layers", "style_layers"):
                assert canonical_layers(job[layers], job.backbone.arch, job.backbone.name)
            assert job.size > 0 and job.steps > 0


def test_layer_groups_follow_the_backbone():
    hed = _compose(["ablation=content_layers", "backbone=vgg16_hed"]).hydra.sweeper.params.layer_group
    vgg19 = _compose(["ablation=content_layers", "backbone=vgg19"]).hydra.sweeper.params.layer_group
    assert hed.split(",") == vgg19.split(",")[:5]  # block-aligned on VGG-16: the first five groups
    assert vgg19.split(",")[-1] == "conv_14+conv_15+conv_16"
    texture = _compose(["ablation=texture_layers", "backbone=vgg16_hed"]).hydra.sweeper.params.layer_group
    assert texture == hed + ",conv_1..conv_4"


@pytest.mark.parametrize("group", GROUPS)
def test_a_layer_group_name_spells_its_layers(group):
    cfg = _compose([f"layer_group={group}"])
    if ".." in group:
        first, last = (int(n.split("_")[1]) for n in group.split(".."))
        expected = [f"conv_{i}" for i in range(first, last + 1)]
    else:
        expected = group.split("+")
    assert list(cfg.content_layers) == expected and list(cfg.style_layers) == expected
