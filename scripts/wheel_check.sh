#!/usr/bin/env bash
# The path a user of the published package takes, as CI checks it: build the wheel, install it with the
# [emulator] extra into a fresh virtual environment outside the clone, and run the installed command from
# a folder outside the clone (so nothing of the tree can be imported): --version, demo, and doctor
# (against the demo's workspace, with the emulator started again where the demo left it).
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$PWD
PYTHON=${PYTHON:-python3}       # makes the fresh venv
BUILDER=${BUILDER:-$PYTHON}     # builds the wheel (any Python with pip)
work=$(mktemp -d)
emulator_pid=
cleanup() {
  [ -n "$emulator_pid" ] && { kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

echo "== build the wheel"
"$BUILDER" -m pip wheel --no-deps --quiet --disable-pip-version-check --wheel-dir "$work/dist" "$tree"
wheel=$(ls "$work"/dist/*.whl)
echo "$(basename "$wheel")"
# What a wheel user needs at run time is in it (the quickstart, the licence); what only the clone has is not.
listing=$("$BUILDER" -m zipfile -l "$wheel")
for needed in reconciler/quickstart/reconciler.yaml reconciler/quickstart/identity-map.csv reconciler/py.typed licenses/LICENSE; do
  grep -q "$needed" <<<"$listing" || { echo "the wheel lacks $needed" >&2; exit 1; }
done
if grep -qE ' (tests|specs|examples|bench|scripts)/' <<<"$listing"; then
  echo "the wheel holds files of the clone that are not the package" >&2
  exit 1
fi

echo "== install it with [emulator] into a fresh virtual environment"
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel[emulator]"
du -sh "$work/venv" | sed 's/\t.*/ virtual environment/'
bin=$work/venv/bin
cd "$work"

echo "== reconciler --version"
"$bin/reconciler" --version
echo "== reconciler demo"
"$bin/reconciler" demo --dir "$work/demo"

echo "== reconciler doctor (against the demo's workspace)"
connection=$work/demo/quickstart/.reconciler/emulator.json
rm -f "$connection"
"$bin/reconciler" emulator serve --state "$work/demo/emulator/emulator-state.json" --connection-file "$connection" \
  2>"$work/emulator.log" &
emulator_pid=$!
for _ in $(seq 1 150); do
  [ -s "$connection" ] && break
  kill -0 "$emulator_pid" 2>/dev/null || { cat "$work/emulator.log" >&2; echo "the emulator exited" >&2; exit 1; }
  sleep 0.2
done
[ -s "$connection" ] || { echo "the emulator did not start within 30 s" >&2; exit 1; }
"$bin/reconciler" doctor "$work/demo/quickstart"
echo "The wheel installs and runs."
