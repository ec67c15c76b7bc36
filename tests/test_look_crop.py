"""experiments/look/crop.py: one region of a multi-scale run at every scale, side by side."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

CROP = Path(__file__).resolve().parents[1] / "experiments" / "look" / "crop.py"


def run(*args):
    return subprocess.run([sys.executable, str(CROP), *map(str, args)], capture_output=True, text=True)


def test_each_scale_shows_the_same_region_enlarged_to_the_results_pixels(tmp_path):
    # A result whose left half is red and right half blue, and scales of the same picture at 1/4
    # and 1/2 its size, named as a run keeps them.
    def picture(width, height):
        a = np.zeros((height, width, 3), np.uint8)
        a[:, : width // 2] = (255, 0, 0)
        a[:, width // 2 :] = (0, 0, 255)
        return Image.fromarray(a)

    (tmp_path / "scales").mkdir()
    picture(256, 192).save(tmp_path / "result.png")
    picture(64, 48).save(tmp_path / "scales" / "64px.png")
    picture(128, 96).save(tmp_path / "scales" / "128px.png")
    out = tmp_path / "sheet.png"
    done = run(tmp_path, out, "--at", "0.25", "0.25", "--box", "128", "96")
    assert done.returncode == 0, done.stderr
    sheet = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert sheet.shape == (96 + 22, 3 * 128 + 2 * 4, 3)
    # The region spans x = 64..192 of the result: red on its left quarter-to-half, blue after.
    for cell in range(3):
        x0 = cell * (128 + 4)
        left, right = sheet[22 + 48, x0 + 16], sheet[22 + 48, x0 + 112]
        assert left[0] > 200 and left[2] < 50, (cell, left)
        assert right[2] > 200 and right[0] < 50, (cell, right)


def test_a_folder_without_a_result_or_a_region_outside_it_is_one_line_and_exit_2(tmp_path):
    missing = run(tmp_path, tmp_path / "sheet.png")
    assert missing.returncode == 2 and "result.png not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    Image.new("RGB", (100, 80)).save(tmp_path / "result.png")
    outside = run(tmp_path, tmp_path / "sheet.png", "--at", "0.9", "0.9")
    assert outside.returncode == 2 and "leaves the 100x80 result" in outside.stderr
    assert not (tmp_path / "sheet.png").exists()


def test_the_sheet_never_overwrites_the_runs_own_images(tmp_path):
    (tmp_path / "scales").mkdir()
    Image.new("RGB", (100, 80), "red").save(tmp_path / "result.png")
    Image.new("RGB", (50, 40), "blue").save(tmp_path / "scales" / "50px.png")
    before = {p: p.read_bytes() for p in (tmp_path / "result.png", tmp_path / "scales" / "50px.png")}
    for target in before:
        refused = run(tmp_path, target, "--at", "0", "0", "--box", "50", "40")
        assert refused.returncode == 2 and "one of the run's own images" in refused.stderr
    assert {p: p.read_bytes() for p in before} == before
