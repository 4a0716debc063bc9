"""Export and adoption benchmark: ``reconciler export`` of 10,000 keys, then ``apply`` adopts and ``plan`` is clean.

Proves and measures issue 7's "``reconciler export`` ... works for 10,000 keys, and plan then shows
No changes after adoption" on a brownfield estate:

1. starts the emulator with 10,000 users per tenant and creates 10,000 user mappings and 10,000 user
   migration tasks through the Graph client, as an admin's PowerShell would have (the functions of
   ``bench/graph_refresh.py``);
2. makes a workspace: ``examples/quickstart/reconciler.yaml`` only (no spec files), wired to the
   emulator by ``.reconciler/emulator.json``, and a keys CSV of the 10,000 source UPNs;
3. runs the real CLI, one child process per step, timing each and reading its peak RSS with
   ``os.wait4``: ``export WS --keys keys.csv``, ``validate WS``, ``apply WS --auto-approve`` (which
   adopts), ``state list -w WS`` and ``plan WS --detailed-exitcode``, which must exit 0 and say
   ``No changes.``.

Checks: the CSV has 10,000 mapping rows, ``exported.yaml`` 10,000 user migrations, the state 20,000
addresses (10,000 of each kind). Exit status 1 if a step fails or a count is wrong.

Run: ``.venv/bin/python bench/export_adopt.py`` (``make bench-export``). Figures go to
``bench/results/export_adopt.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from graph_refresh import control, setup, start, tenant  # noqa: E402

from reconciler.emulator.process import stop_emulator  # noqa: E402
from reconciler.graph.client import GraphClient, MappingWrite  # noqa: E402
from reconciler.graph.config import GraphSettings  # noqa: E402
from reconciler.graph.models import UserIdentity, UserIdentityMapping, UserType  # noqa: E402


@dataclass
class Step:
    name: str
    argv: list[str]
    exit_code: int = -1
    seconds: float = 0.0
    peak_rss_mib: float = 0.0
    batches: int = 0  # $batch HTTP requests the emulator answered
    graph_ops: int = 0  # Graph operations, batch members included
    auth_requests: int = 0  # token and authority (discovery) requests to the identity platform
    stdout: str = ""
    stderr: str = ""
    phases: dict[str, float] = field(default_factory=dict)  # "Refreshing: ... done in 9.9s" and the like
    summary: dict[str, int] = field(default_factory=dict)  # apply's "Apply complete!" counts
    problems: list[str] = field(default_factory=list)


def cli() -> list[str]:
    """The installed console script next to this interpreter (as a user runs it), else ``-m reconciler``."""
    script = Path(sys.executable).with_name("reconciler")
    return [str(script)] if script.exists() else [sys.executable, "-m", "reconciler"]


def run_step(step: Step, cwd: Path, logs: Path, conn: dict[str, Any], timeout: float) -> Step:
    """Runs one CLI child; wall time, exit code and its own peak RSS (``os.wait4``), emulator counters."""
    control(conn, "DELETE", "/counters")
    out_path, err_path = logs / f"{step.name}.out", logs / f"{step.name}.err"
    env = {**os.environ, "NO_COLOR": "1"}
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(step.argv, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        step.seconds = time.perf_counter() - started
    step.exit_code = os.waitstatus_to_exitcode(status)
    proc.returncode = step.exit_code  # reaped by wait4; tell Popen so it does not wait again
    step.peak_rss_mib = usage.ru_maxrss / 1024  # KiB on Linux
    step.stdout = out_path.read_text(errors="replace")
    step.stderr = err_path.read_text(errors="replace")
    counters: dict[str, dict[str, int]] = control(conn, "GET", "/counters")
    for endpoint, by_status in counters.items():
        n = sum(by_status.values())
        if endpoint == "batch":
            step.batches = n
        elif endpoint in ("token", "authority"):
            step.auth_requests += n
        else:
            step.graph_ops += n
    for phase, seconds in re.findall(r"^(\w+): \d+ done in ([\d.]+)s$", step.stderr, re.MULTILINE):
        step.phases[phase.lower()] = float(seconds)
    if step.exit_code != 0:
        step.problems.append(f"exit code {step.exit_code}")
    return step


async def complete_mappings(conn: dict[str, Any], users: int, settings: GraphSettings) -> None:
    """Upserts every mapping again with ``userType`` and ``sourceOrganizationId``, which ``setup`` leaves out."""
    src, dst = conn["tenants"]["source"]["domain"], conn["tenants"]["target"]["domain"]
    async with GraphClient(tenant(conn, "source"), tenant(conn, "target"), settings) as graph:
        writes = (
            MappingWrite(
                f"user{n:03d}@{src}",
                UserIdentityMapping(
                    source_organization_id=conn["tenants"]["source"]["tenant_id"],
                    user_type=UserType("regularUser"),
                    source_user_identity=UserIdentity(user_principal_name=f"user{n:03d}@{src}"),
                    target_user_identity=UserIdentity(user_principal_name=f"user{n:03d}@{dst}"),
                ),
            )
            for n in range(1, users + 1)
        )
        failed = [r async for r in graph.write_user_mappings(writes) if not r.ok]
        if failed:
            raise SystemExit(f"setup: {len(failed)} mapping updates failed: {failed[0].error}")


def write_workspace(ws: Path, conn: dict[str, Any], users: int) -> Path:
    ws.mkdir(parents=True)
    shutil.copy(REPO / "examples" / "quickstart" / "reconciler.yaml", ws / "reconciler.yaml")
    (ws / ".reconciler").mkdir()
    (ws / ".reconciler" / "emulator.json").write_text(json.dumps(conn))
    keys = ws.parent / "keys.csv"
    src = conn["tenants"]["source"]["domain"]
    keys.write_text("".join(f"user{n:03d}@{src}\n" for n in range(1, users + 1)))
    return keys


def check_export(step: Step, ws: Path, users: int) -> None:
    missing = [name for name in ("exported-identity-map.csv", "exported.yaml") if not (ws / name).is_file()]
    if missing:
        step.problems.append(f"export did not write {', '.join(missing)}")
        return
    rows = list(csv.reader((ws / "exported-identity-map.csv").open(newline="", encoding="utf-8")))
    user_rows = sum(1 for r in rows if r and r[0] == "User")
    if user_rows != users or len(rows) != users:
        step.problems.append(f"exported-identity-map.csv has {user_rows} user rows of {len(rows)}, expected {users}")
    spec = yaml.load((ws / "exported.yaml").read_text(), Loader=yaml.CSafeLoader)
    migrations = len(spec.get("user_migrations") or [])
    others = len(spec.get("site_migrations") or []) + len(spec.get("group_migrations") or [])
    if migrations != users or others:
        step.problems.append(f"exported.yaml has {migrations} user migrations and {others} others, expected {users}")
    expected = f"Export complete! {users} mappings, {users} migrations"
    if expected not in step.stdout + step.stderr:
        step.problems.append(f"no {expected!r} in the output")


def read_summary(step: Step) -> None:
    """``Apply complete! 0 created, 10000 updated, ..., 10000 adopted.`` as counts by action."""
    match = re.search(r"Apply complete! (.*)\.", step.stdout)
    if match is None:
        step.problems.append("no 'Apply complete!' line in the output")
        return
    for part in match.group(1).split(","):
        count, _, action = part.strip().partition(" ")
        step.summary[action] = int(count)


def check_state(step: Step, users: int) -> None:
    addresses = step.stdout.splitlines()
    by_kind = {
        kind: sum(1 for a in addresses if a.startswith(kind + "[")) for kind in ("user_mapping", "user_migration")
    }
    if len(addresses) != 2 * users or any(n != users for n in by_kind.values()):
        step.problems.append(f"the state holds {len(addresses)} addresses ({by_kind}), expected {users} of each kind")


def check_plan(step: Step) -> None:
    if "No changes." not in step.stdout:
        step.problems.append("the plan does not say 'No changes.'")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000, help="mappings and tasks each, = keys (default 10,000)")
    parser.add_argument("--latency-ms", type=int, default=0, help="added latency per Graph request for the CLI steps")
    parser.add_argument(
        "--complete-mappings",
        action="store_true",
        help="give the mappings userType and sourceOrganizationId too, so that apply only adopts",
    )
    parser.add_argument("--step-timeout", type=float, default=1800, help="seconds before a step is killed")
    parser.add_argument("--keep", action="store_true", help="keep the workspace and the step logs, print where")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "export_adopt.json")
    args = parser.parse_args()
    users = args.users
    tmp = Path(tempfile.mkdtemp(prefix="export-adopt-"))
    steps: list[Step] = []
    try:
        proc, conn = start(tmp, users)
        try:
            t0 = time.perf_counter()
            asyncio.run(setup(conn, users, GraphSettings(max_concurrency=16)))
            if args.complete_mappings:
                asyncio.run(complete_mappings(conn, users, GraphSettings(max_concurrency=16)))
            setup_seconds = time.perf_counter() - t0
            print(f"setup: {users} mappings and {users} tasks in {setup_seconds:.1f} s", flush=True)
            if args.latency_ms:
                control(conn, "PUT", "/faults", {"latency_ms": args.latency_ms})
            ws = tmp / "ws"
            keys = write_workspace(ws, conn, users)
            logs = tmp / "logs"
            logs.mkdir()
            rc = cli()
            plan = [
                ("export", [*rc, "export", str(ws), "--keys", str(keys)]),
                ("validate", [*rc, "validate", str(ws)]),
                ("apply", [*rc, "apply", str(ws), "--auto-approve"]),
                ("state list", [*rc, "state", "list", "-w", str(ws)]),
                ("plan", [*rc, "plan", str(ws), "--detailed-exitcode"]),
            ]
            for name, argv in plan:
                step = run_step(Step(name, argv), tmp, logs, conn, args.step_timeout)
                steps.append(step)
                if name == "export" and step.exit_code == 0:
                    check_export(step, ws, users)
                elif name == "apply" and step.exit_code == 0:
                    read_summary(step)
                elif name == "state list":
                    check_state(step, users)
                elif name == "plan":
                    check_plan(step)
                mark = "ok" if not step.problems else "FAILED: " + "; ".join(step.problems)
                print(f"{name}: {step.seconds:.1f} s, peak {step.peak_rss_mib:.0f} MiB, {mark}", flush=True)
                if step.problems:
                    for line in (step.stdout + step.stderr).strip().splitlines()[-15:]:
                        print(f"    {line}")
                    break
        finally:
            stop_emulator(proc)
    finally:
        if args.keep:
            print(f"kept the workspace and the logs in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    ok = len(steps) == 5 and not any(s.problems for s in steps)
    header = (
        f"{'step':<11} {'seconds':>8} {'refresh s':>10} {'apply s':>8} {'peak MiB':>9} {'$batch':>7} "
        f"{'Graph ops':>10} {'exit':>5}"
    )
    print(f"\nexport and adoption of {users} keys ({users} mappings + {users} tasks), {args.latency_ms} ms per request")
    print(header)
    print("-" * len(header))
    for s in steps:
        refreshing, applying = s.phases.get("refreshing"), s.phases.get("applying")
        print(
            f"{s.name:<11} {s.seconds:>8.1f} {'' if refreshing is None else f'{refreshing:.1f}':>10} "
            f"{'' if applying is None else f'{applying:.1f}':>8} {s.peak_rss_mib:>9.0f} {s.batches:>7} "
            f"{s.graph_ops:>10} {s.exit_code:>5}"
        )
    print("refresh s and apply s: the phases the command itself reports on standard error.")
    print("Graph ops count the members of each $batch; token and discovery requests are left out.")
    apply_step = next((s for s in steps if s.name == "apply"), None)
    if apply_step is not None and apply_step.summary:
        done = ", ".join(f"{n} {action}" for action, n in apply_step.summary.items() if n)
        print(f"apply: {done}")
        if apply_step.summary.get("updated"):
            print(
                "  (mappings without userType or sourceOrganizationId are written again with the defaults the export\n"
                "  filled in: an update, not an adoption; --complete-mappings makes the estate complete first)"
            )
    verdict = (
        f"met: export wrote {users} + {users} objects, the state holds {2 * users} addresses, plan says No changes."
    )
    print("result: " + (verdict if ok else "FAILED"))
    report = {
        "users": users,
        "latency_ms": args.latency_ms,
        "complete_mappings": args.complete_mappings,
        "setup_seconds": setup_seconds,
        "ok": ok,
        "steps": [{k: v for k, v in asdict(s).items() if k not in ("stdout", "stderr")} for s in steps],
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
