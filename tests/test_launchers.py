"""One sweep, three launchers (in process, joblib, a real SLURM cluster); a requeued SLURM job resumes.

The SLURM tests start a one-node cluster with scripts/slurm_local.sh (Debian's slurmctld, slurmd and
munge; installed by .ci/run, or here when running as root) and stop it by pid when the module ends.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import compose

ROOT = Path(__file__).resolve().parents[1]
SLURM_LOCAL = ROOT / "scripts" / "slurm_local.sh"
# Two small reconstructions on real features; one thread each so every launcher computes the same bits.
SWEEP = ("backbone=vgg16_hed", "style=null", "init=noise", "size=48", "steps=8", "image_every=0",
         "progress_bar=false", "seed=0,1")  # fmt: skip


def nst_multirun(*overrides: str, cwd: Path, env: dict | None = None, timeout: float = 600):
    return subprocess.run(
        [sys.executable, "-m", "nst", "-m", *overrides],
        cwd=cwd, env=dict(env or os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def jobs(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(sweep.glob("*/metrics.json"))}


def _free_port() -> int:
    for _ in range(50):
        with socket.socket() as one, socket.socket() as two:
            one.bind(("127.0.0.1", 0))
            port = one.getsockname()[1]
            try:
                two.bind(("127.0.0.1", port + 1))  # slurmd listens on the next port
            except OSError:
                continue
            return port
    raise RuntimeError("no two free ports in a row")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """Environment variables of a running one-node SLURM cluster; stopped after the module."""
    if not all(shutil.which(c) for c in ("slurmctld", "slurmd", "sbatch", "munged")):
        if os.geteuid() != 0 and not os.environ.get("CI"):
            pytest.skip("SLURM is not installed: sudo scripts/slurm_local.sh install")
        installed = subprocess.run([str(SLURM_LOCAL), "install"], capture_output=True, text=True, timeout=600)
        assert installed.returncode == 0, installed.stderr[-2000:]
    folder = tmp_path_factory.mktemp("slurm") / "cluster"
    env = dict(os.environ, NST_SLURM_DIR=str(folder), NST_SLURM_PORT=str(_free_port()))
    up = subprocess.run([str(SLURM_LOCAL), "up"], env=env, capture_output=True, text=True, timeout=120)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        env["SLURM_CONF"] = str(folder / "slurm.conf")
        yield env
    finally:
        pids = [int(p.read_text()) for p in folder.glob("*.pid") if p.read_text().strip().isdigit()]
        subprocess.run([str(SLURM_LOCAL), "down"], env=env, capture_output=True, timeout=120)
        for pid in pids:  # no daemon outlives the tests
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    """The sweep with Hydra's basic launcher: the reference the other launchers must match."""
    cwd = tmp_path_factory.mktemp("basic")
    done = nst_multirun(*SWEEP, "hydra.sweep.dir=sweep", cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return cwd / "sweep"


def assert_same_sweep(sweep: Path, reference: Path) -> dict[str, dict]:
    got, expected = jobs(sweep), jobs(reference)
    assert sorted(got) == sorted(expected) and len(got) == 2
    for name, data in got.items():
        assert data["status"] == "completed" and data["steps"] == 8
        assert data["loss"] == expected[name]["loss"]  # the same numbers...
        image, reference_image = Path(data["image"]).read_bytes(), Path(expected[name]["image"]).read_bytes()
        assert image == reference_image  # ...and the same image, bit for bit
    table = (sweep / "sweep.md").read_text()  # every multirun ends with its table
    assert table.count("| completed |") == 2
    return got


@pytest.mark.slow
def test_joblib_runs_the_same_sweep_in_parallel_processes(in_process, tmp_path):
    done = nst_multirun(
        *SWEEP, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweep.dir=sweep", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in done.stdout + done.stderr
    assert_same_sweep(tmp_path / "sweep", in_process)


@pytest.mark.slow
def test_slurm_runs_the_same_sweep_as_slurm_jobs(in_process, slurm, tmp_path):
    done = nst_multirun(*SWEEP, "hydra/launcher=slurm", "hydra.sweep.dir=sweep", cwd=tmp_path, env=slurm)
    assert done.returncode == 0, done.stderr[-3000:]
    got = assert_same_sweep(tmp_path / "sweep", in_process)
    # SLURM ran them: each run recorded its SLURM job id, and submitit kept that job's log.
    ids = sorted(data["slurm_job_id"] for data in got.values())
    assert all(re.fullmatch(r"\d+_[01]", i) for i in ids) and ids[0] != ids[1], ids
    for job_id in ids:
        log = (tmp_path / "sweep" / ".submitit" / job_id / f"{job_id}_0_log.out").read_text()
        assert f"JobEnvironment(job_id={job_id}" in log and "Job completed successfully" in log
    script = next((tmp_path / "sweep" / ".submitit").glob("*/*_submission.sh")).read_text()
    assert "#SBATCH --cpus-per-task=2" in script and "#SBATCH --signal=USR2@60" in script
    assert re.search(r"#SBATCH --mem=[34]GB", script)  # the runs' own estimate (48 px) + the process


@pytest.mark.slow
def test_a_job_slurm_stops_is_requeued_and_continues_from_its_checkpoint(slurm, tmp_path):
    steps = 150
    sweep = tmp_path / "sweep"
    args = [*SWEEP[:-4], "size=64", f"steps={steps}", "checkpoint_every=5", "progress_bar=false", "seed=3"]
    command = [sys.executable, "-m", "nst", "-m", *args, "hydra/launcher=slurm", "hydra.sweep.dir=sweep"]
    sweeping = subprocess.Popen(
        command, cwd=tmp_path, env=dict(slurm, OMP_NUM_THREADS="1"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not list(sweep.glob("*/checkpoint.pt")):  # running, and saved at least once
            assert sweeping.poll() is None and time.monotonic() < deadline, "the job never checkpointed"
            time.sleep(0.2)
        queue = subprocess.run(["squeue", "-h", "-o", "%i"], env=slurm, capture_output=True, text=True)
        (job_id,) = queue.stdout.split()  # the one job of this sweep, running
        # What SLURM sends signal_delay_s before a time limit, and on preemption with this setup.
        subprocess.run(["scancel", "--signal=USR2", job_id], env=slurm, check=True, timeout=60)
        output, _ = sweeping.communicate(timeout=600)
    finally:
        sweeping.kill()
    assert sweeping.returncode == 0, output[-3000:]
    (data,) = jobs(sweep).values()
    assert data["status"] == "completed" and data["steps"] == steps  # ended at the step asked for
    log = next(sweep.glob("*/cli.log")).read_text()
    stopped = re.search(r"interrupted \(SIGUSR2\) at step (\d+)", log)
    resumed = re.search(r"resuming: .* at step (\d+)", log)
    assert stopped and resumed, log
    assert 0 < int(stopped[1]) == int(resumed[1]) < steps  # continued where it stopped, not at step 0
    submitit_log = "".join(p.read_text() for p in (sweep / ".submitit" / job_id).glob("*_log.*"))
    assert "Requeued job" in submitit_log  # the requeue was submitit's
    assert data["evaluations"] == steps  # one per step (lbfgs_device), counted over both processes


def test_slurm_launcher_without_slurm_is_one_line(tmp_path):
    bare = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    bare |= {k: v for k, v in os.environ.items() if k.startswith("NST_")}
    done = nst_multirun("style=null", "size=32", "steps=2", "seed=0,1", "hydra/launcher=slurm",
                        cwd=tmp_path, env=bare)  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("nst: error: hydra/launcher=slurm needs SLURM's sbatch"), lines[0]


def test_slurm_launcher_when_sbatch_cannot_submit_is_one_line_and_leaves_nothing(tmp_path):
    """sbatch is installed but no controller answers (SLURM down, a laptop with the client only):
    sbatch's own lines become one, and submitit's job pickles do not stay behind."""
    (tmp_path / "bin").mkdir()
    sbatch = tmp_path / "bin" / "sbatch"
    sbatch.write_text(
        "#!/bin/sh\n"
        "echo 'sbatch: error: Batch job submission failed:' \\\n"
        "  'Unable to contact slurm controller (connect failure)' >&2\n"
        "exit 1\n"
    )
    sbatch.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "work").mkdir()
    done = nst_multirun("style=null", "size=32", "steps=2", "seed=0,1", "hydra/launcher=slurm",
                        "hydra.sweep.dir=sweep", cwd=tmp_path / "work", env=env)  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    line = lines[0]
    assert line.startswith("nst: error: hydra/launcher=slurm: sbatch could not submit the sweep"), line
    assert "Unable to contact slurm controller" in line
    assert list((tmp_path / "work").iterdir()) == []  # no sweep folder, no .submitit pickles


@pytest.mark.slow
def test_a_failed_job_does_not_stop_the_sweep(tmp_path):
    done = nst_multirun("style=null", "steps=2", "size=4,32", "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert done.returncode == 2
    assert "nst: error: size 4 is too small" in done.stderr and "Traceback" not in done.stderr
    failed, data = (jobs(tmp_path / "sweep")[name] for name in ("0_size=4", "1_size=32"))
    assert failed["status"] == "failed" and failed["error"].startswith("size 4 is too small")  # and why
    assert data["status"] == "completed" and data["size"] == 32  # the job after the failed one still ran
    assert "sweep: 1 of 2 jobs completed" in done.stderr


def test_slurm_memory_request_follows_the_largest_job():
    from hydra_plugins.nst_launchers.slurm import memory_gb

    small = compose("size=64")
    large = compose("size=2048")
    assert memory_gb([small]) == 3  # 64 px: a few MB of activations + the 2 GB process allowance
    assert memory_gb([small, large]) == memory_gb([large]) >= 8
