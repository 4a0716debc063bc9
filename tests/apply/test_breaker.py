"""The circuit breaker end to end: the emulator dies mid-apply, apply stops within a minute, a rerun converges.

Each test runs its own emulator with ``--state`` so it can be killed and brought back with the same
tasks, mappings, secrets and CA.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.graph.errors import ServiceUnreachableError, UnreachableError
from reconciler.graph.network import Breaker
from tests.conftest import intents_in, run_cli, start_emulator, stop_emulator, tls

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
SLOW = {"latency_ms": 1000}


class Service:
    """One emulator process that can be killed and restarted from its state file."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.state = workdir / "emulator-state.json"
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn: dict[str, Any] = {}

    def start(self) -> None:
        self.proc, self.conn = start_emulator(self.workdir, "--state", str(self.state))

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def control(self, method: str, path: str, body: Any = None) -> Any:
        with httpx.Client(verify=tls(self.conn["ca_file"]), timeout=30) as http:
            response = http.request(method, self.conn["control_url"] + path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def sources(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for task in self.control("GET", "/tasks")["tasks"]:
            counts[task["source"]] = counts.get(task["source"], 0) + 1
        return counts


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(tmp_path)
    svc.start()
    # Tests set the engine to finish at once, so a rerun's plan reads settled tasks.
    svc.control("PUT", "/engine", {"queue_delay_seconds": 0, "duration_seconds": 0})
    try:
        yield svc
    finally:
        if svc.proc is not None and svc.proc.poll() is None:
            stop_emulator(svc.proc)


def _workspace(tmp_path: Path, service: Service) -> Path:
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(QUICKSTART, ws)
    (ws / ".reconciler").mkdir(exist_ok=True)
    _connect(ws, service)
    return ws


def _connect(ws: Path, service: Service) -> None:
    (ws / ".reconciler" / "emulator.json").write_text(json.dumps(service.conn))


def _apply_in_background(ws: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", str(ws), "--auto-approve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def _wait_for(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _journal(ws: Path) -> list[Any]:
    """Intents in flight: in the journal file while apply runs, in the state once it compacted the journal."""
    state_file = ws / ".reconciler" / "state.json"
    in_file = intents_in(ws / ".reconciler" / "state.json.journal")
    if in_file or not state_file.exists():
        return in_file
    journal: list[Any] = json.loads(state_file.read_text()).get("journal", [])
    return journal


def _restart_and_converge(ws: Path, service: Service) -> None:
    service.start()
    service.control("DELETE", "/faults")
    _connect(ws, service)  # a new port: the restarted emulator rewrote its connection file
    rerun = run_cli("apply", str(ws), "--auto-approve")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    final = run_cli("plan", str(ws), "--detailed-exitcode")
    assert final.returncode == 0, final.stdout + final.stderr
    assert "No changes." in final.stdout
    assert set(service.sources().values()) == {1}, "no source got a second task"
    assert len(service.sources()) == 8


def test_service_killed_during_the_starts_stops_apply_and_a_rerun_converges(tmp_path: Path, service: Service) -> None:
    ws = _workspace(tmp_path, service)
    service.control("PUT", "/faults", SLOW)
    proc = _apply_in_background(ws)
    _wait_for(lambda: bool(_journal(ws)), "the task starts' intents")
    time.sleep(0.3)  # the POSTs are on the wire, held by the service's latency
    service.kill()
    out, err = proc.communicate(timeout=120)
    # The breaker, not a timeout, ends it (the communicate timeout only guards against a hang).
    assert proc.returncode == 1, out + err
    assert "Traceback" not in err
    stopped = [line for line in err.splitlines() if "apply stopped" in line]
    assert len(stopped) == 1, err
    assert stopped[0].startswith("Error: cannot reach https://127.0.0.1:")
    assert "run apply again to continue" in stopped[0]
    assert "1 change not attempted" in stopped[0], "the validate-only pre-flight was never sent"
    failed = [line for line in err.splitlines() if line.startswith('Error: user_migration["')]
    addresses = [line.split(":", 2)[1] for line in failed]
    assert failed, err
    assert len(addresses) == len(set(addresses)), "each failure is listed once"
    assert "FAILED" not in out
    assert _journal(ws), "the starts' intents stay for the next run to resolve"
    _restart_and_converge(ws, service)


def test_service_killed_before_the_writes_leaves_them_not_attempted(tmp_path: Path, service: Service) -> None:
    ws = _workspace(tmp_path, service)
    service.control("PUT", "/faults", SLOW)
    proc = _apply_in_background(ws)
    # The refresh has read everything when the mapping PATCH is held by the latency: kill then.
    _wait_for(lambda: service.control("GET", "/counters").get("batch", {}) != {}, "the refresh", 60)
    time.sleep(0.4)
    service.kill()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "Traceback" not in err
    assert "22 changes not attempted" in err, err
    assert "Apply stopped: 0 failed, 22 not attempted." in out
    assert not (ws / ".reconciler" / "state.json.lock").exists()
    _restart_and_converge(ws, service)


def test_breaker_opens_after_its_window_and_stays_open() -> None:
    breaker = Breaker(0.2)
    refused = UnreachableError("https://h/beta", "connection refused", "check")
    breaker.succeeded()  # the endpoint has answered: the whole window applies
    assert breaker.failed(refused) is None
    breaker.succeeded()
    assert breaker.failed(refused) is None, "a success starts the window again"
    time.sleep(0.25)
    opened = breaker.failed(refused)
    assert isinstance(opened, ServiceUnreachableError)
    assert str(opened).startswith("cannot reach https://h/beta (connection refused, for 0 s)")
    breaker.succeeded()
    with pytest.raises(ServiceUnreachableError):
        breaker.check()


def test_a_failure_retrying_cannot_heal_opens_the_breaker_at_once() -> None:
    breaker = Breaker(30)
    tls_failure = UnreachableError("https://h/beta", "TLS verification failed", "check the CA", permanent=True)
    opened = breaker.failed(tls_failure)
    assert opened is not None
    assert opened.permanent
    assert str(opened) == "cannot reach https://h/beta (TLS verification failed): check the CA"


def test_the_client_fails_fast_once_the_breaker_is_open(emu: Any) -> None:
    import asyncio
    import socket

    from reconciler.graph.config import GraphSettings
    from tests.graph.conftest import client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = GraphSettings(breaker_seconds=1.0, backoff_base=0.05, backoff_cap=0.2, max_attempts=1000)

    async def scenario() -> tuple[int, int]:
        async with client(emu, settings, graph_base_url=f"https://127.0.0.1:{port}/beta") as graph:
            with pytest.raises(ServiceUnreachableError) as first:
                await graph.get_task("00000000-0000-0000-0000-000000000001")
            assert str(first.value).startswith(f"cannot reach https://127.0.0.1:{port}/beta (connection refused, for ")
            sent = graph.stats["requests"]
            with pytest.raises(ServiceUnreachableError):
                await graph.get_task("00000000-0000-0000-0000-000000000002")
            return sent, graph.stats["requests"]

    sent, after = asyncio.run(scenario())
    assert sent < settings.max_attempts, "the breaker, not the attempt limit, ended the retries"
    assert sent > 1, "the refused connection was retried within the window"
    assert after == sent, "nothing is sent once the breaker is open"
