"""`make ablations-quick` end to end: six sweeps into a temp dir, then the generated report.

Bounds were measured on the quick setting (48 px, 40 steps, vgg16_hed, 2-core CPU; the numbers
beside each assert) and set with a margin. The quick run takes ~2-3 minutes.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import ROOT

pytestmark = pytest.mark.slow

SECTIONS = ["## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 6."]


def make_quick(quick_dir: Path, *variables: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))  # the subprocesses import this checkout
    # STAMP= : this interpreter is already set up, so make must not build a venv.
    command = ["make", "--no-print-directory", "ablations-quick", f"PY={sys.executable}", "STAMP="]
    command += [f"QUICK_DIR={quick_dir}", *variables]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    quick_dir = tmp_path_factory.mktemp("ablations-quick")
    done = make_quick(quick_dir)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = quick_dir / "vgg16_hed" / "report"
    return quick_dir, report, json.loads((report / "summary.json").read_text())


def test_report_has_every_study_figure_and_table(quick):
    _, report, summary = quick
    text = (report / "README.md").read_text()
    assert summary["missing_studies"] == []
    for section in SECTIONS:
        assert section in text
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(figures) == 9  # 6 grids + 3 loss-curve plots
    for figure in figures:
        assert not Path(figure).is_absolute()  # relative links render on a Git forge
        with Image.open(report / figure) as image:
            assert image.width > 200 and image.height > 100, figure
    # Every study's table holds numbers in every data row.
    for section in text.split("\n## ")[1:]:
        rows = [line for line in section.splitlines() if line.startswith("|") and "---" not in line][1:]
        assert rows, section[:40]
        for row in rows:
            assert re.search(r"\|\s*-?\d+(\.\d+)?(e[+-]\d+)?\s*\|", row), row


def test_shallow_layers_reconstruct_content_better_than_deep_ones(quick):
    psnr = [v["psnr_db"] for k, v in quick[2]["content_layers"].items() if isinstance(v, dict)]
    assert len(psnr) == 5  # the five block-aligned groups of vgg16_hed, shallow to deep
    assert psnr[0] > psnr[-1] + 5, psnr  # measured 17.0 vs 9.1 dB
    assert min(psnr[:2]) > max(psnr[2:]), psnr  # measured 17.0, 12.5 > 9.4, 9.2, 9.1


def test_two_seeds_give_globally_similar_locally_different_textures(quick):
    seeds = quick[2]["texture_seeds"]
    to_style = [seeds[name]["gram_distance_to_style"] for name in seeds["jobs"]]
    noise = seeds["gram_distance_white_noise_to_style"]
    assert max(to_style) < 0.5 * noise, (to_style, noise)  # measured 0.396, 0.392 vs 1.115
    assert abs(to_style[0] - to_style[1]) < 0.1 * max(to_style)  # measured 1% apart
    assert seeds["gram_distance_between_seeds"] < 0.4 * noise  # measured 0.246 vs 1.115
    assert seeds["pixel_mean_abs_difference"] > 0.15  # measured 0.288: different pixels
    assert quick[2]["content_seeds"]["pixel_mean_abs_difference"] > 0.1  # measured 0.240


def test_init_study_reports_losses_and_seconds(quick):
    init = quick[2]["init"]
    assert init["jobs"] == ["content", "noise"]
    for name in init["jobs"]:
        assert init[name]["wall_seconds"] > 0 and init[name]["total"] > 0


def test_a_rerun_resumes_instead_of_restarting(quick):
    quick_dir, _, _ = quick
    again = make_quick(quick_dir, "ABLATIONS=content_seeds")
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("(already completed)") == 2
