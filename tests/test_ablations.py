"""`make ablations-quick` end to end: eight sweeps into a temp dir, then the generated report.

Bounds were measured on the quick setting (48 px, 40 steps, vgg19 = the default backbone, the
original VGG-19; 2-core CPU; the numbers beside each assert) and set with a margin. The quick run
takes ~2-3 minutes (measured 151 s for `make ablations-quick` while another job shared the CPU);
the two style statistics studies add 16 jobs (one style, one seed: QUICK_ARGS), measured 166 s of
sweeps (131 s of optimisation) while other runs held the load average at 6 on the 2 cores.
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

SECTIONS = ["## Claims", "## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 6.", "## 7.", "## 8."]
VERDICTS = {"reproduced", "partly", "not reproduced"}
# The course report's claims, one per study, in section order; then the style statistics study's two.
CLAIMS = ["a", "b", "c", "d", "e", "f", "g", "h"]


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
    report = quick_dir / "vgg19" / "report"
    return quick_dir, report, json.loads((report / "summary.json").read_text())


def test_report_has_every_study_figure_and_table(quick):
    _, report, summary = quick
    text = (report / "README.md").read_text()
    assert summary["missing_studies"] == []
    assert "vgg19" in text.splitlines()[0] and summary["backbone"] == "vgg19"  # the title names the network
    assert summary["setting"] == "48 px" and "Size: 48 px" in text  # the quick pipeline's size
    assert "verdict at" not in text  # ablations-quick shows no committed report's verdicts beside its own
    for section in SECTIONS:
        assert section in text
    assert text.index("## Claims") < text.index("## 1.")  # the claims table comes first
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(figures) == 16  # 8 grids, 4 loss-curve plots, 4 plots of PSNR or Gram distance against steps
    for figure in figures:
        assert not Path(figure).is_absolute()  # relative links render on a Git forge
        with Image.open(report / figure) as image:
            assert image.width > 200 and image.height > 100, figure
    # Every study's table holds numbers in every data row.
    for section in text.split("\n## ")[2:]:  # the studies' sections (the claims table: below)
        lines = section.splitlines()
        headers = {i for i, line in enumerate(lines[:-1]) if lines[i + 1].startswith("|---")}
        rows = [
            line
            for i, line in enumerate(lines)
            if line.startswith("|") and "---" not in line and i not in headers
        ]
        assert rows, section[:40]
        for row in rows:
            assert re.search(r"\|\s*-?\d+(\.\d+)?(e[+-]\d+)?\s*\|", row), row


def test_every_study_says_where_each_job_stopped(quick):
    """The shared stop rule (best loss down < 0.1% over 50 steps) cannot hold within the quick cap of 40
    steps: every job ran to its cap, and each study's convergence table says so, job by job."""
    _, report, summary = quick
    text = (report / "README.md").read_text()
    for study in ("content_layers", "content_seeds", "texture_layers", "texture_seeds", "init", "gallery"):
        jobs = summary[study]["jobs"]
        assert f"*Convergence: 0 of {len(jobs)} jobs converged (the best loss fell by less than 0.001" in text
        for job in jobs:
            assert f"| {job} | - | 40 (the cap, 40) |" in text, (study, job)


