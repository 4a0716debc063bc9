"""JSON batching: envelope rules, per-request results, dependsOn, throttling inside a batch."""

from __future__ import annotations

from typing import Any

from tests.conftest import TASKS, USER_MAPPINGS, Emulator

MAPPINGS_PATH = "/solutions/sharePoint/migrations/crossOrganizationUserMappings"


def _batch(emu: Emulator, requests: list[dict[str, Any]], role: str = "target") -> Any:
    return emu.graph("POST", "/$batch", role, json={"requests": requests})


def _get(i: int, upn: str) -> dict[str, Any]:
    return {"id": str(i), "method": "GET", "url": f"{MAPPINGS_PATH}(sourceUserPrincipalName='{upn}')"}


def test_twenty_gets_answer_per_key(emu: Emulator) -> None:
    emu.map_user(f"user001@{emu.source['domain']}")
    requests = [_get(i, f"user{i:03d}@{emu.source['domain']}") for i in range(1, 21)]
    r = _batch(emu, requests)
    assert r.status_code == 200
    by_id = {resp["id"]: resp for resp in r.json()["responses"]}
    assert set(by_id) == {str(i) for i in range(1, 21)}
    assert by_id["1"]["status"] == 200
    assert by_id["1"]["body"]["sourceUserIdentity"]["userPrincipalName"] == f"user001@{emu.source['domain']}"
    assert all(by_id[str(i)]["status"] == 404 for i in range(2, 21))
    assert by_id["2"]["body"]["error"]["code"] == "itemNotFound"


def test_more_than_twenty_or_duplicate_ids_fail_the_whole_batch(emu: Emulator) -> None:
    upn = f"user001@{emu.source['domain']}"
    r = _batch(emu, [_get(i, upn) for i in range(21)])
    assert r.status_code == 400
    assert "20" in r.json()["error"]["message"]
    r = _batch(emu, [_get(1, upn), {**_get(2, upn), "id": "1"}])
    assert r.status_code == 400
    r = _batch(emu, [{"id": "1", "method": "PATCH", "url": MAPPINGS_PATH, "body": {"value": []}}])
    assert r.status_code == 400, "a body needs a Content-Type header"
    r = _batch(emu, [{**_get(1, upn), "dependsOn": ["9"]}])
    assert r.status_code == 400, "dependsOn must name an earlier request"


def test_depends_on_runs_in_order_and_fails_dependents(emu: Emulator) -> None:
    upn = f"user003@{emu.source['domain']}"
    item = {
        "sourceUserIdentity": {"userPrincipalName": upn},
        "targetUserIdentity": {"userPrincipalName": f"user003@{emu.target['domain']}"},
    }
    requests = [
        {
            "id": "w",
            "method": "PATCH",
            "url": MAPPINGS_PATH,
            "headers": {"Content-Type": "application/json"},
            "body": {"@context": "#$delta", "value": [item]},
        },
        {**_get(0, upn), "id": "r", "dependsOn": ["w"]},
        {
            "id": "bad",
            "method": "PATCH",
            "url": MAPPINGS_PATH,
            "headers": {"Content-Type": "application/json"},
            "body": {"@context": "#$delta", "value": [{"sourceUserIdentity": {"userPrincipalName": "not a upn"}}]},
        },
        {**_get(0, upn), "id": "after-bad", "dependsOn": ["bad"]},
    ]
    responses = {x["id"]: x for x in _batch(emu, requests).json()["responses"]}
    assert responses["w"]["status"] == 200
    assert responses["r"]["status"] == 200
    assert responses["r"]["body"]["targetUserIdentity"]["userPrincipalName"].startswith("user003@")
    assert responses["bad"]["status"] == 400
    assert responses["after-bad"]["status"] == 424


def test_inner_requests_are_authorised_per_tenant_and_counted(emu: Emulator) -> None:
    emu.control("DELETE", "/counters")
    upn = f"user004@{emu.source['domain']}"
    emu.map_user(upn)
    # Tasks live in the source tenant: a task lookup batched with the source token finds nothing yet.
    r = _batch(
        emu,
        [
            {
                "id": "1",
                "method": "GET",
                "url": f"{TASKS.removeprefix('')}/getBySourceUserPrincipalName(sourcePrincipalName='{upn}')",
            }
        ],
        role="source",
    )
    assert r.json()["responses"][0]["status"] == 404
    counters = emu.control("GET", "/counters")
    assert counters["tasks.getBySourceUserPrincipalName"] == {"404": 1}
    assert counters["batch"] == {"200": 1}


def test_throttled_inner_requests_carry_retry_after(emu: Emulator) -> None:
    emu.control("PUT", "/faults", {"rate_limit": {"per_second": 0.5, "burst": 3, "retry_after": "fractional"}})
    upn = f"user001@{emu.source['domain']}"
    r = _batch(emu, [_get(i, upn) for i in range(1, 7)])
    assert r.status_code == 200, "the envelope succeeds even when members are throttled"
    statuses = [x["status"] for x in r.json()["responses"]]
    assert statuses[:3] == [404, 404, 404]
    assert statuses[3:] == [429, 429, 429]
    throttled = r.json()["responses"][3]
    assert float(throttled["headers"]["Retry-After"]) > 0
    assert "." in throttled["headers"]["Retry-After"]
    assert throttled["body"]["error"]["code"] == "TooManyRequests"


def test_nested_batch_and_absolute_urls_are_rejected(emu: Emulator) -> None:
    r = _batch(
        emu,
        [
            {
                "id": "1",
                "method": "POST",
                "url": "/$batch",
                "headers": {"Content-Type": "application/json"},
                "body": {"requests": []},
            }
        ],
    )
    assert r.json()["responses"][0]["status"] == 400
    r = _batch(emu, [{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/beta" + USER_MAPPINGS}])
    assert r.status_code == 400
