"""content=DIR: one result per image, the backbone loaded once, a stopped folder run resumes."""

import json
import os
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
from nst.outputs import result_names as _names

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
    assert "nst: warning: skipping 1 file(s) of photos" in (tmp_path / "run" / "cli.log").read_text()
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
    shutil.copytree(tmp_path / "run", tmp_path / "swept")

    resumed = run_nst("resume=run", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    step = int(resumed.stdout.split("resuming:    photo1.jpg at step ")[1].split()[0])
    assert 0 < step < 60  # the interrupted image continued from its checkpoint
    assert (results / "photo0.png").stat().st_mtime_ns == first  # the finished one was not redone
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [e["status"] for e in record["images"]] == ["completed"] * 3
    assert all(e["steps"] == 60 for e in record["images"])
    # A re-run sweep (skip_completed) meets the same stopped run: it goes on as resume= does.
    swept = run_nst(*args[:-1], "hydra.run.dir=swept", "skip_completed=true", cwd=tmp_path)
    assert swept.returncode == 0, swept.stderr[-2000:]
    assert (
        "at the first unfinished image" in swept.stdout and "resuming:    photo1.jpg at step " in swept.stdout
    )
    record = json.loads((tmp_path / "swept" / "metrics.json").read_text())
    assert [e["status"] for e in record["images"]] == ["completed"] * 3


TINY = ("backbone=random", "style=starry_night", "size=32", "steps=2", "progress_bar=false")


def _tiny_photos(folder: Path, names=("a.png", "b.png"), broken=()) -> Path:
    folder.mkdir()
    for index, name in enumerate(names):
        Image.new("RGB", (40, 32), (40 * index, 90, 200)).save(folder / name)
    for name in broken:
        (folder / name).write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)  # a truncated JPEG
    return folder


def _snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _refused(result, expected: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nst: error: ") and expected in lines[0], lines


@pytest.mark.parametrize("overwrite", ["false", "true"])
def test_a_folder_run_never_writes_over_its_own_inputs(tmp_path, overwrite):
    _tiny_photos(tmp_path / "photos", ("holiday.png", "cat.jpg"))
    _tiny_photos(tmp_path / "styles", ("holiday.png",))
    before = _snapshot(tmp_path)
    into_itself = run_nst(*TINY, "content=photos", "output=photos", f"overwrite={overwrite}", cwd=tmp_path)
    _refused(into_itself, "output photos is the content folder")
    # A result named like the style image, in the style's folder: the style would be replaced.
    over_style = run_nst(*TINY, "content=photos", "style=styles/holiday.png", "output=styles",
                         f"overwrite={overwrite}", cwd=tmp_path)  # fmt: skip
    _refused(over_style, "output styles/holiday.png is this run's input")
    one = run_nst(*TINY, "content=photos/cat.jpg", "output=photos/cat.jpg", f"overwrite={overwrite}",
                  cwd=tmp_path)  # fmt: skip
    _refused(one, "a run never writes over its own inputs")
    assert _snapshot(tmp_path) == before and not (tmp_path / "outputs").exists()


def test_a_folder_output_is_not_overwritten_without_overwrite_true(tmp_path):
    _tiny_photos(tmp_path / "photos")
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.png").write_bytes(b"an earlier result")
    again = run_nst(*TINY, "content=photos", "output=out", "hydra.run.dir=run", cwd=tmp_path)
    _refused(again, "output folder out already holds b.png, which this run would replace")
    assert (out / "b.png").read_bytes() == b"an earlier result" and sorted(os.listdir(out)) == ["b.png"]
    assert not (tmp_path / "run").exists()
    replaced = run_nst(*TINY, "content=photos", "output=out", "overwrite=true", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert sorted(os.listdir(out)) == ["a.png", "b.png"] and Image.open(out / "b.png").size == (32, 26)


def test_a_folder_run_that_skipped_an_image_ends_with_exit_5_after_the_others(tmp_path):
    _tiny_photos(tmp_path / "photos", ("a.png", "c.png"), broken=("b.jpg",))
    done = run_nst(*TINY, "content=photos", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 5, done.stderr
    assert sorted(os.listdir(tmp_path / "run" / "results")) == ["a.png", "c.png"]  # b stopped nothing
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("nst: error: 1 of 3 images not stylised (b.jpg skipped: ") and "resume=" in last
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "partial" and record["completed_images"] == 2


@pytest.mark.parametrize("output", [None, "out"])
def test_a_folder_run_that_stylised_nothing_exits_2_and_leaves_nothing(tmp_path, output):
    _tiny_photos(tmp_path / "photos", (), broken=("a.jpg", "b.jpg"))
    before = _snapshot(tmp_path)
    given = [f"output={output}"] if output else []
    done = run_nst(*TINY, "content=photos", *given, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("nst: error: none of the 2 images of photos was stylised (a.jpg: not an image")
    assert sorted(os.listdir(tmp_path)) == ["photos"] and _snapshot(tmp_path) == before
