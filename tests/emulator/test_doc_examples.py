"""Every documented request example of reference §3, replayed against the emulator.

The docs' tenants are adapted to the emulator's default world: ``source-user@contoso.onmicrosoft.com``
becomes ``user001@contoso.onmicrosoft.com``, the ``fabrico`` hosts become fabrikam's. Responses are
checked against the documented examples minus the defects listed in reference §9.
"""

from __future__ import annotations

import base64
import copy
import re
import struct
import uuid
from typing import Any
from urllib.parse import quote

import pytest

from reconciler.emulator.world import stable_id
from tests.conftest import (
    GROUP_MAPPINGS,
    GROUP_PARAMS,
    SITE_PARAMS,
    TASKS,
    USER_MAPPINGS,
    USER_PARAMS,
    Emulator,
)

STATUSES = {"notStarted", "inProgress", "completed", "cancelled", "failed", "unknownFutureValue"}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z$")
SOURCE_HOST = "https://contoso.sharepoint.com"
TARGET_HOST = "https://fabrikam.sharepoint.com"
TARGET_MY_HOST = "https://fabrikam-my.sharepoint.com"
DOC_ORG_ID = "11111111-1111-1111-1111-111111111111"
DOC_GROUP_ID = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
DOC_USER_MAPPING_ID = "AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ"
DOC_GROUP_MAPPING_ID = "AQAAAAIAAABhYWFhYWFhYS1hYWFhLWFhYWEtYWFhYS1hYWFhYWFhYWFhYWE"


# -- helpers ----------------------------------------------------------------------------------------


def src_upn(emu: Emulator, n: int = 1) -> str:
    return f"user{n:03d}@{emu.source['domain']}"


def dst_upn(emu: Emulator, n: int = 1) -> str:
    return f"user{n:03d}@{emu.target['domain']}"


def user_id(tenant: str, upn: str) -> str:
    return stable_id("user", tenant, upn)


def assert_task_shape(task: dict[str, Any]) -> None:
    """Invariants every task response must satisfy (reference §2.2, §9 items 1–3)."""
    assert task["status"] in STATUSES
    uuid.UUID(task["id"])
    for name in ("startedDateTime", "lastUpdatedDateTime", "finishedDateTime"):
        if name in task:
            assert TIMESTAMP.match(task[name]), (name, task[name])
    org = task["parameters"].get("targetOrganizationId")
    if org is not None:
        assert str(uuid.UUID(org)) == org.lower()
    assert "errors" not in task


def create(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    r = emu.graph("POST", TASKS, json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    task: dict[str, Any] = r.json()
    return task


def get(emu: Emulator, path: str, role: str = "source", **kw: Any) -> dict[str, Any]:
    r = emu.graph("GET", path, role, **kw)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def user_example(emu: Emulator, **extra: Any) -> dict[str, Any]:
    """Example 1 adapted: a user task identified by UPN, target given by its my-site host."""
    return {
        "parameters": {
            "@odata.type": USER_PARAMS,
            "targetOrganizationHost": TARGET_MY_HOST,
            "sourceUserIdentity": {"userPrincipalName": src_upn(emu)},
            "targetUserIdentity": {"userPrincipalName": dst_upn(emu)},
            **extra,
        }
    }


def site_example(n: int = 1) -> dict[str, Any]:
    return {
        "parameters": {
            "@odata.type": SITE_PARAMS,
            "targetOrganizationHost": TARGET_MY_HOST,
            "sourceSiteUrl": f"{SOURCE_HOST}/sites/site{n:02d}",
            "targetSiteUrl": f"{TARGET_HOST}/sites/site{n:02d}",
        }
    }


def group_example() -> dict[str, Any]:
    return {
        "parameters": {
            "@odata.type": GROUP_PARAMS,
            "targetOrganizationHost": TARGET_MY_HOST,
            "sourceGroupIdentity": {"mailNickname": "group01"},
            "targetGroupIdentity": {"mailNickname": "group01"},
        }
    }


def doc_user_mapping(target_upn: str) -> dict[str, Any]:
    return {
        "sourceOrganizationId": DOC_ORG_ID,
        "userType": "regularUser",
        "sourceUserIdentity": {"userPrincipalName": "user1@contoso.com"},
        "targetUserIdentity": {"userPrincipalName": target_upn},
        "targetUserMigrationData": {"email": target_upn},
    }


def doc_group_mapping() -> dict[str, Any]:
    return {
        "sourceOrganizationId": DOC_ORG_ID,
        "groupType": "m365Group",
        "sourceGroupIdentity": {"id": DOC_GROUP_ID},
        "targetGroupIdentity": {"id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"},
        "targetGroupMigrationData": {"mailNickname": "targetGroup"},
    }


def context(emu: Emulator, collection: str, suffix: str) -> str:
    return f"{emu.conn['graph_base_url']}/$metadata#solutions/sharePoint/migrations/{collection}{suffix}"


@pytest.fixture
def slow(emu: Emulator) -> Emulator:
    """Tasks stay notStarted for the whole test unless it advances the clock."""
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 3600})
    return emu


