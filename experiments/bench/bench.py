"""`make bench`: the engine against a textbook implementation, side by side.

First, time to quality (``race.py``): how soon the product's defaults reach the loss that the
textbook loop reaches in N evaluations, and how low they get in the same time, at each ``--race-sizes``
(``--race-sizes ''`` skips it). Then the loop's own overhead at 64 px (``overhead.py``; ``--no-overhead``).
Then, for each backbone and size, in one process and interleaved (shared machines are noisy):

* seconds per loss evaluation (one forward + backward) and evaluations per second;
* time and evaluations to reach a fixed loss target with each implementation's own optimiser;
* peak memory of an evaluation, each configuration in a fresh subprocess (see ``memory_probe``).

The baseline (``baseline.py``, beside this file) is the PyTorch tutorial's implementation; it shares
only the conv weights, the layers, the loss weights and the input images with the engine. Both solve
the problem that ``python -m nst backbone=NAME size=SIZE`` plans (``problem.py``).

    python experiments/bench/bench.py --sizes 128,256 --backbones vgg16_hed --repeats 3 --out bench/quick.json
    python experiments/bench/bench.py --race-sizes 256 --race-with lbfgs_bf16 --sizes ''  # race only
    python experiments/bench/bench.py --race-sizes 512 --race-look --sizes ''  # the look's own problem
    python experiments/bench/bench.py --scaling --sizes 128,256,512,1024   # time and memory against pixels
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from nst.module import fast_math

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # run as a script: its siblings baseline.py and problem.py are modules
    sys.path.insert(0, str(HERE))
import overhead  # noqa: E402
import race  # noqa: E402
from baseline import Baseline  # noqa: E402
from problem import Ours, Problem, build, make_problem  # noqa: E402

IMPLS = ("baseline", "baseline_like", "ours", "ours_bf16")
EXTRA_IMPLS = ("baseline_truncated", "ours_nchw")  # ablations, on request
PROG = "python experiments/bench/bench.py"
Evaluate = Callable[[], torch.Tensor]


# ---------------------------------------------------------------- measurements


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(evaluate: Evaluate, device: torch.device) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of this process (less sensitive to other jobs on a shared box)."""
    _sync(device)
    start, start_cpu = time.perf_counter(), time.process_time()
    evaluate()
    _sync(device)
    return time.perf_counter() - start, time.process_time() - start_cpu


class _Stop(Exception):
    pass


def time_to_target(impl: Baseline | Ours, target: float, max_evals: int, device: torch.device) -> dict:
    """Wall time and evaluations until the loss computed inside the closure first reaches ``target``.

    A bf16 run is held to the float32 loss of the same point; that extra forward is off the clock.
    """
    optimizer = impl.optimizer()
    evals = 0
    reached = False
    off_clock = 0.0

    def closure() -> torch.Tensor:
        nonlocal evals, reached, off_clock
        loss = impl.evaluate()
        evals += 1
        value = loss.item()
        if isinstance(impl, Ours) and impl.needs_judge:
            paused = time.perf_counter()
            value = impl.judged_loss(impl.image.detach())
            _sync(device)
            off_clock += time.perf_counter() - paused
        if value <= target:
            reached = True
            raise _Stop
        if evals >= max_evals:
            raise _Stop
        return loss

    _sync(device)
    start = time.perf_counter()
    try:
        while True:
            before = evals
            optimizer.step(closure)
            if evals == before:  # the optimiser stopped itself (a tolerance check)
                break
    except _Stop:
        pass
    _sync(device)
    seconds = time.perf_counter() - start - off_clock
    out = {"seconds": round(seconds, 4) if reached else None, "evaluations": evals, "reached": reached}
    if isinstance(impl, Ours):  # ours optimises freely; the clamped export is what a user gets
        out["exported_loss"] = impl.exported_loss()
    return out


def _proc_status_kb(key: str) -> int:
    with open("/proc/self/status") as handle:
        return int(re.search(rf"{key}:\s+(\d+)", handle.read()).group(1))  # type: ignore[union-attr]


