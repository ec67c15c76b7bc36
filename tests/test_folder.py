"""content=DIR: one result per image, the backbone loaded once, a stopped folder run resumes."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import run_nst
from nst.assets import resolve
from nst.folder import _names

RUN = ("backbone=vgg16_hed", "style=starry_night", "size=48", "progress_bar=false")


def _photos(folder: Path, count: int = 3) -> Path:
    folder.mkdir()
    photo = resolve("tubingen")
    for i in range(count):
        shutil.copy(photo, folder / f"photo{i}.jpg")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_result_names_stay_unique():
    assert _names([Path("a.jpg"), Path("b.png"), Path("a.PNG")]) == ["a_jpg", "b", "a_png"]


@pytest.mark.slow
def test_every_image_gets_a_result_and_the_record_lists_them(tmp_path):
    photos = _photos(tmp_path / "photos", 2)
    done = run_nst(*RUN, "content=photos", "steps=5", "output=out", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "skipping 1 file(s) of photos that are not images: notes.txt" in done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["photo0.png", "photo1.png"]
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "completed" and record["completed_images"] == 2
    assert [e["content"] for e in record["images"]] == [
        str(photos / "photo0.jpg"),
        str(photos / "photo1.jpg"),
    ]
    for entry in record["images"]:
        with Image.open(entry["result"]) as result:
            assert result.size == (48, 36)
        sub = json.loads((Path(entry["run"]) / "metrics.json").read_text())
        assert sub["status"] == "completed" and sub["steps"] == 5 and sub["loss"]["total"] == entry["loss"]
    # The same folder asked again with other settings: refused, never reused.
    again = run_nst(*RUN, "content=photos", "steps=6", "output=out", "hydra.run.dir=run", cwd=tmp_path)
    assert again.returncode == 2 and "made with other settings (steps)" in again.stderr, again.stderr


@pytest.mark.slow
def test_a_stopped_folder_run_resumes_without_redoing_finished_images(tmp_path):
    _photos(tmp_path / "photos", 3)
    args = [*RUN, "content=photos", "steps=60", "checkpoint_every=5", "hydra.run.dir=run"]
    process = subprocess.Popen([sys.executable, "-m", "nst", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    results, second = tmp_path / "run" / "results", tmp_path / "run" / "images" / "photo1"
    deadline = time.monotonic() + 300
    while not (results / "photo0.png").exists() or not (second / "checkpoint.pt").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)  # while the second image runs
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted at image 2/3 (photo1.jpg)" in err and "continue with resume=" in err
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [e["status"] for e in record["images"]] == ["completed", "interrupted"]
    first = (results / "photo0.png").stat().st_mtime_ns

    resumed = run_nst("resume=run", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    step = int(resumed.stdout.split("resuming:    photo1.jpg at step ")[1].split()[0])
    assert 0 < step < 60  # the interrupted image continued from its checkpoint
    assert (results / "photo0.png").stat().st_mtime_ns == first  # the finished one was not redone
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [e["status"] for e in record["images"]] == ["completed"] * 3
    assert all(e["steps"] == 60 for e in record["images"])
