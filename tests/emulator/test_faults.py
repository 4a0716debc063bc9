"""Fault injection: token-bucket throttling, random faults, latency, dropped connections, rules."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TASKS, USER_MAPPINGS, Emulator


def _mapping_get(emu: Emulator) -> httpx.Response:
    return emu.graph("GET", f"{USER_MAPPINGS}(sourceUserPrincipalName='user001@{emu.source['domain']}')", "target")


def test_rate_limit_answers_429_with_integer_retry_after(emu: Emulator) -> None:
    emu.control("PUT", "/faults", {"rate_limit": {"per_second": 1, "burst": 2}})
    statuses = [_mapping_get(emu).status_code for _ in range(4)]
    assert statuses[:2] == [404, 404]
    assert 429 in statuses[2:]
    throttled = _mapping_get(emu)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"].isdigit()
    assert int(throttled.headers["Retry-After"]) >= 1
    body = throttled.json()["error"]
    assert body["code"] == "TooManyRequests"
    assert set(body["innerError"]) >= {"date", "request-id", "client-request-id"}


def test_rate_limit_is_per_tenant_and_app(emu: Emulator) -> None:
    emu.control("PUT", "/faults", {"rate_limit": {"per_second": 0.1, "burst": 1}})
    assert _mapping_get(emu).status_code == 404
    assert _mapping_get(emu).status_code == 429
    # The source tenant's app has its own bucket.
    r = emu.graph("GET", f"{TASKS}/00000000-0000-0000-0000-000000000000", "source")
    assert r.status_code == 404


def test_random_faults_at_rate_one_use_the_configured_statuses(emu: Emulator) -> None:
    emu.control("PUT", "/faults", {"seed": 7, "random": {"rate": 1.0, "statuses": [503], "retry_after": 2.5}})
    r = _mapping_get(emu)
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "2.500"
    assert r.json()["error"]["code"] == "serviceNotAvailable"
    emu.control("PUT", "/faults", {"random": {"rate": 1.0, "statuses": [504]}})
    r = _mapping_get(emu)
    assert r.status_code == 504
    assert "Retry-After" not in r.headers


def test_faults_never_touch_the_token_endpoint_or_control_api(emu: Emulator) -> None:
    emu.control("PUT", "/faults", {"random": {"rate": 1.0, "statuses": [503]}})
    from tests.conftest import msal_token

    assert "access_token" in msal_token(emu.conn, "target")
    assert emu.control("GET", "/health")["status"] == "ok"


def test_latency_is_added(emu: Emulator) -> None:
    # Shown through a client timeout, not a stopwatch: with 3 s of injected latency a 0.5 s read
    # timeout expires; without it the same request answers.
    path = f"{USER_MAPPINGS}(sourceUserPrincipalName='user001@{emu.source['domain']}')"
    assert emu.graph("GET", path, "target", timeout=0.5).status_code == 404
    emu.control("PUT", "/faults", {"latency_ms": 3000})
    with pytest.raises(httpx.ReadTimeout):
        emu.graph("GET", path, "target", timeout=0.5)
    emu.control("DELETE", "/faults")
    assert emu.graph("GET", path, "target", timeout=0.5).status_code == 404


def test_drop_after_applies_the_write_but_loses_the_answer(emu: Emulator) -> None:
    emu.map_user(f"user001@{emu.source['domain']}")
    emu.control(
        "PUT",
        "/faults",
        {"rules": [{"method": "POST", "path": "crossOrganizationMigrationTasks$", "action": "drop_after", "count": 1}]},
    )
    with pytest.raises(httpx.TransportError):
        emu.graph("POST", TASKS, json=emu.user_task(1))
    # The ambiguous case: the task exists although the client never heard back.
    found = emu.graph(
        "GET", f"{TASKS}/getBySourceUserPrincipalName(sourcePrincipalName='user001@{emu.source['domain']}')"
    )
    assert found.status_code == 200
    assert found.json()["status"] == "notStarted"
    assert emu.control("GET", "/counters")["dropped"] == {"0": 1}


def test_drop_before_changes_nothing(emu: Emulator) -> None:
    emu.map_user(f"user002@{emu.source['domain']}")
    emu.control("PUT", "/faults", {"drop_rate": 1.0, "drop_phase": "before"})
    with pytest.raises(httpx.TransportError):
        emu.graph("POST", TASKS, json=emu.user_task(2))
    emu.control("DELETE", "/faults")
    found = emu.graph(
        "GET", f"{TASKS}/getBySourceUserPrincipalName(sourcePrincipalName='user002@{emu.source['domain']}')"
    )
    assert found.status_code == 404


def test_rules_apply_to_the_next_n_matching_requests_only(emu: Emulator) -> None:
    emu.control(
        "PUT",
        "/faults",
        {"rules": [{"method": "GET", "path": "UserMappings", "status": 503, "retry_after": 1, "count": 2}]},
    )
    assert [_mapping_get(emu).status_code for _ in range(3)] == [503, 503, 404]


def test_faults_can_be_set_at_start(tmp_path: object) -> None:
    from pathlib import Path

    from tests.conftest import start_emulator, stop_emulator

    assert isinstance(tmp_path, Path)
    proc, conn = start_emulator(tmp_path, "--faults", '{"random": {"rate": 1.0, "statuses": [429], "retry_after": 3}}')
    try:
        from tests.conftest import Emulator as E

        e = E(conn)
        try:
            r = _mapping_get(e)
            assert r.status_code == 429
            assert r.headers["Retry-After"] == "3"
            assert e.control("GET", "/faults")["random"]["rate"] == 1.0
        finally:
            e.close()
    finally:
        stop_emulator(proc)
