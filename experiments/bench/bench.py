"""`make bench`: the engine's hot path against a textbook implementation, side by side.

For each backbone and size it measures, in one process and interleaved (shared machines are noisy):

* seconds per loss evaluation (one forward + backward) and evaluations per second;
* time and evaluations to reach a fixed loss target with each implementation's own optimiser;
* peak memory of an evaluation, each configuration in a fresh subprocess (see ``_memory_probe``).

The baseline is written the way the PyTorch tutorial writes it: the whole VGG ``features`` walked
module by module with content/style loss modules inserted, out-of-place ReLUs, Gram by ``mm``, the
image clamped in place inside the closure, and ``torch.optim.LBFGS`` with its defaults (``max_iter=20``).
It shares only the conv weights, the layers, the loss weights and the input images with the engine.

    python -m nst.bench --sizes 128,256 --backbones vgg16_hed --repeats 3 --out bench/quick.json
    python -m nst.bench --scaling --sizes 128,256,512,1024   # time and memory against pixel count
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

from nst import assets
from nst.backbones import load_conv_params, random_vgg_params
from nst.encoder import (
    CAFFE_MEAN_BGR,
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGGEncoder,
    canonical_layers,
    layer_names,
)
from nst.errors import NSTError
from nst.images import load_image
from nst.module import StyleTransfer, fast_math

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
IMPLS = ("baseline", "baseline_like", "ours", "ours_bf16")
EXTRA_IMPLS = ("baseline_truncated", "ours_nchw")  # ablations, on request
Evaluate = Callable[[], torch.Tensor]


# ---------------------------------------------------------------- the problem both implementations solve


@dataclass
class Problem:
    backbone: str
    weights: str  # where the conv weights came from (random ones cost the same)
    arch: str
    preprocessing: str
    params: list[tuple[torch.Tensor, torch.Tensor]]
    content_layers: list[str]
    style_layers: list[str]
    content_weight: float
    style_weight: float
    range_weight: float
    optimizer: DictConfig
    content: torch.Tensor
    style: torch.Tensor
    device: torch.device


def compose_config(backbone: str, overrides: list[str] | None = None) -> DictConfig:
    """The run configuration `python -m nst backbone=...` would use: one source for every default."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[f"backbone={backbone}", *(overrides or [])])


def make_problem(backbone: str, size: int, device: torch.device) -> Problem:
    extra = ["backbone.download=false"] if backbone == "vgg19" else []
    cfg = compose_config(backbone, extra)
    arch = str(cfg.backbone.arch)
    try:
        params, weights = load_conv_params(cfg.backbone), str(cfg.backbone.source)
    except NSTError:
        if cfg.backbone.source != "torchvision":
            raise
        # Real VGG-19 weights are not on this machine: random ones of the same shape cost the same.
        params, weights = random_vgg_params(arch, 0), "random"
    content = load_image(assets.resolve(cfg.content), size).to(device)
    style = load_image(assets.resolve(cfg.style), max(1, round(size * float(cfg.style_scale)))).to(device)
    return Problem(
        backbone=backbone,
        weights=weights,
        arch=arch,
        preprocessing=str(cfg.backbone.preprocessing),
        params=[(w.to(device), b.to(device)) for w, b in params],
        content_layers=canonical_layers(list(cfg.content_layers), arch, backbone),
        style_layers=canonical_layers(list(cfg.style_layers), arch, backbone),
        content_weight=float(cfg.content_weight),
        style_weight=float(cfg.style_weight),
        range_weight=float(cfg.range_weight),
        optimizer=cfg.optimizer,
        content=content,
        style=style,
        device=device,
    )


# ---------------------------------------------------------------- the baseline: the textbook way


def _tutorial_gram(features: torch.Tensor) -> torch.Tensor:
    a, b, c, d = features.size()
    flat = features.view(a * b, c * d)
    return torch.mm(flat, flat.t()).div(a * b * c * d)


class _Normalization(nn.Module):
    def __init__(self, preprocessing: str, device: torch.device) -> None:
        super().__init__()
        if preprocessing == "caffe":  # BGR, 0..255, mean pixel subtracted, written as (x - mean) / std
            self.order = [2, 1, 0]
            mean, std = torch.tensor(CAFFE_MEAN_BGR) / 255.0, torch.full((3,), 1 / 255.0)
        else:
            self.order = [0, 1, 2]
            mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self.mean = mean.view(-1, 1, 1).to(device)
        self.std = std.view(-1, 1, 1).to(device)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return (img[:, self.order] - self.mean) / self.std


class _ContentLoss(nn.Module):
    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        self.target = target.detach()
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = F.mse_loss(x, self.target)
        return x


