# Developer and CI entry points. `make test` is what .ci/run runs.
SHELL := /bin/bash
PYTHON_VERSION ?= 3.11
VENV := .venv
PY := $(VENV)/bin/python
# uv from PATH, else installed into the user's Python with pip (PyPI is reachable).
UV = $(shell command -v uv 2>/dev/null || echo "python$(PYTHON_VERSION) -m uv")

.PHONY: help venv uv system-deps node-deps check test test-fast demo lint fix bench clean distclean

help:
	@echo "make venv         .venv from uv.lock (uv sync --frozen)"
	@echo "make test         venv + Debian packages + npm deps + make check + full test suite (what CI runs)"
	@echo "make test-fast    the test suite only, no installs (PYTEST_ARGS=... to narrow it)"
	@echo "make demo         run the demo (python -m stratascope.demo)"
	@echo "make check        ruff, the import-linter contracts (layers) and mypy (storage, pixels, render, formats)"
	@echo "make lint         ruff check;  make fix: ruff check --fix"
	@echo "make bench        the benchmarks in bench/ (quick settings), tables in bench/results/"
	@echo "make clean        caches and test artifacts;  make distclean: also .venv and node_modules"

uv:
	@command -v uv >/dev/null 2>&1 || python$(PYTHON_VERSION) -m uv --version >/dev/null 2>&1 \
	  || python$(PYTHON_VERSION) -m pip install --quiet uv \
	  || python3 -m pip install --quiet uv

venv: uv
	$(UV) sync --frozen --python $(PYTHON_VERSION)

system-deps:
	scripts/install-system-deps.sh

node-deps:
	scripts/install-node-deps.sh

# Static checks, before any test runs: ruff, the layer contracts, mypy ([tool.mypy] in pyproject.toml).
check: lint
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: venv system-deps node-deps check
	scripts/run-tests.sh $(PYTEST_ARGS)

test-fast:
	scripts/run-tests.sh $(PYTEST_ARGS)

demo: venv
	$(PY) -m stratascope.demo

lint: venv
	$(VENV)/bin/ruff check src tests bench

fix: venv
	$(VENV)/bin/ruff check --fix src tests bench

# Benchmarks are scripts, not tests; each writes its table to bench/results/.
bench: venv system-deps
	$(PY) bench/requests.py --rtt-ms 0
	$(PY) bench/requests.py --rtt-ms 80
	$(PY) bench/tiles.py --quick
	$(PY) bench/cold_warm.py --quick
	$(PY) bench/load.py --quick

clean:
	rm -rf .pytest_cache .hypothesis .ruff_cache test-artifacts
	find . -name __pycache__ -type d -not -path './.venv/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
	find . -name node_modules -type d -not -path './.venv/*' -prune -exec rm -rf {} +