def memory_probe(backbone: str, size: int, impl: str, device: torch.device, evals: int = 2) -> float:
    """Peak memory (MiB) of ``evals`` loss evaluations above the footprint just before them.

    CUDA: max_memory_allocated minus memory_allocated before. CPU: this runs in a fresh subprocess;
    the RSS high-water mark is reset (/proc/self/clear_refs) after set-up, so the number is the
    evaluations' own peak RSS minus the RSS of the set-up process (weights, images, targets, model).
    """
    problem = make_problem(backbone, size, device)
    impl_obj = build(impl, problem)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        for _ in range(evals):
            impl_obj.evaluate()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    before = _proc_status_kb("VmRSS")
    for _ in range(evals):
        impl_obj.evaluate()
    return (_proc_status_kb("VmHWM") - before) / 1024


def memory_in_subprocess(backbone: str, size: int, impl: str, device: torch.device, threads: int) -> float:
    if device.type == "cuda":  # the allocator's counters reset cleanly in-process
        return memory_probe(backbone, size, impl, device)
    command = [sys.executable, str(Path(__file__).resolve()), "--memory-probe", f"{backbone},{size},{impl}"]
    command += ["--threads", str(threads), "--device", device.type]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(done.stdout.strip().splitlines()[-1])


def machine(device: torch.device, threads: int) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = re.search(r"model name\s*:\s*(.*)", handle.read()).group(1)  # type: ignore[union-attr]
    except (OSError, AttributeError):
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def set_fast_gpu_math(enabled: bool) -> None:
    """TF32 matmuls/convs and cuDNN autotuning (a no-op on CPU)."""
    torch.backends.cudnn.benchmark = enabled
    fast_math(torch.device("cuda"), tf32=enabled)


def interleaved_times(
    impls: dict[str, Baseline | Ours], problem: Problem, args: argparse.Namespace, device: torch.device
) -> dict[str, tuple[list[float], list[float]]]:
    """Wall and CPU seconds of each evaluation, the implementations taking turns on the same input."""
    for impl in impls.values():  # warm-up: allocator, oneDNN/cuDNN kernel choice, compilation
        for _ in range(args.warmup):
            impl.evaluate()
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in impls}
    for _ in range(args.repeats):
        for name, impl in impls.items():
            impl.image.data.copy_(problem.content)  # the same input for every implementation
            wall, cpu = timed(impl.evaluate, device)
            times[name][0].append(wall)
            times[name][1].append(cpu)
    return times


def speed_results(times: dict[str, tuple[list[float], list[float]]]) -> dict[str, dict]:
    """Medians per implementation, and speed-ups against the baseline when it ran."""
    results: dict[str, dict] = {}
    for name, (wall, cpu) in times.items():
        seconds = statistics.median(wall)
        results[name] = {
            "seconds_per_eval": seconds,
            "evals_per_second": 1.0 / seconds,
            "cpu_seconds_per_eval": statistics.median(cpu),
            "all_seconds": [round(t, 5) for t in wall],
        }
    base = results.get("baseline")
    for result in results.values():
        if base:
            result["speedup_vs_baseline"] = base["seconds_per_eval"] / result["seconds_per_eval"]
            result["cpu_speedup_vs_baseline"] = base["cpu_seconds_per_eval"] / result["cpu_seconds_per_eval"]
    return results


def race_to_target(
    problem: Problem, results: dict[str, dict], args: argparse.Namespace, device: torch.device
) -> tuple[float, float]:
    """Fresh copies of every implementation run to the same loss target; returns (initial, target)."""
    fresh = {name: build(name, problem, compile=args.compile) for name in results}
    initial = fresh[next(iter(fresh))].evaluate().item()
    target = args.target_fraction * initial
    for name, impl in fresh.items():
        impl.image.data.copy_(problem.content)
        results[name]["to_target"] = time_to_target(impl, target, args.max_evals, device)
    return initial, target


def bench_case(backbone: str, size: int, args: argparse.Namespace, device: torch.device) -> dict:
    """One backbone at one size: every implementation built on the same problem, timed interleaved."""
    problem = make_problem(backbone, size, device)
    impls = {name: build(name, problem, compile=args.compile) for name in args.impls}
    results = speed_results(interleaved_times(impls, problem, args, device))
    initial = target = None
    if args.target_fraction > 0:
        initial, target = race_to_target(problem, results, args, device)
    if args.memory:
        for name in impls:
            results[name]["peak_memory_mb"] = memory_in_subprocess(backbone, size, name, device, args.threads)
    return {
        "backbone": backbone,
        "weights": problem.weights,
        "size": size,
        "shape": list(problem.content.shape[-2:]),
        "pixels": int(problem.content.shape[-1] * problem.content.shape[-2]),
        "loss_target": target,
        "initial_loss": initial,
        "impls": results,
    }


