"""Runs at once: how much slower is each nst run when 1, 2 or 4 start together on this machine?

Each run is a whole ``python -m nst`` process (start-up included), every one the same job, all
started at the same moment. Two policies:

* ``shared`` (the default): the runs share the cores (``nst.threads``: cores // live runs each);
* ``fixed``: ``OMP_NUM_THREADS`` = every core for every run (what PyTorch does by itself).

Reported per policy and count: the median over the runs of the optimisation seconds (metrics.json's
``wall_seconds``) and of the whole process, and their ratio to one run alone under the same policy.
Measure on an otherwise idle machine.

    python experiments/bench/concurrency.py                       # 1, 2, 4 runs; shared and fixed
    python experiments/bench/concurrency.py --counts 1,2 --policies shared --size 128
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def start(folder: Path, args: argparse.Namespace, policy: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if policy == "fixed":
        env["OMP_NUM_THREADS"] = str(len(os.sched_getaffinity(0)))
    command = [
        sys.executable, "-m", "nst", f"content={args.content}", f"style={args.style}", f"size={args.size}",
        f"steps={args.steps}", "progress_bar=false", "image_every=0", "checkpoint_every=0",
        f"hydra.run.dir={folder}",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def together(count: int, args: argparse.Namespace, policy: str, root: Path) -> dict[str, float]:
    """``count`` runs started at once; the median optimisation and process seconds."""
    folders = [root / f"{policy}_{count}_{i}" for i in range(count)]
    began = time.perf_counter()
    processes = [start(folder, args, policy) for folder in folders]
    ended = []
    for process in processes:
        _, err = process.communicate()
        if process.returncode != 0:
            sys.exit(f"concurrency.py: a run failed: {err.strip().splitlines()[-1:]}")
        ended.append(time.perf_counter() - began)
    optimisation = [json.loads((f / "metrics.json").read_text())["wall_seconds"] for f in folders]
    threads = [json.loads((f / "metrics.json").read_text()).get("cpu_threads") for f in folders]
    return {
        "optimisation_s": statistics.median(optimisation),
        "process_s": statistics.median(ended),
        "cpu_threads": min(t for t in threads if t is not None) if any(threads) else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,2,4", help="runs started together (comma-separated)")
    parser.add_argument("--policies", default="shared,fixed", help="shared, fixed or both")
    parser.add_argument("--content", default="tubingen")
    parser.add_argument("--style", default="starry_night")
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("bench/concurrency.json"))
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for policy in args.policies.split(","):
            alone = None
            for count in counts:
                result = together(count, args, policy, Path(tmp))
                alone = alone or (result if count == 1 else None)
                base = alone or result
                rows.append(
                    {"policy": policy, "runs": count, **result}
                    | {"x_alone": round(result["optimisation_s"] / base["optimisation_s"], 2)}
                )
                print(json.dumps(rows[-1]), flush=True)
    cores = len(os.sched_getaffinity(0))
    print(f"\n{args.size} px, {args.steps} steps, {cores} cores; medians over the runs")
    print("| policy | runs at once | threads each | optimisation s | x one alone | process s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['policy']} | {r['runs']} | {r['cpu_threads']} | {r['optimisation_s']:.1f} | "
            f"{r['x_alone']:.2f} | {r['process_s']:.1f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
