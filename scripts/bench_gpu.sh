#!/usr/bin/env bash
# Speed on one GPU: `make bench` at 512 and 1024 px (with bf16), then the TF32/cuDNN and channels_last ablations.
# Assumes: a fresh clone, python3.11 on PATH (PYTHON=... to change), an NVIDIA driver, and pip
# reaching PyPI (or PIP_FIND_LINKS / PIP_INDEX_URL pointing at a local wheelhouse with torch 2.14.1);
# the content/style images come from assets/ or NST_ASSET_MIRROR. vgg19 runs on random weights unless
# vgg19-dcbb9e9d.pth is in $TORCH_HOME/hub/checkpoints (same cost). BENCH_COMPILE=1 adds torch.compile.
# Budget: set-up 1-3 min (torch wheel), benchmarks about 1-2 min and the three 512 px runs about
# 40 s on an H100.
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi -L
make setup
make bench ARGS="--device cuda --sizes 512,1024 --impls baseline,baseline_truncated,ours,ours_nchw,ours_bf16 --repeats 10 --out bench/gpu.json"
make bench ARGS="--device cuda --sizes 512,1024 --impls baseline,ours --repeats 10 --target-fraction 0 --no-memory --no-fast-gpu-math --race-sizes '' --no-overhead --out bench/gpu-no-tf32.json"
make bench ARGS="--device cuda --scaling --sizes 128,256,512,1024 --backbones vgg16_hed --repeats 10 --out bench/gpu-scaling.json"
# The whole-run goal: 300 L-BFGS steps at 512 px in under 3 s, Lightning loop included (about 10 s each).
# The defaults (lbfgs_device, precision auto) first: the 3 s target is 300 of their steps at 512 px.
for run in "seed=0" "optimizer.history_size=20" "optimizer=lbfgs backbone.precision=fp32" "optimizer=lbfgs_plain backbone.precision=bf16"; do
  dir="bench/gpu-run-${run//[ =]/-}"
  # shellcheck disable=SC2086  # $run holds several overrides
  .venv/bin/python -m nst size=512 steps=300 progress_bar=false image_every=0 checkpoint_every=0 $run \
    hydra.run.dir="$dir" >/dev/null
  .venv/bin/python -c "import json, sys; m = json.load(open(sys.argv[1])); print(sys.argv[2], m['wall_seconds'], 's,', m['evaluations'], 'evaluations, median step', m['seconds_per_step'], 's, loss', round(m['loss']['total'], 3))" "$dir/metrics.json" "$run"
done
if [[ "${BENCH_COMPILE:-0}" == 1 ]]; then
  make bench ARGS="--device cuda --sizes 512 --impls baseline,ours --compile --repeats 10 --target-fraction 0 --race-sizes '' --no-overhead --out bench/gpu-compile.json"
fi
echo "results: bench/gpu*.json"
