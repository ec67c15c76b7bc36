"""The code's shape stays as tidied: no import cycle among nst's modules, the ablation report in small
files, and the report's command line module still offering every name it had before the split."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "src" / "nst"
REPORT_DIR = ROOT / "experiments" / "ablations"
REPORT_MAX_LINES = 450
# Every name experiments/ablations/report.py defined before it was split into report_*.py.
REPORT_NAMES = """
BUILDERS CLAIMS DIFF_SCALE REPORT_STYLE_GROUP Check Claim Job build claim_content_layers
claim_content_seeds claim_gallery claim_init claim_texture_layers claim_texture_seeds claims_section
content_layers content_seeds curves_plot difference_map encoded_grams gallery gram_encoder grid
init_study last_third_drop load_job load_study main mean_relative_gram_distance noise_like pair_numbers
read_curves reference report_layers resized seed_grid setting studies table texture_layers
texture_seeds to_numpy
FixedSlices Scorer claim_sliced_wasserstein claim_texture_layers_by_statistic style_statistics
style_statistics_transfer ReportInputError
""".split()


def module_name(path: Path, package: Path) -> str:
    parts = (package.name, *path.relative_to(package).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path) -> dict[str, set[str]]:
    """Each module of ``package`` -> the modules of it that it imports anywhere: at the top, inside
    functions, under ``TYPE_CHECKING`` (``from nst import x`` counts as ``nst.x`` when x is a module)."""
    files = {module_name(path, package): path for path in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x, from .x import y
                    parent = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                imported.update(
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base
                    for alias in node.names
                )
        graph[name] = {module for module in imported if module in files and module != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle a depth-first walk meets, each as the modules along it (first = last)."""
    found, state, path = [], {}, []

    def visit(module: str) -> None:
        state[module] = "open"
        path.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                found.append(path[path.index(imported) :] + [imported])
            elif imported not in state:
                visit(imported)
        path.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return found


def test_the_import_graph_sees_every_kind_of_import(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n"
    )
    (package / "b.py").write_text("def f():\n    from . import c\n")
    (package / "c.py").write_text("import pkg.a\n")
    (package / "d.py").write_text("from pkg import a, errors_that_are_not_modules\n")
    graph = import_graph(package)
    assert graph == {
        "pkg": set(),
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.c"},
        "pkg.c": {"pkg.a"},
        "pkg.d": {"pkg.a", "pkg"},
    }
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_no_module_of_nst_imports_one_that_imports_it_back():
    graph = import_graph(PACKAGE)
    assert {"nst.engine", "nst.tiled", "nst.trainer"} <= graph.keys()
    assert "nst.tiled" in graph["nst.engine"] and "nst.engine" not in graph["nst.tiled"]
    assert cycles(graph) == [], [" -> ".join(cycle) for cycle in cycles(graph)]


def test_the_ablation_report_files_stay_small():
    files = sorted(REPORT_DIR.glob("report*.py"))
    assert len(files) > 1  # report.py and its siblings
    sizes = {path.name: len(path.read_text().splitlines()) for path in files}
    assert max(sizes.values()) < REPORT_MAX_LINES, sizes


def test_the_report_module_keeps_every_name_it_had():
    spec = importlib.util.spec_from_file_location("ablations_report", REPORT_DIR / "report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)  # imported, not run: it finds its report_*.py siblings itself
    assert [name for name in REPORT_NAMES if not hasattr(report, name)] == []
    assert sorted(report.__all__) == sorted(REPORT_NAMES)
    order = ["content_layers", "content_seeds", "texture_layers", "texture_seeds", "init", "gallery",
             "style_statistics", "style_statistics_transfer"]  # fmt: skip
    assert report.studies() == order and list(report.BUILDERS) == order
