#!/usr/bin/env bash
# The course report's exact setting on one GPU: all eight studies of `make ablations` on the original
# VGG-19 at 512 px (the report's size; each study keeps its own steps), into
# experiments/ablations/vgg19_512/, with the wall time printed at the end.
# Assumes: a fresh clone, python3.11 on PATH, an NVIDIA driver, and pip reaching PyPI (or a local
# wheelhouse through PIP_FIND_LINKS / PIP_INDEX_URL); the images come from assets/ or NST_ASSET_MIRROR.
# Budget: set-up 1-3 min; the 29 runs of 300 steps at 512 px, a few seconds to half a minute each,
# plus the 56 of the style statistics (not timed on a GPU yet).
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi -L
make setup
start=$(date +%s)
# JOBS=1: one job at a time on the one GPU (the default, one job per core, would share it 16 ways).
make ablations BACKBONE=vgg19 JOBS=1 ABLATIONS_DIR=multirun/ablations-512 ABLATIONS_THREADS=4 \
  ABLATIONS_REPORT=experiments/ablations/vgg19_512 ARGS="size=512 trainer.accelerator=gpu"
echo "wall time: $(( $(date +%s) - start )) s on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