# -- §3.1 create ------------------------------------------------------------------------------------


def test_example_1_user_task_by_upn(slow: Emulator) -> None:
    slow.map_user(src_upn(slow))
    body = user_example(slow)
    task = create(slow, body)
    assert_task_shape(task)
    assert task["status"] == "notStarted"
    assert task["parameters"] == body["parameters"]
    assert "startedDateTime" not in task
    assert "finishedDateTime" not in task
    assert "error" not in task
    assert task["@odata.context"] == context(slow, "crossOrganizationMigrationTasks", "/$entity")


def test_example_2_user_task_by_object_id(slow: Emulator) -> None:
    slow.map_user(src_upn(slow))
    source_id = user_id("contoso", src_upn(slow))
    target_id = user_id("fabrikam", dst_upn(slow))
    body = {
        "parameters": {
            "@odata.type": USER_PARAMS,
            "targetOrganizationHost": TARGET_MY_HOST,
            "sourceUserIdentity": {"id": source_id},
            "targetUserIdentity": {"id": target_id},
        }
    }
    task = create(slow, body)
    assert_task_shape(task)
    assert task["status"] == "notStarted"
    params = task["parameters"]
    assert params["@odata.type"] == USER_PARAMS
    assert params["targetOrganizationHost"] == TARGET_MY_HOST
    # Ids echoed as sent; the service fills in the principal names (as in example 3).
    assert params["sourceUserIdentity"] == {"id": source_id, "userPrincipalName": src_upn(slow)}
    assert params["targetUserIdentity"] == {"id": target_id, "userPrincipalName": dst_upn(slow)}


def test_example_3_object_ids_with_org_id_and_null_location(slow: Emulator) -> None:
    slow.map_user(src_upn(slow))
    source_id = user_id("contoso", src_upn(slow))
    target_id = user_id("fabrikam", dst_upn(slow))
    body = {
        "parameters": {
            "@odata.type": USER_PARAMS,
            "targetOrganizationId": slow.target["tenant_id"],
            "targetDataLocationCode": None,
            "sourceUserIdentity": {"id": source_id},
            "targetUserIdentity": {"id": target_id},
        }
    }
    task = create(slow, body)
    assert_task_shape(task)
    assert task["status"] == "notStarted"
    assert task["parameters"] == {
        "@odata.type": USER_PARAMS,
        "targetOrganizationId": slow.target["tenant_id"],
        "targetDataLocationCode": "NAM",  # null resolved to the target tenant's location
        "sourceUserIdentity": {"id": source_id, "userPrincipalName": src_upn(slow)},
        "targetUserIdentity": {"id": target_id, "userPrincipalName": dst_upn(slow)},
    }
    # The stored task carries the resolved parameters too.
    assert get(slow, f"{TASKS}/{task['id']}")["parameters"] == task["parameters"]


def test_example_4_regular_site(slow: Emulator) -> None:
    body = site_example()
    task = create(slow, body)
    assert_task_shape(task)
    assert task["status"] == "notStarted"
    assert task["parameters"] == body["parameters"]


def test_example_5_group_connected_site(slow: Emulator) -> None:
    body = group_example()
    task = create(slow, body)
    assert_task_shape(task)
    assert task["status"] == "notStarted"
    assert task["parameters"] == body["parameters"]


