"""Benchmark: pure plan of 100,000 user mappings (CSV) + 20,000 migrations (YAML), and start-up.

    .venv/bin/python bench/plan_scale.py [--users 100000] [--user-migrations 18000] [--sites 1500]
        [--groups 500] [--runs 3] [--baseline PATH]

Builds the workspace with examples/large/generate.py, then for this checkout (and, with ``--baseline``,
another checkout of the project, run side by side in the same run on the same workspace):

* in-process phases, in a fresh interpreter (median of ``--runs``, the checkouts in turns): import, read
  (YAML and CSV into validated items), resolve (defaults, waves, cross-item checks), plan (``--no-refresh``:
  state's values as the observed ones), render text, render JSON; with the peak RSS of that interpreter;
* the CLI end to end (median of ``--runs``): ``validate WS``, ``plan WS --no-refresh`` (text to a pipe)
  and ``plan WS --no-refresh -out FILE``, wall time, CPU time and peak RSS of the child (``os.wait4``),
  the checkouts taking turns run by run;
* start-up: ``reconciler --version`` and ``--help`` against ``python -c 'import click, pydantic, ruamel.yaml'``.

Each checkout's package is byte-compiled first, as an installed one is (pip compiles on install).

Targets (issue 13, 2-core machine): plan under 4 s and 400 MiB, validate under 3 s, ``--version`` and
``--help`` within 2x of the bare imports. Figures are printed and written to bench/results/plan_scale.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PLAN_SECONDS, PLAN_BYTES, VALIDATE_SECONDS, STARTUP_RATIO = 4.0, 400 << 20, 3.0, 2.0

# Runs in a fresh interpreter with the checkout first on sys.path; uses only functions both the current
# and earlier checkouts have (the loader's read_specs and resolve are timed by wrapping them in place).
_PHASES = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import dataclasses
from reconciler.workspace import loader
from reconciler.operations.plan import context, observed_from_state
from reconciler.plan.planner import plan
from reconciler.plan.selection import Selection
from reconciler.plan.render_text import render_text
from reconciler.cli.common import read_state, render_plan
from reconciler import gcpause
getattr(gcpause, "freeze_when_resumed", lambda: None)()  # as the CLI does, where it can
times = {"import": time.perf_counter() - t0}
def timed(name, fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            times[name] = time.perf_counter() - start
    return wrapper
loader.read_specs = timed("read", loader.read_specs)
loader.resolve = timed("resolve", loader.resolve)
start = time.perf_counter()
ws = loader.load_workspace(sys.argv[1])
times["load"] = time.perf_counter() - start
state = read_state(ws)
start = time.perf_counter()
ctx = dataclasses.replace(context(ws, None), refreshed=False)
result = plan(ws.desired, observed_from_state(state), state, ctx, Selection())
times["plan"] = time.perf_counter() - start
start = time.perf_counter()
text = render_text(result, color=False)
times["render_text"] = time.perf_counter() - start
start = time.perf_counter()
doc = render_plan(result, "json", color=False)
times["render_json"] = time.perf_counter() - start
times["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
times["changes"] = len(result.changes)
times["errors"] = ws.diagnostics.count("error")
print(json.dumps(times))
"""


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("large_generate", ROOT / "examples" / "large" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _env(checkout: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(checkout), "NO_COLOR": "1"}


def run_child(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds, peak RSS bytes, exit code) of one child, its output discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, proc.returncode


def _summary(samples: list[tuple[float, float, int, int]]) -> dict[str, Any]:
    return {
        "seconds": statistics.median(s[0] for s in samples),
        "cpu_seconds": statistics.median(s[1] for s in samples),
        "peak_rss_bytes": max(s[2] for s in samples),
        "exit": max(s[3] for s in samples),
        "runs": len(samples),
    }


def measure(checkouts: dict[str, Path], workspace: Path, runs: int, startup_runs: int) -> dict[str, dict[str, Any]]:
    """Every checkout's phases, then the CLI commands round by round: each round runs each command once in
    every checkout in turn, so a change in the shared machine's load falls on all of them alike."""
    results: dict[str, dict[str, Any]] = {}
    for checkout in checkouts.values():
        # Byte-compiled first, as an installed package is: otherwise an environment with PYTHONDONTWRITEBYTECODE
        # (or a read-only checkout) would compile every module again in every run, and start-up would say so.
        env = {k: v for k, v in _env(checkout).items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run([sys.executable, "-m", "compileall", "-q", "reconciler"], env=env, cwd=checkout, check=True)
    phase_runs: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    for _ in range(runs):  # in turns, as the CLI rounds below: the median of each phase is reported
        for name, checkout in checkouts.items():
            out = subprocess.run(
                [sys.executable, "-c", _PHASES, str(workspace)],
                env=_env(checkout),
                cwd=checkout,
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                raise SystemExit(f"phases failed in {checkout}:\n{out.stderr[-2000:]}")
            phase_runs[name].append(json.loads(out.stdout))
    for name, phases in phase_runs.items():
        results[name] = {"phases": {key: statistics.median_low(run[key] for run in phases) for key in phases[0]}}
    cli = [sys.executable, "-m", "reconciler"]
    planfile = workspace.parent / "plan.json"
    commands: dict[str, tuple[list[str], int]] = {
        "validate": ([*cli, "validate", str(workspace)], runs),
        "plan": ([*cli, "plan", str(workspace), "--no-refresh"], runs),
        "plan_out": ([*cli, "plan", str(workspace), "--no-refresh", "-out", str(planfile)], runs),
        "version": ([*cli, "--version"], startup_runs),
        "help": ([*cli, "--help"], startup_runs),
        "bare_imports": ([sys.executable, "-c", "import click, pydantic, ruamel.yaml"], startup_runs),
    }
    samples: dict[tuple[str, str], list[tuple[float, float, int, int]]] = {}
    for round_ in range(max(runs, startup_runs)):
        for key, (args, count) in commands.items():
            if round_ >= count:
                continue
            for name, checkout in checkouts.items():
                samples.setdefault((name, key), []).append(run_child(args, _env(checkout), checkout))
    for (name, key), taken in samples.items():
        results[name][key] = _summary(taken)
    return results


def _mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def report(results: dict[str, dict[str, Any]]) -> list[str]:
    names = list(results)
    lines = [f"{'':28}" + "".join(f"{n:>31}" for n in names)]
    phases = ("import", "read", "resolve", "load", "plan", "render_text", "render_json")
    for phase in phases:
        lines.append(f"{'phase ' + phase:28}" + "".join(f"{results[n]['phases'][phase]:>29.2f} s" for n in names))
    lines.append(
        f"{'phases peak RSS':28}" + "".join(f"{_mib(results[n]['phases']['peak_rss_bytes']):>31}" for n in names)
    )
    for key, label in (
        ("validate", "CLI validate"),
        ("plan", "CLI plan --no-refresh"),
        ("plan_out", "CLI plan --no-refresh -out"),
        ("version", "--version"),
        ("help", "--help"),
        ("bare_imports", "import click,pydantic,ruamel"),
    ):
        cells = "".join(
            f"{results[n][key]['seconds']:>7.2f} s {results[n][key]['cpu_seconds']:>5.2f} cpu"
            f" {_mib(results[n][key]['peak_rss_bytes']):>8}" + ("!" if results[n][key]["exit"] else " ")
            for n in names
        )
        lines.append(f"{label:28}{cells}")
    for n in names:
        r = results[n]
        bare = r["bare_imports"]["seconds"]
        lines.append(
            f"{n}: --version {r['version']['seconds'] / bare:.2f}x and --help {r['help']['seconds'] / bare:.2f}x "
            f"the bare imports; {r['phases']['changes']:,} changes, {r['phases']['errors']} errors"
        )
    return lines


def targets_met(r: dict[str, Any]) -> bool:
    bare = r["bare_imports"]["seconds"]
    return (
        r["plan"]["seconds"] < PLAN_SECONDS
        and r["plan"]["peak_rss_bytes"] < PLAN_BYTES
        and r["validate"]["seconds"] < VALIDATE_SECONDS
        and r["version"]["seconds"] < STARTUP_RATIO * bare
        and r["help"]["seconds"] < STARTUP_RATIO * bare
        and not any(r[k]["exit"] for k in ("validate", "plan", "plan_out", "version", "help"))
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000, help="user mappings in the identity-map CSV")
    parser.add_argument("--user-migrations", type=int, default=18_000, help="user migrations in YAML")
    parser.add_argument("--sites", type=int, default=1_500, help="site migrations in YAML")
    parser.add_argument("--groups", type=int, default=500, help="group migrations in YAML (and mappings in CSV)")
    parser.add_argument("--runs", type=int, default=3, help="CLI runs per command (the median is reported)")
    parser.add_argument("--startup-runs", type=int, default=7, help="runs of --version, --help and the bare imports")
    parser.add_argument("--baseline", type=Path, help="another checkout of the project to measure side by side")
    args = parser.parse_args()
    checkouts = {"this": ROOT}
    if args.baseline is not None:
        if not (args.baseline / "reconciler" / "__init__.py").is_file():
            parser.error(f"--baseline {args.baseline}: not a checkout of the project (no reconciler/__init__.py)")
        checkouts["baseline"] = args.baseline.resolve()
    with tempfile.TemporaryDirectory(prefix="plan-scale-") as tmp:
        workspace = Path(tmp) / "ws"
        start = time.perf_counter()
        _generator().generate(
            workspace,
            users=args.users,
            sites=args.sites,
            groups=args.groups,
            yaml_user_migrations=args.user_migrations,
            csv_user_migrations=False,
        )
        generated = time.perf_counter() - start
        results = measure(checkouts, workspace, args.runs, args.startup_runs)
    print(
        f"workspace: {args.users:,} user mappings + {args.groups:,} group mappings in CSV, "
        f"{args.user_migrations + args.sites + args.groups:,} migrations in YAML; generated in {generated:.1f} s"
    )
    print("\n".join(report(results)))
    ok = targets_met(results["this"])
    print(
        f"targets (plan < {PLAN_SECONDS:.0f} s and < {_mib(PLAN_BYTES)}, validate < {VALIDATE_SECONDS:.0f} s, "
        f"start-up < {STARTUP_RATIO:.0f}x the bare imports): {'met' if ok else 'MISSED'}"
    )
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "plan_scale.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
