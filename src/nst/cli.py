"""The command line (`python -m nst`, `nst`): compose, plan, run; every error one line and an exit code.

Exit codes are listed in :mod:`nst.errors`. Input errors are found before torch is imported.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from nst import config
from nst.errors import EXIT_BAD_INPUT, NSTError
from nst.plan import Plan, make_plan
from nst.rundir import METRICS, claim, completed


def fail(message: str, code: int) -> None:
    sys.stdout.flush()
    print(f"nst: error: {message}", file=sys.stderr)
    sys.exit(code)


def _resume(run_dir: Path) -> tuple[Plan, object]:
    from nst import checkpoint

    state = checkpoint.load(run_dir)
    try:
        cfg = config.validated(state.config)
    except OmegaConfBaseException as err:
        raise NSTError(
            f"resume: the checkpoint's config is not valid here: {config.error_line(err)}"
        ) from None
    return make_plan(cfg, run_dir, resuming=True), state


def run_job(cfg: DictConfig, out_dir: Path) -> float | None:
    """Plan, then run (or resume, or skip a finished run); print where the results are."""
    state = None
    if cfg.resume:
        out_dir = Path(str(cfg.resume)).expanduser().absolute()
        plan, state = _resume(out_dir)
        print(f"resuming:    {out_dir} at step {state.steps_done}")
    else:
        done = completed(out_dir) if cfg.skip_completed else None
        if done is not None:  # a re-run sweep resumes: finished jobs are not run again
            print(f"skipped:     {out_dir} (already completed)")
            return done["loss"]["total"]
        plan = make_plan(cfg, out_dir)
    from nst.engine import run  # torch and Lightning load only once the input is known to be good

    with claim(out_dir):
        data = run(plan, out_dir, state)
    print(f"image:       {data['image']}")
    if plan.output is not None:
        print(f"output:      {plan.output}")
    print(f"metrics:     {out_dir / METRICS}")
    print(f"tensorboard: tensorboard --logdir {out_dir / 'tb'}")
    return data["loss"]["total"]  # the value a Hydra sweeper would minimise


def _only_hydra_files(folder: Path) -> bool:
    """A folder Hydra has just made for this job: its config copy and an empty log, nothing of ours."""
    names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    log = folder / "cli.log"
    return names <= {".hydra", "cli.log"} and (not log.exists() or log.stat().st_size == 0)


@hydra.main(version_base="1.3", config_path=str(config.CONF_DIR), config_name="config")
def job(cfg: DictConfig) -> float | None:
    out_dir = Path(HydraConfig.get().runtime.output_dir).absolute()
    made_by_hydra = _only_hydra_files(out_dir)
    code = 0
    try:
        return run_job(cfg, out_dir)
    except NSTError as err:
        if cfg.debug:
            raise
        message, code = str(err), err.exit_code
    except OmegaConfBaseException as err:
        if cfg.debug:
            raise
        message, code = config.error_line(err), EXIT_BAD_INPUT
    finally:
        # A run that never started (bad input) or that continued another folder (resume=) leaves
        # no empty dated folder behind.
        if made_by_hydra and (code == EXIT_BAD_INPUT or cfg.resume) and _only_hydra_files(out_dir):
            shutil.rmtree(out_dir, ignore_errors=True)
    fail(message, code)
    return None


def main() -> None:
    config.register()
    os.environ["HYDRA_FULL_ERROR"] = "1"  # composition errors reach us, to be told in one line
    try:
        job()
    except (HydraException, OmegaConfBaseException) as err:
        if "debug=true" in sys.argv[1:]:
            raise
        fail(config.error_line(err), EXIT_BAD_INPUT)


if __name__ == "__main__":
    main()
