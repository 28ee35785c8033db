# Two entry points for a fresh machine with nothing but Python 3.11:
#   make demo   - install into .venv, then run the whole workflow on the built-in digits data (CPU, minutes)
#   make test   - install into .venv, then run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
CORES  ?= all
# The test suite on TEST_WORKERS processes (pytest-xdist); tests/conftest.py keeps tests that share a fixture together.
TEST_WORKERS ?= 2
PARALLEL = --numprocesses $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

.PHONY: setup test test-fast demo lint report-html clean-demo gpu-check

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-no-deps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -r requirements-no-deps.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest $(PARALLEL)

test-fast: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest $(PARALLEL) -m "not slow and not workflow and not slurm"

# What the pipeline's steps cost on this machine's GPUs (about 5 minutes on one GPU; refuses to run without CUDA).
gpu-check: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/gpu_check.py

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml

report-html: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --configfile config/demo.yaml --report results/report.html

lint: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --lint --configfile config/demo.yaml

clean-demo:
	rm -rf results/demo-* data/digits
