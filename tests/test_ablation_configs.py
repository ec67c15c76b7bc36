"""Every ablation study composes into a sweep whose jobs are valid runs on the backbones it names."""

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.types import RunMode

from nst.config import register
from nst.vgg import canonical_layers

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
STUDIES = sorted(p.stem for p in (CONF / "ablation").glob("[!_]*.yaml"))
GROUPS = sorted(p.stem for p in (CONF / "layer_group").glob("*.yaml"))
# What each study runs; size, init and optimizer are written once in the shared _sweep / _from_noise.
# steps: each study's cap; every job stops earlier once converged (the shared stop rule).
SETTINGS = {
    "content_layers": ("noise", "lbfgs_plain", 1000),
    "content_seeds": ("noise", "lbfgs_plain", 1000),
    "texture_layers": ("noise", "lbfgs_plain", 1000),
    "texture_seeds": ("noise", "lbfgs_plain", 1000),
    "init": ("auto", "lbfgs", 600),  # swept: content, noise
    "gallery": ("auto", "lbfgs", 400),  # style transfer: auto starts from the content image
    "style_statistics": ("noise", "lbfgs", 60),  # w2 diverges without a line search
    "style_statistics_transfer": ("auto", "lbfgs", 400),  # the gallery's setting
}
SIZES = {"style_statistics": 96}  # the others: 128 (_sweep)


def _compose(overrides):
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def test_the_eight_studies_exist():
    expected = ["content_layers", "content_seeds", "gallery", "init", "style_statistics"]
    expected += ["style_statistics_transfer", "texture_layers", "texture_seeds"]
    assert STUDIES == expected


@pytest.mark.slow  # the report's command line, in a subprocess (as the Makefile calls it)
def test_the_report_orders_the_study_files():
    """`make ablations` runs, and the report shows, the studies of conf/ablation/ in section order."""
    report = ROOT / "experiments" / "ablations" / "report.py"
    listed = subprocess.run([sys.executable, report, "--studies"], capture_output=True, text=True, check=True)
    order = ["content_layers", "content_seeds", "texture_layers", "texture_seeds", "init", "gallery"]
    order += ["style_statistics", "style_statistics_transfer"]
    assert listed.stdout.split() == order


@pytest.mark.parametrize("study", STUDIES)
def test_every_study_runs_its_settings(study):
    cfg = _compose([f"ablation={study}"])
    init, optimizer, steps = SETTINGS[study]
    size = SIZES.get(study, 128)
    assert (cfg.size, cfg.init.kind, cfg.optimizer.name, cfg.steps) == (size, init, optimizer, steps)
    assert cfg.backbone.precision == "fp32" and cfg.balance == "fixed" and cfg.working_size is None
    assert (cfg.stop.rel_change, cfg.stop.window) == (1e-3, 50)  # to convergence, `steps` the cap


@pytest.mark.parametrize(("backbone", "weight"), [("vgg19", 30.0), ("vgg16_hed", 40.0)])
def test_the_gallery_runs_the_reports_layers_with_their_own_style_weight(backbone, weight):
    cfg = _compose(["ablation=gallery", f"backbone={backbone}"])
    assert list(cfg.content_layers) == ["conv_3", "conv_4"]
    assert list(cfg.style_layers) == ["conv_1", "conv_2", "conv_3", "conv_4"]
    assert cfg.style_weight == weight


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


def test_style_statistics_sweeps_every_statistic_on_both_layer_sets_and_a_photographed_texture():
    cfg = _compose(["ablation=style_statistics", "ablation.texture=ihc"])
    params = cfg.hydra.sweeper.params
    assert params.style_loss.split(",") == ["gram", "mean_std", "w2", "sliced_wasserstein"]
    assert params.layers.split(",") == ["report", "gatys"] and params.seed.split(",") == ["0", "1"]
    assert set(params["ablation.texture"].split(",")) == set(cfg.ablation.textures)
    assert cfg.content is None and (ROOT / cfg.style).is_file()  # committed: runs offline, no extra
    transfer = _compose(["ablation=style_statistics_transfer"])
    assert transfer.hydra.sweeper.params.style_loss == params.style_loss
    assert list(transfer.style_layers) == ["conv_1", "conv_2", "conv_3", "conv_4"]  # the gallery's