def test_the_claims_table_shows_an_earlier_reports_verdicts_and_why_they_changed():
    sys.path.insert(0, str(ROOT / "experiments" / "ablations"))
    from report_build import claims_section
    from report_verdicts import Check, Claim

    now = [
        Claim(
            "a",
            "content_layers",
            "shallow layers",
            "38.0 dB",
            [Check("PSNR >= 25 dB", True, "low", core=False)],
        ),
        Claim("b", "content_seeds", "seeds", "20 dB", [Check("same PSNR", True, "apart", core=True)]),
        Claim("c", "texture_layers", "texture"),  # its study not run this time: no verdict to compare
    ]
    earlier = {
        "budget": "300 steps",
        "path": "at_300_steps.json",
        "claims": [
            {"key": "a", "measured": "21.8 dB", "verdict": "partly", "why": "21.8 dB is not near-perfect"},
            {"key": "b", "measured": "17 dB", "verdict": "reproduced", "why": ""},
            {"key": "c", "measured": "0.2", "verdict": "not reproduced", "why": "too deep"},
        ],
    }
    text = claims_section(now, [earlier])
    assert "| verdict at 300 steps |" in text
    rows = [line for line in text.splitlines() if line.startswith("| (")]
    assert rows[0].endswith("| **partly** |") and rows[1].endswith("| same |")
    assert (
        "- (a) **partly** at 300 steps -> **reproduced** here. "
        "At 300 steps: 21.8 dB (21.8 dB is not near-perfect). "
        "Here: 38.0 dB (every check passes)." in text
    )
    assert "- (b) **" not in text and "- (c) **" not in text  # unchanged, or not measured now: no line
    assert rows[2].endswith("| **not measured** | - | **not reproduced** |")  # the earlier verdict is shown
    assert "verdict at" not in claims_section(now)  # no earlier report: the table as before
    # Two others beside (an earlier budget and a report at another size): a column and a list each.
    other_size = {
        "setting": "256 px",
        "path": "vgg19_256px/summary.json",
        "claims": [
            {"key": "a", "measured": "36.1 dB", "verdict": "reproduced", "why": ""},
            {"key": "b", "measured": "15 dB", "verdict": "partly", "why": "15 dB apart"},
        ],
    }
    text = claims_section(now, [earlier, other_size])
    assert "| verdict at 300 steps | verdict at 256 px |" in text
    rows = [line for line in text.splitlines() if line.startswith("| (")]
    assert rows[0].endswith("| **partly** | same |") and rows[1].endswith("| same | **partly** |")
    assert rows[2].endswith("| **not reproduced** | - |")
    assert "Verdicts that differ in the report at 256 px (`vgg19_256px/summary.json`), and why:" in text
    assert "- (b) **partly** at 256 px -> **reproduced** here. At 256 px: 15 dB (15 dB apart)." in text


def test_shallow_layers_reconstruct_content_better_than_deep_ones(quick):
    psnr = [v["psnr_db"] for k, v in quick[2]["content_layers"].items() if isinstance(v, dict)]
    assert len(psnr) == 6  # the report's six groups on the 16-conv vgg19, shallow to deep
    assert psnr[0] > psnr[-1] + 3.5, psnr  # measured 14.9 vs 9.9 dB (range_weight 1e8; 17.3 vs 9.6 at 1e5)
    assert min(psnr[:2]) > max(psnr[2:]), psnr  # measured 14.9, 14.8 > 12.3, 10.8, 10.6, 9.9


def test_the_report_scores_the_images_each_job_logged_on_its_way(quick):
    """QUICK_ARGS log the image every 10 of the 40 steps: the report scores each logged image, so a
    reader sees how far each job was from done when it stopped. The last point is the result, stored
    twice: TensorBoard truncates to 8 bits where result.png rounds (measured 0.008-0.011 dB apart)."""
    _, report, summary = quick
    steps = ["0", "10", "20", "30", "40"]
    for name in summary["content_layers"]["jobs"]:
        job = summary["content_layers"][name]
        assert list(job["psnr_db_by_step"]) == steps, name
        assert job["psnr_db_by_step"]["40"] == pytest.approx(job["psnr_db"], abs=0.05), name
    shallow = summary["content_layers"]["conv_1+conv_2"]["psnr_db_by_step"]
    assert shallow["40"] > shallow["0"] + 4, shallow  # measured 8.99 -> 14.87 dB
    assert all(a < b for a, b in zip(list(shallow.values()), list(shallow.values())[1:])), shallow  # rising
    for name in summary["texture_layers"]["jobs"]:
        job = summary["texture_layers"][name]
        assert list(job["mean_by_step"]) == steps, name
        assert job["mean_by_step"]["40"] == pytest.approx(job["mean"], rel=0.01), name  # measured 0.12%
    chosen = summary["texture_layers"]["conv_1..conv_4"]["mean_by_step"]
    assert chosen["40"] < 0.5 * chosen["0"], chosen  # measured 0.703 (the noise start) -> 0.234
    text = (report / "README.md").read_text()
    for figure in ("content_layers_psnr", "content_seeds_psnr", "texture_layers_gram", "texture_seeds_gram"):
        assert f"]({figure}.png)" in text


