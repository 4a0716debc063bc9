# One entry point for people and CI. `make demo` runs the main job; `make test` runs lint, types and tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install azurite demo test check wheel-check lint types pytest bench bench-graph bench-spec bench-export bench-apply bench-apply-requests bench-plan bench-explain bench-status schemas clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Azurite (Microsoft's Azure Storage emulator, from npm) for the Azure Blob state backend's tests.
AZURITE_STAMP := tools/azurite/node_modules/.installed-stamp

$(AZURITE_STAMP): tools/azurite/package.json tools/azurite/package-lock.json
	cd tools/azurite && npm ci --no-audit --no-fund --loglevel=error
	touch $(AZURITE_STAMP)

azurite: $(AZURITE_STAMP)

demo: install
	$(VENV)/bin/reconciler demo

# The published path: build the wheel, install it with [emulator] into a fresh venv outside the tree, run it.
wheel-check: install
	BUILDER=$(PY) bash scripts/wheel_check.sh

test: check

check: install azurite
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/check.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: install
	$(VENV)/bin/mypy

pytest: install azurite
	$(VENV)/bin/pytest

bench: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) bench/emulator_throughput.py

bench-graph: install
	$(PY) bench/graph_refresh.py

bench-spec: install
	$(PY) bench/spec_load.py

bench-export: install
	$(PY) bench/export_adopt.py

bench-apply: install
	$(PY) bench/apply_scale.py

bench-apply-requests: install
	$(PY) bench/apply_requests.py

bench-plan: install
	$(PY) bench/plan_scale.py

bench-explain: install
	$(PY) bench/explain_calls.py

bench-status: install
	$(PY) bench/status_scale.py

schemas: install
	$(PY) -m reconciler.workspace.schema

clean:
	rm -rf $(VENV) tools/azurite/node_modules .mypy_cache .ruff_cache .pytest_cache build dist *.egg-info
