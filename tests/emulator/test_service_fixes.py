"""Emulator fixes from comparing it with Microsoft's docs: truthful Allow headers, the list switch before
query options, ``…Mappings/$count``, ``@odata.type`` on mapping entities, and the queue's capacity."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import GROUP_MAPPINGS, MIGRATIONS, SITE_PARAMS, TASKS, USER_MAPPINGS, Emulator, tls

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
TASK_ID = "3ed6d46d-13a3-4995-b6ea-a74a20b1fac0"
SURFACE = [
    (MIGRATIONS, "source"),
    (TASKS, "source"),
    (f"{TASKS}/{TASK_ID}", "source"),
    (f"{TASKS}/{TASK_ID}/cancel", "source"),
    (f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl='https://contoso.sharepoint.com/sites/site01')", "source"),
    (f"{TASKS}/getBySourceUserPrincipalName(sourcePrincipalName='user001@contoso.onmicrosoft.com')", "source"),
    (f"{TASKS}/getBySourceGroupMailNickname(sourceGroupMailNickname='group01')", "source"),
    (USER_MAPPINGS, "target"),
    (GROUP_MAPPINGS, "target"),
    (f"{USER_MAPPINGS}(sourceUserPrincipalName='user001@contoso.onmicrosoft.com')", "target"),
    (f"{GROUP_MAPPINGS}(sourceGroupObjectId='{uuid.uuid4()}')", "target"),
    (f"{USER_MAPPINGS}/AQAAAAEAAABub2JvZHk", "target"),
    ("/$batch", "source"),
]


def _allow(r: httpx.Response) -> set[str]:
    return {m.strip() for m in r.headers["allow"].split(",") if m.strip()}


def test_every_405_names_exactly_the_methods_that_are_not_405(emu: Emulator) -> None:
    """Whatever answers 405 lists in Allow the methods that do not; the root lists none."""
    emu.control("PATCH", "/behaviour", {"list_endpoints": True})
    checked = 0
    for path, role in SURFACE:
        answers = {m: emu.graph(m, path, role, json={}) for m in METHODS}
        refused = {m for m, r in answers.items() if r.status_code == 405}
        for method in refused:
            assert "allow" in answers[method].headers, (method, path)
            assert _allow(answers[method]) == set(METHODS) - refused, (method, path, answers[method].headers)
            checked += 1
    assert checked >= 30
    assert _allow(emu.graph("GET", MIGRATIONS)) == set()
    authority = emu.conn["authority_base_url"]
    tenant = emu.source["tenant_id"]
    with httpx.Client(verify=tls(emu.conn["ca_file"])) as client:
        for path, allowed in (
            ("oauth2/v2.0/token", {"POST"}),
            ("oauth2/v2.0/devicecode", {"POST"}),
            ("v2.0/.well-known/openid-configuration", {"GET"}),
        ):
            for method in set(METHODS) - allowed:
                r = client.request(method, f"{authority}/{tenant}/{path}")
                assert r.status_code == 405, (method, path)
                assert _allow(r) == allowed, (method, path)


@pytest.mark.parametrize("collection", [TASKS, USER_MAPPINGS, GROUP_MAPPINGS])
@pytest.mark.parametrize("option", ["$filter", "$skip", "$count", "$orderby"])
def test_with_lists_off_a_collection_get_is_501_whatever_its_query(emu: Emulator, collection: str, option: str) -> None:
    role = "source" if collection == TASKS else "target"
    r = emu.graph("GET", collection, role, params={option: "status eq 'x'" if option == "$filter" else "1"})
    assert r.status_code == 501, r.text
    assert r.json()["error"]["code"] == "notSupported"
    emu.control("PATCH", "/behaviour", {"list_endpoints": True})
    r = emu.graph("GET", collection, role, params={option: "1"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"] == f"The query option '{option}' is not supported by this resource."


@pytest.mark.parametrize("lists", [False, True])
@pytest.mark.parametrize("collection", [TASKS, USER_MAPPINGS, GROUP_MAPPINGS])
def test_count_segment_is_501_on_every_collection(emu: Emulator, collection: str, lists: bool) -> None:
    emu.control("PATCH", "/behaviour", {"list_endpoints": lists})
    r = emu.graph("GET", f"{collection}/$count", "source" if collection == TASKS else "target")
    assert r.status_code == 501, r.text
    assert r.json()["error"] == {**r.json()["error"], "message": "$count is not supported on this collection."}


def _mapping_reads(emu: Emulator) -> list[dict[str, Any]]:
    upn = f"user001@{emu.source['domain']}"
    emu.map_user(upn)
    by_key = emu.graph("GET", f"{USER_MAPPINGS}(sourceUserPrincipalName='{upn}')", "target").json()
    by_id = emu.graph("GET", f"{USER_MAPPINGS}/{by_key['id']}", "target").json()
    listed = emu.graph("GET", USER_MAPPINGS, "target").json()["value"][0]
    return [by_key, by_id, listed]


def test_mapping_entities_carry_their_odata_type_unless_switched_off(emu: Emulator) -> None:
    emu.control("PATCH", "/behaviour", {"list_endpoints": True})
    assert emu.control("GET", "/behaviour")["mapping_odata_type"] is True  # the default
    for body in _mapping_reads(emu):
        assert body["@odata.type"] == "#microsoft.graph.sharePointUserIdentityMapping", body
    emu.control("PATCH", "/behaviour", {"mapping_odata_type": False})
    for body in _mapping_reads(emu):
        assert "@odata.type" not in body, body


def _site_task(n: int, emu: Emulator) -> dict[str, Any]:
    return {
        "parameters": {
            "@odata.type": SITE_PARAMS,
            "targetOrganizationId": emu.target["tenant_id"],
            "sourceSiteUrl": f"https://contoso.sharepoint.com/sites/site{n:02d}",
            "targetSiteUrl": f"https://fabrikam.sharepoint.com/sites/site{n:02d}",
        }
    }


def test_a_full_queue_rejects_a_create_until_a_task_finishes(emu: Emulator) -> None:
    emu.control("PUT", "/clock", {"speed": 0})
    emu.control("PATCH", "/engine", {"queue_capacity": 2, "queue_delay_seconds": 10, "duration_seconds": 100})
    for n in (1, 2):
        assert emu.graph("POST", TASKS, json=_site_task(n, emu)).status_code == 200
    for validate_only in (False, True):
        body = _site_task(3, emu)
        body["parameters"]["validateOnly"] = validate_only
        r = emu.graph("POST", TASKS, json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "queueFull"
        assert r.json()["error"]["message"] == (
            "The migration queue of contoso.onmicrosoft.com is full: 2 tasks are notStarted or inProgress, the "
            "most it holds. Create more tasks once some have finished."
        )
    assert len(emu.control("GET", "/tasks")["tasks"]) == 2
    emu.control("POST", "/clock/advance", {"seconds": 200})  # both have finished (jitter is at most 50 %)
    assert emu.graph("POST", TASKS, json=_site_task(3, emu)).status_code == 200


def test_with_hold_a_create_beyond_capacity_waits_for_the_first_free_slot(emu: Emulator) -> None:
    emu.control("PUT", "/clock", {"speed": 0})
    emu.control("PATCH", "/behaviour", {"queue_full": "hold"})
    emu.control(
        "PATCH",
        "/engine",
        {"queue_capacity": 1, "queue_delay_seconds": 0, "duration_seconds": 100, "duration_jitter": 0},
    )
    first = emu.graph("POST", TASKS, json=_site_task(1, emu)).json()
    held = emu.graph("POST", TASKS, json=_site_task(2, emu)).json()
    assert (first["status"], held["status"]) == ("inProgress", "notStarted")
    emu.control("POST", "/clock/advance", {"seconds": 99})
    assert emu.graph("GET", f"{TASKS}/{held['id']}").json()["status"] == "notStarted"
    emu.control("POST", "/clock/advance", {"seconds": 2})
    statuses = [emu.graph("GET", f"{TASKS}/{t['id']}").json()["status"] for t in (first, held)]
    assert statuses == ["completed", "inProgress"]
