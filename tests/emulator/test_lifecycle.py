"""The migration engine: clock-driven status, timestamps, scheduled starts, auto-cancel, failure, cancel."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import GROUP_PARAMS, SITE_PARAMS, TASKS, Emulator


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def frozen(emu: Emulator) -> Emulator:
    """Emulated time stands still unless a test advances it; durations are exact."""
    emu.control("PUT", "/clock", {"speed": 0})
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 10, "duration_seconds": 100, "duration_jitter": 0})
    return emu


def _now(emu: Emulator) -> datetime:
    return datetime.fromisoformat(emu.control("GET", "/clock")["now"].replace("Z", "+00:00"))


def _advance(emu: Emulator, seconds: float) -> None:
    emu.control("POST", "/clock/advance", {"seconds": seconds})


def _start_user_task(emu: Emulator, n: int, **extra: Any) -> dict[str, Any]:
    emu.map_user(f"user{n:03d}@{emu.source['domain']}")
    r = emu.graph("POST", TASKS, json=emu.user_task(n, **extra))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _get(emu: Emulator, task_id: str) -> dict[str, Any]:
    r = emu.graph("GET", f"{TASKS}/{task_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_task_moves_through_not_started_in_progress_completed(frozen: Emulator) -> None:
    created_at = _now(frozen)
    task = _start_user_task(frozen, 1)
    assert task["status"] == "notStarted"
    assert "startedDateTime" not in task
    assert "finishedDateTime" not in task
    _advance(frozen, 9)
    assert _get(frozen, task["id"])["status"] == "notStarted"
    _advance(frozen, 2)
    running = _get(frozen, task["id"])
    assert running["status"] == "inProgress"
    started = datetime.fromisoformat(running["startedDateTime"].replace("Z", "+00:00"))
    assert started == created_at + timedelta(seconds=10)
    assert "finishedDateTime" not in running
    _advance(frozen, 30)
    # lastUpdatedDateTime moves with each of the four phases while in progress.
    later = _get(frozen, task["id"])
    assert later["lastUpdatedDateTime"] > running["lastUpdatedDateTime"]
    _advance(frozen, 70)
    done = _get(frozen, task["id"])
    assert done["status"] == "completed"
    assert done["finishedDateTime"] == done["lastUpdatedDateTime"]
    finished = datetime.fromisoformat(done["finishedDateTime"].replace("Z", "+00:00"))
    assert finished == started + timedelta(seconds=100)
    assert "error" not in done


def test_preferred_start_delays_the_start(frozen: Emulator) -> None:
    start = _now(frozen) + timedelta(hours=1)
    task = _start_user_task(frozen, 2, preferredStartDateTime=_iso(start))
    assert task["parameters"]["preferredStartDateTime"] == _iso(start)
    _advance(frozen, 1800)
    assert _get(frozen, task["id"])["status"] == "notStarted"
    _advance(frozen, 1801)
    running = _get(frozen, task["id"])
    assert running["status"] == "inProgress"
    assert running["startedDateTime"].startswith(_iso(start)[:-1])


def test_latest_start_auto_cancels_a_task_that_cannot_start_in_time(frozen: Emulator) -> None:
    frozen.control("PATCH", "/engine", {"queue_delay_seconds": 600})
    latest = _now(frozen) + timedelta(seconds=300)
    task = _start_user_task(frozen, 3, preferredLatestStartDateTime=_iso(latest))
    _advance(frozen, 299)
    assert _get(frozen, task["id"])["status"] == "notStarted"
    _advance(frozen, 2)
    cancelled = _get(frozen, task["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["finishedDateTime"].startswith(_iso(latest)[:-1])
    assert "startedDateTime" not in cancelled


def test_latest_start_does_not_cancel_a_task_that_starts_in_time(frozen: Emulator) -> None:
    latest = _now(frozen) + timedelta(seconds=300)
    task = _start_user_task(frozen, 4, preferredLatestStartDateTime=_iso(latest))
    _advance(frozen, 1000)
    assert _get(frozen, task["id"])["status"] == "completed"


def test_seeded_failure_fails_with_a_public_error(frozen: Emulator) -> None:
    upn = f"user005@{frozen.source['domain']}"
    frozen.control("PUT", f"/tenants/contoso/users/{upn}", {"migration_error": "Target OneDrive quota exceeded."})
    task = _start_user_task(frozen, 5)
    _advance(frozen, 200)
    failed = _get(frozen, task["id"])
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "migrationFailed", "message": "Target OneDrive quota exceeded."}
    assert "finishedDateTime" in failed


def test_failure_rate_one_fails_every_task(frozen: Emulator) -> None:
    frozen.control("PATCH", "/engine", {"failure_rate": 1.0})
    task = _start_user_task(frozen, 6)
    _advance(frozen, 200)
    assert _get(frozen, task["id"])["status"] == "failed"


def test_cancel_before_start_then_lookup_returns_the_newest_task(frozen: Emulator) -> None:
    first = _start_user_task(frozen, 7)
    r = frozen.graph("POST", f"{TASKS}/{first['id']}/cancel")
    assert r.status_code == 204
    assert r.content == b""
    assert _get(frozen, first["id"])["status"] == "cancelled"
    _advance(frozen, 500)
    assert _get(frozen, first["id"])["status"] == "cancelled", "a cancelled task never starts"
    second = frozen.graph("POST", TASKS, json=frozen.user_task(7))
    assert second.status_code == 200, "a source whose tasks are all terminal can get a new task"
    upn = f"user007@{frozen.source['domain']}"
    found = frozen.graph("GET", f"{TASKS}/getBySourceUserPrincipalName(sourcePrincipalName='{upn}')")
    assert found.status_code == 200
    assert found.json()["id"] == second.json()["id"]


def test_cancel_conflicts_once_started_and_leaves_the_task_alone(frozen: Emulator) -> None:
    task = _start_user_task(frozen, 8)
    _advance(frozen, 20)
    r = frozen.graph("POST", f"{TASKS}/{task['id']}/cancel")
    assert r.status_code == 409
    assert r.json()["error"]["message"] == "Cannot process the cancel request because the task is in progress"
    assert _get(frozen, task["id"])["status"] == "inProgress"
    _advance(frozen, 200)
    r = frozen.graph("POST", f"{TASKS}/{task['id']}/cancel")
    assert r.status_code == 409
    assert _get(frozen, task["id"])["status"] == "completed"


def test_site_and_group_tasks_run_the_same_lifecycle(frozen: Emulator) -> None:
    site = frozen.graph(
        "POST",
        TASKS,
        json={
            "parameters": {
                "@odata.type": SITE_PARAMS,
                "targetOrganizationHost": "https://fabrikam-my.sharepoint.com",
                "sourceSiteUrl": "https://contoso.sharepoint.com/sites/site01",
                "targetSiteUrl": "https://fabrikam.sharepoint.com/sites/site01",
            }
        },
    )
    group = frozen.graph(
        "POST",
        TASKS,
        json={
            "parameters": {
                "@odata.type": GROUP_PARAMS,
                "targetOrganizationHost": "https://fabrikam-my.sharepoint.com",
                "sourceGroupIdentity": {"mailNickname": "group01"},
                "targetGroupIdentity": {"mailNickname": "group01"},
            }
        },
    )
    assert site.status_code == 200, site.text
    assert group.status_code == 200, group.text
    _advance(frozen, 200)
    by_url = frozen.graph(
        "GET", f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl='https://contoso.sharepoint.com/sites/site01')"
    )
    by_nick = frozen.graph("GET", f"{TASKS}/getBySourceGroupMailNickname(sourceGroupMailNickname='GROUP01')")
    assert by_url.json()["status"] == "completed"
    assert by_nick.json()["status"] == "completed"
    assert by_nick.json()["id"] == group.json()["id"]


def test_speed_runs_a_wave_to_completion_quickly(emu: Emulator) -> None:
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 0, "duration_seconds": 0})
    ids = [_start_user_task(emu, n)["id"] for n in range(10, 20)]
    statuses = {_get(emu, i)["status"] for i in ids}
    assert statuses == {"completed"}


def test_force_moves_a_task_now(frozen: Emulator) -> None:
    task = _start_user_task(frozen, 21)
    forced = frozen.control(
        "POST", f"/tasks/{task['id']}/force", {"status": "failed", "error": {"code": "x", "message": "forced"}}
    )
    assert forced["status"] == "failed"
    assert _get(frozen, task["id"])["error"]["message"] == "forced"


def test_validate_only_reports_the_conflict_a_real_create_would_meet(frozen: Emulator) -> None:
    _start_user_task(frozen, 22)
    r = frozen.graph("POST", TASKS, json=frozen.user_task(22, validateOnly=True))
    assert r.status_code == 409
    frozen.control("PATCH", "/behaviour", {"duplicate_create": "allow"})
    r = frozen.graph("POST", TASKS, json=frozen.user_task(22, validateOnly=True))
    assert r.status_code == 200
    assert "id" not in r.json()
    assert len(frozen.control("GET", "/tasks")["tasks"]) == 1