def test_example_6_scheduled_start(emu: Emulator) -> None:
    emu.map_user(src_upn(emu))
    emu.control("PUT", "/clock", {"speed": 0})
    body = user_example(emu, preferredStartDateTime="2024-08-31T16:00:00Z")
    task = create(emu, body)
    assert_task_shape(task)
    assert task["status"] == "notStarted"
    assert task["parameters"] == body["parameters"]
    assert task["parameters"]["preferredStartDateTime"] == "2024-08-31T16:00:00Z"
    # A start time in the future holds the task back past the queue delay.
    emu.map_user(src_upn(emu, 2))
    future = user_example(emu, preferredStartDateTime="2099-01-01T00:00:00Z")
    future["parameters"]["sourceUserIdentity"] = {"userPrincipalName": src_upn(emu, 2)}
    future["parameters"]["targetUserIdentity"] = {"userPrincipalName": dst_upn(emu, 2)}
    held = create(emu, future)
    emu.control("POST", "/clock/advance", {"seconds": 24 * 3600})
    assert get(emu, f"{TASKS}/{task['id']}")["status"] == "completed"
    assert get(emu, f"{TASKS}/{held['id']}")["status"] == "notStarted"


def test_example_7_validate_only(emu: Emulator) -> None:
    emu.map_user(src_upn(emu))
    body = user_example(emu, validateOnly=True)
    r = emu.graph("POST", TASKS, json=body)
    assert r.status_code == 200, r.text
    result = r.json()
    assert {k for k in result if not k.startswith("@odata.")} == {"status", "parameters"}
    assert result["status"] == "completed"  # the enum member, not the old draft's "Completed"
    assert result["parameters"] == body["parameters"]
    # Nothing is stored: no task by source key, none in the control view, and a real create still works.
    missing = emu.graph("GET", f"{TASKS}/getBySourceUserPrincipalName(sourcePrincipalName='{src_upn(emu)}')")
    assert missing.status_code == 404
    assert emu.control("GET", "/tasks")["tasks"] == []
    real = create(emu, user_example(emu))
    assert real["status"] == "notStarted"


def test_create_accepts_whole_task_structure_with_ignored_read_only_members(slow: Emulator) -> None:
    # "the entire task structure must be included … empty or default values … are ignored".
    body = {"id": "", "status": "notStarted", **site_example(2)}
    task = create(slow, body)
    assert task["id"] != ""
    uuid.UUID(task["id"])
    assert task["status"] == "notStarted"


def test_odata_annotations_in_create_are_accepted_and_not_echoed(slow: Emulator) -> None:
    # Only parameters.@odata.type is emitted (behaviour.md §2); client annotations elsewhere are ignored.
    slow.map_user(src_upn(slow))
    body = user_example(slow)
    body["@odata.type"] = "#microsoft.graph.sharePointMigrationTask"
    body["parameters"]["@odata.type"] = "microsoft.graph.sharePointUserMigrationTaskParameters"  # no leading #
    body["parameters"]["@odata.context"] = "#whatever"
    body["parameters"]["sourceUserIdentity"]["@odata.type"] = "#microsoft.graph.userIdentity"
    body["parameters"]["targetUserIdentity"]["@odata.type"] = "microsoft.graph.userIdentity"
    task = create(slow, body)
    expected = user_example(slow)["parameters"]
    assert task["parameters"] == expected
    assert get(slow, f"{TASKS}/{task['id']}")["parameters"] == expected
    group = group_example()
    group["parameters"]["sourceGroupIdentity"]["@odata.type"] = "#microsoft.graph.groupIdentity"
    assert create(slow, group)["parameters"] == group_example()["parameters"]


# -- §3.2 – §3.5 reads --------------------------------------------------------------------------------


def test_get_task_by_id_after_completion(emu: Emulator) -> None:
    body = site_example()
    body["parameters"]["targetOrganizationId"] = emu.target["tenant_id"]
    task = create(emu, body)
    emu.control("POST", "/clock/advance", {"seconds": 3600})
    got = get(emu, f"{TASKS}/{task['id']}")
    assert_task_shape(got)
    assert got["id"] == task["id"]
    assert got["status"] == "completed"
    for name in ("startedDateTime", "lastUpdatedDateTime", "finishedDateTime"):
        assert TIMESTAMP.match(got[name]), got[name]
    assert got["startedDateTime"] < got["finishedDateTime"]
    assert got["lastUpdatedDateTime"] == got["finishedDateTime"]
    assert got["parameters"] == body["parameters"]
    assert got["@odata.context"] == context(emu, "crossOrganizationMigrationTasks", "/$entity")


