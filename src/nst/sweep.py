"""One table per sweep: ``python -m nst.sweep SWEEP_DIR [--sort COLUMN]``.

Reads every job folder's ``.hydra/overrides.yaml`` and ``metrics.json`` (so it works whatever launched
the jobs, and finds a job folder however deep its name put it) and writes ``sweep.csv`` and ``sweep.md``
beside them: each job's swept overrides, status (completed / interrupted / diverged / write_failed /
failed, with the error / running or failed / missing), final losses, steps, seconds, peak memory and
image. Jobs the sweep asked for (``multirun.yaml``) that have no folder yet are listed as missing, so a
half-finished sweep shows what is left. No torch needed.
Every multirun of ``python -m nst -m`` writes it when it ends (:class:`TableCallback`).
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from nst.errors import NSTError

COLUMNS = ("job", "overrides", "status", "loss", "content", "style", "steps", "seconds", "peak_mb", "image",
           "error")  # fmt: skip
STARTED: list[Path] = []  # the sweep folders this process began (TableCallback), for cli to tidy


def swept_overrides(sweep_dir: Path) -> dict[str, list[str]]:
    """The swept keys and their values, from the sweep's multirun.yaml (command line and sweeper)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    multirun = OmegaConf.load(sweep_dir / "multirun.yaml")
    given = list(multirun.hydra.overrides.task)
    params = multirun.hydra.sweeper.get("params")
    if params is not None:  # e.g. a study's layer_group: ${ablation.groups.${backbone.name}}
        given += [f"{key}={value}" for key, value in OmegaConf.to_container(params, resolve=True).items()]
    swept: dict[str, list[str]] = {}
    for override in OverridesParser.create().parse_overrides(given):
        if override.is_sweep_override():
            swept[override.get_key_element()] = list(override.sweep_string_iterator())
    return swept


def _job_overrides(job_dir: Path) -> dict[str, str]:
    lines = OmegaConf.to_container(OmegaConf.load(job_dir / ".hydra" / "overrides.yaml"))
    return dict(line.split("=", 1) for line in lines if "=" in line)  # type: ignore[union-attr]


def _row(sweep_dir: Path, job: Path, overrides: dict[str, str], swept: dict[str, Any]) -> dict[str, Any]:
    shown = {k: overrides[k] for k in swept if k in overrides} or overrides
    row: dict[str, Any] = {"job": job.as_posix(), "overrides": " ".join(f"{k}={v}" for k, v in shown.items())}
    try:
        metrics = json.loads((sweep_dir / job / "metrics.json").read_text())
    except (OSError, ValueError):
        return row | {"status": "running or failed"}
    loss = metrics.get("loss", {})
    return row | {
        "status": metrics.get("status"),
        "loss": loss.get("total"),
        "content": loss.get("content"),
        "style": loss.get("style"),
        "steps": metrics.get("steps"),
        "seconds": metrics.get("wall_seconds"),
        "peak_mb": metrics.get("peak_memory_mb"),
        "image": metrics.get("image"),
        "error": metrics.get("error"),  # a job that failed before it ran: its one-line reason
    }


def job_folders(sweep_dir: Path) -> list[Path]:
    """Every job folder under ``sweep_dir`` (one holding ``.hydra/overrides.yaml``) at any depth, as a
    path relative to it, in job-number order: a name with slashes in it made folders within folders."""
    found = []
    for folder, subdirs, _files in os.walk(sweep_dir):
        if Path(folder) != sweep_dir and os.path.isfile(os.path.join(folder, ".hydra", "overrides.yaml")):
            found.append(Path(folder).relative_to(sweep_dir))
            subdirs.clear()  # a job's own folders (tb/, images/) hold no other job
        else:
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]  # .submitit/, .hydra/
    return sorted(found, key=lambda job: _in_order(job.as_posix()))


def _in_order(name: str) -> tuple[int, str]:
    """Job 2 before job 10: the leading job number, then the name."""
    number = re.match(r"\d+", name)
    return (int(number[0]) if number else sys.maxsize, name)


def table(sweep_dir: Path) -> list[dict[str, Any]]:
    """A row per job folder, then a row per asked-for job that has no folder."""
    if not (sweep_dir / "multirun.yaml").is_file():
        raise NSTError(f"{sweep_dir} is not a sweep folder (no multirun.yaml)")
    swept = swept_overrides(sweep_dir)
    jobs = job_folders(sweep_dir)
    overrides = {job: _job_overrides(sweep_dir / job) for job in jobs}  # each job's file read once
    rows = [_row(sweep_dir, job, overrides[job], swept) for job in jobs]
    present = {tuple(sorted({k: given.get(k) for k in swept}.items())) for given in overrides.values()}
    for values in itertools.product(*swept.values()):
        combination = dict(zip(swept, values))
        if tuple(sorted(combination.items())) not in present:
            text = " ".join(f"{k}={v}" for k, v in combination.items())
            rows.append({"job": "-", "overrides": text, "status": "missing"})
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def write(rows: list[dict[str, Any]], sweep_dir: Path) -> tuple[Path, Path]:
    """sweep.csv and sweep.md in ``sweep_dir``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows([{c: row.get(c) for c in COLUMNS} for row in rows])
    csv_path, md_path = sweep_dir / "sweep.csv", sweep_dir / "sweep.md"
    csv_path.write_text(buffer.getvalue())
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in COLUMNS) + " |" for row in rows]
    md_path.write_text("\n".join(lines) + "\n")
    return csv_path, md_path


def report(sweep_dir: Path, sort: str = "job", desc: bool = False) -> str:
    """Write sweep.csv and sweep.md sorted by ``sort``; return the one-line summary."""
    rows = table(sweep_dir)
    if sort == "job":  # by job number (2 before 10), the missing last
        rows.sort(key=lambda r: _in_order(str(r["job"])), reverse=desc)
    else:
        rows.sort(key=lambda r: (r.get(sort) is None, r.get(sort) if r.get(sort) is not None else 0),
                  reverse=desc)  # fmt: skip
    csv_path, md_path = write(rows, sweep_dir)
    done = sum(1 for r in rows if r.get("status") == "completed")
    return f"{done} of {len(rows)} jobs completed; table: {md_path} and {csv_path}"


class TableCallback(Callback):
    """Hydra callback (conf/hydra/default.yaml): every multirun ends by writing its table."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        STARTED.append(Path(str(config.hydra.sweep.dir)))  # before Hydra makes it: see cli.main

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        print(f"sweep: {report(Path(str(config.hydra.sweep.dir)))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nst.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun folder (the one holding multirun.yaml)")
    parser.add_argument("--sort", choices=COLUMNS, default="job", help="column to sort by (default: job)")
    parser.add_argument("--desc", action="store_true", help="largest first")
    args = parser.parse_args(argv)
    try:
        print(report(args.sweep_dir, args.sort, args.desc))
    except NSTError as err:
        print(f"nst.sweep: error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
