"""Benchmark: apply of 10,000 user mappings + 10,000 OneDrive starts against a rate-limited emulator.

    .venv/bin/python bench/apply_scale.py [--n 10000] [--latency-ms 20] [--rate-limit 400] [--burst 400]
        [--sample 100] [--baseline PATH]

One emulator (``n + sample`` users per tenant, 20 ms added to every Graph request and to every
``$batch`` member, a token bucket of ``--rate-limit`` requests/s per app and tenant in which each
``$batch`` member counts) serves, for this checkout and, with ``--baseline``, another checkout of the
project measured side by side in the same run on the same world:

1. ``plan WS -out p.json`` (the refresh; timed, not part of the write phase);
2. ``apply p.json``: the write phase. Its Graph requests per endpoint against the floor (ceil(n/50)
   delta PATCHes, n task POSTs, ceil(n/20) pre-start ``$batch`` reads), the 429s the emulator
   answered and the seconds Retry-After held the run, the write phase (first request to last answer)
   against its rate-limit floor, whole-state writes and their bytes, journal bytes, wall time, CPU
   seconds of the process and of the emulator while it ran (each also per start: on a shared machine
   the write phase is held to its floor only while both fit in the CPU they get), and peak RSS of
   the process; every source must then have exactly one task;
3. ``plan WS`` again, which must print "No changes.", timed.

Then a sequential baseline, one request per item as a PowerShell loop would send them (a one-item
delta PATCH per mapping; a GET of the source's task then its POST per start), timed on ``--sample``
items and extrapolated to n. The rate-limit floor: the emulator's buckets are per tenant, mapping
writes go to the target tenant and precede the starts, and every start costs its POST and its
re-read's ``$batch`` member in the source tenant: floor = sum over tenants of max(0, (requests -
burst) / rate). Target (issue 13): this checkout's write phase within 1.3x of that floor. Figures are
printed and written to bench/results/apply_scale.json; exit status 1 if a step fails or the target
is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.3


# -- the child: the CLI of one checkout, run unchanged in this process with its requests counted -------------


def child(stats_file: Path, argv: list[str]) -> None:
    """Runs with the measured checkout first on sys.path (PYTHONPATH): only APIs every version has."""
    from reconciler.cli.main import main
    from reconciler.graph import scheduler, transport
    from reconciler.state import local

    calls: Counter[str] = Counter()
    figures: dict[str, Any] = {"held": 0.0, "first": None, "last": None, "writes": 0, "write_bytes": 0}
    figures["journal_bytes"] = 0
    totals: Counter[str] = Counter()
    request, aclose, throttled = transport.GraphTransport.request, transport.GraphTransport.aclose, None
    throttled = scheduler.Scheduler.throttled
    write = local.LocalBackend.write

    async def counted_request(self: Any, role: str, method: str, path: str, **kw: Any) -> Any:
        kind = "$batch" if path == "/$batch" else "PATCH" if method == "PATCH" else "POST task"
        calls[kind if method != "GET" else "GET"] += 1
        figures["first"] = figures["first"] or time.monotonic()
        try:
            return await request(self, role, method, path, **kw)
        finally:
            figures["last"] = time.monotonic()

    async def counted_aclose(self: Any) -> None:
        totals.update(self.stats)
        await aclose(self)

    def counted_throttled(self: Any, retry_after: float | None) -> None:
        now = time.monotonic()
        before = max(self._paused_until, now)
        throttled(self, retry_after)
        figures["held"] += max(0.0, self._paused_until - before)

    def counted_write(self: Any, state: Any) -> None:
        write(self, state)
        figures["writes"] += 1
        figures["write_bytes"] += self.path.stat().st_size

    transport.GraphTransport.request = counted_request  # type: ignore[method-assign]
    transport.GraphTransport.aclose = counted_aclose  # type: ignore[method-assign]
    scheduler.Scheduler.throttled = counted_throttled  # type: ignore[method-assign]
    local.LocalBackend.write = counted_write  # type: ignore[method-assign]
    try:
        from reconciler.state import journal  # this checkout has the journal: count what goes into it

        append, create = journal.LocalJournal.append, journal.LocalJournal.create

        def counted_append(self: Any, data: bytes) -> None:
            append(self, data)
            figures["journal_bytes"] += len(data)

        def counted_create(self: Any, data: bytes) -> None:
            create(self, data)
            figures["journal_bytes"] += len(data)

        journal.LocalJournal.append = counted_append  # type: ignore[method-assign]
        journal.LocalJournal.create = counted_create  # type: ignore[method-assign]
    except ImportError:
        pass
    sys.argv = ["reconciler", *argv]
    try:
        main()
    finally:
        span = (figures["last"] - figures["first"]) if figures["first"] else 0.0
        stats = {
            "calls": dict(calls),
            "transport": dict(totals),
            "held_seconds": round(figures["held"], 3),
            "write_phase_seconds": round(span, 3),
            "whole_state_writes": figures["writes"],
            "whole_state_bytes": figures["write_bytes"],
            "journal_bytes": figures["journal_bytes"],
        }
        stats_file.write_text(json.dumps(stats))


# -- the parent --------------------------------------------------------------------------------------------


def _emulator() -> Any:
    sys.path.insert(0, str(ROOT))
    from reconciler.emulator import process

    return process


def control(conn: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    import httpx

    ctx = ssl.create_default_context(cafile=conn["ca_file"])
    response = httpx.request(method, conn["control_url"] + path, json=body, verify=ctx, timeout=120)
    response.raise_for_status()
    return response.json() if response.content else None


def write_workspace(ws: Path, conn: dict[str, Any], n: int) -> None:
    shutil.rmtree(ws, ignore_errors=True)
    ws.mkdir(parents=True)
    config = (ROOT / "examples" / "quickstart" / "reconciler.yaml").read_text()
    # Every start in one plan: the default cap (4,000 queued or in progress) would hold the rest for a later plan.
    (ws / "reconciler.yaml").write_text(config + f"max_in_flight: {max(n, 1)}\n")
    (ws / ".reconciler").mkdir()
    (ws / ".reconciler" / "emulator.json").write_text(json.dumps(conn))
    src, dst = conn["tenants"]["source"]["domain"], conn["tenants"]["target"]["domain"]
    lines = ["user_mappings:"]
    for i in range(1, n + 1):
        lines += [f"  - source_upn: user{i:03d}@{src}", f"    target_upn: user{i:03d}@{dst}"]
    lines.append("user_migrations:")
    lines += [f"  - source_upn: user{i:03d}@{src}" for i in range(1, n + 1)]
    (ws / "spec.yaml").write_text("\n".join(lines) + "\n")


def run_cli(checkout: Path, args: list[str], stats: Path | None, log: Path, timeout: float) -> dict[str, Any]:
    """One CLI run of ``checkout``: exit code, wall seconds, peak RSS, its output, and its counted figures."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", str(stats), "--", *args]
    if stats is None:
        argv = [sys.executable, "-m", "reconciler", *args]
    env = {**os.environ, "PYTHONPATH": str(checkout), "NO_COLOR": "1"}
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(argv, env=env, cwd=checkout, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"{' '.join(args[:1])} timed out after {timeout:.0f} s: see {log}")
            time.sleep(0.05)
    wall = time.perf_counter() - start
    figures = json.loads(stats.read_text()) if stats is not None and stats.exists() else {}
    return {
        "exit": os.waitstatus_to_exitcode(status),
        "seconds": round(wall, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_bytes": usage.ru_maxrss * 1024,
        "output": log.read_text(),
        **figures,
    }


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux /proc), or None where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_checkout(
    name: str, checkout: Path, conn: dict[str, Any], work: Path, opts: argparse.Namespace, emulator_pid: int
) -> Any:
    control(conn, "POST", "/reset")
    control(conn, "PUT", "/faults", faults(opts))
    ws = work / f"ws-{name}"
    write_workspace(ws, conn, opts.n)
    plan_file = work / f"p-{name}.json"
    plan = run_cli(checkout, ["plan", str(ws), "-out", str(plan_file)], None, work / f"plan-{name}.log", opts.timeout)
    if plan["exit"] != 0:
        raise SystemExit(f"{name}: plan exited {plan['exit']}: see {work / f'plan-{name}.log'}")
    control(conn, "DELETE", "/counters")
    stats = work / f"apply-{name}.json"
    before = cpu_seconds(emulator_pid)
    applied = run_cli(checkout, ["apply", str(plan_file)], stats, work / f"apply-{name}.log", opts.timeout)
    after = cpu_seconds(emulator_pid)
    applied["emulator_cpu_seconds"] = round(after - before, 2) if before is not None and after is not None else None
    if applied["exit"] != 0:
        raise SystemExit(f"{name}: apply exited {applied['exit']}: see {work / f'apply-{name}.log'}")
    counters = control(conn, "GET", "/counters")
    per_source = Counter(task["source"].lower() for task in control(conn, "GET", "/tasks")["tasks"])
    if len(per_source) != opts.n or set(per_source.values()) != {1}:
        raise SystemExit(f"{name}: expected one task for each of {opts.n} sources, found {sum(per_source.values())}")
    again = run_cli(checkout, ["plan", str(ws)], None, work / f"replan-{name}.log", opts.timeout)
    if again["exit"] != 0 or "No changes." not in again["output"]:
        raise SystemExit(f"{name}: the plan after apply is not 'No changes.': see {work / f'replan-{name}.log'}")
    applied.pop("output")
    return {
        "plan_seconds": plan["seconds"],
        "apply": applied,
        "throttled_429": sum(v.get("429", 0) for v in counters.values() if isinstance(v, dict)),
        "replan_seconds": again["seconds"],
    }


