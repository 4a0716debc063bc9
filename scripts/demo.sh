#!/usr/bin/env bash
# The main job against the bundled emulator: start it, show it answering, validate the quickstart
# workspace, stop it. (plan and apply join here as they land.)
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
