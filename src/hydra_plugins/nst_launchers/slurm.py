"""The SLURM launcher of ``hydra/launcher=slurm``: hydra-submitit-launcher's, plus what nst adds.

Submitit does the scheduling, the time-limit signal and the requeue; this class adds two:

- a clear start: without SLURM's ``sbatch`` on PATH, or when sbatch cannot submit (no controller
  answers, no configuration), the sweep stops with one line and leaves no ``.submitit`` pickles;
- ``mem_gb: null`` asks SLURM for the sweep's own estimate (the largest job's peak, plus the process),
  unless ``mem_per_cpu`` or ``mem_per_gpu`` is given (SLURM refuses two memory requests).

Requeue is submitit's, resume is nst's: SLURM signals a job before its time limit or on preemption
(``scancel --signal=USR2``); the run stops at a step boundary and saves its checkpoint
(:class:`nst.checkpoint.StopFlag`), then hands over to submitit, which requeues it; the restarted job
(SLURM counts it in ``SLURM_RESTART_COUNT``) resumes that checkpoint (:func:`nst.rundir.requeued`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher
from omegaconf import DictConfig, open_dict

from nst.errors import NSTError

log = logging.getLogger(__name__)

PROCESS_MB = 2048  # python, torch, Lightning and TensorBoard before the first step (measured ~1.3 GB)


def memory_gb(configs: list[DictConfig]) -> int:
    """GB to ask SLURM for: the largest job's estimated peak plus the process (CPU runs)."""
    from nst.plan import make_plan
    from nst.resources import estimate_peak_mb

    largest = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        for cfg in configs:
            plan = make_plan(cfg, Path(scratch))
            largest = max(largest, estimate_peak_mb(plan, (plan.size, plan.size)))
    return max(1, math.ceil((largest + PROCESS_MB) / 1024))


class SlurmLauncher(SubmititSlurmLauncher):
    def launch(self, job_overrides: Any, initial_job_idx: int) -> Any:
        if shutil.which("sbatch") is None:
            raise NSTError(
                "hydra/launcher=slurm needs SLURM's sbatch on PATH (none here); "
                "scripts/slurm_local.sh up starts a one-machine cluster"
            )
        if all(self.params.get(key) is None for key in ("mem_gb", "mem_per_cpu", "mem_per_gpu")):
            assert self.config is not None and self.hydra_context is not None
            loader = self.hydra_context.config_loader
            configs = [loader.load_sweep_config(self.config, list(o)) for o in job_overrides]
            for cfg in configs:
                with open_dict(cfg):
                    del cfg["hydra"]  # not part of the run's config
            self.params["mem_gb"] = memory_gb(configs)
            log.info(f"SLURM memory per job: {self.params['mem_gb']} GB (the largest job's estimate)")
        assert self.config is not None
        with _submission_in_one_line(Path(str(self.config.hydra.sweep.dir))):
            return super().launch(job_overrides, initial_job_idx)


@contextlib.contextmanager
def _submission_in_one_line(sweep_dir: Path) -> Iterator[None]:
    """sbatch failing (no controller answers, no configuration) becomes one NSTError line, and the
    pickles submitit wrote for the jobs are removed. Only the submission is wrapped: hydra-submitit's
    launch submits (``executor.map_array``) and then waits for the jobs, whose own failures stay theirs.
    """
    import submitit

    submit = submitit.AutoExecutor.map_array

    def map_array(executor: Any, *args: Any) -> Any:
        captured = io.StringIO()  # submitit prints sbatch's stderr before it raises
        try:
            with contextlib.redirect_stderr(captured):
                jobs = submit(executor, *args)
        except (RuntimeError, OSError) as err:  # submitit's FailedJobError / FailedSubmissionError
            shutil.rmtree(sweep_dir / ".submitit", ignore_errors=True)
            reason = _reason(err, captured.getvalue())
            raise NSTError(
                f"hydra/launcher=slurm: sbatch could not submit the sweep ({reason}); is the SLURM "
                "controller up? scripts/slurm_local.sh up starts a one-machine cluster"
            ) from err
        sys.stderr.write(captured.getvalue())
        return jobs

    with mock.patch.object(submitit.AutoExecutor, "map_array", map_array):
        yield


def _reason(err: BaseException, stderr: str) -> str:
    """sbatch's last error line (``Batch job submission failed: ...``), else the exception's."""
    lines = [line.strip() for line in (stderr or str(err)).splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line or "fatal" in line] or lines or [type(err).__name__]
    return errors[-1].removeprefix("sbatch: ")