class _StyleLoss(nn.Module):
    def __init__(self, target_feature: torch.Tensor) -> None:
        super().__init__()
        self.target = _tutorial_gram(target_feature).detach()
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = F.mse_loss(_tutorial_gram(x), self.target)
        return x


class Baseline:
    """The PyTorch tutorial's model: ``features`` walked module by module, loss modules inserted."""

    def __init__(self, problem: Problem, truncate: bool = False, flush_denormal: bool = False) -> None:
        p = problem
        self.flush_denormal = (
            flush_denormal  # the textbook leaves x86 denormals on (slow); like-for-like flushes
        )
        features: list[nn.Module] = []
        params = iter(p.params)
        for name in layer_names(p.arch):  # the whole `features`, as torchvision builds it
            if name.startswith("conv"):
                weight, bias = next(params)
                conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1).to(p.device)
                conv.weight.data.copy_(weight)
                conv.bias.data.copy_(bias)
                features.append(conv)
            elif name.startswith("relu"):
                features.append(nn.ReLU(inplace=False))  # the tutorial's choice: in place breaks its losses
            else:
                features.append(nn.MaxPool2d(2, 2))
        model = nn.Sequential(_Normalization(p.preprocessing, p.device))
        prefix = [model[0]]  # targets come from the plain layers (style and content sizes may differ)
        self.content_losses: list[_ContentLoss] = []
        self.style_losses: list[_StyleLoss] = []
        for name, layer in zip(layer_names(p.arch), features):
            model.add_module(name, layer)
            prefix.append(layer)
            if name in p.content_layers:
                loss = _ContentLoss(nn.Sequential(*prefix)(p.content).detach())
                model.add_module(f"content_loss_{name}", loss)
                self.content_losses.append(loss)
            if name in p.style_layers:
                loss = _StyleLoss(nn.Sequential(*prefix)(p.style).detach())
                model.add_module(f"style_loss_{name}", loss)
                self.style_losses.append(loss)
        if truncate:  # the tutorial's own trim: nothing after the last loss module
            last = max(i for i, m in enumerate(model) if isinstance(m, _ContentLoss | _StyleLoss))
            model = model[: last + 1]
        self.model = model.eval().requires_grad_(False)
        self.content_weight = p.content_weight
        self.style_weight = p.style_weight
        self.image = p.content.clone().requires_grad_(True)

    def evaluate(self) -> torch.Tensor:
        """The tutorial's closure: clamp in place, zero the gradient, forward, weighted sum, backward."""
        torch.set_flush_denormal(self.flush_denormal)
        with torch.no_grad():
            self.image.clamp_(0, 1)
        self.image.grad = None
        return self.loss_backward()

    def loss_backward(self) -> torch.Tensor:
        self.model(self.image)
        style_score = sum(sl.loss for sl in self.style_losses)
        content_score = sum(cl.loss for cl in self.content_losses)
        loss = self.style_weight * style_score + self.content_weight * content_score
        loss.backward()
        return loss

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.LBFGS([self.image])  # defaults: max_iter=20, no line search


# ---------------------------------------------------------------- ours: the engine's own code path