# ---------------------------------------------------------------- reporting


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(cases: list[dict]) -> str:
    header = (
        f"{'backbone':<10} {'px':>5} {'impl':<19} {'s/eval':>8} {'eval/s':>7} {'x base':>7} {'x cpu':>6} "
        f"{'peak MB':>8} {'to target s':>11} {'evals':>6}"
    )
    lines = [header, "-" * len(header)]
    for case in cases:
        label = case["backbone"] + ("*" if case["weights"] == "random" else "")
        for name, r in case["impls"].items():
            target = r.get("to_target", {})
            lines.append(
                f"{label:<10} {case['size']:>5} {name:<19} {r['seconds_per_eval']:>8.4f} "
                f"{r['evals_per_second']:>7.2f} {_fmt(r.get('speedup_vs_baseline'), '.2f'):>7} "
                f"{_fmt(r.get('cpu_speedup_vs_baseline'), '.2f'):>6} "
                f"{_fmt(r.get('peak_memory_mb'), '.0f'):>8} {_fmt(target.get('seconds'), '.2f'):>11} "
                f"{target.get('evaluations', '-')!s:>6}"
            )
    if any(c["weights"] == "random" for c in cases):
        lines.append("* random weights of the same architecture (real ones absent here): same cost")
    return "\n".join(lines)


def scaling_summary(cases: list[dict]) -> list[dict]:
    """Per backbone, seconds and MiB per megapixel relative to the smallest size (1.0 = linear)."""
    rows = []
    for case in cases:
        ours = case["impls"]["ours"]
        first = next(c for c in cases if c["backbone"] == case["backbone"])
        mp, mp0 = case["pixels"] / 1e6, first["pixels"] / 1e6
        row = {
            "backbone": case["backbone"],
            "size": case["size"],
            "megapixels": mp,
            "seconds_per_eval": ours["seconds_per_eval"],
            "seconds_per_megapixel": ours["seconds_per_eval"] / mp,
            "time_vs_linear": (ours["seconds_per_eval"] / mp)
            / (first["impls"]["ours"]["seconds_per_eval"] / mp0),
        }
        if "peak_memory_mb" in ours:
            row["peak_memory_mb"] = ours["peak_memory_mb"]
            row["mb_per_megapixel"] = ours["peak_memory_mb"] / mp
            row["memory_vs_linear"] = row["mb_per_megapixel"] / (
                first["impls"]["ours"]["peak_memory_mb"] / mp0
            )
        rows.append(row)
    return rows


