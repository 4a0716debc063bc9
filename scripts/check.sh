#!/usr/bin/env bash
# The one check: lint, types, tests. CI runs exactly this (through `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy --strict"
mypy
echo "== pytest"
pytest "$@"
