#!/usr/bin/env bash
# The main job against the bundled emulator: start it, show it answering, validate the quickstart
# workspace, plan it, apply exactly that plan, plan again (No changes.), stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
reconciler emulator serve --port 0 --connection-file "$work/connection.json" --state "$work/emulator-state.json" &
pid=$!
for _ in $(seq 1 100); do
  [ -s "$work/connection.json" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "the emulator exited during start-up" >&2; exit 1; }
  sleep 0.1
done
[ -s "$work/connection.json" ] || { echo "the emulator did not start within 10 s" >&2; exit 1; }
reconciler emulator probe --connection-file "$work/connection.json"
echo
echo "== the quickstart workspace (examples/quickstart) validates without touching the network:"
reconciler validate examples/quickstart
echo
echo "== reconciler plan: what the quickstart workspace would change in the emulated tenants"
cp -r examples/quickstart "$work/quickstart"
mkdir -p "$work/quickstart/.reconciler"
cp "$work/connection.json" "$work/quickstart/.reconciler/emulator.json"
reconciler plan "$work/quickstart" --compact -out "$work/plan.json"
echo
echo "== reconciler apply: carry out exactly the reviewed plan"
reconciler apply "$work/plan.json"
echo
echo "== reconciler plan again: nothing left to do (exit code 0 with --detailed-exitcode)"
reconciler plan "$work/quickstart" --detailed-exitcode
