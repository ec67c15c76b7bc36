"""The report as written: README.md (title, the claims table, one section per study in section order)
and summary.json, from the sweep outputs of every study of conf/ablation/ found under the runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from report_claims import CLAIMS
from report_from_noise import content_layers, content_seeds, texture_layers, texture_seeds
from report_jobs import Job, converged_step, load_study, stop_rule_of
from report_statistics import style_statistics, style_statistics_transfer
from report_tables import table
from report_transfer import gallery, init_study
from report_verdicts import Claim

from nst.config import CONF_DIR


def claims_section(claims: list[Claim], beside: Sequence[dict[str, Any]] = ()) -> str:
    """The claims table; with ``beside`` (other reports' verdicts, each with its "path": an earlier
    report's summary.json plus a "budget" line, e.g. the report at a fixed step budget, or a report at
    another size whose summary.json says its "setting") a column per report with its verdict, and a
    line for each verdict that differs from this report's."""
    header = ["", "claim (course report)", "measured here", "verdict", "why"]
    rows = [[f"({c.key})", c.claim, c.measured, f"**{c.verdict}**", c.why or "-"] for c in claims]
    changes = ""
    for other in beside:
        label = other.get("budget") or other.get("setting") or other["path"]
        given = {c["key"]: c for c in other["claims"]}
        before = {c.key: given[c.key] for c in claims if c.key in given}
        header.append(f"verdict at {label}")
        for row, claim in zip(rows, claims):
            old = before[claim.key]["verdict"] if claim.key in before else None
            row.append("-" if old is None else "same" if old == claim.verdict else f"**{old}**")
        lines = [
            f"- ({c.key}) **{old['verdict']}** at {label} -> **{c.verdict}** here. At {label}: "
            f"{old['measured']} ({old['why'] or 'every check passed'}). "
            f"Here: {c.measured} ({c.why or 'every check passes'})."
            for c in claims
            if (old := before.get(c.key)) is not None and c.checks and old["verdict"] != c.verdict
        ]
        about = "; ".join(part for part in (other.get("note"), f"`{other['path']}`") if part)
        changes += (
            f"\nVerdicts that differ in the report at {label} ({about}), and why:\n\n"
            + ("\n".join(lines) if lines else "- none")
            + "\n"
        )
    rules = "\n".join(f"- ({c.key}) `{c.study}`: {c.rule}." for c in claims if c.checks)
    return f"""## Claims of the course report

{table(header, rows)}
{changes}
Rules (`experiments/ablations/report_claims.py`, `claim_*`; every number above is computed from the runs):

{rules}
"""


def convergence_table(jobs: list[Job]) -> str:
    """Where each job of a study stopped: the step its stop rule held, or its cap (empty without a rule)."""
    rules = {rule for job in jobs if (rule := stop_rule_of(job)) is not None}
    if not rules:
        return ""
    rows = [
        [
            job.name,
            converged_step(job) or "-",
            f"{job.metrics['steps']}" + ("" if converged_step(job) else f" (the cap, {job.cfg.steps})"),
            job.metrics["loss"]["total"],
            job.metrics["wall_seconds"],
        ]
        for job in jobs
    ]
    done = sum(converged_step(job) is not None for job in jobs)
    said = "; ".join(f"the best loss fell by less than {r:g} of itself over {w} steps" for r, w in rules)
    return f"""
{table(["job", "converged at step", "steps run", "final total loss", "seconds"], rows)}

*Convergence: {done} of {len(jobs)} jobs converged ({said}; `stop.rel_change`, `stop.window`); the
others ran to their step cap. In the curves, a dot marks the step where a job converged.*
"""


# The studies of the course report's claims (a)-(f), at the size `make ablations SIZE=...` sets.
COURSE_STUDIES = ("content_layers", "content_seeds", "texture_layers", "texture_seeds", "init", "gallery")

