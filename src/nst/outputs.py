"""``output=``: where the results go, checked before anything runs.

A run never writes over one of its own inputs (whatever ``overwrite`` says), never over an existing
file without ``overwrite=true`` (a folder run: any result it would write), and says why a place is not
writable. Every refusal is one :class:`~nst.errors.NSTError` line.
"""

from __future__ import annotations

import os
from pathlib import Path

from nst.checks import check_writable
from nst.errors import NSTError
from nst.rundir import completed


def result_names(images: list[Path]) -> list[str]:
    """Result names: the file's stem, or stem_ext where two images share a stem (a.jpg, a.png)."""
    stems = [p.stem for p in images]
    return [p.stem if stems.count(p.stem) == 1 else f"{p.stem}_{p.suffix[1:].lower()}" for p in images]


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name the same file (links and ``..`` included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return a.absolute().resolve() == b.absolute().resolve()


def _never_over_inputs(targets: list[Path], inputs: list[Path]) -> None:
    for target in targets:
        clash = next((p for p in inputs if same_file(target, p)), None)
        if clash is not None:
            raise NSTError(
                f"output {target} is this run's input {clash}: a run never writes over its own "
                "inputs (whatever overwrite says); choose another output"
            )


def image_output(output: Path, overwrite: bool, resuming: bool, inputs: list[Path]) -> Path:
    """``output=FILE`` of a one-image run: an image file that can be written."""
    from PIL import Image

    if output.is_dir():
        raise NSTError(
            f"output {output} is a folder: with one content image, output names the image file "
            f"(e.g. output={output / 'result.png'})"
        )
    if output.suffix.lower() not in Image.registered_extensions():
        raise NSTError(f"output {output}: unknown image extension (use .png, .jpg, ...)")
    check_writable(output.parent, "output folder")
    _never_over_inputs([output], inputs)
    if output.exists() and not overwrite and not resuming:
        raise NSTError(f"output {output} exists; pass overwrite=true to replace it")
    return output.absolute()


def folder_results(
    output: Path | None,
    out_dir: Path,
    images: list[Path],
    overwrite: bool,
    resuming: bool,
    inputs: list[Path],
) -> Path | None:
    """``content=DIR``: the results go to ``output`` (a folder) or the run folder's results/. Checks
    every result the run will write (the images not finished in ``out_dir`` before)."""
    if output is not None:
        if output.exists() and not output.is_dir():
            raise NSTError(f"output {output} is a file; with content=DIR it names the folder for the results")
        check_writable(output if output.exists() else output.parent, "output folder")
        if same_file(output, images[0].parent):
            raise NSTError(
                f"output {output} is the content folder: the results would mix with (and could replace) "
                "the photos; choose another folder"
            )
    results = output if output is not None else out_dir / "results"
    names = result_names(images)
    pending = [results / f"{n}.png" for n in names if completed(out_dir / "images" / n) is None]
    _never_over_inputs(pending, inputs)
    existing = [p.name for p in pending if p.exists()]
    if existing and not overwrite and not resuming:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise NSTError(
            f"output folder {results} already holds {existing[0]}{more}, which this run would replace; "
            "pass overwrite=true to replace them"
        )
    return output.absolute() if output is not None else None
