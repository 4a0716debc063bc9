"""Status benchmark: ``reconciler status`` of 20,000 migrations in every format (text, JSON, Markdown, CSV, HTML).

1. starts the emulator with 20,000 users per tenant, its clock stopped, an engine of 6 h ± 50 % moves
   of which 3 % fail (spread over the eight failure kinds) and 1 % get stuck;
2. creates the 20,000 identity mappings, then the 20,000 tasks in four waves a day apart (the last
   wave with a latest start two hours on, 20 of its tasks held back by the control API so that they
   are overdue), and lets three more hours pass: waves 1-3 are finished, wave 4 is half done;
3. writes a workspace (CSV identity map, a CSV of user migrations per wave) and its state (the 20,000
   task ids), as ``apply`` would have;
4. runs the real CLI once per format, ``status WS --format F -o FILE``, timing it, reading its peak RSS
   (``os.wait4``) and the Graph requests the emulator answered (``$batch`` requests and their members),
   against the floor of one ``$batch`` per 20 tasks.

Checks: every run exits 0; JSON says 20,000 migrations with stuck, overdue and failed ones; the CSV has
20,001 lines; the HTML page is one file with no ``<script`` and no ``http`` fetch. Exit status 1 otherwise.

Run: ``.venv/bin/python bench/status_scale.py`` (``make bench-status``; ``--tasks N`` for a smaller run).
Figures go to ``bench/results/status_scale.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from graph_refresh import control, start, tenant  # noqa: E402

from reconciler.emulator.process import stop_emulator  # noqa: E402
from reconciler.graph.client import GraphClient, MappingWrite  # noqa: E402
from reconciler.graph.config import GraphSettings  # noqa: E402
from reconciler.graph.models import UserIdentity, UserIdentityMapping, UserTaskParameters, UserType  # noqa: E402
from reconciler.spec.desired import address  # noqa: E402
from reconciler.state.local import LocalBackend  # noqa: E402
from reconciler.state.model import ResourceState, State  # noqa: E402

FORMATS = ("text", "json", "markdown", "csv", "html")
KINDS = ["missing-mapping", "target-exists", "size-limit", "item-limit", "no-trust", "feature-disabled"]
KINDS += ["read-only", "on-hold"]
WAVES = 4
OVERDUE = 20
BATCH = 20  # Graph's $batch holds at most 20 requests


@dataclass
class Run:
    format: str
    exit_code: int = -1
    seconds: float = 0.0
    peak_rss_mib: float = 0.0
    batches: int = 0
    graph_ops: int = 0  # Graph operations, $batch members included
    output_bytes: int = 0
    problems: list[str] = field(default_factory=list)


def cli() -> list[str]:
    script = Path(sys.executable).with_name("reconciler")
    return [str(script)] if script.exists() else [sys.executable, "-m", "reconciler"]


def now_of(conn: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(control(conn, "GET", "/clock")["now"].replace("Z", "+00:00"))


async def populate(conn: dict[str, Any], tasks: int, settings: GraphSettings) -> dict[str, str]:
    """Mappings, then tasks wave by wave a day apart; task id by source UPN."""
    src, dst = conn["tenants"]["source"]["domain"], conn["tenants"]["target"]["domain"]
    source_id = conn["tenants"]["source"]["tenant_id"]
    ids: dict[str, str] = {}
    async with GraphClient(tenant(conn, "source"), tenant(conn, "target"), settings) as graph:
        writes = (
            MappingWrite(
                f"user{n:03d}@{src}",
                UserIdentityMapping(
                    source_organization_id=source_id,
                    user_type=UserType("regularUser"),
                    source_user_identity=UserIdentity(user_principal_name=f"user{n:03d}@{src}"),
                    target_user_identity=UserIdentity(user_principal_name=f"user{n:03d}@{dst}"),
                ),
            )
            for n in range(1, tasks + 1)
        )
        failed = [r async for r in graph.write_user_mappings(writes) if not r.ok]
        if failed:
            raise SystemExit(f"setup: {len(failed)} mapping writes failed: {failed[0].error}")
        per_wave = math.ceil(tasks / WAVES)
        for wave in range(WAVES):
            latest = now_of(conn) + timedelta(hours=2) if wave == WAVES - 1 else None
            starts = (
                (
                    n,
                    UserTaskParameters(
                        target_organization_id=conn["tenants"]["target"]["tenant_id"],
                        source_user_identity=UserIdentity(user_principal_name=f"user{n:03d}@{src}"),
                        target_user_identity=UserIdentity(user_principal_name=f"user{n:03d}@{dst}"),
                        preferred_latest_start_date_time=latest,
                    ),
                )
                for n in range(wave * per_wave + 1, min(tasks, (wave + 1) * per_wave) + 1)
            )
            async for n, result in graph.create_tasks(starts):
                if isinstance(result, Exception) or not result.id:
                    raise SystemExit(f"setup: the start of user{n:03d} failed: {result}")
                ids[f"user{n:03d}@{src}"] = result.id
            if wave < WAVES - 1:
                control(conn, "POST", "/clock/advance", {"seconds": 86400})
    return ids


def write_workspace(ws: Path, conn: dict[str, Any], ids: dict[str, str]) -> None:
    (ws / "specs").mkdir(parents=True)
    (ws / ".reconciler").mkdir()
    shutil.copy(REPO / "examples" / "large" / "reconciler.yaml", ws / "reconciler.yaml")
    (ws / ".reconciler" / "emulator.json").write_text(json.dumps(conn))
    src_id = conn["tenants"]["source"]["tenant_id"]
    dst = conn["tenants"]["target"]["domain"]
    upns = list(ids)
    (ws / "specs" / "identity-map.csv").write_text(
        "".join(f"User,{src_id},{u},{u.split('@')[0]}@{dst},{u.split('@')[0]}@{dst},regularUser\n" for u in upns)
    )
    per_wave = math.ceil(len(upns) / WAVES)
    files = ["  - path: identity-map.csv\n    format: identity_map\n"]
    for w in range(WAVES):
        chunk = upns[w * per_wave : (w + 1) * per_wave]
        (ws / "specs" / f"wave{w + 1}.csv").write_text("source_upn\n" + "".join(f"{u}\n" for u in chunk))
        files.append(f"  - path: wave{w + 1}.csv\n    format: user_migrations\n    wave: wave{w + 1}\n")
    waves = "".join(f"  - name: wave{w + 1}\n" for w in range(WAVES))
    (ws / "specs" / "migrations.yaml").write_text("csv_files:\n" + "".join(files) + "waves:\n" + waves)
    state = State(
        lineage=str(uuid.uuid4()),
        serial=1,
        resources={
            address("user_migration", upn): ResourceState(kind="user_migration", key=upn, task_id=task_id)
            for upn, task_id in ids.items()
        },
    )
    backend = LocalBackend(ws / ".reconciler" / "state.json")
    lock = backend.lock("bench")
    try:
        backend.write(state)
    finally:
        backend.release(lock)


def run(fmt: str, ws: Path, out: Path, conn: dict[str, Any], timeout: float) -> Run:
    result = Run(fmt)
    control(conn, "DELETE", "/counters")
    argv = [*cli(), "status", str(ws), "--format", fmt, "-o", str(out)]
    err = out.with_suffix(".err")
    with err.open("wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, stdin=subprocess.DEVNULL)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        result.seconds = time.perf_counter() - started
    result.exit_code = os.waitstatus_to_exitcode(status)
    proc.returncode = result.exit_code
    result.peak_rss_mib = usage.ru_maxrss / 1024
    for endpoint, by_status in control(conn, "GET", "/counters").items():
        n = sum(by_status.values())
        if endpoint == "batch":
            result.batches = n
        elif endpoint not in ("token", "authority"):
            result.graph_ops += n
    if result.exit_code != 0:
        result.problems.append(f"exit code {result.exit_code}: {err.read_text(errors='replace').strip()[-300:]}")
    elif out.exists():
        result.output_bytes = out.stat().st_size
    return result


def check(runs: dict[str, Run], files: dict[str, Path], tasks: int) -> dict[str, int]:
    """Problems go into the runs; returns the JSON report's counts."""
    counts: dict[str, int] = {}
    if runs["json"].exit_code == 0:
        doc = json.loads(files["json"].read_text())
        counts = {
            "total": doc["total"],
            "failed": doc["by_status"].get("failed", 0),
            "stuck": len(doc["stuck"]),
            "overdue": len(doc["overdue"]),
            "failure_groups": len(doc["failures"]),
            "days": len(doc["days"]),
        }
        if doc["total"] != tasks or not (counts["failed"] and counts["stuck"] and counts["overdue"]):
            runs["json"].problems.append(f"unexpected counts {counts}")
    if runs["csv"].exit_code == 0:
        lines = files["csv"].read_text().count("\n")
        if lines != tasks + 1:
            runs["csv"].problems.append(f"{lines} CSV lines, expected {tasks + 1}")
    if runs["html"].exit_code == 0:
        page = files["html"].read_text()
        if "<script" in page or 'src="http' in page or "<link" in page:
            runs["html"].problems.append("the page is not self-contained")
    if runs["markdown"].exit_code == 0 and len(files["markdown"].read_text()) >= 65536:
        runs["markdown"].problems.append("the Markdown report exceeds a GitHub comment")
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20_000, help="migrations (default 20,000)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a status run is killed")
    parser.add_argument("--keep", action="store_true", help="keep the workspace and the reports, print where")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "status_scale.json")
    args = parser.parse_args()
    tasks = args.tasks
    tmp = Path(tempfile.mkdtemp(prefix="status-scale-"))
    runs: dict[str, Run] = {}
    counts: dict[str, int] = {}
    try:
        proc, conn = start(tmp, tasks)
        try:
            control(conn, "PUT", "/clock", {"speed": 0})
            control(
                conn,
                "PATCH",
                "/engine",
                {
                    "queue_delay_seconds": 0,
                    "duration_seconds": 6 * 3600,
                    "duration_jitter": 0.5,
                    "failure_rate": 0.03,
                    "failure_kinds": KINDS,
                    "stuck_rate": 0.01,
                },
            )
            t0 = time.perf_counter()
            ids = asyncio.run(populate(conn, tasks, GraphSettings(max_concurrency=16)))
            for upn in list(ids)[-OVERDUE:]:
                control(conn, "POST", f"/tasks/{ids[upn]}/force", {"status": "notStarted"})
            control(conn, "POST", "/clock/advance", {"seconds": 3 * 3600})
            print(f"setup: {tasks} mappings and {tasks} tasks in {time.perf_counter() - t0:.1f} s", flush=True)
            ws = tmp / "ws"
            write_workspace(ws, conn, ids)
            files = {fmt: tmp / f"status.{fmt}" for fmt in FORMATS}
            for fmt in FORMATS:
                runs[fmt] = run(fmt, ws, files[fmt], conn, args.timeout)
                r = runs[fmt]
                print(f"{fmt}: {r.seconds:.1f} s, peak {r.peak_rss_mib:.0f} MiB, {r.output_bytes:,} bytes", flush=True)
            counts = check(runs, files, tasks)
        finally:
            stop_emulator(proc)
    finally:
        if args.keep:
            print(f"kept the workspace and the reports in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    floor = math.ceil(tasks / BATCH)
    ok = len(runs) == len(FORMATS) and not any(r.problems for r in runs.values())
    header = f"{'format':<9} {'seconds':>8} {'peak MiB':>9} {'$batch':>7} {'floor':>6} {'Graph ops':>10} {'bytes':>12}"
    print(f"\nstatus of {tasks} migrations; report: {counts}")
    print(header)
    print("-" * len(header))
    for r in runs.values():
        print(
            f"{r.format:<9} {r.seconds:>8.1f} {r.peak_rss_mib:>9.0f} {r.batches:>7} {floor:>6} {r.graph_ops:>10} "
            f"{r.output_bytes:>12,}"
        )
        for problem in r.problems:
            print(f"    {problem}")
    print("floor: one $batch of 20 reads per 20 tasks; Graph ops count $batch members.")
    print("result: " + ("ok" if ok else "FAILED"))
    report = {
        "tasks": tasks,
        "ok": ok,
        "floor_batches": floor,
        "counts": counts,
        "runs": [asdict(r) for r in runs.values()],
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