# The report's section for each study, in section order (the order `make ablations` runs them in).
BUILDERS = {
    "content_layers": content_layers,
    "content_seeds": content_seeds,
    "texture_layers": texture_layers,
    "texture_seeds": texture_seeds,
    "init": init_study,
    "gallery": gallery,
    "style_statistics": style_statistics,
    "style_statistics_transfer": style_statistics_transfer,
}


def studies() -> list[str]:
    """The studies: one per file of conf/ablation/ (not the shared _*.yaml), in section order."""
    found = {path.stem for path in (CONF_DIR / "ablation").glob("[!_]*.yaml")}
    unknown = sorted(found - BUILDERS.keys())
    if unknown:
        raise SystemExit(f"report: error: conf/ablation/{unknown[0]}.yaml has no report section (BUILDERS)")
    return [study for study in BUILDERS if study in found]


def build(
    runs: Path, out: Path, beside: Sequence[dict[str, Any]] = (), at_step: int | None = None
) -> dict[str, Any]:
    """Write README.md, the figures and summary.json for every study found under ``runs``; with
    ``beside`` (other reports' verdicts, read by report.py: see `claims_section`), those beside these;
    with ``at_step``, the report a cap of that many steps would have given (report_jobs.cut_at)."""
    out.mkdir(parents=True, exist_ok=True)
    sections, summary, total_seconds, missing = [], {}, 0.0, []
    backbones, networks = set(), set()  # the metrics' backbone name, and its source and layer count
    sizes = set()  # the sizes of the course report's studies (the style statistics keep their own)
    for study in studies():
        jobs = load_study(runs / study, at_step) if (runs / study).is_dir() else []
        if not jobs:
            missing.append(study)
            continue
        text, numbers = BUILDERS[study](jobs, out)
        text += convergence_table(jobs)
        for job in jobs:
            if study in COURSE_STUDIES:
                sizes.add(int(job.cfg.size))
            backbones.add(job.metrics["backbone"])
            node = job.cfg.backbone
            networks.add(f"`{job.metrics['backbone']}` ({node.arch}, weights from {node.source})")
        seconds = sum(job.metrics["wall_seconds"] for job in jobs)
        total_seconds += seconds
        sections.append(
            text + f"\n*{len(jobs)} jobs, {seconds:.0f} s of optimisation; runs in `{runs / study}`.*\n"
        )
        summary[study] = numbers | {"jobs": [job.name for job in jobs], "wall_seconds": seconds}
    summary["total_wall_seconds"] = total_seconds
    summary["missing_studies"] = missing
    summary["backbone"] = ", ".join(sorted(backbones)) or "none"
    summary["setting"] = " / ".join(f"{size} px" for size in sorted(sizes)) or "no finished jobs"
    claims = [judge(summary) for judge in CLAIMS]
    summary["claims"] = [claim.as_dict() for claim in claims]
    cut = ""
    if at_step is not None:  # a label for the claims table of a report this one is passed to (--earlier)
        summary["budget"] = f"{at_step} steps"
        summary["note"] = f"the same runs, each read at step {at_step} (`report.py --at-step {at_step}`)"
        cut = f"""
**As a cap of {at_step} steps would have made it**, read from these runs (`--at-step {at_step}`): every job
that ran past step {at_step} is its image logged at that step, its losses logged there and its curves up to
it; its seconds and evaluations are its own pro rata (estimates). The optimiser's path does not depend on
the cap, so a run capped at {at_step} steps would have made the same images.
"""
    network = "; ".join(sorted(networks)) or "no finished jobs"
    head = f"""# Layer ablations of neural style transfer on `{summary["backbone"]}` (generated)

Network: {network}. Size: {summary["setting"]} (the studies of the course report's claims).
Generated by `experiments/ablations/report.py` from the sweep outputs in `{runs}`:
every number below is computed from the jobs' images, metrics.json and TensorBoard events. Optimisation
time of all jobs: {total_seconds:.0f} s (the sum of the jobs' `wall_seconds`, excluding start-up).
{"Missing studies (no finished jobs): " + ", ".join(missing) if missing else ""}{cut}"""
    (out / "README.md").write_text(head + "\n" + claims_section(claims, beside) + "\n" + "\n".join(sections))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