def report(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    script = ROOT / "experiments" / "ablations" / "report.py"
    return subprocess.run(
        [sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=600
    )


def test_the_report_at_an_earlier_step_reads_the_same_runs_where_a_cap_would_have_stopped_them(
    quick, tmp_path
):
    """report.py --at-step N: every job that ran past step N is read at step N (its logged image,
    losses, curves), which is what a cap of N steps would have made; passed back with --earlier, its
    verdicts stand beside the report's own."""
    quick_dir, _, summary = quick
    runs, cut_dir = quick_dir / "vgg19", tmp_path / "at_20_steps"
    done = report("--runs", str(runs), "--out", str(cut_dir), "--at-step", "20")
    assert done.returncode == 0, done.stderr[-3000:]
    cut = json.loads((cut_dir / "summary.json").read_text())
    assert cut["budget"] == "20 steps" and cut["missing_studies"] == []
    for name in summary["content_layers"][
        "jobs"
    ]:  # the image logged at step 20, scored as the full report did
        job, full = cut["content_layers"][name], summary["content_layers"][name]
        assert job["psnr_db"] == pytest.approx(full["psnr_db_by_step"]["20"], abs=1e-6), name
        assert list(job["psnr_db_by_step"]) == ["0", "10", "20"], name
    for name in summary["texture_layers"]["jobs"]:
        assert cut["texture_layers"][name]["mean"] == pytest.approx(
            summary["texture_layers"][name]["mean_by_step"]["20"], rel=1e-5
        )
    text = (cut_dir / "README.md").read_text()
    assert "**As a cap of 20 steps would have made it**" in text
    assert "| conv_1+conv_2 | - | 20 (the cap, 20) |" in text
    assert [claim["key"] for claim in cut["claims"]] == CLAIMS
    assert all(claim["verdict"] in VERDICTS for claim in cut["claims"])
    # Beside the full report's own verdicts: a column for the verdicts at 20 steps.
    both = report(
        "--runs", str(runs), "--out", str(tmp_path / "full"), "--earlier", str(cut_dir / "summary.json")
    )
    assert both.returncode == 0, both.stderr[-3000:]
    assert "| verdict at 20 steps |" in (tmp_path / "full" / "README.md").read_text()
    # A step the runs logged no image at (every 10 steps here): one line, exit 2, nothing written.
    bad = report("--runs", str(runs), "--out", str(tmp_path / "at15"), "--at-step", "15")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert "logged no image at step 15" in bad.stderr and "image_every=10" in bad.stderr
    assert not (tmp_path / "at15" / "summary.json").exists()


def test_two_seeds_give_globally_similar_locally_different_textures(quick):
    seeds = quick[2]["texture_seeds"]
    to_style = [seeds[name]["gram_distance_to_style"] for name in seeds["jobs"]]
    noise = seeds["gram_distance_white_noise_to_style"]
    assert max(to_style) < 0.5 * noise, (to_style, noise)  # measured 0.450, 0.317 vs 1.167
    assert abs(to_style[0] - to_style[1]) < 0.45 * max(to_style)  # measured 30% apart (20% at range 1e5)
    assert seeds["gram_distance_between_seeds"] < 0.5 * noise  # measured 0.336 vs 1.167
    assert seeds["pixel_mean_abs_difference"] > 0.15  # measured 0.242: different pixels
    assert quick[2]["content_seeds"]["pixel_mean_abs_difference"] > 0.1  # measured 0.199


def test_claims_table_has_a_verdict_per_claim(quick):
    _, report, summary = quick
    claims = summary["claims"]
    assert [claim["key"] for claim in claims] == CLAIMS
    for claim in claims:
        assert claim["verdict"] in VERDICTS, claim  # every study ran, so every claim is judged
        assert re.search(r"\d", claim["measured"]), claim  # numbers measured from the runs
        assert claim["rule"] and claim["checks"], claim
        # The verdict follows from the rule's checks: a failed core check = not reproduced, ...
        failed = [check for check in claim["checks"] if not check["passed"]]
        if any(check["core"] for check in failed):
            assert claim["verdict"] == "not reproduced", claim
        else:
            assert claim["verdict"] == ("partly" if failed else "reproduced"), claim
        assert bool(claim["why"]) == bool(failed), claim  # a why exactly when not reproduced in full
    # The README's table: one row per claim, its verdict in bold.
    text = (report / "README.md").read_text()
    table = text[text.index("## Claims") : text.index("## 1.")]
    for claim in claims:
        row = next(line for line in table.splitlines() if line.startswith(f"| ({claim['key']}) |"))
        assert f"**{claim['verdict']}**" in row, row
    by_key = {claim["key"]: claim for claim in claims}
    # The verdict the quick setting supports, from a content-only study: the seeds' PSNRs to the photo
    # agree and differ from each other as independent noise does, losses 1.1x apart. (a)'s 5 dB margin
    # needs the 128 px run (quick: 14.9 vs 9.9 dB, 4.97 dB; full: 21.8 vs 10.4 dB), so it is not asserted.
    assert by_key["b"]["verdict"] != "not reproduced", by_key["b"]
    assert by_key["b"]["numbers"]["content_loss_ratio"] < 2  # no stall: measured 1.1x


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


def test_style_statistics_section_has_its_figures_and_cross_evaluation_table(quick):
    _, report, summary = quick
    text = (report / "README.md").read_text()
    section = text[text.index("## 7. Style statistics") : text.index("## 8. Style statistics")]
    assert "(style_statistics.png)" in section and "(style_statistics_transfer.png)" in text
    assert "| layout r |" in section and ("Layout r above" in section or "No row copies" in section)
    names = ["gram", "mean_std", "w2", "sliced_wasserstein"]
    stats = summary["style_statistics"]
    # The quick run: one style (the photographed texture) and one seed (QUICK_ARGS).
    assert stats["styles"] == ["ihc"] and stats["seeds"] == [0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "distance |" not in line]
    for layers in ("conv_1..conv_4", "relu1_1..relu5_1"):
        assert set(stats["cross_evaluation"][layers]) == set(names)
        for name in names:  # every run scored by every statistic: one table row each
            assert set(stats["cross_evaluation"][layers][name]) == {*names, "layout"}
            assert -1 <= stats["cross_evaluation"][layers][name]["layout"] <= 1
            assert any(row.startswith(f"| {name} | {layers} |") for row in rows), (name, layers)
    for seconds in stats["seconds_per_evaluation"].values():  # per layer set, per statistic
        assert set(seconds) == set(names) and min(seconds.values()) > 0
    assert set(summary["style_statistics_transfer"]["cross_evaluation"]) == set(names)


def test_every_statistic_synthesises_a_texture_closer_to_the_style_than_white_noise(quick):
    table = quick[2]["style_statistics"]["cross_evaluation"]  # 1.0 = white noise's distance
    for layers, runs in table.items():
        for name, scores in runs.items():
            # Measured (ihc, seed 0; the same with one thread a job and two): by its own yardstick 0.13
            # (mean_std, relu) to 0.31 (w2, conv). w2 on relu1_1..relu5_1 (9 positions for 512 channels at
            # 48 px) 0.19: with its ridge an absolute 1e-4 it was 0.29 or 0.74, with the thread count.
            assert scores[name] < 0.6, (layers, name, scores)
            assert scores["gram"] < 0.5, (layers, name, scores)  # by the Gram's: measured 0.07 to 0.22
    transfer = quick[2]["style_statistics_transfer"]["cross_evaluation"]  # 1.0 = the photo's
    for name, scores in transfer.items():  # measured: own 0.40 (gram) to 0.53 (w2); Gram's <= 0.50
        assert scores[name] < 0.8 and scores["gram"] < 0.8, (name, scores)


def test_layout_r_is_one_for_a_copy_and_near_zero_for_a_rearrangement():
    sys.path.insert(0, str(ROOT / "experiments" / "ablations"))
    import torch
    from report_statistics import copies_line, layout_correlation

    rows = torch.linspace(0, 1, 72)[:, None].expand(72, 96)
    style = torch.stack([rows, rows.flip(0), rows * 0.5])[None]  # a vertical gradient, 96 x 72
    assert layout_correlation(style, style) == pytest.approx(1.0, abs=1e-5)
    assert layout_correlation(style.flip(-2), style) == pytest.approx(-1.0, abs=1e-5)  # upside down
    patches = style.unfold(-2, 8, 8).unfold(-2, 8, 8)  # 9 x 12 patches of 8 px, shuffled: the same pixels
    order = torch.randperm(9 * 12, generator=torch.Generator().manual_seed(0))
    shuffled = patches.reshape(1, 3, 108, 8, 8)[:, :, order].reshape(1, 3, 9, 12, 8, 8)
    shuffled = shuffled.permute(0, 1, 2, 4, 3, 5).reshape(1, 3, 72, 96)
    assert abs(layout_correlation(shuffled, style)) < 0.4  # measured -0.17 (seeds 0-4: -0.17 to 0.03)
    table = {"relu1_1..relu5_1": {"w2": {"layout": 0.68}, "gram": {"layout": 0.2}}}
    assert "`w2` on relu1_1..relu5_1 (0.68)" in copies_line(table) and "gram" not in copies_line(table)
    assert copies_line({"conv_1..conv_4": {"gram": {"layout": 0.1}}}).startswith("No row copies")


def test_style_statistics_claims_have_verdicts(quick):
    claims = {claim["key"]: claim for claim in quick[2]["claims"]}
    for key in ("g", "h"):  # judged by their rules (the verdicts' logic: test_claims_table_...)
        assert claims[key]["study"] == "style_statistics" and claims[key]["verdict"] in VERDICTS
    # (g) is judged by yardsticks neither loss optimises, (h) under each of the four statistics.
    assert any("mean_std and w2" in check["rule"] for check in claims["g"]["checks"])
    assert len(claims["h"]["checks"]) == 4
