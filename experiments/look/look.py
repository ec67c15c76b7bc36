"""`make look`: is a default run clearly stylised, with the subject kept, and the same at every size?

Runs every pair (a photograph x a painting or a photographed texture) at each size with each variant
(``new``: today's defaults; ``gram``: the same with Gram's loss on Gatys' layers, the default before
vgg19's relative look; ``old``: the defaults before the calibrated look, Gram's loss at
``style_weight=1 working_size=null``), each run a ``python -m nst`` subprocess into ``--runs``
(resumable: a finished run is not run again; one made with other settings than today's command for it,
e.g. before a defaults change, stops the script with the keys that differ), then
scores every result with a network the run did not use (``vgg16_hed`` for ``vgg19`` runs, else
``vgg19``), all at 256 px (a larger result is downsampled first):

* style ratio: the mean relative Gram distance to the style (relu1_1..relu5_1) over the content
  photo's own (1 = no closer to the style than the photo, 0 = the style's statistics);
* content similarity: the cosine of the relu4_2 activations with the photo's (1 = the photo).

A pair's smaller sizes are read from its largest run when that run formed its look there
(``scales/<size>px.png``: the same steps at the same scales), so ``--sizes 256,512,1024`` runs each
pair once, at 1024 px, largest first.

Targets (issue "The look"): style ratio <= 0.40 and content similarity >= 0.60 at every size, and the
512 / 1024 px results within +-0.10 of the 256 px result in both. Writes ``look.md`` and ``look.json``
to ``--out`` and one figure per size pair (old and new, every size shown at the same display size).

    python experiments/look/look.py                                 # 8 pairs, 256 px, new vs old
    python experiments/look/look.py --sizes 256,512 --pairs 0,3     # some pairs at two sizes
    python experiments/look/look.py --variant w20="style_weight=20" --variants w20 --sizes 256
    python experiments/look/look.py --variant s0=strength=0 --variant s2=strength=2 \\
        --variants s0,new,s2 --pairs 0,1 --by-variant --out multirun/look/strength   # a strength series

Half the pairs use photographs that ship with scikit-image (``pip install scikit-image``; ``make
look`` installs it): images that no default was tuned on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from nst import assets
from nst.backbones import build_encoder
from nst.config import compose
from nst.images import read_image, resize_longest, style_edge, to_tensor
from nst.plan import backbone_plan, make_plan
from nst.quality import LOOK_CONTENT_LAYER, LOOK_STYLE_LAYERS, content_similarity, style_ratio
from nst.rundir import settings_differ

SCORE_SIZE = 256
TARGET_STYLE, TARGET_CONTENT, TARGET_DRIFT = 0.40, 0.60, 0.10
# Photographs (town, bridge, portrait, cat, motorcycle, still life, rocket) x paintings and two
# photographed textures (stained tissue, the Hubble deep field). "skimage:" images are held out.
PAIRS = (
    ("tubingen", "starry_night"),
    ("golden_gate", "the_scream"),
    ("skimage:astronaut.png", "picasso_selfport1907"),
    ("skimage:chelsea.png", "skimage:ihc.png"),
    ("skimage:motorcycle_left.png", "skimage:hubble_deep_field.jpg"),
    ("skimage:coffee.png", "seated_nude"),
    ("skimage:rocket.jpg", "frida_kahlo"),
    ("tubingen", "escher_sphere"),
)
VARIANTS = {
    "new": "",
    "gram": "style_loss=gram layers=gatys",
    "old": "style_loss=gram layers=gatys style_weight=1 working_size=null balance=fixed",
}


@dataclass(frozen=True)
class Job:
    pair: int
    size: int
    variant: str

    def name(self) -> str:
        content, style = (Path(p.split(":")[-1]).stem for p in PAIRS[self.pair])
        return f"{self.pair}_{content}__{style}"

    def folder(self, runs: Path) -> Path:
        return runs / str(self.size) / self.variant / self.name()

    def maker(self, runs: Path) -> Job | None:
        """The job whose run made :meth:`result`: this one, or the larger run it is a scale of."""
        result = self.result(runs)
        if result is None:
            return None
        if result.name == "result.png":
            return self
        return Job(self.pair, int(result.parent.parent.parent.parent.name), self.variant)

    def result(self, runs: Path) -> Path | None:
        """The run's result.png, or a larger run's image at this size (``scales/<size>px.png``: the
        same steps at the same scales, so the same picture) when that run formed its look here."""
        own = self.folder(runs) / "result.png"
        if own.exists():
            return own
        previews = sorted(runs.glob(f"*/{self.variant}/{self.name()}/scales/{self.size}px.png"))
        return previews[0] if previews else None


def image_path(name: str, cache: Path) -> Path:
    """A manifest name's file, or a scikit-image sample copied once into ``cache``."""
    if not name.startswith("skimage:"):
        return assets.resolve(name)
    target = cache / name.split(":", 1)[1]
    if not target.exists():
        try:
            import skimage.data
        except ImportError:
            sys.exit("look.py: the held-out photographs come with scikit-image: pip install scikit-image")
        cache.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(skimage.data.__file__).parent / target.name, target)
    return target


