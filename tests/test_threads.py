"""CPU runs share the cores: each takes cores // (live nst runs) threads, and gives them back."""

import json
import subprocess
import sys

import pytest
import torch

from conftest import plan
from nst import threads


@pytest.fixture
def four_cores(monkeypatch, tmp_path):
    """A 4-core machine whose registry is ``tmp_path/runs``, and this process at 4 threads."""
    monkeypatch.setattr(threads, "cores", lambda: 4)
    monkeypatch.setattr(threads, "registry", lambda: tmp_path / "runs")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    yield tmp_path / "runs"
    torch.set_num_threads(before)


def other_run(folder):
    """A live process registered as an nst run."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(process.pid)).touch()
    return process


def test_a_dead_runs_file_is_removed_and_not_counted(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / str(gone.pid)).touch()
    (tmp_path / "notes.txt").touch()  # not a run
    alive = other_run(tmp_path)
    try:
        assert threads.live_runs(tmp_path) == 1
        assert not (tmp_path / str(gone.pid)).exists() and (tmp_path / "notes.txt").exists()
    finally:
        alive.kill()
        alive.wait()


def test_threads_follow_the_runs_that_come_and_go(four_cores):
    first = other_run(four_cores)
    try:
        with threads.shared_cpu(torch.device("cpu")) as share:
            assert share is not None and torch.get_num_threads() == 2  # two runs on 4 cores
            second = other_run(four_cores)
            share.poll(force=True)
            assert torch.get_num_threads() == 1  # three runs: 4 // 3
            for process in (first, second):
                process.kill()
                process.wait()
            share.poll(force=True)
            assert torch.get_num_threads() == 4  # alone again: every core back
            assert share.lowest == 1
        assert torch.get_num_threads() == 4 and list(four_cores.iterdir()) == []  # restored, unregistered
    finally:
        first.kill()
        first.wait()


@pytest.mark.parametrize("why", ["OMP_NUM_THREADS", "cuda"])
def test_a_fixed_thread_count_or_a_gpu_run_is_left_alone(four_cores, monkeypatch, why):
    if why == "OMP_NUM_THREADS":
        monkeypatch.setenv("OMP_NUM_THREADS", "4")
    device = torch.device("cuda" if why == "cuda" else "cpu")
    other = other_run(four_cores)
    try:
        with threads.shared_cpu(device) as share:
            assert share is None and torch.get_num_threads() == 4
    finally:
        other.kill()
        other.wait()


@pytest.mark.slow
def test_a_run_beside_another_uses_half_the_cores_and_records_it(four_cores, tmp_path):
    from nst.engine import run

    other = other_run(four_cores)
    try:
        planned = plan("progress_bar=false", "size=64", "steps=2", out_dir=tmp_path / "run")
        run(planned, tmp_path / "run")
    finally:
        other.kill()
        other.wait()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["cpu_shared"] is True and metrics["cpu_threads"] == 2
    assert torch.get_num_threads() == 4
