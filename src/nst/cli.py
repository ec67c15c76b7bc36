"""The command line (`python -m nst`, `nst`): compose, plan, run; every error one line and an exit code.

Exit codes are listed in :mod:`nst.errors`. Input errors are found before torch is imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from nst import config
from nst.errors import EXIT_BAD_INPUT, JobFailed, NSTError, hold_interrupts, release_interrupts
from nst.files import write_json
from nst.plan import Plan, make_plan
from nst.rundir import METRICS, claim, completed, requeued, restarted, settings_differ, unfinished_here

log = logging.getLogger("nst")
INTERRUPTED = 128 + signal.SIGINT  # Ctrl-C: 130
STARTUP_INTERRUPTED = "interrupted (SIGINT) during start-up: nothing was run"


def fail(message: str, code: int, label: str = "error") -> None:
    if code != EXIT_BAD_INPUT and sys.stdout.isatty():
        print(file=sys.stdout)  # end the progress bar's line: the message starts on its own
    sys.stdout.flush()
    print(f"nst: {label}: {message}", file=sys.stderr)
    sys.exit(code)


def _resume(run_dir: Path, loaded: object = None) -> tuple[Plan, object]:
    """The plan and state to continue ``run_dir`` from (``loaded``: its checkpoint, already read)."""
    from nst import checkpoint
    from nst.folder import folder_config
    from nst.video.run import video_config

    saved = folder_config(run_dir)  # a folder run: its images resume one by one
    saved = saved if saved is not None else video_config(run_dir)  # a video: from its first unfinished frame
    state = (loaded or checkpoint.load(run_dir)) if saved is None else None
    try:
        cfg = config.validated(saved if saved is not None else state.config)
    except OmegaConfBaseException as err:
        raise NSTError(
            f"resume: the checkpoint's config is not valid here: {config.error_line(err)}"
        ) from None
    return make_plan(cfg, run_dir, resuming=True), state


def say_how_it_ended(plan: Plan, data: dict) -> None:
    """A line when the time budget or the stop rule (stop.rel_change) ended the run, or the cap did."""
    if data.get("ended_by") == "time_budget":
        log.info(
            f"stopped:     time_budget={plan.time_budget:g}s reached after {data['steps']} steps; "
            "the image at that step is saved as the result"
        )
    if data.get("converged") is not None and plan.stop is not None:
        log.info(
            f"converged:   at step {data['converged_step']} ({plan.stop.describe()})"
            if data["converged"]
            else "converged:   no: the step cap came first (raise steps, or stop.rel_change to stop sooner)"
        )


def _continue_here(cfg: DictConfig, out_dir: Path, plan) -> tuple[dict | None, object | None]:
    """What a re-run sweep (``skip_completed``) or a restarted job finds in ``out_dir``: the metrics of a
    finished run, or ``cfg.resume`` set to continue an interrupted run (its checkpoint, read once, is
    returned) or an unfinished folder or video (from its first unfinished image or frame). A finished or
    unfinished run made with other settings is refused, never mixed with this one."""
    again = cfg.skip_completed or restarted()
    done = completed(out_dir) if again else None
    if done is not None:
        _refuse_other_settings(
            out_dir, plan, "a finished", "use another sweep folder, or skip_completed=false to run it again"
        )
        return done, None
    from nst.checkpoint import interrupted_here

    loaded = interrupted_here(out_dir, plan.config) if cfg.skip_completed else None
    if loaded is not None:
        cfg.resume = str(out_dir)
    elif again and unfinished_here(out_dir):
        _refuse_other_settings(out_dir, plan, "an unfinished", "use another sweep folder")
        cfg.resume = str(out_dir)
    return None, loaded


def _refuse_other_settings(out_dir: Path, plan, which: str, advice: str) -> None:
    changed = settings_differ(out_dir, plan.config)
    if changed:
        listed = ", ".join(changed[:5])
        raise NSTError(f"{out_dir} holds {which} run made with other settings ({listed}): {advice}")


def run_job(cfg: DictConfig, out_dir: Path) -> float | None:
    """Plan, then run (or resume, or skip a finished run); print where the results are."""
    state = loaded = None
    if not cfg.resume and requeued(out_dir):  # SLURM restarted this job after its time limit or a preemption
        cfg.resume = str(out_dir)
    if not cfg.resume:
        plan = make_plan(cfg, out_dir)
        done, loaded = _continue_here(cfg, out_dir, plan)
        if done is not None:  # a re-run sweep resumes: finished jobs are not run again
            log.info(f"skipped:     {out_dir} (already completed)")
            return done["loss"]["total"]
    if cfg.resume:
        out_dir = Path(str(cfg.resume)).expanduser().absolute()
        plan, state = _resume(out_dir, loaded)
        where = (
            f"step {state.steps_done}"
            if state is not None
            else "the first unfinished " + ("frame" if plan.video_run else "image")
        )
        log.info(f"resuming:    {out_dir} at {where}")
    from nst.engine import run  # torch and Lightning load only once the input is known to be good

    with claim(out_dir):
        if plan.folder_run:
            from nst.folder import run_folder

            data = run_folder(plan, out_dir)
            log.info(f"images:      {data['completed_images']} of {len(data['images'])} stylised")
        elif plan.video_run:
            from nst.video.run import run_video

            data = run_video(plan, out_dir)
            log.info(f"frames:      {data['completed_frames']} stylised, in {out_dir / 'frames'}")
        else:
            data = run(plan, out_dir, state)
    say_how_it_ended(plan, data)
    kind = "results:   " if plan.folder_run else "video:     " if plan.video_run else "image:     "
    log.info(f"{kind}  {data['image']}")
    if plan.output is not None and not plan.folder_run:
        log.info(f"output:      {plan.output}")
    log.info(f"metrics:     {out_dir / METRICS}")
    several = plan.folder_run or plan.video_run  # a run per image or frame below out_dir
    log.info(f"tensorboard: tensorboard --logdir {out_dir if several else out_dir / 'tb'}")
    if plan.folder_run:
        from nst.folder import incomplete

        missed = incomplete(data, out_dir)
        if missed is not None:  # after every image: the others' results are kept
            raise missed
    return data["loss"].get("total")  # the value a Hydra sweeper would minimise


def _only_hydra_files(folder: Path, any_log: bool = False) -> bool:
    """A folder Hydra has just made for this job: its config copy and a log (empty, unless
    ``any_log``), nothing of ours."""
    names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    log = folder / "cli.log"
    return names <= {".hydra", "cli.log"} and (any_log or not log.exists() or log.stat().st_size == 0)


def _remove_made_folder(out_dir: Path) -> None:
    """The run folder and the parents it emptied (outputs/DATE/), below the working directory."""
    shutil.rmtree(out_dir, ignore_errors=True)
    cwd = Path.cwd().absolute()
    for parent in out_dir.parents:
        if parent == cwd or cwd not in parent.parents:
            break
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break


def _drop_refused_sweep() -> None:
    """A sweep refused before its first job ran (a typo in a swept key, sizee=1,2; no sbatch) leaves
    no folder holding only the multirun.yaml that Hydra wrote first."""
    from nst.sweep import STARTED

    for sweep_dir in STARTED:
        if sweep_dir.is_dir() and {p.name for p in sweep_dir.iterdir()} <= {"multirun.yaml"}:
            _remove_made_folder(sweep_dir.absolute())


def _record_failure(out_dir: Path, message: str, code: int) -> None:
    """A sweep's job that failed on its input keeps its folder, with metrics.json saying why: the
    sweep table lists it as failed, not missing."""
    with contextlib.suppress(NSTError):
        write_json(out_dir / METRICS, {"status": "failed", "error": message, "exit_code": code})


def _interrupted(out_dir: Path) -> str:
    if _only_hydra_files(out_dir, any_log=True):
        return STARTUP_INTERRUPTED
    return f"interrupted (SIGINT) outside a step; what was written is in {out_dir}"


@hydra.main(version_base="1.3", config_path=str(config.CONF_DIR), config_name="config")
def job(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir).absolute()
    made_by_hydra = _only_hydra_files(out_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    code, message, label = 0, "", "error"
    try:
        release_interrupts()  # a Ctrl-C held while Hydra made the run folder is raised here
        return run_job(cfg, out_dir)
    except NSTError as err:
        if cfg.debug:
            raise
        message, code, label = str(err), err.exit_code, err.label
    except OmegaConfBaseException as err:
        if cfg.debug:
            raise
        message, code, label = config.error_line(err), EXIT_BAD_INPUT, "error"
    except KeyboardInterrupt:  # Ctrl-C before the run's own handler (start-up, between a folder's images)
        if cfg.debug:
            raise
        message, code, label = _interrupted(out_dir), INTERRUPTED, "stopped"
    finally:
        # A run that never started (bad input, Ctrl-C at start-up) or that continued another folder
        # (resume=) leaves no empty dated folder behind; a sweep's job that never started keeps its
        # folder and why.
        if (
            made_by_hydra
            and (code in (EXIT_BAD_INPUT, INTERRUPTED) or cfg.resume)
            and _only_hydra_files(out_dir, any_log=True)
        ):
            if multirun and code == EXIT_BAD_INPUT and not cfg.resume:
                _record_failure(out_dir, message, code)
            else:
                _remove_made_folder(out_dir)
    logging.getLogger("nst.file").info(f"nst: {label}: {message}")
    if multirun and code < 128:  # an error, not a stop: the other jobs go on
        print(f"nst: {label}: {message}", file=sys.stderr, flush=True)
        raise JobFailed(message, code, str(hydra_cfg.sweep.dir))
    fail(message, code, label)
    return None


PATH_KEYS = ("content", "style", "style_masks", "output", "init.path", "resume", "backbone.weights")
NEW_PATH_KEYS = ("output", "hydra.run.dir", "hydra.sweep.dir")  # may name what does not exist yet


def _names_a_path(text: str, key: str, sweeping: bool) -> bool:
    if not text or text in ("null", "true", "false") or config.plain(text):
        return False  # Hydra reads it as it is
    path = Path(text).expanduser()
    if key in NEW_PATH_KEYS and "${" not in text and not ("," in text and sweeping):
        return path.exists() or path.parent.is_dir()  # (a comma in a sweep separates its values)
    return path.exists()


def _quote_items(text: str, key: str, sweeping: bool) -> str:
    """Comma-separated items (a list's, a sweep's): each longest run of them that names a path, quoted."""
    pieces, items, start = text.split(","), [], 0
    while start < len(pieces):
        names = (
            e
            for e in range(len(pieces), start, -1)
            if _names_a_path(",".join(pieces[start:e]), key, sweeping)
        )
        end = next(names, None)
        items.append(config.quote(",".join(pieces[start:end])) if end else pieces[start])
        start = end or start + 1
    return ",".join(items)


def quote_paths(argv: list[str]) -> list[str]:
    """Path-valued overrides as typed (``content=/x/photo(1).jpg``, ``style=[a b.jpg,ümlaut.jpg]``),
    quoted for Hydra's grammar where they name an existing file or folder (``output`` and the run
    folders: one whose folder exists). Anything else is left for Hydra to read or refuse."""
    quoted, sweeping = [], "-m" in argv or "--multirun" in argv
    for arg in argv:
        key, _, value = arg.partition("=")
        name = key.lstrip("+~")
        if arg.startswith("-") or not value or name not in PATH_KEYS + NEW_PATH_KEYS:
            quoted.append(arg)
        elif _names_a_path(value, name, sweeping):  # the whole value, commas and brackets included
            quoted.append(f"{key}={config.quote(value)}")
        elif value.startswith("[") and value.endswith("]"):
            quoted.append(f"{key}=[{_quote_items(value[1:-1], name, sweeping)}]")
        else:
            quoted.append(f"{key}={_quote_items(value, name, sweeping)}")
    return quoted


def print_help(argv: list[str]) -> None:
    """Our --help (Hydra's is --hydra-help): the config composed with the overrides on the line."""
    from nst.help import help_text

    cfg = config.compose([a for a in argv if "=" in a and not a.startswith("-")], with_hydra=True)
    print(help_text(cfg, dict(cfg.hydra.runtime.choices)))


def main() -> None:
    """``python -m nst``: every way out is one line and an exit code (:mod:`nst.errors`)."""
    debug = "debug=true" in sys.argv[1:]
    try:
        _main()
    except KeyboardInterrupt:  # Ctrl-C while Python, Hydra or the imports start up
        if debug:
            raise
        fail(STARTUP_INTERRUPTED, INTERRUPTED, "stopped")
    except OSError as err:  # Hydra could not make the run folder (a read-only working directory)
        if debug:
            raise
        where = f"{err.filename}: " if err.filename else ""
        fail(
            f"cannot write {where}{err.strerror or err}; run from a folder you can write to, or give "
            "hydra.run.dir=DIR",
            EXIT_BAD_INPUT,
        )


def _main() -> None:
    config.register()
    os.environ["HYDRA_FULL_ERROR"] = "1"  # composition errors reach us, to be told in one line
    sys.argv[1:] = quote_paths(sys.argv[1:])  # file names as typed: photo(1).jpg, ümlaut.jpg, a=b.jpg
    try:
        if "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
            try:
                print_help(sys.argv[1:])
            except BrokenPipeError:  # `--help | head`: the reader left; say nothing more
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        if {"-m", "--multirun"} & set(sys.argv[1:]):  # a sweep's launcher keeps Ctrl-C its own
            release_interrupts()
        else:
            hold_interrupts()  # until the job starts (release_interrupts in job)
        job()
    except JobFailed as err:  # the first failed job of a multirun: its line was printed when it failed
        from nst.sweep import report

        with contextlib.suppress(NSTError, OSError):
            print(f"sweep: {report(Path(err.sweep_dir))}", file=sys.stderr)
        sys.exit(err.exit_code)
    except NSTError as err:  # a launcher's start-up check (hydra/launcher=slurm without SLURM)
        _drop_refused_sweep()
        if "debug=true" in sys.argv[1:]:
            raise
        fail(str(err), err.exit_code, err.label)
    except (HydraException, OmegaConfBaseException) as err:
        _drop_refused_sweep()
        if "debug=true" in sys.argv[1:]:
            raise
        fail(config.error_line(err), EXIT_BAD_INPUT)


if __name__ == "__main__":
    main()
