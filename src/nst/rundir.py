"""Run folders: a readable, unique default name, and one run at a time in a folder."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from nst.errors import NSTError

LOCK = ".nst.lock"
METRICS = "metrics.json"
CHECKPOINT = "checkpoint.pt"
FOLDER_CONFIG = "folder_run.yaml"  # a folder run's resolved config: resume=RUN_DIR plans it again
VIDEO_CONFIG = "video_run.yaml"  # a video run's
# The repository's conf/, reached through the package (src/nst/conf links to it; a wheel holds a copy).
CONF_DIR = Path(__file__).resolve().parent / "conf"

# Keys added since runs first saved their config, each with a default that reproduces the runs made
# before it: a checkpoint written before one of them resumes with that default from conf/config.yaml
# (nst.config.validated), and a re-run sweep reuses a finished run that lacks it (differing).
# checkpoint_history: only what checkpoints keep; video: only a video run reads it; stop: its default
# (no rule) is how every earlier run ran; video.temporal_frames: [1], the frame before, as every
# earlier video ran.
ADDED_SINCE = ("checkpoint_history", "video", "stop", "video.temporal_frames", "refine_anchor")
# Keys whose default has changed since they were added, or that runs saved without them ran as:
# the value those runs had. video.temporal_frames became [1, 2, 4] (long-term terms, README: Video);
# refine_anchor: runs before it were unanchored; style_loss.balance_scale (a schema default, no
# config.yaml entry): runs before it were balanced without one.
FORMER_DEFAULTS: dict[str, Any] = {
    "video.temporal_frames": [1],
    "refine_anchor": 0.0,
    "style_loss.balance_scale": 1.0,
}


@cache
def added_defaults() -> dict[str, Any]:
    """The keys of ADDED_SINCE as dotted leaves (``video.flow_preset``) with what a run saved before a
    key existed ran with: its conf/config.yaml value, or its FORMER_DEFAULTS value."""
    import yaml

    defaults = yaml.safe_load((CONF_DIR / "config.yaml").read_text())
    leaves: dict[str, Any] = {}
    for key in ADDED_SINCE:
        node: Any = defaults
        for part in key.split("."):
            node = node[part]
        leaves.update(_leaves(node, f"{key}."))  # "???" where the value comes from elsewhere: no match
    return leaves | FORMER_DEFAULTS


@cache
def _process_token() -> str:
    """Four random hex digits, fixed for the process: runs started in the same second differ."""
    return secrets.token_hex(2)


def run_name(content: object = None, style: object = None) -> str:
    """``tubingen-starry_night_3f9a``: what was run, then a token that keeps the folder unique."""

    def stem(value: object) -> str:  # several styles: a+b
        if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
            return "+".join(stem(v) for v in value)  # type: ignore[union-attr]
        return re.sub(r"[^\w.+-]+", "_", Path(str(value)).stem)[:40]

    parts = [stem(p) for p in (content, style) if p not in (None, "")]
    return f"{'-'.join(parts) or 'run'}_{_process_token()}"


JOB_NAME_CHARS = 80  # a sweep job's folder name at most (the job number always fits)


def _label(value: str) -> str:
    """A swept value as a folder name shows it: a path by its file stem, a list element by element,
    and nothing but ASCII letters, digits and ``_.+-``."""
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        return "+".join(_label(v) for v in text[1:-1].split(",") if v.strip())
    if "/" in text or "\\" in text or re.search(r"\.[A-Za-z]\w{0,4}$", text):  # a path or a file name
        text = Path(text.replace("\\", "/").rstrip("/")).stem or text
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "_"


def swept_keys(sweep_dir: object) -> set[str] | None:
    """The keys the sweep varies (its multirun.yaml), or None where that cannot be read."""
    from nst.sweep import swept_overrides  # Hydra's parser: loaded only in a sweep

    try:
        return set(swept_overrides(Path(str(sweep_dir))))
    except Exception:  # no readable multirun.yaml (or one Hydra cannot parse): name by every override
        return None


def job_name(num: object, overrides: object = None, sweep_dir: object = None) -> str:
    """A sweep job's folder, one level deep: ``3_content=tubingen,seed=1``. The job number first, then
    the swept keys with their values (every override if the sweep varies none); paths by their file
    stem, odd characters as ``_``, at most ``JOB_NAME_CHARS`` characters."""
    pairs = [str(o).split("=", 1) for o in (overrides or []) if "=" in str(o)]  # type: ignore[union-attr]
    swept = swept_keys(sweep_dir) if sweep_dir not in (None, "") else None
    shown = [(k, v) for k, v in pairs if swept is None or k in swept] or pairs
    text = ",".join(f"{re.sub(r'[^A-Za-z0-9_.]+', '_', k.lstrip('+~'))}={_label(v)}" for k, v in shown)
    return f"{num}_{text}"[:JOB_NAME_CHARS].rstrip(",=") if text else str(num)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def claim(out_dir: Path) -> Iterator[None]:
    """Hold ``out_dir`` for this process: a second run into the same folder is refused, not mixed in."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = out_dir / LOCK
    for _attempt in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                owner = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                owner = 0
            if owner and owner != os.getpid() and _alive(owner):
                raise NSTError(f"run directory {out_dir} is in use by process {owner}") from None
            lock.unlink(missing_ok=True)  # left by a run that died: take it over
    else:
        raise NSTError(f"cannot claim run directory {out_dir}")
    try:
        os.write(fd, str(os.getpid()).encode())
    finally:
        os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def completed(out_dir: Path) -> dict[str, Any] | None:
    """The record of a finished run in ``out_dir``, or None if it is absent or incomplete."""
    try:
        data = json.loads((out_dir / METRICS).read_text())
    except (OSError, ValueError):
        return None
    done = (
        data.get("status") == "completed" and Path(data.get("image", "")).exists()
    )  # a folder run: results/
    return data if done else None