def test_get_task_by_id_with_documented_select(slow: Emulator) -> None:
    task = create(slow, site_example())
    got = get(slow, f"{TASKS}/{task['id']}", params={"$select": "id,status,startedDateTime"})
    assert {k for k in got if not k.startswith("@odata.")} == {"id", "status"}  # not started: no start time
    assert got["status"] == "notStarted"


def test_get_by_source_user_principal_name(slow: Emulator) -> None:
    slow.map_user(src_upn(slow))
    task = create(slow, user_example(slow))
    got = get(slow, f"{TASKS}/getBySourceUserPrincipalName(sourcePrincipalName='{src_upn(slow)}')")
    assert_task_shape(got)
    assert got["id"] == task["id"]
    assert got["status"] == "notStarted"  # an enum member, not the docs' "success"
    assert got["parameters"]["@odata.type"] == USER_PARAMS  # the user task, not a copy of the site example
    assert got["parameters"]["sourceUserIdentity"]["userPrincipalName"] == src_upn(slow)


def test_get_by_source_user_principal_name_with_parameter_alias(slow: Emulator) -> None:
    slow.map_user(src_upn(slow))
    task = create(slow, user_example(slow))
    # The documented form: getBySourceUserPrincipalName(sourcePrincipalName=@upn)?@upn='…'
    got = get(slow, f"{TASKS}/getBySourceUserPrincipalName(sourcePrincipalName=@upn)?@upn='{src_upn(slow)}'")
    assert got["id"] == task["id"]
    # UPN matching is case-insensitive.
    upper = src_upn(slow).upper()
    assert get(slow, f"{TASKS}/getBySourceUserPrincipalName(sourcePrincipalName='{upper}')")["id"] == task["id"]


def test_get_by_source_site_url_raw_form(slow: Emulator) -> None:
    task = create(slow, site_example())
    url = f"{SOURCE_HOST}/sites/site01"
    got = get(slow, f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl='{url}')")
    assert_task_shape(got)
    assert got["id"] == task["id"]
    assert got["parameters"]["sourceSiteUrl"] == url
    assert got["parameters"]["@odata.type"] == SITE_PARAMS


def test_get_by_source_site_url_percent_encoded_sdk_form(slow: Emulator) -> None:
    task = create(slow, site_example())
    encoded = quote(f"{SOURCE_HOST}/sites/site01", safe="")
    assert "%2F" in encoded
    assert "%3A" in encoded
    got = get(slow, f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl='{encoded}')", params={"$select": "id,parameters"})
    assert got["id"] == task["id"]
    assert {k for k in got if not k.startswith("@odata.")} == {"id", "parameters"}


def test_get_by_source_group_mail_nickname(slow: Emulator) -> None:
    task = create(slow, group_example())
    got = get(slow, f"{TASKS}/getBySourceGroupMailNickname(sourceGroupMailNickname='group01')")
    assert_task_shape(got)
    assert got["id"] == task["id"]
    assert got["parameters"]["@odata.type"] == GROUP_PARAMS
    assert got["parameters"]["sourceGroupIdentity"] == {"mailNickname": "group01"}
    selected = get(
        slow,
        f"{TASKS}/getBySourceGroupMailNickname(sourceGroupMailNickname='group01')",
        params={"$select": "status"},
    )
    assert {k for k in selected if not k.startswith("@odata.")} == {"id", "status"}


def test_old_draft_lower_case_and_qualified_function_names(slow: Emulator) -> None:
    # The old drafts wrote function and parameter names in lower case (reference §3.3, §3.4).
    task = create(slow, site_example())
    url = f"{SOURCE_HOST}/sites/site01"
    base = "/solutions/sharepoint/migrations/crossorganizationmigrationtasks"
    for path in (
        f"{base}/getbysourcesiteurl(sourcesiteurl='{url}')",
        f"{TASKS}/microsoft.graph.getBySourceSiteUrl(sourceSiteUrl='{url.upper()}/')",
        f"{base}/{task['id'].upper()}",
    ):
        assert get(slow, path)["id"] == task["id"], path