def faults(opts: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"latency_ms": opts.latency_ms}
    if opts.rate_limit:
        body["rate_limit"] = {"per_second": opts.rate_limit, "burst": opts.burst or opts.rate_limit}
    return body


def sequential(conn: dict[str, Any], first: int, count: int) -> float:
    """One request per item, one after the other: a one-item delta PATCH per mapping; a GET and a POST per start."""
    import httpx

    sys.path.insert(0, str(ROOT))
    from reconciler.graph import paths

    ctx = ssl.create_default_context(cafile=conn["ca_file"])
    tokens = {}
    for role in ("source", "target"):
        t = conn["tenants"][role]
        answer = httpx.post(
            f"{conn['authority_base_url']}/{t['tenant_id']}/oauth2/v2.0/token",
            verify=ctx,
            data={
                "grant_type": "client_credentials",
                "client_id": t["client_id"],
                "client_secret": t["client_secret"],
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        tokens[role] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    src, dst = conn["tenants"]["source"]["domain"], conn["tenants"]["target"]["domain"]
    target_id = conn["tenants"]["target"]["tenant_id"]
    started = time.perf_counter()
    with httpx.Client(base_url=conn["graph_base_url"], verify=ctx, timeout=60) as http:
        for i in range(first, first + count):
            item = {
                "sourceUserIdentity": {"userPrincipalName": f"user{i:03d}@{src}"},
                "targetUserIdentity": {"userPrincipalName": f"user{i:03d}@{dst}"},
                "sourceOrganizationId": conn["tenants"]["source"]["tenant_id"],
            }
            body = {"@context": "#$delta", "value": [item]}
            http.patch(paths.USER_MAPPINGS, json=body, headers=tokens["target"]).raise_for_status()
        for i in range(first, first + count):
            upn = f"user{i:03d}@{src}"
            http.get(paths.task_by_user(upn), headers=tokens["source"])
            params = {
                "@odata.type": "#microsoft.graph.sharePointUserMigrationTaskParameters",
                "targetOrganizationId": target_id,
                "sourceUserIdentity": {"userPrincipalName": upn},
                "targetUserIdentity": {"userPrincipalName": f"user{i:03d}@{dst}"},
            }
            http.post(paths.TASKS, json={"parameters": params}, headers=tokens["source"]).raise_for_status()
    return time.perf_counter() - started


def floors(opts: argparse.Namespace) -> dict[str, Any]:
    n = opts.n
    requests = {"PATCH": math.ceil(n / 50), "POST task": n, "$batch": math.ceil(n / 20)}
    burst = opts.burst or opts.rate_limit
    target_tokens, source_tokens = requests["PATCH"], n + n  # each start: its POST and its re-read's member
    seconds = 0.0
    if opts.rate_limit:
        seconds = sum(max(0.0, (tokens - burst) / opts.rate_limit) for tokens in (target_tokens, source_tokens))
    return {"requests": requests, "write_phase_seconds": round(seconds, 2), "source_tokens": source_tokens}


def _per_start(seconds: float | None, n: int) -> str:
    return "n/a" if seconds is None else f"{seconds:.1f} s ({seconds * 1000 / max(n, 1):.2f})"


def _mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def report(results: dict[str, Any], floor: dict[str, Any], opts: argparse.Namespace) -> list[str]:
    names = list(results)
    width = 22
    lines = [f"{'':34}" + "".join(f"{n:>{width}}" for n in names)]

    def row(label: str, cell: Any) -> None:
        lines.append(f"{label:34}" + "".join(f"{cell(results[n]):>{width}}" for n in names))

    for endpoint, least in floor["requests"].items():
        row(
            f"{endpoint} requests (floor {least})",
            lambda r, e=endpoint, f=least: (
                f"{r['apply']['calls'].get(e, 0)} ({r['apply']['calls'].get(e, 0) / f:.3f}x)"
            ),
        )
    row("other requests", lambda r: str(r["apply"]["calls"].get("GET", 0)))
    row("429s answered", lambda r: str(r["throttled_429"]))
    row("seconds held by Retry-After", lambda r: f"{r['apply']['held_seconds']:.1f} s")
    fl = floor["write_phase_seconds"]
    row(
        f"write phase (floor {fl:.1f} s)",
        lambda r: (
            f"{r['apply']['write_phase_seconds']:.1f} s ({r['apply']['write_phase_seconds'] / fl:.2f}x)"
            if fl
            else f"{r['apply']['write_phase_seconds']:.1f} s"
        ),
    )
    row("whole-state writes", lambda r: f"{r['apply']['whole_state_writes']} ({_mib(r['apply']['whole_state_bytes'])})")
    row("journal bytes", lambda r: f"{r['apply']['journal_bytes'] / 2**20:.1f} MiB")
    row("apply wall time", lambda r: f"{r['apply']['seconds']:.1f} s")
    row("apply CPU (ms per start)", lambda r: _per_start(r["apply"]["cpu_seconds"], opts.n))
    row("emulator CPU in apply (ms/start)", lambda r: _per_start(r["apply"]["emulator_cpu_seconds"], opts.n))
    row("apply peak RSS", lambda r: _mib(r["apply"]["peak_rss_bytes"]))
    row("plan -out before (refresh)", lambda r: f"{r['plan_seconds']:.1f} s")
    row('plan after ("No changes.")', lambda r: f"{r['replan_seconds']:.1f} s")
    return lines


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), sys.argv[4:] if sys.argv[3:4] == ["--"] else sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="user mappings written and OneDrive tasks started")
    parser.add_argument("--latency-ms", type=int, default=20, help="added to every Graph request")
    parser.add_argument("--rate-limit", type=int, default=400, help="requests/s per app and tenant (0: none)")
    parser.add_argument("--burst", type=int, default=0, help="the bucket's size (default: one second's worth)")
    parser.add_argument("--sample", type=int, default=100, help="items timed for the sequential baseline")
    parser.add_argument("--baseline", type=Path, help="another checkout of the project to measure side by side")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per CLI step")
    opts = parser.parse_args()
    checkouts = {"this": ROOT}
    if opts.baseline is not None:
        if not (opts.baseline / "reconciler" / "__init__.py").is_file():
            parser.error(f"--baseline {opts.baseline}: not a checkout of the project (no reconciler/__init__.py)")
        checkouts["baseline"] = opts.baseline.resolve()
    process = _emulator()
    floor = floors(opts)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="apply-scale-") as tmp:
        work = Path(tmp)
        seed = work / "seed.yaml"
        users = opts.n + opts.sample
        seed.write_text(
            "tenants:\n"
            f"  - {{name: contoso, generate: {{users: {users}, sites: 10, groups: 10}}}}\n"
            f"  - {{name: fabrikam, generate: {{users: {users}, sites: 10, groups: 10}}}}\n"
            "trust: [{source: contoso, target: fabrikam}]\n"
            "engine: {queue_delay_seconds: 3600, duration_seconds: 3600}\n"
        )
        proc, conn = process.start_emulator(work, "--seed", str(seed), "--log-level", "critical", wait=180)
        try:
            for name, checkout in checkouts.items():
                results[name] = one_checkout(name, checkout, conn, work, opts, proc.pid)
            control(conn, "PUT", "/faults", faults(opts))
            sample = max(1, min(opts.sample, opts.n))
            seconds = sequential(conn, opts.n + 1, sample)
        finally:
            process.stop_emulator(proc)
    extrapolated = seconds * opts.n / sample
    print(
        f"n = {opts.n:,} user mappings + {opts.n:,} OneDrive starts; {opts.latency_ms} ms per request; token bucket "
        f"{opts.rate_limit}/s (burst {opts.burst or opts.rate_limit}) per tenant, each $batch member counted"
    )
    print(
        f"rate-limit floor of the write phase: max(0, ({floor['requests']['PATCH']} - burst) / rate) + max(0, "
        f"({floor['source_tokens']} - burst) / rate) = {floor['write_phase_seconds']:.1f} s"
    )
    print("\n".join(report(results, floor, opts)))
    print(
        f"sequential baseline, one request per item: {seconds:.1f} s for {sample} mappings + {sample} starts, "
        f"{extrapolated:.0f} s extrapolated to n ({extrapolated / results['this']['apply']['seconds']:.0f}x this apply)"
    )
    ratio = (
        results["this"]["apply"]["write_phase_seconds"] / floor["write_phase_seconds"]
        if floor["write_phase_seconds"]
        else 0
    )
    met = ratio <= TARGET
    print(f"target: write phase within {TARGET}x of its floor: {ratio:.2f}x, {'met' if met else 'MISSED'}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    document = {"n": opts.n, "floor": floor, "results": results, "sequential": {"sample": sample, "seconds": seconds}}
    (out / "apply_scale.json").write_text(json.dumps(document, indent=2) + "\n")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