class Ours:
    """The engine exactly as ``python -m nst`` builds it, minus Lightning's loop around the closure."""

    def __init__(
        self,
        problem: Problem,
        channels_last: bool = True,
        compile: bool = False,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        p = problem
        encoder = VGGEncoder(
            p.arch,
            p.params,
            p.preprocessing,
            list(dict.fromkeys(p.content_layers + p.style_layers)),
            channels_last=channels_last,
            dtype=dtype,
        ).to(p.device)
        self.module = StyleTransfer(
            encoder=encoder,
            init_image=p.content,
            content_image=p.content,
            style_image=p.style,
            content_layers=p.content_layers,
            style_layers=p.style_layers,
            content_weight=p.content_weight,
            style_weight=p.style_weight,
            tv_weight=0.0,
            range_weight=p.range_weight,
            optimizer=instantiate(p.optimizer),
            compile=compile,
        ).to(p.device)
        self.image = self.module.image
        # bf16 results are judged by the float32 loss (the one fp32 runs report): a float32 twin.
        self.judge = self if dtype == torch.float32 else Ours(problem, channels_last, False)

    def evaluate(self) -> torch.Tensor:
        fast_math(self.image.device)  # what on_fit_start sets for the run (interleaving resets it)
        self.image.grad = None
        loss = self.module.losses()["loss/total"]
        loss.backward()
        return loss

    def optimizer(self) -> torch.optim.Optimizer:
        return self.module.configure_optimizers()

    def judged_loss(self, image: torch.Tensor) -> float:
        """Float32 loss of ``image``, whatever precision optimises it."""
        with torch.no_grad():
            return float(self.judge.module.losses(image)["loss/total"])

    def exported_loss(self) -> float:
        """Float32 loss of the clamped image: what a user gets."""
        return self.judged_loss(self.module.export())


def build(impl: str, problem: Problem, compile: bool = False) -> Baseline | Ours:
    if impl == "ours":
        return Ours(problem, compile=compile)
    if impl == "ours_nchw":
        return Ours(problem, channels_last=False)
    if impl == "ours_bf16":  # precision=bf16: the VGG in bf16, losses and optimiser in float32
        return Ours(problem, dtype=torch.bfloat16)
    if impl == "baseline_like":  # the same textbook code computing only what ours computes, FTZ on
        return Baseline(problem, truncate=True, flush_denormal=True)
    return Baseline(problem, truncate=impl == "baseline_truncated")


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
        if isinstance(impl, Ours) and impl.judge is not impl:
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
    command = [sys.executable, "-m", "nst.bench", "--memory-probe", f"{backbone},{size},{impl}"]
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
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def bench_case(backbone: str, size: int, args: argparse.Namespace, device: torch.device) -> dict:
    """One backbone at one size: every implementation built on the same problem, timed interleaved."""
    problem = make_problem(backbone, size, device)
    impls = {name: build(name, problem, compile=args.compile) for name in args.impls}
    for impl in impls.values():  # warm-up: allocator, oneDNN/cuDNN kernel choice, compilation
        for _ in range(args.warmup):
            impl.evaluate()
    times: dict[str, list[float]] = {name: [] for name in impls}
    cpu_times: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(args.repeats):
        for name, impl in impls.items():
            impl.image.data.copy_(problem.content)  # the same input for every implementation
            wall, cpu = timed(impl.evaluate, device)
            times[name].append(wall)
            cpu_times[name].append(cpu)
    initial = None
    results: dict[str, dict] = {}
    for name in impls:
        seconds = statistics.median(times[name])
        results[name] = {
            "seconds_per_eval": seconds,
            "evals_per_second": 1.0 / seconds,
            "cpu_seconds_per_eval": statistics.median(cpu_times[name]),
            "all_seconds": [round(t, 5) for t in times[name]],
        }
    base = results.get("baseline", {}).get("seconds_per_eval")
    base_cpu = results.get("baseline", {}).get("cpu_seconds_per_eval")
    for name in results:
        if base:
            results[name]["speedup_vs_baseline"] = base / results[name]["seconds_per_eval"]
            results[name]["cpu_speedup_vs_baseline"] = base_cpu / results[name]["cpu_seconds_per_eval"]
    if args.target_fraction > 0:
        fresh = {name: build(name, problem, compile=args.compile) for name in impls}
        initial = fresh[next(iter(fresh))].evaluate().item()
        target = args.target_fraction * initial
        for name, impl in fresh.items():
            impl.image.data.copy_(problem.content)
            results[name]["to_target"] = time_to_target(impl, target, args.max_evals, device)
    else:
        target = None
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nst.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="128,256,512", help="longest edges in px, comma-separated")
    parser.add_argument("--backbones", default="vgg16_hed,vgg19", help="config names, comma-separated")
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
    parser.add_argument("--out", default="bench/latest.json", help="where the JSON goes")
    parser.add_argument("--memory-probe", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in str(args.sizes).split(",") if s]
    args.backbones = [b for b in str(args.backbones).split(",") if b]
    args.impls = [i for i in str(args.impls).split(",") if i]
    if args.scaling:
        args.impls, args.target_fraction = ["ours"], 0.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)  # the same for every implementation and subprocess
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    set_fast_gpu_math(args.fast_gpu_math)
    if args.memory_probe:
        backbone, size, impl = args.memory_probe.split(",")
        print(memory_probe(backbone, int(size), impl, device))
        return 0
    cases = []
    for backbone in args.backbones:
        for size in args.sizes:
            print(f"bench: {backbone} at {size} px ...", file=sys.stderr, flush=True)
            cases.append(bench_case(backbone, size, args, device))
    report = {
        "command": "python -m nst.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(device, args.threads),
        "settings": {
            k: v for k, v in vars(args).items() if k not in ("memory_probe", "out") and v is not None
        },
        "cases": cases,
    }
    if args.scaling:
        report["scaling"] = scaling_summary(cases)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(cases))
    if args.scaling:
        print(scaling_table(report["scaling"]))
    print(f"json: {out}")
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
