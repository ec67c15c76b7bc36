"""Every config group option composes, and the values the code relies on are where it expects them."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from nst.encoder import canonical_layers

CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = ["backbone", "optimizer", "init", "layers"]


def options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _compose(overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_group_option_composes(group, option):
    overrides = [f"{group}={option}"]
    if group == "init" and option == "image":
        overrides.append("init.path=some.png")
    cfg = _compose(overrides)
    option_cfg = OmegaConf.load(CONF / group / f"{option}.yaml")
    composed = cfg if group == "layers" else cfg[group]  # layers presets are @package _global_
    for key in option_cfg:
        if key != "defaults" and not OmegaConf.is_missing(option_cfg, key):
            assert composed[key] == option_cfg[key], (group, option, key)
    assert float(cfg.content_weight) > 0 and float(cfg.style_weight) > 0


@pytest.mark.parametrize("backbone", options("backbone"))
@pytest.mark.parametrize("layers", options("layers"))
def test_layer_presets_are_valid_on_every_backbone(backbone, layers):
    cfg = _compose([f"backbone={backbone}", f"layers={layers}"])
    for key in ("content_layers", "style_layers"):
        assert canonical_layers(cfg[key], cfg.backbone.arch, cfg.backbone.name)


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes(experiment):
    cfg = _compose([f"experiment={experiment}"])
    assert cfg.size > 0 and cfg.steps > 0


def test_weights_follow_the_backbone_unless_overridden():
    hed = _compose(["backbone=vgg16_hed"])
    vgg19 = _compose(["backbone=vgg19"])
    assert hed.style_weight != vgg19.style_weight  # ~50x activation scale difference
    assert _compose(["backbone=vgg19", "style_weight=3"]).style_weight == 3


def test_lbfgs_defaults_are_one_iteration_per_step_and_never_stop_early():
    cfg = _compose([])
    assert cfg.optimizer.max_iter == 1
    assert cfg.optimizer.tolerance_grad == 0 and cfg.optimizer.tolerance_change == 0
    assert cfg.trainer.gradient_clip_val is None and cfg.trainer.precision == "32-true"
