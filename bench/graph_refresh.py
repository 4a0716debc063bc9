"""Refresh benchmark for the Graph client: 10,000 user mappings and 10,000 tasks, 20 ms per request.

Starts the emulator with a world of 10,000 users per tenant, creates the mappings and the tasks,
then turns on 20 ms of added latency per Graph request (inside ``$batch`` too, where Graph runs
members in parallel) and measures, in the same run:

* the client's batched refresh: ``get_user_mappings`` + ``find_tasks`` for all 20,000 keys, with the
  number of HTTP requests sent (target: at most 1.05 x ceil(20,000 / 20) = 1,050), wall time and
  peak memory;
* a baseline written the way an admin's PowerShell loop does it: one GET per key, one after the
  other (target: the client at least 20x faster).

Run: ``.venv/bin/python bench/graph_refresh.py`` (about 8 minutes, most of it the baseline; use
``--baseline-keys N`` to time the baseline on N keys and extrapolate).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reconciler.emulator.process import start_emulator, stop_emulator  # noqa: E402
from reconciler.graph import paths  # noqa: E402
from reconciler.graph.client import GraphClient, MappingWrite, TaskKey  # noqa: E402
from reconciler.graph.config import ClientSecret, GraphSettings, TenantConnection  # noqa: E402
from reconciler.graph.models import UserIdentity, UserIdentityMapping, UserTaskParameters  # noqa: E402


def start(workdir: Path, users: int) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    seed = workdir / "seed.yaml"
    seed.write_text(
        "tenants:\n"
        f"  - {{name: contoso, generate: {{users: {users}, sites: 10, groups: 10}}}}\n"
        f"  - {{name: fabrikam, generate: {{users: {users}, sites: 10, groups: 10}}}}\n"
        "trust: [{source: contoso, target: fabrikam}]\n"
        "engine: {queue_delay_seconds: 3600, duration_seconds: 3600}\n"
    )
    try:
        return start_emulator(workdir, "--seed", str(seed), "--log-level", "critical", wait=120)
    except RuntimeError as exc:
        raise SystemExit(f"the emulator did not start: {exc}") from None


def tenant(conn: dict[str, Any], role: str) -> TenantConnection:
    t = conn["tenants"][role]
    return TenantConnection(
        role=role,
        tenant_id=t["tenant_id"],
        credential=ClientSecret(t["client_id"], SecretStr(t["client_secret"])),
        authority_base_url=conn["authority_base_url"],
        graph_base_url=conn["graph_base_url"],
        ca_file=Path(conn["ca_file"]),
    )


def control(conn: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    ctx = ssl.create_default_context(cafile=conn["ca_file"])
    response = httpx.request(method, conn["control_url"] + path, json=body, verify=ctx, timeout=60)
    response.raise_for_status()
    return response.json()


async def setup(conn: dict[str, Any], users: int, settings: GraphSettings) -> None:
    src, dst = conn["tenants"]["source"]["domain"], conn["tenants"]["target"]["domain"]
    async with GraphClient(tenant(conn, "source"), tenant(conn, "target"), settings) as graph:
        writes = (
            MappingWrite(
                f"user{n:03d}@{src}",
                UserIdentityMapping(
                    source_user_identity=UserIdentity(user_principal_name=f"user{n:03d}@{src}"),
                    target_user_identity=UserIdentity(user_principal_name=f"user{n:03d}@{dst}"),
                ),
            )
            for n in range(1, users + 1)
        )
        failed = [r async for r in graph.write_user_mappings(writes) if not r.ok]
        if failed:
            raise SystemExit(f"setup: {len(failed)} mapping writes failed: {failed[0].error}")
        starts = (
            (
                n,
                UserTaskParameters(
                    target_organization_id=conn["tenants"]["target"]["tenant_id"],
                    source_user_identity=UserIdentity(user_principal_name=f"user{n:03d}@{src}"),
                    target_user_identity=UserIdentity(user_principal_name=f"user{n:03d}@{dst}"),
                ),
            )
            for n in range(1, users + 1)
        )
        errors = [r async for _, r in graph.create_tasks(starts) if isinstance(r, Exception)]
        if errors:
            raise SystemExit(f"setup: {len(errors)} task starts failed: {errors[0]}")


async def refresh(conn: dict[str, Any], users: int, settings: GraphSettings) -> dict[str, Any]:
    src = conn["tenants"]["source"]["domain"]
    keys = [f"user{n:03d}@{src}" for n in range(1, users + 1)]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    async with GraphClient(tenant(conn, "source"), tenant(conn, "target"), settings) as graph:
        # Tokens first, so the figures are the refresh itself.
        await graph.transport.channels["source"].provider.token()
        await graph.transport.channels["target"].provider.token()
        started = time.perf_counter()

        async def mappings() -> int:
            found = [m async for _, m in graph.get_user_mappings(keys)]
            return sum(1 for m in found if m is not None and not isinstance(m, Exception))

        async def tasks() -> int:
            found = [t async for _, t in graph.find_tasks(TaskKey("user", k) for k in keys)]
            return sum(1 for t in found if t is not None and not isinstance(t, Exception))

        found_mappings, found_tasks = await asyncio.gather(mappings(), tasks())
        elapsed = time.perf_counter() - started
        stats = graph.stats
    # ru_maxrss is the process's peak; tracemalloc would slow the very thing being timed.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": elapsed,
        "mappings_found": found_mappings,
        "tasks_found": found_tasks,
        "http_requests": stats["requests"],
        "batches": stats["batches"],
        "retries": stats["retries"],
        "peak_rss_mib": peak,
        "rss_before_mib": rss_before,
    }


def baseline(conn: dict[str, Any], keys: int) -> float:
    """One GET per key, sequentially, like ``foreach ($u in $users) { Invoke-MgGraphRequest ... }``."""
    ctx = ssl.create_default_context(cafile=conn["ca_file"])
    tokens = {}
    for role in ("source", "target"):
        t = conn["tenants"][role]
        r = httpx.post(
            f"{conn['authority_base_url']}/{t['tenant_id']}/oauth2/v2.0/token",
            verify=ctx,
            data={
                "grant_type": "client_credentials",
                "client_id": t["client_id"],
                "client_secret": t["client_secret"],
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        tokens[role] = r.json()["access_token"]
    src = conn["tenants"]["source"]["domain"]
    half = keys // 2
    started = time.perf_counter()
    with httpx.Client(base_url=conn["graph_base_url"], verify=ctx, timeout=60) as http:
        for n in range(1, half + 1):
            upn = f"user{n:03d}@{src}"
            http.get(paths.user_mapping(upn), headers={"Authorization": f"Bearer {tokens['target']}"})
        for n in range(1, keys - half + 1):
            upn = f"user{n:03d}@{src}"
            http.get(paths.task_by_user(upn), headers={"Authorization": f"Bearer {tokens['source']}"})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000, help="mappings and tasks each (default 10,000)")
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--baseline-keys",
        type=int,
        default=None,
        help="time the sequential baseline on this many keys and extrapolate (default: all)",
    )
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "graph_refresh.json")
    args = parser.parse_args()
    settings = GraphSettings(max_concurrency=args.concurrency)
    with tempfile.TemporaryDirectory() as tmp:
        proc, conn = start(Path(tmp), args.users)
        try:
            t0 = time.perf_counter()
            asyncio.run(setup(conn, args.users, settings))
            print(f"setup: {args.users} mappings and {args.users} tasks in {time.perf_counter() - t0:.1f} s")
            control(conn, "PUT", "/faults", {"latency_ms": args.latency_ms})
            control(conn, "DELETE", "/counters")
            result = refresh(conn, args.users, settings)
            figures = asyncio.run(result)
            counters = control(conn, "GET", "/counters")
            total_keys = 2 * args.users
            baseline_keys = args.baseline_keys or total_keys
            base_seconds = baseline(conn, baseline_keys)
            base_full = base_seconds * total_keys / baseline_keys
        finally:
            stop_emulator(proc)
    target_requests = 1.05 * math.ceil(total_keys / 20)
    speedup = base_full / figures["seconds"]
    report = {
        "keys": total_keys,
        "latency_ms": args.latency_ms,
        "concurrency": args.concurrency,
        "client": figures,
        "emulator_batches": counters.get("batch", {}),
        "target_max_requests": target_requests,
        "requests_ok": figures["http_requests"] <= target_requests,
        "baseline_keys_timed": baseline_keys,
        "baseline_seconds": base_full,
        "speedup": speedup,
        "speedup_ok": speedup >= 20,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"refresh of {total_keys} keys ({args.users} mappings + {args.users} tasks), {args.latency_ms} ms per request"
    )
    client_figures = (
        f"{figures['seconds']:.2f} s, {figures['http_requests']} HTTP requests ({figures['batches']} batches, "
        f"{figures['retries']} retries), found {figures['mappings_found']} mappings and {figures['tasks_found']} "
        f"tasks, peak RSS {figures['peak_rss_mib']:.0f} MiB (before the refresh: {figures['rss_before_mib']:.0f} MiB)"
    )
    print(f"  client:   {client_figures}")
    print(f"  target:   <= {target_requests:.0f} requests -> {'met' if report['requests_ok'] else 'MISSED'}")
    how = "" if baseline_keys == total_keys else f" (timed on {baseline_keys} keys, extrapolated)"
    print(f"  baseline: {base_full:.1f} s sequential, one GET per key{how}")
    print(f"  speedup:  {speedup:.1f}x (target >= 20x) -> {'met' if report['speedup_ok'] else 'MISSED'}")


if __name__ == "__main__":
    main()
