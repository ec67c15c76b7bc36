"""Build the ablation report (Markdown + PNG figures + summary.json) from the sweep outputs alone.

python experiments/ablations/report.py --runs multirun/ablations/vgg19 --out experiments/ablations/vgg19
python experiments/ablations/report.py --runs ... --out ... --at-step 600  # as a cap of 600 steps would have
python experiments/ablations/report.py --studies   # conf/ablation's studies in section order (make's list)

Every number is computed here from each job's result.png, metrics.json, .hydra/config.yaml and
TensorBoard events; nothing is typed in. The README opens with the course report's claims, each
judged by the rule of its `claim_*` function (also in summary.json under "claims").

This file is the command line. The work is done by its siblings, one concern each; every name they
define is importable from here too (``from report import build, CLAIMS, ...``):

  report_jobs.py        the sweep outputs read back: jobs, their images, curves and backbone
  report_figures.py     image grids and loss-curve plots (PNG)
  report_tables.py      Markdown tables
  report_from_noise.py  sections 1-4: content reconstruction and texture synthesis from white noise
  report_transfer.py    sections 5-6: content init vs noise init, the gallery
  report_statistics.py  sections 7-8: the style statistics, cross-evaluated by one another
  report_verdicts.py    `Check` and `Claim`: a claim's rule and its verdict
  report_claims.py      the course report's claims (a)-(f), Heitz et al.'s (g), (c) per statistic (h)
  report_build.py       README.md and summary.json assembled; the studies in section order
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # imported rather than run as a script: its siblings are modules
    sys.path.insert(0, str(HERE))
from report_build import BUILDERS, COURSE_STUDIES, build, claims_section, studies  # noqa: E402
from report_claims import (  # noqa: E402
    CLAIMS,
    REPORT_STYLE_GROUP,
    claim_content_layers,
    claim_content_seeds,
    claim_gallery,
    claim_init,
    claim_sliced_wasserstein,
    claim_texture_layers,
    claim_texture_layers_by_statistic,
    claim_texture_seeds,
)
from report_figures import DIFF_SCALE, curves_plot, difference_map, grid, seed_grid, to_numpy  # noqa: E402
from report_from_noise import (  # noqa: E402
    content_layers,
    content_seeds,
    last_third_drop,
    pair_numbers,
    texture_layers,
    texture_seeds,
)
from report_jobs import (  # noqa: E402
    Job,
    ReportInputError,
    gram_encoder,
    load_job,
    load_study,
    noise_like,
    read_curves,
    reference,
    report_layers,
    setting,
)
from report_statistics import (  # noqa: E402
    FixedSlices,
    Scorer,
    style_statistics,
    style_statistics_transfer,
)
from report_tables import table  # noqa: E402
from report_transfer import encoded_grams, gallery, init_study, mean_relative_gram_distance, resized  # noqa: E402
from report_verdicts import Check, Claim  # noqa: E402

__all__ = [
    "BUILDERS", "CLAIMS", "DIFF_SCALE", "REPORT_STYLE_GROUP", "Check", "Claim", "FixedSlices", "Job",
    "ReportInputError",
    "Scorer", "build", "claim_content_layers", "claim_content_seeds", "claim_gallery", "claim_init",
    "claim_sliced_wasserstein", "claim_texture_layers", "claim_texture_layers_by_statistic",
    "claim_texture_seeds", "claims_section", "content_layers", "content_seeds", "curves_plot",
    "difference_map", "encoded_grams", "gallery", "gram_encoder", "grid", "init_study", "last_third_drop",
    "load_job", "load_study", "main", "mean_relative_gram_distance", "noise_like", "pair_numbers",
    "read_curves", "reference", "report_layers", "resized", "seed_grid", "setting", "studies",
    "style_statistics", "style_statistics_transfer", "table", "texture_layers", "texture_seeds", "to_numpy",
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, help="ABLATIONS_DIR/BACKBONE: one folder per study")
    parser.add_argument("--out", type=Path, help="where README.md, the PNGs and summary.json go")
    parser.add_argument("--studies", action="store_true", help="print the studies in order and exit")
    parser.add_argument(
        "--course", action="store_true", help="with --studies: only those of claims (a)-(f) (make's SIZE=...)"
    )
    parser.add_argument(
        "--earlier",
        type=Path,
        action="append",
        help='other verdicts, shown beside (repeatable; JSON with "claims" and a "budget" or "setting": '
        "an earlier report's verdicts, or another size's summary.json)",
    )
    parser.add_argument(
        "--at-step",
        type=int,
        metavar="N",
        help="the report a cap of N steps would have given, read from the runs' images logged at step N",
    )
    args = parser.parse_args(argv)
    if args.studies:
        print(" ".join(study for study in studies() if not args.course or study in COURSE_STUDIES))
        return 0
    if args.runs is None or args.out is None:
        parser.error("--runs and --out are required")
    if not args.runs.is_dir():
        print(f"report: error: no sweep outputs at {args.runs} (run `make ablations` first)", file=sys.stderr)
        return 2
    if args.at_step is not None and args.at_step < 1:
        print(f"report: error: --at-step {args.at_step}: a step count is at least 1", file=sys.stderr)
        return 2
    beside = []
    for path in args.earlier or []:
        if not path.is_file():
            print(f"report: error: --earlier {path}: no such file", file=sys.stderr)
            return 2
        try:
            given = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            print(f"report: error: --earlier {path}: not readable JSON ({error})", file=sys.stderr)
            return 2
        if not isinstance(given, dict) or not isinstance(given.get("claims"), list):
            print(f'report: error: --earlier {path}: no "claims" list (a summary.json?)', file=sys.stderr)
            return 2
        beside.append(given | {"path": str(path)})
    try:
        summary = build(args.runs, args.out, beside, args.at_step)
    except ReportInputError as error:
        print(f"report: error: {error}", file=sys.stderr)
        return 2
    found = len(studies()) - len(summary["missing_studies"])
    print(f"report: {args.out / 'README.md'} ({found} studies)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
