"""``content=DIR``: every image of a folder, one result each, with the backbone loaded once.

The run folder holds ``results/<name>.png`` (or the results go to ``output=DIR``), one sub-run per
image under ``images/<name>/`` (its own metrics.json, TensorBoard logs and, while it runs, its
checkpoint), and a metrics.json listing every image. One progress bar runs over the whole folder.
Stopped (Ctrl-C, SIGTERM), the folder run continues with ``resume=RUN_DIR``, or by running the same
command into the same folder: finished images are not redone and the interrupted one resumes its
checkpoint. An image that cannot be read, or whose run diverges, is reported and skipped; the
folder run then ends with exit 5 (:class:`~nst.errors.FolderIncomplete`) after the others, and with
exit 2, leaving nothing behind, when no image was stylised. Results never replace an input, nor an
existing file without ``overwrite=true`` (:mod:`nst.outputs`, checked when planning).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from nst import checkpoint
from nst.console import say
from nst.errors import FolderIncomplete, NSTError, RunStopped
from nst.files import write_json, write_text
from nst.outputs import result_names
from nst.plan import Plan, image_files
from nst.rundir import CHECKPOINT, FOLDER_CONFIG, METRICS, completed, settings_differ


def _warn(message: str) -> None:
    say(f"nst: warning: {message}")


def _warn_about_other_files(folder: Path, images: list[Path]) -> None:
    others = sorted(p.name for p in folder.iterdir() if p.is_file() and p not in images)
    if others:
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        _warn(f"skipping {len(others)} file(s) of {folder} that are not images: {shown}")


def _entry(image: Path, name: str, sub: Path, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "content": str(image.absolute()),
        "name": name,
        "status": data["status"],
        "result": data.get("output") or data.get("image"),
        "loss": data.get("loss", {}).get("total"),
        "steps": data.get("steps"),
        "wall_seconds": data.get("wall_seconds"),
        "run": str(sub),
    }


def run_folder(plan: Plan, out_dir: Path) -> dict[str, Any]:
    """Stylise every image of ``plan.content`` (a folder); return the folder's record. None stylised:
    what this run made is removed and NSTError (exit 2) says why."""
    from nst.backbones import build_encoder, resolve_precision
    from nst.resources import expected_device

    assert plan.content is not None and plan.content.is_dir()
    images = image_files(plan.content)
    _warn_about_other_files(plan.content, images)
    results = plan.output or out_dir / "results"
    fresh = not (out_dir / FOLDER_CONFIG).exists()  # not a re-run or resume of this folder run
    made = [p for p in (results, out_dir / "images") if not p.exists()]
    results.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / FOLDER_CONFIG, plan.config)
    device = expected_device(plan.accelerator, plan.devices)
    plan = replace(plan, backbone=resolve_precision(plan.backbone, device))
    encoder = build_encoder(plan.backbone, plan.layers)  # once for the folder
    entries: list[dict[str, Any]] = []
    for index, (image, name) in enumerate(zip(images, result_names(images))):
        where = (index, len(images), image, name)
        entries.append(_one_image(plan, out_dir, results, encoder, where, entries))
    if any(e["status"] == "completed" for e in entries):
        return _record(out_dir, plan, results, entries, _status(entries))
    if fresh:  # nothing to show: nothing left behind (the CLI removes the emptied run folder)
        (out_dir / FOLDER_CONFIG).unlink(missing_ok=True)
        for path in made:
            shutil.rmtree(path, ignore_errors=True)
    else:
        _record(out_dir, plan, results, entries, "failed")
    reasons = "; ".join(f"{Path(e['content']).name}: {e['error']}" for e in entries[:3])
    raise NSTError(f"none of the {len(entries)} images of {plan.content} was stylised ({reasons})")


def _status(entries: list[dict[str, Any]]) -> str:
    return "completed" if all(e["status"] == "completed" for e in entries) else "partial"


def _one_image(
    plan: Plan, out_dir: Path, results: Path, encoder: Any, where: tuple, entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """Run (or reuse, or resume) one image of the folder; its entry in the folder's record."""
    from nst.engine import run

    index, count, image, name = where
    sub = out_dir / "images" / name
    done = completed(sub)
    changed = settings_differ(sub, plan.config) if done is not None else None
    if changed:  # the same folder asked again with other settings: never reuse that result
        raise NSTError(
            f"{sub} holds a finished image made with other settings ({', '.join(changed[:5])}): "
            "use another run folder"
        )
    if done is not None:  # finished before an interruption: not redone
        return _entry(image, name, sub, done | {"output": str(results / f"{name}.png")})
    state = checkpoint.load(sub) if (sub / CHECKPOINT).is_file() else None
    if state is not None:
        say(f"resuming:    {image.name} at step {state.steps_done}", stderr=False)
    one = replace(plan, content=image, output=results / f"{name}.png", overwrite=True)
    per_image = sum(plan.steps)
    progress = (f"image {index + 1}/{count}", index * per_image, per_image * count)
    try:
        data = run(one, sub, state, encoder, progress if plan.progress_bar else None)
    except RunStopped as stop:
        if stop.label == "stopped":  # Ctrl-C or SIGTERM: keep the record, say how to go on
            entries.append({"content": str(image.absolute()), "name": name, "status": "interrupted"})
            _record(out_dir, plan, results, entries, "interrupted")
            raise RunStopped(
                f"interrupted at image {index + 1}/{count} ({image.name}); finished results are "
                f"in {results}; continue with resume={out_dir}",
                stop.exit_code,
                label="stopped",
            ) from None
        _warn(f"{image.name}: {stop}")  # diverged or a failed write: the next image still runs
        return {"content": str(image.absolute()), "name": name, "status": "failed", "error": str(stop)}
    except NSTError as error:  # unreadable or too small: reported, skipped
        _warn(f"skipping {image.name}: {error}")
        return {"content": str(image.absolute()), "name": name, "status": "skipped", "error": str(error)}
    if data.get("ended_by") == "time_budget":
        say(
            f"stopped:     {image.name}: time_budget={plan.time_budget:g}s reached after "
            f"{data['steps']} steps",
            stderr=False,
        )
    return _entry(image, name, sub, data | {"output": str(one.output)})