def overrides(job: Job, cache: Path, extra: list[str]) -> list[str]:
    """The job's ``python -m nst`` arguments (without its folder)."""
    content, style = (image_path(p, cache) for p in PAIRS[job.pair])
    command = [f"content='{content}'", f"style='{style}'", f"size={job.size}"]
    return command + VARIANTS[job.variant].split() + extra + ["progress_bar=false", "image_every=0"]


def check_settings(job: Job, runs: Path, cache: Path, extra: list[str]) -> None:
    """Stop (one line) when the run that made the job's result was made with other settings than
    today's command for it: after a defaults change, an old ``new`` run is not today's default."""
    maker = job.maker(runs)
    if maker is None:
        return
    folder = maker.folder(runs)
    config = make_plan(compose(overrides(maker, cache, extra)), folder).config
    changed = settings_differ(folder, config)
    if changed:
        sys.exit(
            f"look.py: {folder} was made with other settings than `{maker.variant}` gives today "
            f"({', '.join(changed[:5])}): move it away, or give another --runs"
        )


def run(job: Job, runs: Path, cache: Path, threads: int, extra: list[str]) -> Path:
    """The job's result (run now unless its folder, or a larger run's, already holds one)."""
    folder = job.folder(runs)
    if job.result(runs) is not None:
        check_settings(job, runs, cache, extra)
        return folder
    command = [sys.executable, "-m", "nst", *overrides(job, cache, extra), "checkpoint_every=0"]
    command += [f"hydra.run.dir='{folder}'"]
    print(f"run {job.size} px {job.variant:>5} {job.name()}", flush=True)
    env = os.environ | {"OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"look.py: {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return folder


class Judge:
    """Scores results at 256 px with a backbone the runs did not use."""

    def __init__(self, run_backbone: str) -> None:
        self.name = "vgg16_hed" if run_backbone == "vgg19" else "vgg19"
        plan = backbone_plan(compose([f"backbone={self.name}", "backbone.precision=fp32"]).backbone)
        layers = list(dict.fromkeys([*LOOK_STYLE_LAYERS, LOOK_CONTENT_LAYER]))
        self.encoder = build_encoder(plan, layers).eval()

    @staticmethod
    def painting(style: Path) -> Image.Image:
        """The style image as the scores see it: at the score size, never enlarged."""
        painting = read_image(style)
        return resize_longest(painting, style_edge(SCORE_SIZE, 1.0, max(painting.size)))

    @torch.no_grad()
    def score(self, result: Path, content: Path, style: Path) -> dict[str, float]:
        image = resize_longest(Image.open(result).convert("RGB"), SCORE_SIZE)
        photo = read_image(content).resize(image.size, Image.Resampling.LANCZOS)
        x, c, s = to_tensor(image), to_tensor(photo), to_tensor(self.painting(style))
        return {
            "style_ratio": round(style_ratio(self.encoder, x, c, s), 4),
            "content_similarity": round(content_similarity(self.encoder, x, c), 4),
        }


def verdicts(rows: list[dict]) -> None:
    """Each row gets its drift from the same pair and variant at 256 px, and pass/fail on the targets."""
    base = {(r["pair"], r["variant"]): r for r in rows if r["size"] == SCORE_SIZE}
    for row in rows:
        ref = base.get((row["pair"], row["variant"]))
        row["style_drift"] = round(row["style_ratio"] - ref["style_ratio"], 4) if ref else None
        row["content_drift"] = (
            round(row["content_similarity"] - ref["content_similarity"], 4) if ref else None
        )
        ok = row["style_ratio"] <= TARGET_STYLE and row["content_similarity"] >= TARGET_CONTENT
        drifts = [d for d in (row["style_drift"], row["content_drift"]) if d is not None]
        row["meets_targets"] = ok and all(abs(d) <= TARGET_DRIFT for d in drifts)


def seconds(row: dict) -> str:
    return "(scale of a larger run)" if row["seconds"] is None else f"{row['seconds']:.0f}"


def markdown(rows: list[dict], judge: str) -> str:
    lines = [
        f"Scored at {SCORE_SIZE} px by {judge}. Targets: style ratio <= {TARGET_STYLE}, content similarity "
        f">= {TARGET_CONTENT}; drift (vs the same pair at {SCORE_SIZE} px) within +-{TARGET_DRIFT}.",
        "",
        "| pair | size | variant | style ratio | content similarity | style drift | content drift | s | ok |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        drift = [f"{d:+.3f}" if d is not None else "" for d in (r["style_drift"], r["content_drift"])]
        lines.append(
            f"| {r['name']} | {r['size']} | {r['variant']} | {r['style_ratio']:.3f} | "
            f"{r['content_similarity']:.3f} | {drift[0]} | {drift[1]} | {seconds(r)} | "
            f"{'yes' if r['meets_targets'] else '**no**'} |"
        )
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == variant]
        passed = sum(r["meets_targets"] for r in mine)
        lines.append(f"\n{variant}: {passed} of {len(mine)} results meet the targets.")
    return "\n".join(lines) + "\n"


def figure(jobs: list[Job], runs: Path, out: Path, height: int = 192, by_variant: bool = False) -> None:
    """One row per pair and variant, a column per size, all shown at the same height; ``by_variant``:
    one row per pair and size, a column per variant (in the order asked), e.g. a strength series."""
    variants = list(dict.fromkeys(j.variant for j in jobs))
    sizes = sorted({j.size for j in jobs})
    if by_variant:
        columns = variants
        rows = sorted({(j.pair, j.size) for j in jobs})
        cell = lambda row, column: Job(row[0], row[1], column)  # noqa: E731
    else:
        columns = sizes
        rows = sorted({(j.pair, j.variant) for j in jobs})
        cell = lambda row, column: Job(row[0], column, row[1])  # noqa: E731
    width = int(height * 1.5)
    sheet = Image.new("RGB", (120 + width * len(columns), 24 + height * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, column in enumerate(columns):
        title = (VARIANTS[column] or "the defaults") if by_variant else f"{column} px"  # its overrides
        draw.text((120 + c * width + 4, 6), title, fill="black")
    for r, row in enumerate(rows):
        label = f"{row[0]} {row[1]} px" if by_variant else f"{row[0]} {row[1]}"
        draw.text((4, 24 + r * height + height // 2), label, fill="black")
        for c, column in enumerate(columns):
            result = cell(row, column).result(runs)
            if result is not None:
                tile = Image.open(result).convert("RGB")
                scale = min((width - 4) / tile.width, (height - 4) / tile.height)  # every size alike
                shape = (round(tile.width * scale), round(tile.height * scale))
                tile = tile.resize(shape, Image.Resampling.LANCZOS)
                sheet.paste(tile, (120 + c * width, 24 + r * height))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256", help="comma-separated sizes (default 256)")
    parser.add_argument("--variants", default="new,old", help="comma-separated variant names")
    parser.add_argument("--variant", action="append", default=[], help="NAME=OVERRIDES adds a variant")
    parser.add_argument("--pairs", default=None, help="comma-separated pair indices (default: all)")
    parser.add_argument("--args", default="", help="overrides for every run (e.g. backbone=vgg16_hed)")
    parser.add_argument("--runs", type=Path, default=Path("multirun/look"))
    parser.add_argument("--out", type=Path, default=Path("multirun/look/report"))
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--score-only", action="store_true", help="score the finished runs, run nothing")
    parser.add_argument(
        "--by-variant", action="store_true", help="the figure: a column per variant, a row per pair and size"
    )
    args = parser.parse_args()
    for spec in args.variant:
        name, _, overrides = spec.partition("=")
        VARIANTS[name] = overrides
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        sys.exit(f"look.py: unknown variant {unknown[0]} (known: {', '.join(VARIANTS)}; --variant NAME=...)")
    pairs = [int(i) for i in args.pairs.split(",")] if args.pairs else list(range(len(PAIRS)))
    sizes = [int(s) for s in args.sizes.split(",")]
    jobs = [Job(p, s, v) for s in sizes for v in variants for p in pairs]
    cache = args.runs / "inputs"
    for job in sorted(jobs, key=lambda j: -j.size):  # the largest first: its scales preview the rest
        if not args.score_only:
            run(job, args.runs, cache, args.threads, args.args.split())
    judge = Judge(compose(args.args.split()).backbone.name)
    rows = []
    for job in jobs:
        result = job.result(args.runs)
        if result is None:
            continue
        if args.score_only:  # a run now checked what it reused before it ran (run())
            check_settings(job, args.runs, cache, args.args.split())
        own = result.parent == job.folder(args.runs)
        metrics = json.loads(((result.parent if own else result.parent.parent) / "metrics.json").read_text())
        content, style = (image_path(p, cache) for p in PAIRS[job.pair])
        scores = judge.score(result, content, style)
        rows.append(
            {"pair": job.pair, "name": job.name(), "size": job.size, "variant": job.variant, **scores}
            | {
                "seconds": metrics["wall_seconds"] if own else None,
                "style_weight": metrics.get("style_weight"),
            }
        )
    verdicts(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "look.json").write_text(json.dumps(rows, indent=1))
    (args.out / "look.md").write_text(markdown(rows, judge.name))
    figure(jobs, args.runs, args.out / "look.jpg", by_variant=args.by_variant)
    print(markdown(rows, judge.name))


if __name__ == "__main__":
    main()