def scaling_table(rows: list[dict]) -> str:
    lines = [
        f"{'backbone':<10} {'px':>5} {'MP':>6} {'s/eval':>8} {'s/MP':>7} {'t/lin':>6} "
        f"{'MB':>7} {'MB/MP':>7} {'m/lin':>6}"
    ]
    for r in rows:
        lines.append(
            f"{r['backbone']:<10} {r['size']:>5} {r['megapixels']:>6.3f} {r['seconds_per_eval']:>8.4f} "
            f"{r['seconds_per_megapixel']:>7.3f} {r['time_vs_linear']:>6.2f} "
            f"{_fmt(r.get('peak_memory_mb'), '.0f'):>7} {_fmt(r.get('mb_per_megapixel'), '.0f'):>7} "
            f"{_fmt(r.get('memory_vs_linear'), '.2f'):>6}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- the command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="128,256,512", help="longest edges in px, comma-separated")
    parser.add_argument("--backbones", default="vgg19", help="config names, comma-separated")
    parser.add_argument("--impls", default=",".join(IMPLS), help=f"of {IMPLS + EXTRA_IMPLS}")
    parser.add_argument("--repeats", type=int, default=5, help="timed evaluations per implementation")
    parser.add_argument("--warmup", type=int, default=2, help="untimed evaluations first")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    parser.add_argument(
        "--target-fraction",
        type=float,
        default=0.2,
        help="loss target as a fraction of the initial loss; 0 skips the time-to-target runs",
    )
    parser.add_argument("--max-evals", type=int, default=200, help="give up on the target after this")
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip peak memory")
    parser.add_argument("--no-fast-gpu-math", dest="fast_gpu_math", action="store_false")
    parser.add_argument("--compile", action="store_true", help="torch.compile ours (compile=true)")
    parser.add_argument("--scaling", action="store_true", help="ours only: time and memory vs pixels")
    parser.add_argument("--race-sizes", default="128,256", help="time-to-quality sizes ('' = none)")
    parser.add_argument("--race-backbone", default="vgg19", help="the race's backbone (the default's)")
    parser.add_argument("--race-evals", type=int, default=100, help="the textbook loop's evaluations (N)")
    parser.add_argument("--race-repeats", type=int, default=3, help="race repeats per size (medians)")
    parser.add_argument(
        "--race-look",
        action="store_true",
        help="above the working size, the textbook solves the product's problem (its scales and anchor)",
    )
    parser.add_argument(
        "--race-with",
        default=",".join(race.DEFAULT_RACE),
        help=f"contestants besides the textbook, of {tuple(race.CONTESTANTS)}",
    )
    parser.add_argument("--no-overhead", dest="overhead", action="store_false", help="skip the loop overhead")
    parser.add_argument("--overhead-steps", type=int, default=40, help="steps per loop and repeat")
    parser.add_argument("--overhead-repeats", type=int, default=9, help="interleaved repeats of the loops")
    parser.add_argument("--out", default="bench/latest.json", help="where the JSON goes")
    parser.add_argument("--memory-probe", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in str(args.sizes).split(",") if s]
    args.race_sizes = [int(s) for s in str(args.race_sizes).split(",") if s]
    args.race_with = [c for c in str(args.race_with).split(",") if c]
    unknown = [c for c in args.race_with if c not in race.CONTESTANTS]
    if unknown:
        parser.error(f"unknown --race-with {unknown}; valid: {', '.join(race.CONTESTANTS)}")
    args.backbones = [b for b in str(args.backbones).split(",") if b]
    args.impls = [i for i in str(args.impls).split(",") if i]
    if args.scaling:
        args.impls, args.target_fraction, args.race_sizes, args.overhead = ["ours"], 0.0, [], False
    return args


def set_up(args: argparse.Namespace) -> torch.device:
    """Threads, device and GPU math, the same for every implementation and subprocess."""
    torch.set_num_threads(args.threads)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    set_fast_gpu_math(args.fast_gpu_math)
    return torch.device(args.device)


def make_report(args: argparse.Namespace, argv: list[str], device: torch.device, cases: list[dict]) -> dict:
    report = {
        "command": f"{PROG} {' '.join(argv)}".strip(),
        "machine": machine(device, args.threads),
        "settings": {
            k: v for k, v in vars(args).items() if k not in ("memory_probe", "out") and v is not None
        },
        "cases": cases,
    }
    if args.scaling:
        report["scaling"] = scaling_summary(cases)
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    device = set_up(args)
    if args.memory_probe:  # the child of memory_in_subprocess: one number on stdout
        backbone, size, impl = args.memory_probe.split(",")
        print(memory_probe(backbone, int(size), impl, device))
        return 0
    races = []
    for size in args.race_sizes:
        print(f"bench: time to quality at {size} px ...", file=sys.stderr, flush=True)
        settings = (args.race_evals, args.race_repeats, args.race_with)
        races.append(race.race(args.race_backbone, size, *settings, device, look=args.race_look))
        print(race.table(races[-1:]), file=sys.stderr, flush=True)
    loop = None
    if args.overhead:
        print("bench: loop overhead at 64 px ...", file=sys.stderr, flush=True)
        loop = overhead.measure(args.race_backbone, 64, args.overhead_steps, args.overhead_repeats, device)
    cases = []
    for backbone in args.backbones:
        for size in args.sizes:
            print(f"bench: {backbone} at {size} px ...", file=sys.stderr, flush=True)
            cases.append(bench_case(backbone, size, args, device))
    report = make_report(args, argv, device, cases)
    report["time_to_quality"], report["loop_overhead"] = races, loop
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    if races:
        print(race.table(races))
    if loop:
        print(overhead.table(loop))
    if cases:
        print(table(cases))
    if args.scaling:
        print(scaling_table(report["scaling"]))
    print(f"json: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
