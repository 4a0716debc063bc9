"""Emulator throughput on loopback over HTTPS: single GETs, 50-item delta PATCHes and 20-request batches.

Starts ``reconciler emulator serve`` as a subprocess, takes a token for the target tenant, checks each
workload once for correctness, then drives it with N concurrent keep-alive connections for a fixed
time. The load generator is ``wrk`` when it is on PATH (a C client, so it is not the bottleneck), else
several Python processes with one ``httpx.Client`` per thread. Prints a table and writes the figures
to ``bench/results/latest.json``. All traffic goes to 127.0.0.1; every run is bounded in time.

Run with ``make bench`` or ``.venv/bin/python bench/emulator_throughput.py --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import re
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reconciler.emulator.process import emulator_running  # noqa: E402

DEFAULT_OUTPUT = REPO / "bench" / "results" / "latest.json"
MAPPINGS_PATH = "/solutions/sharePoint/migrations/crossOrganizationUserMappings"
TARGET_GETS_PER_SECOND = 1500.0
BATCH_SIZE = 20
PATCH_ITEMS = 50
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 10.0
SATURATED_PCT = 80.0


# -- workloads -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    method: str
    path: str  # absolute path on the emulator, e.g. /beta/solutions/...
    body: bytes | None
    inner_per_request: int = 1  # Graph requests carried by one HTTP request ($batch: 20)


def _upn(i: int, domain: str) -> str:
    return f"user{i:03d}@{domain}"


def _mapping_item(i: int, source: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    target_upn = _upn(i, target["domain"])
    return {
        "sourceOrganizationId": source["tenant_id"],
        "userType": "regularUser",
        "sourceUserIdentity": {"userPrincipalName": _upn(i, source["domain"])},
        "targetUserIdentity": {"userPrincipalName": target_upn},
        "targetUserMigrationData": {"email": target_upn},
    }


def _by_key(upn: str) -> str:
    return f"{MAPPINGS_PATH}(sourceUserPrincipalName='{upn}')"


def build_workloads(conn: dict[str, Any]) -> dict[str, Workload]:
    source, target = conn["tenants"]["source"], conn["tenants"]["target"]
    patch_body = {"@context": "#$delta", "value": [_mapping_item(i, source, target) for i in range(1, PATCH_ITEMS + 1)]}
    batch_body = {
        "requests": [
            {"id": str(i), "method": "GET", "url": _by_key(_upn(i, source["domain"]))} for i in range(1, BATCH_SIZE + 1)
        ]
    }
    workloads = [
        Workload(
            "get",
            "GET one user mapping by alternate key (sourceUserPrincipalName)",
            "GET",
            "/beta" + _by_key(_upn(1, source["domain"])),
            None,
        ),
        Workload(
            "patch50",
            f"PATCH delta upsert of {PATCH_ITEMS} user mappings",
            "PATCH",
            "/beta" + MAPPINGS_PATH,
            orjson.dumps(patch_body),
        ),
        Workload(
            "batch20",
            f"POST /beta/$batch with {BATCH_SIZE} inner GETs by alternate key",
            "POST",
            "/beta/$batch",
            orjson.dumps(batch_body),
            inner_per_request=BATCH_SIZE,
        ),
        # Not in the default set: the cheapest request the server answers (control API, no token check, no
        # OData), i.e. the floor that uvicorn, uvloop and TLS cost before any emulator logic runs.
        Workload("health", "GET /_emulator/health (transport floor; optional)", "GET", "/_emulator/health", None),
    ]
    return {w.name: w for w in workloads}


# -- results ----------------------------------------------------------------------------------------


@dataclass
class Result:
    workload: str
    description: str
    generator: str
    connections: int
    duration_s: float  # measured window
    requests: int  # completed HTTP requests (any status)
    requests_per_s: float
    inner_requests_per_s: float
    latency_mean_ms: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    errors: int  # socket errors and timeouts
    non_2xx: int
    server_cpu_pct: float | None  # emulator process CPU over the window, % of one core
    client_cpu_pct: float | None  # load generator CPU over the window, % of one core
    server_cpu_us_per_request: float | None  # emulator CPU time per HTTP request: 1e6 / this = one-core ceiling
    server_saturated: bool | None  # the emulator used >= SATURATED_PCT of its one core: the figure is its limit
    extra: dict[str, Any] = field(default_factory=dict)


def _percentile(sorted_values: list[float], pct: float) -> float | None:
    if not sorted_values:
        return None
    rank = min(len(sorted_values) - 1, max(0, round(pct / 100.0 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


class CpuMeter:
    """CPU seconds of the emulator (from /proc) and of our waited-for children (wrk, worker processes)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def server(self) -> float | None:
        try:
            stat = Path(f"/proc/{self.server_pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.ticks  # utime + stime

    @staticmethod
    def own() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    @staticmethod
    def children() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    @contextlib.contextmanager
    def measure(self) -> Iterator[dict[str, float | None]]:
        out: dict[str, float | None] = {}
        s0, c0, t0 = self.server(), self.children(), time.perf_counter()
        yield out
        s1, c1, wall = self.server(), self.children(), time.perf_counter() - t0
        out["server_s"] = None if s0 is None or s1 is None else s1 - s0
        out["server_pct"] = None if s0 is None or s1 is None else 100.0 * (s1 - s0) / wall
        out["client_pct"] = 100.0 * (c1 - c0) / wall


# -- wrk ---------------------------------------------------------------------------------------------

WRK_LUA = """
local function slurp(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end
wrk.method = "{method}"
wrk.path = slurp([==[{path_file}]==])
wrk.headers["Authorization"] = "Bearer " .. slurp([==[{token_file}]==])
wrk.headers["Accept"] = "application/json"
{body_lines}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "\\nBENCH_JSON {{\\"requests\\":%d,\\"duration_us\\":%d,\\"connect\\":%d,\\"read\\":%d,\\"write\\":%d," ..
    "\\"status\\":%d,\\"timeout\\":%d,\\"mean_us\\":%.1f,\\"p50_us\\":%d,\\"p99_us\\":%d,\\"max_us\\":%d}}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def _wrk_script(workdir: Path, workload: Workload, token_file: Path) -> Path:
    path_file = workdir / f"{workload.name}.path"
    path_file.write_text(workload.path)
    body_lines = ""
    if workload.body is not None:
        body_file = workdir / f"{workload.name}.body"
        body_file.write_bytes(workload.body)
        body_lines = f'wrk.body = slurp([==[{body_file}]==])\nwrk.headers["Content-Type"] = "application/json"'
    script = workdir / f"{workload.name}.lua"
    script.write_text(
        WRK_LUA.format(method=workload.method, path_file=path_file, token_file=token_file, body_lines=body_lines)
    )
    return script


def _wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10, check=False)
    lines = (out.stdout + out.stderr).strip().splitlines()
    return lines[0] if lines else "wrk"


def run_wrk(
    wrk: str, origin: str, workload: Workload, token_file: Path, workdir: Path, args: argparse.Namespace, duration: int
) -> dict[str, Any]:
    script = _wrk_script(workdir, workload, token_file)
    threads = max(1, min(args.threads, args.connections))
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{args.connections}",
        f"-d{duration}s",
        f"--timeout={int(REQUEST_TIMEOUT)}s",
        "-s",
        str(script),
        origin + "/",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + REQUEST_TIMEOUT + 30, check=False)
    match = re.search(r"^BENCH_JSON (\{.*\})$", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    raw: dict[str, Any] = json.loads(match.group(1))
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "requests": raw["requests"],
        "duration_s": raw["duration_us"] / 1e6,
        # wrk's latency histogram only holds requests that completed; without any they read 0.
        "mean_ms": raw["mean_us"] / 1000.0 if raw["requests"] else None,
        "p50_ms": raw["p50_us"] / 1000.0 if raw["requests"] else None,
        "p99_ms": raw["p99_us"] / 1000.0 if raw["requests"] else None,
        "max_ms": raw["max_us"] / 1000.0 if raw["requests"] else None,
        "errors": errors,
        "non_2xx": raw["status"],  # wrk counts responses with status >= 400; the emulator never redirects
        "extra": {"wrk_threads": threads, "wrk_errors": {k: raw[k] for k in ("connect", "read", "write", "timeout")}},
    }


# -- Python fallback -----------------------------------------------------------------------------------


def _client(ca_file: str) -> httpx.Client:
    return httpx.Client(
        verify=ssl.create_default_context(cafile=ca_file),
        http1=True,
        http2=False,
        timeout=REQUEST_TIMEOUT,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    )


def _python_worker(
    job: dict[str, Any], n_threads: int, start_at: float, stop_at: float, queue: multiprocessing.Queue[Any]
) -> None:
    """One process of the fallback generator: ``n_threads`` threads, each with its own keep-alive client."""
    lock = threading.Lock()
    latencies: list[float] = []
    totals = {"requests": 0, "errors": 0, "non_2xx": 0}
    first_start: list[float] = []
    last_end: list[float] = []
    headers = {"Authorization": f"Bearer {job['token']}", "Accept": "application/json"}
    if job["body"] is not None:
        headers["Content-Type"] = "application/json"
    url = job["origin"] + job["path"]

    def loop() -> None:
        mine: list[float] = []
        requests = errors = non_2xx = 0
        with _client(job["ca_file"]) as client:
            with contextlib.suppress(httpx.HTTPError):  # open the connection before the clock starts
                client.request("GET", job["origin"] + "/_emulator/health", headers=headers)
            time.sleep(max(0.0, start_at - time.time()))
            began = time.perf_counter()
            while time.time() < stop_at:
                t0 = time.perf_counter()
                try:
                    response = client.request(job["method"], url, headers=headers, content=job["body"])
                except httpx.HTTPError:
                    errors += 1
                    continue
                mine.append((time.perf_counter() - t0) * 1000.0)
                requests += 1
                if not 200 <= response.status_code < 300:
                    non_2xx += 1
            ended = time.perf_counter()
        with lock:
            latencies.extend(mine)
            totals["requests"] += requests
            totals["errors"] += errors
            totals["non_2xx"] += non_2xx
            first_start.append(began)
            last_end.append(ended)

    # With many I/O-bound threads the default 5 ms GIL switch interval makes threads queue behind each other.
    sys.setswitchinterval(0.0005)
    threads = [threading.Thread(target=loop, daemon=True) for _ in range(n_threads)]
    for t in threads:
        t.start()
    time.sleep(max(0.0, start_at - time.time()))
    cpu0 = CpuMeter.own()
    for t in threads:
        t.join(timeout=stop_at - time.time() + REQUEST_TIMEOUT + 5)
    cpu = CpuMeter.own() - cpu0
    window = (max(last_end) - min(first_start)) if first_start else 0.0
    queue.put({**totals, "latencies": latencies, "window": window, "cpu_s": cpu})


def run_python(
    origin: str, ca_file: str, token: str, workload: Workload, args: argparse.Namespace, duration: int, meter: CpuMeter
) -> dict[str, Any]:
    processes = max(1, min(args.processes or (os.cpu_count() or 1), args.connections))
    per_process = [
        args.connections // processes + (1 if i < args.connections % processes else 0) for i in range(processes)
    ]
    job = {
        "origin": origin,
        "ca_file": ca_file,
        "token": token,
        "method": workload.method,
        "path": workload.path,
        "body": workload.body,
    }
    ctx: Any = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    queue: multiprocessing.Queue[Any] = ctx.Queue()
    start_at = time.time() + 1.0 + 0.1 * processes  # time for every worker to connect first
    stop_at = start_at + duration
    workers = [ctx.Process(target=_python_worker, args=(job, n, start_at, stop_at, queue)) for n in per_process]
    for w in workers:
        w.start()
    time.sleep(max(0.0, start_at - time.time()))
    server0 = meter.server()
    parts = []
    deadline = stop_at + REQUEST_TIMEOUT + 30
    for _ in workers:
        parts.append(queue.get(timeout=max(1.0, deadline - time.time())))
    for w in workers:
        w.join(timeout=10)
        if w.is_alive():
            w.terminate()
            w.join()
    server1, wall = meter.server(), time.time() - start_at
    latencies = sorted(x for p in parts for x in p["latencies"])
    window = max((p["window"] for p in parts), default=0.0) or float(duration)
    return {
        "requests": sum(p["requests"] for p in parts),
        "duration_s": window,
        "mean_ms": sum(latencies) / len(latencies) if latencies else None,
        "p50_ms": _percentile(latencies, 50),
        "p99_ms": _percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else None,
        "errors": sum(p["errors"] for p in parts),
        "non_2xx": sum(p["non_2xx"] for p in parts),
        "server_cpu_s": None if server0 is None or server1 is None else server1 - server0,
        "server_cpu_pct": None if server0 is None or server1 is None else 100.0 * (server1 - server0) / wall,
        "client_cpu_pct": 100.0 * sum(p["cpu_s"] for p in parts) / wall,
        "extra": {"processes": processes, "threads_per_process": per_process},
    }


# -- the emulator -------------------------------------------------------------------------------------


def emulator(workdir: Path) -> contextlib.AbstractContextManager[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    return emulator_running(workdir, "--host", "127.0.0.1", "--log-level", "critical", wait=START_TIMEOUT)


def get_token(conn: dict[str, Any], verify: ssl.SSLContext) -> str:
    target = conn["tenants"]["target"]
    response = httpx.post(
        f"{conn['authority_base_url']}/{target['tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": target["client_id"],
            "client_secret": target["client_secret"],
            "scope": "https://graph.microsoft.com/.default",
        },
        verify=verify,
        timeout=REQUEST_TIMEOUT,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def check_workloads(origin: str, verify: ssl.SSLContext, token: str, workloads: dict[str, Workload]) -> None:
    """Send each workload once and check the answers, so the timed runs measure real successes."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "Content-Type": "application/json"}
    with httpx.Client(verify=verify, timeout=REQUEST_TIMEOUT) as client:

        def send(w: Workload) -> Any:
            response = client.request(w.method, origin + w.path, headers=headers, content=w.body)
            if response.status_code != 200:
                raise RuntimeError(f"{w.name}: {w.method} {w.path} answered {response.status_code}: {response.text}")
            return response.json()

        # The PATCH goes first: it creates the mappings that the GET and the batch read.
        patched = send(workloads["patch50"])
        failed = [v for v in patched.get("value", []) if "@Core.DataModificationException" in v]
        if len(patched.get("value", [])) != PATCH_ITEMS or failed:
            raise RuntimeError(f"patch50: unexpected delta answer: {str(patched)[:2000]}")
        got = send(workloads["get"])
        if not str(got.get("sourceUserIdentity", {}).get("userPrincipalName", "")).lower().startswith("user001@"):
            raise RuntimeError(f"get: unexpected mapping: {got}")
        batch = send(workloads["batch20"])
        statuses = [r.get("status") for r in batch.get("responses", [])]
        if len(statuses) != BATCH_SIZE or any(s != 200 for s in statuses):
            raise RuntimeError(f"batch20: inner statuses {statuses}: {str(batch)[:2000]}")


# -- main ------------------------------------------------------------------------------------------------


def _cpu_times() -> tuple[int, int] | None:
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def machine_busy(seconds: float = 1.0) -> float | None:
    """How busy the whole machine is before we start (% of all CPUs), to flag figures taken under other load."""
    first = _cpu_times()
    time.sleep(seconds)
    second = _cpu_times()
    if first is None or second is None or second[1] == first[1]:
        return None
    return 100.0 * (second[0] - first[0]) / (second[1] - first[1])


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_table(results: list[Result]) -> None:
    columns: list[tuple[str, Callable[[Result], str]]] = [
        ("workload", lambda r: r.workload),
        ("conns", lambda r: str(r.connections)),
        ("requests", lambda r: f"{r.requests:,}"),
        ("req/s", lambda r: _fmt(r.requests_per_s)),
        ("inner req/s", lambda r: _fmt(r.inner_requests_per_s)),
        ("mean ms", lambda r: _fmt(r.latency_mean_ms, 2)),
        ("p50 ms", lambda r: _fmt(r.latency_p50_ms, 2)),
        ("p99 ms", lambda r: _fmt(r.latency_p99_ms, 2)),
        ("errors", lambda r: str(r.errors)),
        ("non-2xx", lambda r: str(r.non_2xx)),
        ("server CPU%", lambda r: _fmt(r.server_cpu_pct, 0)),
        ("client CPU%", lambda r: _fmt(r.client_cpu_pct, 0)),
        ("server µs/req", lambda r: _fmt(r.server_cpu_us_per_request, 0)),
    ]
    rows = [[get(r) for _, get in columns] for r in results]
    widths = [max(len(name), *(len(row[i]) for row in rows)) for i, (name, _) in enumerate(columns)]
    line = "  ".join(name.ljust(widths[0]) if i == 0 else name.rjust(widths[i]) for i, (name, _) in enumerate(columns))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per workload (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed seconds per workload first (default 1; 0: none)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections (default 16)")
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk if on PATH (auto), or force one (default auto)",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1, leaving a core to the server)")
    parser.add_argument("--processes", type=int, default=0, help="Python fallback processes (default: CPU count)")
    parser.add_argument(
        "--workloads",
        default="get,patch50,batch20",
        help="comma-separated subset of get, patch50, batch20, health (default: the first three)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.duration > 600:
        parser.error("--duration must be between 1 and 600 seconds")
    if args.warmup < 0 or args.warmup > 60:
        parser.error("--warmup must be between 0 and 60 seconds")
    if args.connections < 1 or args.connections > 1024:
        parser.error("--connections must be between 1 and 1024")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    wanted = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = sorted(set(wanted) - {"get", "patch50", "batch20", "health"})
    if unknown or not wanted:
        parser.error(f"--workloads: unknown or empty: {', '.join(unknown) or '(none)'}")
    args.workload_names = wanted
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = shutil.which("wrk")
    if args.generator == "wrk" and wrk is None:
        print("--generator wrk: wrk is not on PATH (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    generator = "wrk" if wrk is not None and args.generator != "python" else "python"
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    busy_before = machine_busy()
    print(
        f"emulator throughput: generator={generator}"
        + ("" if generator == "wrk" else " (wrk not found; using Python processes)" if wrk is None else "")
        + f", connections={args.connections}, {args.duration} s per workload (+{args.warmup} s warm-up),"
        f" {os.cpu_count()} CPUs",
        flush=True,
    )
    if busy_before is not None and busy_before > 20.0:
        print(f"note: other processes already use {busy_before:.0f}% of this machine's CPUs; figures will be lower")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
        workdir = Path(tmp)
        with emulator(workdir) as (proc, conn):
            origin = conn["authority_base_url"].rstrip("/")
            if not origin.startswith("https://127.0.0.1:"):
                raise RuntimeError(f"refusing to load anything but 127.0.0.1: {origin}")
            verify = ssl.create_default_context(cafile=conn["ca_file"])
            token = get_token(conn, verify)
            token_file = workdir / "token"
            token_file.write_text(token)
            workloads = build_workloads(conn)
            check_workloads(origin, verify, token, workloads)
            meter = CpuMeter(proc.pid)

            def drive(w: Workload, seconds: int) -> dict[str, Any]:
                if generator == "wrk":
                    assert wrk is not None
                    return run_wrk(wrk, origin, w, token_file, workdir, args, seconds)
                return run_python(origin, conn["ca_file"], token, w, args, seconds, meter)

            for name in args.workload_names:
                w = workloads[name]
                if args.warmup:
                    drive(w, args.warmup)
                with meter.measure() as cpu:
                    raw = drive(w, args.duration)
                rate = raw["requests"] / raw["duration_s"] if raw["duration_s"] else 0.0
                server_s = raw.get("server_cpu_s", cpu["server_s"])
                server_pct = raw.get("server_cpu_pct", cpu["server_pct"])
                per_request = None if server_s is None or not raw["requests"] else 1e6 * server_s / raw["requests"]
                result = Result(
                    workload=w.name,
                    description=w.description,
                    generator=generator,
                    connections=args.connections,
                    duration_s=round(raw["duration_s"], 3),
                    requests=raw["requests"],
                    requests_per_s=round(rate, 1),
                    inner_requests_per_s=round(rate * w.inner_per_request, 1),
                    latency_mean_ms=raw["mean_ms"],
                    latency_p50_ms=raw["p50_ms"],
                    latency_p99_ms=raw["p99_ms"],
                    latency_max_ms=raw["max_ms"],
                    errors=raw["errors"],
                    non_2xx=raw["non_2xx"],
                    server_cpu_pct=_round(server_pct),
                    client_cpu_pct=_round(raw.get("client_cpu_pct", cpu["client_pct"])),
                    server_cpu_us_per_request=_round(per_request),
                    server_saturated=None if server_pct is None else server_pct >= SATURATED_PCT,
                    extra=raw["extra"],
                )
                results.append(result)
                print(
                    f"  {w.name}: {result.requests_per_s:,.1f} req/s, {result.errors} errors, {result.non_2xx} non-2xx",
                    flush=True,
                )
            if proc.poll() is not None:
                raise RuntimeError(f"the emulator died during the run (exit {proc.returncode})")

    print()
    print_table(results)
    for r in results:
        if r.server_saturated is False:
            print(
                f"note: {r.workload}: the emulator used only {r.server_cpu_pct:.0f}% of a core, so the load generator"
                f" (client CPU {r.client_cpu_pct:.0f}%) or other processes limited this figure"
                + ("; install wrk for the emulator's real limit" if r.generator == "python" else "")
            )
    get = next((r for r in results if r.workload == "get"), None)
    verdict = None
    if get is not None:
        verdict = get.requests_per_s >= TARGET_GETS_PER_SECOND and get.errors == 0 and get.non_2xx == 0
        print(
            f"\ntarget: >= {TARGET_GETS_PER_SECOND:,.0f} authenticated single GETs/s: "
            f"{'met' if verdict else 'NOT met'} ({get.requests_per_s:,.1f}/s)"
        )
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_busy_before_pct": _round(busy_before),
            "loadavg_1m_before": load_before,
            "loadavg_1m_after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        },
        "generator": generator,
        "wrk": _wrk_version(wrk) if generator == "wrk" and wrk is not None else None,
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "wrk_threads": args.threads if generator == "wrk" else None,
        },
        "target": {"workload": "get", "requests_per_s": TARGET_GETS_PER_SECOND, "met": verdict},
        "results": [asdict(r) for r in results],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"figures written to {args.output}")
    bad = sum(r.errors + r.non_2xx for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, httpx.HTTPError, subprocess.TimeoutExpired) as exc:
        print(f"emulator_throughput: {exc}", file=sys.stderr)
        sys.exit(1)