def incomplete(data: dict[str, Any], out_dir: Path) -> FolderIncomplete | None:
    """The error a folder run that skipped or failed some of its images ends with (after the others)."""
    missed = [e for e in data["images"] if e["status"] != "completed"]
    if not missed:
        return None
    shown = "; ".join(f"{Path(e['content']).name} {e['status']}: {e.get('error')}" for e in missed[:3])
    shown += "; ..." if len(missed) > 3 else ""
    return FolderIncomplete(
        f"{len(missed)} of {len(data['images'])} images not stylised ({shown}); the others are in "
        f"{data['image']}; resume={out_dir} tries them again"
    )


def _record(out_dir: Path, plan: Plan, results: Path, entries: list[dict], status: str) -> dict[str, Any]:
    finished = [e for e in entries if e["status"] == "completed"]
    data = {
        "status": status,
        "content": str(plan.content.absolute()),
        "style": [str(p) for p in plan.styles] or None,
        "images": entries,
        "completed_images": len(finished),
        "steps": sum(e.get("steps") or 0 for e in finished),
        "wall_seconds": round(sum(e.get("wall_seconds") or 0 for e in finished), 3),
        "loss": {},
        "image": str(results),  # the results folder
    }
    write_json(out_dir / METRICS, data)
    return data


def folder_config(run_dir: Path) -> str | None:
    """The config of a folder run in ``run_dir`` (what resume=RUN_DIR continues), or None."""
    path = run_dir / FOLDER_CONFIG
    return path.read_text() if path.is_file() else None
