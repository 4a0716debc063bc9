"""Apply request-count benchmark: n mapping writes and t task starts through the real CLI, vs the floor.

What an apply sends is bounded below by what the API needs: ceil(n/50) delta PATCHes for n mapping
writes, one POST per task start, and ceil(t/20) ``$batch`` reads for the pre-start re-read of every
source (apply's guard against starting a second task). This benchmark measures how close the real
CLI comes to that floor (target: within 1.05x), with the emulator adding latency to every request:

1. starts the emulator with n (at least t) users per tenant, no tasks, no mappings;
2. writes a workspace (``examples/quickstart/reconciler.yaml``, a spec of n user mappings and t user
   migrations) and runs ``plan WS -out p.json`` then ``apply p.json``, each through
   ``bench/counted_cli.py``, which runs the unchanged CLI and records what its Graph transport sent;
3. resets the emulator and runs the same two steps again with the pre-start re-read turned off (the
   baseline: what apply sent before it existed);
4. prints, per mode, the apply's requests by kind against the floor, the refresh's ``$batch`` reads
   (reported separately: they belong to the plan), 429s and the seconds they held the run, and wall
   time; checks that every source has exactly one task and that the ratio meets the target.

Run: ``.venv/bin/python bench/apply_requests.py`` (``make bench-apply``); ``--mappings``,
``--starts``, ``--latency-ms``, ``--rate-limit``, ``--repeat`` change the run. Figures go to
``bench/results/apply_requests.json``. Exit status 1 if a step fails, a count is wrong or the target
is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from graph_refresh import control, start  # noqa: E402

from reconciler.emulator.process import stop_emulator  # noqa: E402

TARGET_RATIO = 1.05


def write_workspace(ws: Path, conn: dict[str, Any], mappings: int, starts: int) -> None:
    shutil.rmtree(ws, ignore_errors=True)  # a fresh workspace and state for every run
    ws.mkdir(parents=True)
    shutil.copy(REPO / "examples" / "quickstart" / "reconciler.yaml", ws / "reconciler.yaml")
    (ws / ".reconciler").mkdir()
    (ws / ".reconciler" / "emulator.json").write_text(json.dumps(conn))
    src, dst = conn["tenants"]["source"]["domain"], conn["tenants"]["target"]["domain"]
    lines = ["user_mappings:"]
    for n in range(1, mappings + 1):
        lines += [f"  - source_upn: user{n:03d}@{src}", f"    target_upn: user{n:03d}@{dst}"]
    lines.append("user_migrations:")
    lines += [f"  - source_upn: user{n:03d}@{src}" for n in range(1, starts + 1)]
    (ws / "spec.yaml").write_text("\n".join(lines) + "\n")


def run_counted(args: list[str], stats: Path, baseline: bool, log: Path, timeout: float) -> tuple[int, float, Any]:
    argv = [sys.executable, str(REPO / "bench" / "counted_cli.py"), str(stats)]
    argv += (["--no-prestart-read"] if baseline else []) + ["--", *args]
    began = time.monotonic()
    with log.open("w") as out:
        code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout)
    return code.returncode, time.monotonic() - began, json.loads(stats.read_text())


def one_mode(conn: dict[str, Any], work: Path, opts: argparse.Namespace, baseline: bool) -> dict[str, Any]:
    name = "baseline (no pre-start read)" if baseline else "pre-start read"
    control(conn, "POST", "/reset")
    faults: dict[str, Any] = {"latency_ms": opts.latency_ms}
    if opts.rate_limit:
        faults["rate_limit"] = {"per_second": opts.rate_limit, "burst": opts.rate_limit * 2}
    control(conn, "PUT", "/faults", faults)
    ws = work / ("ws-baseline" if baseline else "ws")
    write_workspace(ws, conn, opts.mappings, opts.starts)
    plan_file = work / ("p-baseline.json" if baseline else "p.json")
    code, plan_s, plan_stats = run_counted(
        ["plan", str(ws), "-out", str(plan_file)], work / "plan-stats.json", baseline, work / "plan.log", opts.timeout
    )
    if code != 0:
        raise SystemExit(f"{name}: plan exited {code}: see {work / 'plan.log'}")
    control(conn, "DELETE", "/counters")
    code, apply_s, apply_stats = run_counted(
        ["apply", str(plan_file)], work / "apply-stats.json", baseline, work / "apply.log", opts.timeout
    )
    if code != 0:
        raise SystemExit(f"{name}: apply exited {code}: see {work / 'apply.log'}")
    counters = control(conn, "GET", "/counters")
    tasks = control(conn, "GET", "/tasks")["tasks"]
    per_source: dict[str, int] = {}
    for task in tasks:
        per_source[task["source"]] = per_source.get(task["source"], 0) + 1
    if len(per_source) != opts.starts or set(per_source.values()) != {1}:
        raise SystemExit(f"{name}: expected one task for each of {opts.starts} sources, found {len(tasks)} tasks")
    throttled = sum(v.get("429", 0) for k, v in counters.items())
    return {
        "mode": name,
        "apply_requests": apply_stats["transport"].get("requests", 0),
        "apply_calls": apply_stats["calls"],
        "apply_retries": apply_stats["transport"].get("retries", 0),
        "apply_429": throttled,
        "apply_held_seconds": apply_stats["held_seconds"],
        "apply_seconds": round(apply_s, 2),
        "refresh_batches": plan_stats["calls"].get("batch", 0),
        "plan_requests": plan_stats["transport"].get("requests", 0),
        "plan_seconds": round(plan_s, 2),
    }


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median apply wall time, with every run's wall time listed."""
    ordered = sorted(runs, key=lambda r: r["apply_seconds"])
    return {**ordered[len(ordered) // 2], "apply_seconds_all": [r["apply_seconds"] for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mappings", type=int, default=2000, help="n: user mappings written")
    parser.add_argument("--starts", type=int, default=2000, help="t: user migrations started (at most n)")
    parser.add_argument("--latency-ms", type=int, default=20, help="added to every Graph request")
    parser.add_argument("--rate-limit", type=int, default=0, help="emulator requests/s per app (0: none)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per mode, interleaved; wall time is the median")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per CLI step")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "apply_requests.json")
    opts = parser.parse_args()
    if not 1 <= opts.starts <= opts.mappings:
        parser.error("--starts must be between 1 and --mappings")
    n, t = opts.mappings, opts.starts
    floor = math.ceil(n / 50) + t + math.ceil(t / 20)
    baseline_floor = math.ceil(n / 50) + t
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        work = Path(tmp)
        proc, conn = start(work, n)
        try:
            runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
            for _ in range(max(1, opts.repeat)):  # interleaved, so a busy spell of the machine hits both modes
                for baseline in (False, True):
                    runs[baseline].append(one_mode(conn, work, opts, baseline=baseline))
            results = [_median(runs[False]), _median(runs[True])]
        finally:
            stop_emulator(proc)
    ours, base = results
    ratio = ours["apply_requests"] / floor
    report = {
        "mappings": n,
        "starts": t,
        "latency_ms": opts.latency_ms,
        "rate_limit": opts.rate_limit,
        "floor": floor,
        "floor_parts": {"PATCH": math.ceil(n / 50), "POST": t, "pre-start $batch": math.ceil(t / 20)},
        "ratio": round(ratio, 4),
        "baseline_floor": baseline_floor,
        "results": results,
    }
    print(f"n={n} mapping writes, t={t} starts, {opts.latency_ms} ms per request")
    print(f"floor: ceil(n/50) + t + ceil(t/20) = {math.ceil(n / 50)} + {t} + {math.ceil(t / 20)} = {floor}")
    header = f"{'':30} {'requests':>9} {'PATCH':>6} {'POST':>6} {'$batch':>7} {'429s':>5} {'held s':>7} {'apply s':>8}"
    print(header + f" {'refresh $batch':>15}")
    for r in results:
        c = r["apply_calls"]
        print(
            f"{r['mode']:30} {r['apply_requests']:>9} {c.get('mapping PATCH', 0):>6} {c.get('task POST', 0):>6} "
            f"{c.get('batch', 0):>7} {r['apply_429']:>5} {r['apply_held_seconds']:>7} {r['apply_seconds']:>8} "
            f"{r['refresh_batches']:>15}"
        )
    cost = ours["apply_requests"] - base["apply_requests"]
    print(
        f"requests / floor: {ratio:.3f} (target <= {TARGET_RATIO}); baseline / its floor (no re-read): "
        f"{base['apply_requests'] / baseline_floor:.3f}; the re-read costs {cost} requests and "
        f"{ours['apply_seconds'] - base['apply_seconds']:+.2f} s"
    )
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(json.dumps(report, indent=2) + "\n")
    if ratio > TARGET_RATIO:
        raise SystemExit(f"missed the target: {ratio:.3f} x the floor")


if __name__ == "__main__":
    main()
