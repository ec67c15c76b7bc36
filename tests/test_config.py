"""Every config group option composes, and the values the code relies on are where it expects them."""

import dataclasses

import pytest
from omegaconf import OmegaConf

from conftest import ROOT, compose
from nst.config import Config
from nst.vgg import canonical_layers

CONF = ROOT / "conf"
GROUPS = ["backbone", "optimizer", "init", "layers"]
GLOBAL_GROUPS = ("layers", "backbone")  # @package _global_: they set top-level keys too


def options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _compose(overrides):
    return compose(*overrides)


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_group_option_composes(group, option):
    overrides = [f"{group}={option}"]
    if group == "init" and option == "image":
        overrides.append("init.path=some.png")
    cfg = _compose(overrides)
    option_cfg = OmegaConf.load(CONF / group / f"{option}.yaml")
    composed = cfg if group in GLOBAL_GROUPS else cfg[group]
    for key in option_cfg:
        if key in ("backbone", "video"):  # a node the file sets in part: every key it sets is in force
            for name, value in option_cfg[key].items():
                assert cfg[key][name] == value, (option, key, name)
        elif key != "defaults" and not OmegaConf.is_missing(option_cfg, key):
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
    assert _compose(["backbone=vgg19", "style_weight=7"]).style_weight == 7


def test_lbfgs_defaults_are_one_iteration_per_step_and_never_stop_early():
    cfg = _compose([])
    assert cfg.optimizer.max_iter == 1
    assert cfg.optimizer.tolerance_grad == 0 and cfg.optimizer.tolerance_change == 0


def test_a_saved_config_from_before_checkpoint_history_resumes_with_its_default():
    """A checkpoint's config written before the key existed (it only sets what later checkpoints keep)."""
    from nst.config import validated

    saved = OmegaConf.to_yaml(_compose(["checkpoint_history=3"]), resolve=True)
    assert validated(saved).checkpoint_history == 3
    older = "".join(line for line in saved.splitlines(True) if not line.startswith("checkpoint_history:"))
    assert validated(older).checkpoint_history == _compose([]).checkpoint_history == 5


def test_an_ablation_job_saved_before_the_anchor_and_balance_scale_is_not_a_different_run():
    """make ablations resumes sweeps whose finished jobs were saved before refine_anchor and
    style_loss.balance_scale existed: those keys' absence is what the jobs ran with (unanchored,
    no balance scale), so today's pinned study config is no difference and a resume reads 0."""
    from nst.config import validated
    from nst.rundir import differing

    new = OmegaConf.to_container(_compose(["ablation=init"]), resolve=True)
    assert new["refine_anchor"] == 0.0 and new["style_loss"]["balance_scale"] == 1.0
    old = OmegaConf.to_container(_compose(["ablation=init"]), resolve=True)
    del old["refine_anchor"], old["style_loss"]["balance_scale"]
    assert differing(old, new) == []
    assert differing(old, OmegaConf.to_container(_compose(["refine_anchor=1"]), resolve=True)) != []
    assert validated(OmegaConf.to_yaml(OmegaConf.create(old))).refine_anchor == 0.0


def test_a_key_added_since_a_run_keeps_old_runs_valid_and_new_values_apart():
    """video.temporal_frames was added after runs (and sweeps' finished jobs) saved their config, and its
    default has changed since ([1] -> [1, 2, 4]): an old config resumes with [1], the frame before, as
    every earlier video ran, and a re-run sweep counts its absence as [1], so today's default (long-term
    terms) is a difference and an explicit [1] is not."""
    from nst.config import validated
    from nst.rundir import added_defaults, differing

    new = OmegaConf.to_container(_compose([]), resolve=True)
    assert new["video"]["temporal_frames"] == [1, 2, 4]
    old = OmegaConf.to_container(_compose([]), resolve=True)
    del old["video"]["temporal_frames"]
    assert list(validated(OmegaConf.to_yaml(OmegaConf.create(old))).video.temporal_frames) == [1]
    assert added_defaults()["video.temporal_frames"] == [1]
    assert differing(old, new) == ["video.temporal_frames"]
    short = OmegaConf.to_container(_compose(["video.temporal_frames=[1]"]), resolve=True)
    assert differing(old, short) == []
    assert differing(new, short) == ["video.temporal_frames"]
    older = OmegaConf.to_container(_compose([]), resolve=True)
    del older["video"]  # saved before video existed at all: its defaults, with the former temporal_frames
    assert list(validated(OmegaConf.to_yaml(OmegaConf.create(older))).video.temporal_frames) == [1]
    assert "video.temporal_frames" not in differing(older, short)  # (its temporal_weight came from elsewhere)
    del old["steps"]  # a key that is not a later addition: its absence is a difference
    assert differing(old, short) == ["steps"]


