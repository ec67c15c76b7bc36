"""File names as users' folders hold them (parentheses, non-ASCII letters, spaces, '=', commas,
quotes) work as typed on the command line: the CLI quotes a path-valued override that names an
existing file before Hydra's override grammar reads it."""

import json
from pathlib import Path

import pytest
from PIL import Image

from conftest import run_nst

pytestmark = pytest.mark.slow  # each runs `python -m nst` in a subprocess


ODD_NAMES = {
    "parentheses": "photo(1).png",
    "non-ASCII letters": "ümlaut 日本.png",
    "spaces": " two  spaces .png",
    "equals sign": "a=b.png",
    "comma": "a,b.png",
    "single quote": "it's.png",
    "double quotes and a backslash": 'say "hi" \\ ${x}.png',
}


@pytest.mark.parametrize("kind", ODD_NAMES)
def test_a_file_name_works_as_typed(kind, tmp_path):
    name = ODD_NAMES[kind]
    folder = tmp_path / name.replace(".png", " dir")  # the folder's name is odd too
    folder.mkdir()
    Image.new("RGB", (40, 32), "teal").save(folder / name)
    small = ("backbone=random", "style=null", "size=32", "steps=2", "progress_bar=false", "hydra.run.dir=run")
    output = "out " + name.replace("$", "")  # (an output with `${` is an interpolation: left to Hydra)
    content = f"{folder.name}/{name}"  # relative: Hydra would trim the spaces the name starts with
    result = run_nst(f"content={content}", f"output={output}", *small, cwd=tmp_path)
    assert result.returncode == 0, (kind, result.stderr[-1500:])
    assert json.loads((tmp_path / "run/metrics.json").read_text())["content"] == content
    assert Image.open(tmp_path / output).size == (32, 26)


def test_odd_names_in_lists_and_other_path_keys(tmp_path):
    names = list(ODD_NAMES.values())
    for index, name in enumerate(names):
        Image.new("RGB", (40, 32), (30 * index, 60, 90)).save(tmp_path / name)
    styles, masks = names[:2], names[2:4]
    result = run_nst(
        f"content={names[4]}", f"style=[{','.join(styles)}]", f"style_masks=[{','.join(masks)}]",
        "init=image", f"init.path={names[5]}", "output=out.png", "backbone=random", "size=32",
        "steps=2", "progress_bar=false", "hydra.run.dir=run", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-1500:]
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert [Path(p).name for p in metrics["style"]] == styles, metrics["style"]
    assert [Path(p).name for p in metrics["style_masks"]] == masks, metrics["style_masks"]
    assert Path(metrics["init_path"]).name == names[5] and (tmp_path / "out.png").is_file()


def test_a_name_hydra_cannot_read_and_no_file_has_says_how_to_quote_it(tmp_path):
    result = run_nst("content=nope(1).jpg", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert result.stderr.splitlines() == [
        "nst: error: cannot read 'content=nope(1).jpg': Hydra's override grammar needs a value with "
        "brackets, quotes, commas, '=' or non-ASCII letters quoted, e.g. \"content='nope(1).jpg'\" (the "
        "double quotes are for the shell)"
    ]
    assert list(tmp_path.iterdir()) == []