def restarted() -> bool:
    """Whether this process is a SLURM job that was requeued (SLURM counts the restarts)."""
    restarts = os.environ.get("SLURM_RESTART_COUNT", "0")
    return restarts.isdigit() and int(restarts) > 0


def requeued(out_dir: Path) -> bool:
    """Whether this process is SLURM's restart of a job that stopped with a checkpoint in ``out_dir``
    (time limit or preemption: the job's signal saved it, then submitit requeued the job)."""
    return restarted() and (out_dir / CHECKPOINT).is_file()


def unfinished_here(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds a folder or video run that did not finish (interrupted, preempted):
    resume=RUN_DIR continues it from its first unfinished image or frame."""
    started = (out_dir / FOLDER_CONFIG).is_file() or (out_dir / VIDEO_CONFIG).is_file()
    return started and completed(out_dir) is None


# Keys that change how a run is watched or where a copy goes, not the result it makes.
NOT_RESULT_KEYS = frozenset(
    {"log_every", "image_every", "progress_bar", "checkpoint_every", "checkpoint_history", "skip_completed",
     "debug", "resume", "overwrite", "force", "max_input_pixels", "output", "ablation", "trainer"}
)  # fmt: skip


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix.rstrip("."): node}
    return {k: v for key, value in node.items() for k, v in _leaves(value, f"{prefix}{key}.").items()}


def settings_differ(out_dir: Path, config_yaml: str) -> list[str] | None:
    """The result-changing keys whose values differ between the run in ``out_dir`` (its resolved
    config: tb/hparams.yaml, or a folder or video run's own) and ``config_yaml``; None when the old
    run did not record it."""
    import yaml

    recorded = next(
        (
            path
            for name in ("tb/hparams.yaml", FOLDER_CONFIG, VIDEO_CONFIG)
            if (path := out_dir / name).is_file()
        ),
        None,
    )
    try:
        old = yaml.safe_load(recorded.read_text()) if recorded is not None else None
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(old, dict) or not old:
        return None  # made before runs recorded their config, or stopped before it was written
    return differing(old, yaml.safe_load(config_yaml))


def differing(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The result-changing keys (not in NOT_RESULT_KEYS) whose values differ between two configs. A
    key added since ``old`` was saved (ADDED_SINCE) that ``new`` gives the value every earlier run had
    is no difference."""
    before, after, added = _leaves(old), _leaves(new), added_defaults()
    keys = sorted(k for k in before.keys() | after.keys() if k.split(".")[0] not in NOT_RESULT_KEYS)
    return [
        k
        for k in keys
        if before.get(k) != after.get(k) and not (k not in before and k in added and after.get(k) == added[k])
    ]