def test_every_setting_has_one_name():
    """The schema and the composed config hold the same keys: nothing defined twice or left untyped."""
    cfg = _compose([])
    assert set(cfg) == {f.name for f in dataclasses.fields(Config)}
    for weight in ("content_weight", "style_weight", "range_weight"):
        assert weight not in cfg.backbone  # the backbone's files set the top-level keys
    assert (
        "precision" in cfg.backbone
        and "precision" not in cfg
        and set(cfg.trainer) == {"accelerator", "devices"}
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seed=abc", "seed must be an integer, got 'abc'"),
        ("sizee=128", "unknown key 'sizee'"),
        ("layers=repor", "unknown layers 'repor'; valid: gatys, look, report"),
        ("scales=[32,x]", "scales must be a list of integers, got 'x'"),
        ("progress_bar=maybe", "progress_bar must be true or false, got 'maybe'"),
        ("backbone.pool=avg", "unknown key 'backbone.pool'"),
    ],
)
def test_composition_errors_read_as_one_line(override, message):
    from nst.config import error_line

    with pytest.raises(Exception) as err:
        _compose([override])
    assert error_line(err.value) == message or error_line(err.value).startswith(message)


def test_strength_scales_the_backbones_calibrated_style_weight(tmp_path):
    from conftest import plan

    calibrated = _compose(["backbone=vgg19"]).style_weight
    assert plan("strength=2.5", out_dir=tmp_path).style_weight == pytest.approx(2.5 * calibrated)
    assert plan("strength=0", out_dir=tmp_path).style_weight == 0  # the photo
    assert plan("style_weight=7", out_dir=tmp_path).style_weight == 7  # the raw weight, strength 1
    hed = _compose(["backbone=vgg16_hed"]).style_weight
    assert plan("backbone=vgg16_hed", "strength=2", out_dir=tmp_path).style_weight == pytest.approx(2 * hed)


@pytest.mark.parametrize(
    "overrides, sizes, steps",
    [
        (["size=256"], (256,), (300,)),  # the working size itself: one scale
        (["size=128"], (128,), (300,)),  # below it: one scale at size
        (["size=512"], (256, 512), (300, 100)),
        (["size=704"], (256, 425, 704), (300, 100, 100)),  # factors of at most 2, evenly spread
        (["size=2048", "refine_steps=40"], (256, 512, 1024, 2048), (300, 40, 40, 40)),
        (["size=1024", "working_size=null"], (1024,), (300,)),  # switched off: the size alone
        (["size=1024", "scales=[128]", "scale_steps=[50]"], (128, 1024), (50, 300)),  # explicit scales win
        (
            ["size=1024", "tile=192", "tile_overlap=32"],
            (192, 335, 586, 1024),
            (300, 100, 100, 100),
        ),  # formed in one tile
    ],
)
def test_the_look_is_formed_at_the_working_size_and_refined_upward(tmp_path, overrides, sizes, steps):
    from conftest import plan

    planned = plan(*overrides, out_dir=tmp_path)
    assert (planned.sizes, planned.steps) == (sizes, steps)


def test_the_ablations_and_the_report_experiment_pin_the_old_look():
    for overrides in (["ablation=init"], ["ablation=texture_layers"], ["experiment=report"]):
        cfg = _compose(overrides)
        assert cfg.working_size is None and cfg.strength == 1
    assert _compose(["ablation=init"]).style_weight == 1.0  # the report's vgg19 weight, whatever the default
    assert _compose(["ablation=gallery"]).style_weight == 30.0
