"""The engine's stuck tasks and named failure kinds (seeded, forced, random), and the Date header that
follows the emulated clock: what ``reconciler status`` needs to be tested against."""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TASKS, Emulator, start_emulator, stop_emulator


@pytest.fixture
def frozen(emu: Emulator) -> Emulator:
    emu.control("PUT", "/clock", {"speed": 0})
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 0, "duration_seconds": 400, "duration_jitter": 0})
    return emu


def _start(emu: Emulator, n: int) -> dict[str, Any]:
    emu.map_user(f"user{n:03d}@{emu.source['domain']}")
    r = emu.graph("POST", TASKS, json=emu.user_task(n))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _get(emu: Emulator, task_id: str) -> dict[str, Any]:
    r = emu.graph("GET", f"{TASKS}/{task_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _advance(emu: Emulator, seconds: float) -> None:
    emu.control("POST", "/clock/advance", {"seconds": seconds})


def test_a_seeded_stuck_task_runs_one_phase_then_never_updates_again(frozen: Emulator) -> None:
    frozen.control("PUT", f"/tenants/contoso/users/user001@{frozen.source['domain']}", {"migration_error": "stuck"})
    task = _start(frozen, 1)
    _advance(frozen, 150)  # into the second of four 100-second phases
    running = _get(frozen, task["id"])
    assert running["status"] == "inProgress"
    assert running["lastUpdatedDateTime"] > running["startedDateTime"], "the first phase ended"
    _advance(frozen, 10 * 86400)
    later = _get(frozen, task["id"])
    assert later["status"] == "inProgress"
    assert later["lastUpdatedDateTime"] == running["lastUpdatedDateTime"]
    assert "finishedDateTime" not in later
    cancel = frozen.graph("POST", f"{TASKS}/{task['id']}/cancel")
    assert cancel.status_code == 409, "a stuck task cannot be cancelled, like any running one"


def test_forcing_stuck_freezes_the_last_update_now_and_survives_other_tasks_finishing(frozen: Emulator) -> None:
    stuck, normal = _start(frozen, 1), _start(frozen, 2)
    _advance(frozen, 1)
    frozen.control("POST", f"/tasks/{stuck['id']}/force", {"status": "stuck"})
    _advance(frozen, 1000)
    assert _get(frozen, normal["id"])["status"] == "completed"
    frozen_task = _get(frozen, stuck["id"])
    assert frozen_task["status"] == "inProgress"
    assert frozen_task["lastUpdatedDateTime"] == frozen_task["startedDateTime"]


@pytest.mark.parametrize(
    ("kind", "code", "words"),
    [
        ("missing-mapping", "identityMappingNotFound", "Identity map entry for source user001@"),
        ("target-exists", "targetAlreadyExists", "The target OneDrive for user001@"),
        ("size-limit", "sourceTooLarge", "2 TB"),
        ("item-limit", "tooManyItems", "1,000,000 items"),
        ("no-trust", "crossTenantRelationshipMissing", "There is no Cross-Tenant relationship"),
        ("feature-disabled", "featureNotEnabled", "is not enabled"),
        ("read-only", "sourceReadOnly", "read-only"),
        ("on-hold", "sourceOnHold", "on hold"),
    ],
)
def test_each_failure_kind_has_its_code_and_message(frozen: Emulator, kind: str, code: str, words: str) -> None:
    frozen.control("PUT", f"/tenants/contoso/users/user001@{frozen.source['domain']}", {"migration_error": kind})
    task = _start(frozen, 1)
    _advance(frozen, 401)
    failed = _get(frozen, task["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == code
    assert words in failed["error"]["message"]


def test_force_names_a_failure_kind_and_refuses_unknown_ones(frozen: Emulator) -> None:
    task = _start(frozen, 1)
    forced = frozen.control("POST", f"/tasks/{task['id']}/force", {"status": "failed", "failure": "on-hold"})
    assert forced["error"]["code"] == "sourceOnHold"
    bad = frozen.control_client.post(f"/tasks/{task['id']}/force", json={"status": "failed", "failure": "gremlins"})
    assert bad.status_code == 400
    assert "unknown failure kind 'gremlins'" in bad.json()["error"]["message"]
    mixed = frozen.control_client.post(f"/tasks/{task['id']}/force", json={"status": "completed", "failure": "on-hold"})
    assert mixed.status_code == 400


def test_random_failures_use_the_engine_failure_kinds(frozen: Emulator) -> None:
    frozen.control("PATCH", "/engine", {"failure_rate": 1.0, "failure_kinds": ["size-limit", "no-trust"]})
    tasks = [_start(frozen, n) for n in range(1, 7)]
    _advance(frozen, 401)
    codes = {_get(frozen, t["id"])["error"]["code"] for t in tasks}
    assert codes <= {"sourceTooLarge", "crossTenantRelationshipMissing"}
    assert codes
    bad = frozen.control_client.patch("/engine", json={"failure_kinds": ["gremlins"]})
    assert bad.status_code == 400
    as_typed = frozen.control("PATCH", "/engine", {"failure_kinds": "size-limit, on-hold"})  # --engine NAME=a,b
    assert as_typed["failure_kinds"] == ["size-limit", "on-hold"]


def test_the_date_header_is_the_emulated_clock(frozen: Emulator) -> None:
    _advance(frozen, 3 * 86400)
    now = datetime.fromisoformat(frozen.control("GET", "/clock")["now"].replace("Z", "+00:00"))
    answer = frozen.graph("GET", f"{TASKS}/00000000-0000-0000-0000-000000000000")
    dates = answer.headers.get_list("date")
    assert len(dates) == 1, "one Date header, not the server's and the app's"
    assert abs((parsedate_to_datetime(dates[0]) - now).total_seconds()) < 2


def test_a_stuck_task_stays_stuck_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    proc, conn = start_emulator(tmp_path, "--state", str(state))
    try:
        e = Emulator(conn)
        try:
            e.control("PUT", "/clock", {"speed": 0})
            task = _start(e, 1)
            e.control("POST", f"/tasks/{task['id']}/force", {"status": "stuck"})
            before = _get(e, task["id"])
        finally:
            e.close()
    finally:
        stop_emulator(proc)
    proc, conn = start_emulator(tmp_path, "--state", str(state))
    try:
        e = Emulator(conn)
        try:
            _advance(e, 30 * 86400)
            after = _get(e, task["id"])
            assert after["status"] == "inProgress"
            assert after["lastUpdatedDateTime"] == before["lastUpdatedDateTime"]
        finally:
            e.close()
    finally:
        stop_emulator(proc)
