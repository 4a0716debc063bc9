"""The emulator answers the documented calls end to end over HTTPS with msal tokens."""

from __future__ import annotations

from tests.conftest import TASKS, USER_MAPPINGS, Emulator


def test_user_mapping_round_trip(emu: Emulator) -> None:
    upn = f"user001@{emu.source['domain']}"
    emu.map_user(upn)
    r = emu.graph("GET", f"{USER_MAPPINGS}(sourceUserPrincipalName='{upn}')", "target")
    assert r.status_code == 200
    body = r.json()
    assert body["targetUserIdentity"]["userPrincipalName"] == f"user001@{emu.target['domain']}"
    assert body["@odata.context"].endswith("/crossOrganizationUserMappings/$entity")


def test_task_create_then_get(emu: Emulator) -> None:
    emu.map_user(f"user002@{emu.source['domain']}")
    r = emu.graph("POST", TASKS, json=emu.user_task(2))
    assert r.status_code == 200, r.text
    task = r.json()
    assert task["status"] == "notStarted"
    got = emu.graph("GET", f"{TASKS}/{task['id']}")
    assert got.status_code == 200
    assert got.json()["id"] == task["id"]