def test_success_responses_carry_request_ids(slow: Emulator) -> None:
    sent = str(uuid.uuid4())
    r = slow.graph("POST", TASKS, json=site_example(), headers={"client-request-id": sent})
    assert r.status_code == 200, r.text
    uuid.UUID(r.headers["request-id"])
    assert r.headers["client-request-id"] == sent
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["odata-version"] == "4.0"
    plain = slow.graph("GET", f"{TASKS}/{r.json()['id']}")
    assert plain.headers["request-id"] != r.headers["request-id"]
    uuid.UUID(plain.headers["client-request-id"])


# -- §3.6 cancel ----------------------------------------------------------------------------------------


def test_cancel_returns_204_without_body(slow: Emulator) -> None:
    task = create(slow, site_example())
    r = slow.graph("POST", f"{TASKS}/{task['id']}/cancel")
    assert r.status_code == 204
    assert r.content == b""
    assert "content-type" not in r.headers
    assert r.headers["request-id"]
    got = get(slow, f"{TASKS}/{task['id']}")
    assert got["status"] == "cancelled"
    assert TIMESTAMP.match(got["finishedDateTime"])


# -- §3.7 – §3.10 identity mappings ------------------------------------------------------------------------


def test_user_mapping_get_documented_example(emu: Emulator) -> None:
    target = "admin@fabrikam.onmicrosoft.com"
    r = emu.graph("PATCH", USER_MAPPINGS, "target", json={"@context": "#$delta", "value": [doc_user_mapping(target)]})
    assert r.status_code == 200, r.text
    got = get(emu, f"{USER_MAPPINGS}(sourceUserPrincipalName='user1@contoso.com')", "target")
    assert got == {
        "@odata.context": context(emu, "crossOrganizationUserMappings", "/$entity"),
        "@odata.type": "#microsoft.graph.sharePointUserIdentityMapping",  # as the docs' example (switch on)
        "id": DOC_USER_MAPPING_ID,
        **doc_user_mapping(target),
    }
    selected = get(
        emu,
        f"{USER_MAPPINGS}(sourceUserPrincipalName='user1@contoso.com')",
        "target",
        params={"$select": "targetUserIdentity,sourceUserIdentity,userType"},
    )
    assert {k for k in selected if not k.startswith("@odata.")} == {
        "id",
        "targetUserIdentity",
        "sourceUserIdentity",
        "userType",
    }


def test_group_mapping_get_documented_example(emu: Emulator) -> None:
    r = emu.graph("PATCH", GROUP_MAPPINGS, "target", json={"@context": "#$delta", "value": [doc_group_mapping()]})
    assert r.status_code == 200, r.text
    got = get(emu, f"{GROUP_MAPPINGS}(sourceGroupObjectId='{DOC_GROUP_ID}')", "target")
    # Context under /beta, not the docs' "stagingbeta".
    assert got == {
        "@odata.context": context(emu, "crossOrganizationGroupMappings", "/$entity"),
        "@odata.type": "#microsoft.graph.sharePointGroupIdentityMapping",
        "id": DOC_GROUP_MAPPING_ID,
        **doc_group_mapping(),
    }


def test_user_delta_patch_documented_example(emu: Emulator) -> None:
    target = "admin@a830edad9050849ken005.onmicrosoft.com"
    body = {
        "@context": "#$delta",
        "value": [
            doc_user_mapping(target),
            {"@removed": {"reason": "deleted"}, "sourceUserIdentity": {"userPrincipalName": "user1@contoso.com"}},
        ],
    }
    r = emu.graph("PATCH", USER_MAPPINGS, "target", json=copy.deepcopy(body))
    assert r.status_code == 200, r.text
    # One entry per item, in input order; the same id twice. The target UPN is the one sent (§9 item 9).
    assert r.json() == {
        "@odata.context": context(emu, "crossOrganizationUserMappings", "/$delta"),
        "value": [
            {"id": DOC_USER_MAPPING_ID, **doc_user_mapping(target)},
            {
                "id": DOC_USER_MAPPING_ID,
                "sourceUserIdentity": {"userPrincipalName": "user1@contoso.com"},
                "deleted": {"state": "deleted"},
            },
        ],
    }
    # Applied in order: the mapping is gone afterwards.
    after = emu.graph("GET", f"{USER_MAPPINGS}(sourceUserPrincipalName='user1@contoso.com')", "target")
    assert after.status_code == 404
    assert emu.control("GET", "/tenants/fabrikam/mappings")["user_mappings"] == {}


