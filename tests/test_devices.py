"""trainer.devices=free: each job of a sweep on a several-GPU machine claims its own GPU (no GPU needed)."""

import subprocess
import sys
import threading
import time

import pytest

from conftest import plan
from nst.devices import claim_gpu
from nst.errors import NSTError


def test_claims_take_distinct_gpus_and_a_third_waits_for_one_to_be_freed(tmp_path):
    got, lines = [], []
    with claim_gpu(2, tmp_path) as first, claim_gpu(2, tmp_path) as second:
        assert {first, second} == {0, 1}

        def third():
            with claim_gpu(2, tmp_path, poll_seconds=0.02, notify=lines.append) as index:
                got.append(index)

        waiter = threading.Thread(target=third)
        waiter.start()
        time.sleep(0.3)
        assert got == [] and lines == ["nst: waiting for a free GPU (all 2 are held by other nst runs)"]
    waiter.join(timeout=5)
    assert got == [0]  # the first GPU freed is taken


def test_a_killed_job_never_keeps_its_gpu(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from nst.devices import claim_gpu\nfrom pathlib import Path\nimport time\n"
         f"with claim_gpu(1, Path({str(tmp_path)!r})):\n    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    lines = []
    done = []
    waiter = threading.Thread(target=lambda: done.append(_claim_once(tmp_path, lines)))
    waiter.start()
    time.sleep(0.3)
    assert done == [] and len(lines) == 1  # held by the other process
    holder.kill()
    holder.wait()
    waiter.join(timeout=5)
    assert done == [0]


def _claim_once(folder, lines):
    with claim_gpu(1, folder, poll_seconds=0.02, notify=lines.append) as index:
        return index


def test_locks_name_physical_gpus_so_renumbered_processes_still_exclude_each_other(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    with claim_gpu(2, tmp_path) as index:
        assert index == 0 and (tmp_path / "gpu3.lock").is_file()
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,3")  # another job sees the same GPUs in another order
        with claim_gpu(2, tmp_path) as other:
            assert other == 0  # its device 0 is physical GPU 5: free
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
        lines = []
        waiter = threading.Thread(target=lambda: _claim_once(tmp_path, lines))
        waiter.start()
        time.sleep(0.2)
        assert len(lines) == 1  # physical GPU 3 is held, whatever its visible index
    waiter.join(timeout=5)


def test_free_needs_a_gpu(tmp_path):
    with pytest.raises(NSTError, match="no CUDA GPU is visible"):
        with claim_gpu(0, tmp_path):
            pass
    with pytest.raises(NSTError, match="not with trainer.accelerator=cpu"):
        plan("trainer.devices=free", "trainer.accelerator=cpu", out_dir=tmp_path)
    assert plan("trainer.devices=free", out_dir=tmp_path).devices == "free"
