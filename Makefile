# One entry point for people and CI. `make demo` runs the main job; `make test` runs lint, types and tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test check lint types pytest bench bench-graph bench-spec schemas clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

test: check

check: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/check.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: install
	$(VENV)/bin/mypy

pytest: install
	$(VENV)/bin/pytest

bench: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) bench/emulator_throughput.py

bench-graph: install
	$(PY) bench/graph_refresh.py

bench-spec: install
	$(PY) bench/spec_load.py

schemas: install
	$(PY) -m reconciler.workspace.schema

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