def test_group_delta_patch_documented_example(emu: Emulator) -> None:
    body = {
        "@context": "#$delta",
        "value": [
            doc_group_mapping(),
            {"@removed": {"reason": "deleted"}, "sourceGroupIdentity": {"id": DOC_GROUP_ID}},
        ],
    }
    r = emu.graph("PATCH", GROUP_MAPPINGS, "target", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "@odata.context": context(emu, "crossOrganizationGroupMappings", "/$delta"),
        "value": [
            {"id": DOC_GROUP_MAPPING_ID, **doc_group_mapping()},
            {
                "id": DOC_GROUP_MAPPING_ID,
                "sourceGroupIdentity": {"id": DOC_GROUP_ID},
                "deleted": {"state": "deleted"},
            },
        ],
    }
    after = emu.graph("GET", f"{GROUP_MAPPINGS}(sourceGroupObjectId='{DOC_GROUP_ID}')", "target")
    assert after.status_code == 404


def test_earlier_revision_payload_with_odata_types_is_accepted(emu: Emulator) -> None:
    # The 10/30/2025 revision annotates every item and nested object with @odata.type.
    item = doc_user_mapping("admin@fabrikam.onmicrosoft.com")
    item["@odata.type"] = "#microsoft.graph.sharePointUserIdentityMapping"
    item["sourceUserIdentity"]["@odata.type"] = "microsoft.graph.userIdentity"
    item["targetUserIdentity"]["@odata.type"] = "microsoft.graph.userIdentity"
    item["targetUserMigrationData"]["@odata.type"] = "microsoft.graph.sharePointIdentityMappingUserMigrationData"
    r = emu.graph("PATCH", USER_MAPPINGS, "target", json={"value": [item]})  # @context absent: tolerated
    assert r.status_code == 200, r.text
    assert r.json()["value"] == [{"id": DOC_USER_MAPPING_ID, **doc_user_mapping("admin@fabrikam.onmicrosoft.com")}]


def test_mapping_id_encoding_reproduces_documented_ids(emu: Emulator) -> None:
    # The key is matched case-insensitively and the id is built from the lower-cased key.
    item = doc_user_mapping("admin@fabrikam.onmicrosoft.com")
    item["sourceUserIdentity"] = {"userPrincipalName": "User1@Contoso.com"}
    users = emu.graph("PATCH", USER_MAPPINGS, "target", json={"@context": "#$delta", "value": [item]})
    assert users.status_code == 200, users.text
    assert users.json()["value"][0]["id"] == DOC_USER_MAPPING_ID
    group = doc_group_mapping()
    group["sourceGroupIdentity"] = {"id": DOC_GROUP_ID.upper()}
    groups = emu.graph("PATCH", GROUP_MAPPINGS, "target", json={"@context": "#$delta", "value": [group]})
    assert groups.status_code == 200, groups.text
    assert groups.json()["value"][0]["id"] == DOC_GROUP_MAPPING_ID
    got = get(emu, f"{USER_MAPPINGS}(sourceUserPrincipalName='user1@contoso.com')", "target")
    assert got["id"] == DOC_USER_MAPPING_ID


def test_seeded_user_mapping_id_is_base64url_of_the_documented_layout(emu: Emulator) -> None:
    upn = src_upn(emu, 7)
    emu.map_user(upn)
    got = get(emu, f"{USER_MAPPINGS}(sourceUserPrincipalName='{upn}')", "target")
    expected = base64.urlsafe_b64encode(struct.pack("<ii", 1, 1) + upn.lower().encode()).decode().rstrip("=")
    assert got["id"] == expected
    assert "=" not in got["id"]
