"""The Hydra entry point (`python -m nst`, `nst`): errors become one line and an exit code.

Exit codes: 0 done (or skipped: already completed), 2 bad input, 3 diverged,
128 + signal number when interrupted (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nst import checkpoint
from nst.engine import RunStopped, completed_metrics, run
from nst.errors import NSTError

__all__ = ["main", "run"]

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"  # the repository's conf/ (editable install)


def _fail(message: str, code: int) -> None:
    print(f"nst: error: {message}", file=sys.stderr)
    sys.exit(code)


def _resume(run_dir: Path) -> tuple[DictConfig, dict]:
    state = checkpoint.load(run_dir)
    try:
        cfg = OmegaConf.create(state["config"])
    except OmegaConfBaseException as err:
        raise NSTError(f"resume: the checkpoint's config does not parse: {err}") from None
    return cfg, state


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    debug = bool(cfg.get("debug"))
    try:
        if cfg.get("resume"):
            out_dir = Path(str(cfg.resume)).expanduser()
            cfg, state = _resume(out_dir)
            print(f"resuming:    {out_dir} at step {state['steps_done']}")
            metrics = run(cfg, out_dir, resume=state)
        else:
            done = completed_metrics(out_dir) if cfg.get("skip_completed") else None
            if done is not None:  # a re-run sweep resumes: finished jobs are not run again
                print(f"skipped:     {out_dir} (already completed)")
                return done["loss"]["total"]
            metrics = run(cfg, out_dir)
    except NSTError as err:
        if debug:
            raise
        _fail(str(err), 2)
    except OmegaConfBaseException as err:
        if debug:
            raise
        _fail(f"bad configuration: {str(err).splitlines()[0]}", 2)
    except RunStopped as stopped:
        _fail(str(stopped), stopped.code)
    print(f"image:       {metrics['image']}")
    if cfg.output:
        print(f"output:      {cfg.output}")
    print(f"metrics:     {out_dir / 'metrics.json'}")
    print(f"tensorboard: tensorboard --logdir {out_dir / 'tb'}")
    return metrics["loss"]["total"]  # the value a Hydra sweeper would minimise


if __name__ == "__main__":
    main()
