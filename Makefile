# `make train` and `make test` install what they need into .venv first.
# Recipes run in bash: a Ctrl-C that stops a run cleanly (exit 130) then ends make quietly (bash waits
# for the run and exits with its code; sh would die of the same SIGINT and make would print an error).
SHELL := /bin/bash
# TORCH picks the PyTorch build: the default takes PyPI's (CUDA on Linux, where a GPU is usable);
# for a CPU-only build elsewhere: make install TORCH="torch --index-url https://download.pytorch.org/whl/cpu"
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
ARGS ?=
SWEEP ?=
SWEEP_ARGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install train test test-slurm slurm-up slurm-down lint bench clean chromium sweep

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev,analysis,launchers,search]"
	touch $@

# 130: stopped by Ctrl-C with a checkpoint; the run has printed how to resume it
STOPPED_OK := || { code=$$?; [ $$code -eq 130 ] || exit $$code; }

train: install  ## the main job: the PPO of "How to Land on the Moon" until it lands, tracked in W&B (offline)
	@echo "$(PY) -m lander_exp $(ARGS)"
	@$(PY) -m lander_exp $(ARGS) $(STOPPED_OK)

sweep: install  ## a sweep file, offline here (WANDB_MODE=online: on W&B), e.g. make sweep SWEEP=sweeps/hover.yaml SWEEP_ARGS="--workers 2"
	@test -n "$(SWEEP)" || { echo 'usage: make sweep SWEEP=sweeps/X.yaml [SWEEP_ARGS="--workers 2"]'; exit 2; }
	@echo "$(PY) -m lander_exp.sweep $(SWEEP) $(SWEEP_ARGS)"
	@$(PY) -m lander_exp.sweep $(SWEEP) $(SWEEP_ARGS) $(STOPPED_OK)

# the suite runs on every core (pytest-xdist): its tests are mostly whole training processes, each on one
test: install chromium  ## every test but the SLURM ones (make test-slurm)
	$(PY) -m pytest -m "not slurm" -n auto

test-slurm: install slurm-up  ## the tests that submit to the one-node SLURM cluster (needs root: apt-get, /etc/slurm)
	$(PY) -m pytest -m slurm

slurm-up:  ## a one-node SLURM cluster on the machine make runs on, with accounting (idempotent)
	$(SUDO) bash scripts/slurm_cluster.sh up

slurm-down:
	$(SUDO) bash scripts/slurm_cluster.sh down

chromium:  ## Debian's chromium, which the report test opens headless; installed only when missing
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium with apt-get"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

lint: install
	$(PY) -m ruff check lander_exp tests benchmarks scripts

bench: install  ## training-loop speed: whole epochs split into rollout and update, against raw env stepping
	$(PY) benchmarks/loop_speed.py

clean:
	rm -rf runs outputs multirun wandb
