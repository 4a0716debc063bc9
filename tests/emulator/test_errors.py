"""Every error path of the emulated Graph API: status, code, message, envelope, headers, no side effects.

Sources: reference §3 error tables, §6.1 envelope, and ``specs/graph/behaviour.md`` for the
undocumented decisions (codes, messages, switches).
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from reconciler.emulator.world import MANAGE_ROLE, READ_ROLE, stable_id
from tests.conftest import (
    GROUP_MAPPINGS,
    GROUP_PARAMS,
    SITE_PARAMS,
    TASKS,
    USER_MAPPINGS,
    USER_PARAMS,
    Emulator,
    msal_token,
    start_emulator,
    stop_emulator,
    tls,
)

INNER_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
SOURCE_HOST = "https://contoso.sharepoint.com"
TARGET_HOST = "https://fabrikam.sharepoint.com"
TARGET_MY_HOST = "https://fabrikam-my.sharepoint.com"
MAX_BODY = 4 * 1024 * 1024
METHOD_NOT_ALLOWED = "Specified HTTP method is not allowed for the request uri."
TRUST_MESSAGE = f"There is no Cross-Tenant relationship established for partner {TARGET_MY_HOST} and role target."


# -- helpers ----------------------------------------------------------------------------------------


def call(emu: Emulator, method: str, path: str, role: str = "source", **kw: Any) -> httpx.Response:
    """A Graph call that always sends a fresh client-request-id, so every check sees it echoed."""
    headers = {"client-request-id": str(uuid.uuid4()), **kw.pop("headers", {})}
    return emu.graph(method, path, role, headers=headers, **kw)


def raw(emu: Emulator, method: str, url: str, **kw: Any) -> httpx.Response:
    """A request without the fixture's bearer token (``url`` may be absolute)."""
    headers = {"client-request-id": str(uuid.uuid4()), **kw.pop("headers", {})}
    return emu.http.request(method, url, headers=headers, **kw)


def check_error(r: httpx.Response, status: int, code: str, message: str | None = None) -> dict[str, Any]:
    """Status, Graph envelope, request ids; ``message`` is exact unless it ends with ``…`` (prefix)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "innerError"}, error
    assert error["code"] == code, error
    if message is not None:
        if message.endswith("…"):
            assert error["message"].startswith(message[:-1]), error["message"]
        else:
            assert error["message"] == message, error["message"]
    inner = error["innerError"]
    assert set(inner) == {"date", "request-id", "client-request-id"}, inner
    assert INNER_DATE.match(inner["date"]), inner["date"]
    request_id = r.headers["request-id"]
    uuid.UUID(request_id)
    assert inner["request-id"] == request_id
    sent = r.request.headers.get("client-request-id")
    if sent is not None:
        assert r.headers["client-request-id"] == sent
        assert inner["client-request-id"] == sent
    else:
        uuid.UUID(inner["client-request-id"])
        assert r.headers["client-request-id"] == inner["client-request-id"]
    return error


def src_upn(n: int) -> str:
    return f"user{n:03d}@contoso.onmicrosoft.com"


def site_task(n: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "parameters": {
            "@odata.type": SITE_PARAMS,
            "targetOrganizationHost": TARGET_MY_HOST,
            "sourceSiteUrl": f"{SOURCE_HOST}/sites/site{n:02d}",
            "targetSiteUrl": f"{TARGET_HOST}/sites/site{n:02d}",
            **extra,
        }
    }


def group_task(nick: str = "group01") -> dict[str, Any]:
    return {
        "parameters": {
            "@odata.type": GROUP_PARAMS,
            "targetOrganizationHost": TARGET_MY_HOST,
            "sourceGroupIdentity": {"mailNickname": nick},
            "targetGroupIdentity": {"mailNickname": nick},
        }
    }


def user_mapping(upn: str, target: str | None = None) -> dict[str, Any]:
    target = target or upn.split("@")[0] + "@fabrikam.onmicrosoft.com"
    return {
        "sourceOrganizationId": stable_id("tenant", "contoso"),
        "userType": "regularUser",
        "sourceUserIdentity": {"userPrincipalName": upn},
        "targetUserIdentity": {"userPrincipalName": target},
        "targetUserMigrationData": {"email": target},
    }


def group_mapping(group_id: str) -> dict[str, Any]:
    return {
        "groupType": "m365Group",
        "sourceGroupIdentity": {"id": group_id},
        "targetGroupIdentity": {"id": str(uuid.uuid4())},
        "targetGroupMigrationData": {"mailNickname": "target"},
    }


def delta(*items: Any) -> dict[str, Any]:
    return {"@context": "#$delta", "value": list(items)}


def create(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    r = call(emu, "POST", TASKS, json=body)
    assert r.status_code == 200, r.text
    task: dict[str, Any] = r.json()
    return task


def status_of(emu: Emulator, task_id: str) -> str:
    r = call(emu, "GET", f"{TASKS}/{task_id}")
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


def state(emu: Emulator) -> dict[str, Any]:
    """Everything a Graph write could change, as seen through the control API."""
    world = emu.control("GET", "/world")
    return {
        "tasks": emu.control("GET", "/tasks")["tasks"],
        "contoso": emu.control("GET", "/tenants/contoso/mappings"),
        "fabrikam": emu.control("GET", "/tenants/fabrikam/mappings"),
        "tenants": world["tenants"],
        "trust": world["trust"],
    }


@pytest.fixture
def slow(emu: Emulator) -> Emulator:
    """Tasks stay notStarted for the whole test."""
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 3600})
    return emu


@pytest.fixture
def set_roles(emu: Emulator) -> Iterator[Callable[[list[str]], str]]:
    """Change the source app's roles and return a NEW token; the roles are restored afterwards."""
    client_id = emu.source["client_id"]
    apps = next(t for t in emu.control("GET", "/world")["tenants"] if t["name"] == "contoso")["apps"]
    original = next(a for a in apps if a["client_id"] == client_id)["roles"]

    def change(roles: list[str]) -> str:
        emu.control("PATCH", f"/tenants/contoso/apps/{client_id}", {"roles": roles})
        result = msal_token(emu.conn, "source")
        assert "access_token" in result, result
        return str(result["access_token"])

    try:
        yield change
    finally:
        emu.control("PATCH", f"/tenants/contoso/apps/{client_id}", {"roles": original})


# -- request bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [("POST", TASKS, "source"), ("PATCH", USER_MAPPINGS, "target"), ("PATCH", GROUP_MAPPINGS, "target")],
)
def test_malformed_json_is_400(emu: Emulator, method: str, path: str, role: str) -> None:
    r = call(emu, method, path, role, content=b'{"parameters": ', headers={"content-type": "application/json"})
    check_error(r, 400, "BadRequest", "The request body is not valid JSON: …")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx"])
def test_wrong_content_type_is_415(emu: Emulator, content_type: str) -> None:
    body = json.dumps(site_task()).encode()
    r = call(emu, "POST", TASKS, content=body, headers={"content-type": content_type})
    check_error(r, 415, "UnsupportedMediaType", "A request with a body must have Content-Type: application/json …")
    r = call(emu, "PATCH", USER_MAPPINGS, "target", content=b"{}", headers={"content-type": content_type})
    check_error(r, 415, "UnsupportedMediaType")


def test_missing_content_type_is_415_and_json_parameters_are_allowed(slow: Emulator) -> None:
    body = json.dumps(site_task()).encode()
    check_error(call(slow, "POST", TASKS, content=body), 415, "UnsupportedMediaType")
    ok = call(slow, "POST", TASKS, content=body, headers={"content-type": "application/json; charset=utf-8"})
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [("POST", TASKS, "source"), ("PATCH", USER_MAPPINGS, "target"), ("PATCH", GROUP_MAPPINGS, "target")],
)
def test_missing_body_is_400(emu: Emulator, method: str, path: str, role: str) -> None:
    check_error(call(emu, method, path, role), 400, "BadRequest", "The request body is missing.")


@pytest.mark.parametrize("body", [[], "text", 42, True])
def test_body_that_is_not_an_object_is_400(emu: Emulator, body: Any) -> None:
    check_error(call(emu, "POST", TASKS, json=body), 400, "BadRequest", "The property 'body' must be a JSON object.")
    r = call(emu, "PATCH", USER_MAPPINGS, "target", json=body)
    check_error(r, 400, "BadRequest", "The property 'body' must be a JSON object.")


def test_oversized_body_is_413(emu: Emulator) -> None:
    padding = b" " * (MAX_BODY + 1 - len(b"{}"))
    r = call(emu, "POST", TASKS, content=b"{" + padding + b"}", headers={"content-type": "application/json"})
    check_error(r, 413, "RequestEntityTooLarge", f"The request body exceeds the limit of {MAX_BODY} bytes.")
    # Exactly at the limit is accepted (and then processed normally).
    item = json.dumps(delta(user_mapping(src_upn(1)))).encode()
    at_limit = item[:-1] + b" " * (MAX_BODY - len(item)) + b"}"
    assert len(at_limit) == MAX_BODY
    ok = call(emu, "PATCH", USER_MAPPINGS, "target", content=at_limit, headers={"content-type": "application/json"})
    assert ok.status_code == 200, ok.text


# -- task create validation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejected:
    """One request and the one error it gets: a row of the tables below."""

    id: str
    method: str
    path: str
    status: int
    code: str
    message: str | None
    body: Callable[[Emulator], Any] | None = None  # the JSON body, built on the test's emulator
    role: str = "source"
    setup: Callable[[Emulator], None] | None = None  # the world the request meets (default: as seeded)


def with_params(body: dict[str, Any], *, drop: str = "", **fields: Any) -> dict[str, Any]:
    """A task body with some parameters changed or added, and ``drop`` removed."""
    body["parameters"].update(fields)
    if drop:
        del body["parameters"][drop]
    return body


def user_identity(emu: Emulator, identity: dict[str, Any]) -> dict[str, Any]:
    return with_params(emu.user_task(1), sourceUserIdentity=identity)


def map_user_1(emu: Emulator) -> None:
    emu.map_user(src_upn(1))


def user_3_without_onedrive(emu: Emulator) -> None:
    emu.map_user(src_upn(3))
    emu.control("PUT", f"/tenants/contoso/users/{src_upn(3)}", {"one_drive": False})


def northwind_on_the_source_farm(emu: Emulator) -> None:
    emu.control("POST", "/seed", {"tenants": [{"name": "northwind", "farm": f"farm-{emu.source['tenant_id']}"}]})
    emu.control("PUT", "/trust", {"source": "contoso", "target": "northwind"})


def _post(
    row_id: str,
    body: Callable[[Emulator], Any],
    status: int,
    code: str,
    message: str,
    setup: Callable[[Emulator], None] | None = None,
) -> Rejected:
    """A task create: the error it gets."""
    return Rejected(row_id, "POST", TASKS, status, code, message, body, setup=setup)


def _post400(
    row_id: str, body: Callable[[Emulator], Any], message: str, setup: Callable[[Emulator], None] | None = None
) -> Rejected:
    return _post(row_id, body, 400, "BadRequest", message, setup)


def _bad(field: str, value: Any, message: str, row_id: str = "") -> Rejected:
    """A site task with one parameter set to ``value``: 400 BadRequest."""
    return _post400(row_id or f"{field}={value!r}", lambda _emu: site_task(**{field: value}), message)


def _user_field(field: str, value: Any, message: str) -> Rejected:
    """A user task (its user mapped) with one parameter set to ``value``: 400 BadRequest."""
    body: Callable[[Emulator], Any] = lambda emu: with_params(emu.user_task(1), **{field: value})  # noqa: E731
    return _post400(f"user-{field}={value!r}", body, message, setup=map_user_1)


def _user_identity(row_id: str, identity: dict[str, Any], message: str) -> Rejected:
    return _post400(row_id, lambda emu: user_identity(emu, identity), message)


MISSING = "Cannot process the request because the required parameter {} is missing."
NOT_A_PARAMETERS_TYPE = "The type '{}' is not a migration task parameters type; use one of …"
SAME_FARM = "It has been detected that partners reside in the same SPO location that prevents them from migrating. …"
UNKNOWN_ORG = str(uuid.UUID(int=0xDEAD))
SCHEDULE = "parameters.preferredLatestStartDateTime must be later than parameters.preferredStartDateTime."
NO_ONEDRIVE = f"Unable to get a OneDrive URL for source user UPN {src_upn(3)}."

CREATES = [
    _post400("no-parameters", lambda _emu: {}, MISSING.format("parameters")),
    _post400("null-parameters", lambda _emu: {"parameters": None}, MISSING.format("parameters")),
    _post400(
        "no-odata-type",
        lambda _emu: with_params(site_task(), drop="@odata.type"),
        MISSING.format("parameters.@odata.type"),
    ),
    # the prose name of reference §9 item 6, the abstract base, an entity type, nothing
    *(
        _bad("@odata.type", odata_type, NOT_A_PARAMETERS_TYPE.format(odata_type), f"odata-type-{odata_type!r}")
        for odata_type in (
            "#microsoft.graph.sharePointUserMigrationParameters",
            "#microsoft.graph.sharePointMigrationTaskParameters",
            "#microsoft.graph.user",
            "",
        )
    ),
    _bad("@odata.type", 5, "The property 'parameters.@odata.type' must be a string."),
    # Unknown properties are named with their JSON path.
    _bad(
        "sourceSiteUrll",
        "https://contoso.sharepoint.com/sites/site01",
        "The property 'sourceSiteUrll' does not exist on type "
        "'microsoft.graph.sharePointSiteMigrationTaskParameters' (parameters.sourceSiteUrll).",
    ),
    _post400(
        "unknown-top-level-property",
        lambda _emu: {**site_task(), "errors": []},
        "The property 'errors' does not exist on type 'microsoft.graph.sharePointMigrationTask' (errors).",
    ),
    # A user-only property on a site task is unknown too.
    _bad("sourceUserIdentity", {"userPrincipalName": src_upn(1)}, "The property 'sourceUserIdentity' …"),
    # The docs' malformed example id (reference §9 item 3) is rejected, not copied.
    _bad(
        "targetOrganizationId",
        "3ef4e46d-13a3-4895-b6ea-a74a20hu728h",
        "The value '3ef4e46d-13a3-4895-b6ea-a74a20hu728h' of 'parameters.targetOrganizationId' is not a valid GUID.",
    ),
    _bad(
        "targetOrganizationId",
        "3ef4e46d13a34895b6eaa74a20b1fac0",
        "The value '3ef4e46d13a34895b6eaa74a20b1fac0' of 'parameters.targetOrganizationId' is not a valid GUID.",
    ),
    _bad(
        "targetOrganizationHost",
        "fabrikam-my.sharepoint.com",
        "The value 'fabrikam-my.sharepoint.com' of 'parameters.targetOrganizationHost' is not an absolute https URL.",
    ),
    _bad(
        "sourceSiteUrl",
        "http://contoso.sharepoint.com/sites/site01",
        "The value 'http://contoso.sharepoint.com/sites/site01' of 'parameters.sourceSiteUrl' "
        "is not an absolute https URL.",
    ),
    _bad(
        "targetSiteUrl",
        "/sites/site01",
        "The value '/sites/site01' of 'parameters.targetSiteUrl' is not an absolute https URL.",
    ),
    # The docs' unpadded timestamp (reference §9 item 2) is not ISO 8601.
    _bad(
        "preferredStartDateTime",
        "2025-7-18T09:08:04.451Z",
        "The value '2025-7-18T09:08:04.451Z' of 'parameters.preferredStartDateTime' "
        "is not a valid ISO 8601 DateTimeOffset.",
    ),
    _bad(
        "preferredLatestStartDateTime",
        "2030-01-01T00:00:00",
        "The value '2030-01-01T00:00:00' of 'parameters.preferredLatestStartDateTime' "
        "is not a valid ISO 8601 DateTimeOffset.",
    ),
    _user_identity(
        "identity-upn-without-at",
        {"userPrincipalName": "not-a-upn"},
        "The value 'not-a-upn' of 'parameters.sourceUserIdentity.userPrincipalName' "
        "is not a valid user principal name.",
    ),
    _user_identity(
        "identity-upn-without-dot",
        {"userPrincipalName": "user001@contoso"},
        "The value 'user001@contoso' of 'parameters.sourceUserIdentity.userPrincipalName' "
        "is not a valid user principal name.",
    ),
    _user_identity(
        "identity-id-not-a-guid",
        {"id": "da157a29"},
        "The value 'da157a29' of 'parameters.sourceUserIdentity.id' is not a valid GUID.",
    ),
    _user_identity("identity-empty", {}, MISSING.format("parameters.sourceUserIdentity")),
    _user_identity(
        "identity-display-name-only",
        {"displayName": "User 1"},
        MISSING.format("parameters.sourceUserIdentity.userPrincipalName"),
    ),
    _user_identity(
        "identity-unknown-property",
        {"userPrincipalName": src_upn(1), "mail": src_upn(1)},
        "The property 'mail' does not exist on type 'microsoft.graph.userIdentity' "
        "(parameters.sourceUserIdentity.mail).",
    ),
    # Wrong JSON types in a task whose user is mapped (so the type is the only fault).
    _user_field("validateOnly", "yes", "The property 'parameters.validateOnly' must be a Boolean."),
    _user_field("validateOnly", 1, "The property 'parameters.validateOnly' must be a Boolean."),
    _user_field(
        "sourceUserIdentity",
        "user001@contoso.onmicrosoft.com",
        "The property 'parameters.sourceUserIdentity' must be a JSON object.",
    ),
    _user_field("targetOrganizationId", 12345, "The property 'parameters.targetOrganizationId' must be a string."),
    _user_field(
        "targetOrganizationHost",
        ["https://fabrikam-my.sharepoint.com"],
        "The property 'parameters.targetOrganizationHost' must be a string.",
    ),
    _user_field(
        "preferredStartDateTime",
        1725120000,
        "The property 'parameters.preferredStartDateTime' must be a DateTimeOffset string.",
    ),
    _user_field(
        "targetDataLocationCode",
        7,
        "The value '7' of 'parameters.targetDataLocationCode' is not a data location of the target organization.",
    ),
    _post400(
        "parameters-not-an-object",
        lambda _emu: {"parameters": [site_task()["parameters"]]},
        "The property 'parameters' must be a JSON object.",
    ),
    # The target organization: named, consistent, with a known location.
    _post400(
        "no-target-organization",
        lambda _emu: with_params(site_task(), drop="targetOrganizationHost"),
        MISSING.format("parameters.targetOrganizationId"),
    ),
    _post400(
        "target-id-and-host-disagree",
        lambda emu: site_task(targetOrganizationId=emu.source["tenant_id"]),
        "parameters.targetOrganizationId and parameters.targetOrganizationHost name different organizations.",
    ),
    _bad(
        "targetDataLocationCode",
        "JPN",
        "The value 'JPN' of 'parameters.targetDataLocationCode' is not a data location of the target organization.",
    ),
    # The schedule: the latest start must be later than the preferred start.
    _post400(
        "schedule-reversed",
        lambda _emu: site_task(
            preferredStartDateTime="2030-01-02T00:00:00Z", preferredLatestStartDateTime="2030-01-01T00:00:00Z"
        ),
        SCHEDULE,
    ),
    _post400(
        "schedule-equal",
        lambda _emu: site_task(
            preferredStartDateTime="2030-01-01T00:00:00Z", preferredLatestStartDateTime="2030-01-01T00:00:00Z"
        ),
        SCHEDULE,
    ),
    # Site tasks.
    _post400(
        "site-no-target-url",
        lambda _emu: with_params(site_task(), drop="targetSiteUrl"),
        MISSING.format("parameters.targetSiteUrl"),
    ),
    _bad(
        "targetSiteUrl",
        f"{SOURCE_HOST}/sites/site01",
        f"parameters.targetSiteUrl must be a site URL under {TARGET_HOST}.",
    ),
    _post(
        "site-unknown-source",
        lambda _emu: site_task(sourceSiteUrl=f"{SOURCE_HOST}/sites/nosuchsite"),
        404,
        "itemNotFound",
        f"The source site {SOURCE_HOST}/sites/nosuchsite could not be found in the source organization.",
    ),
    # Group tasks.
    _post400(
        "group-no-target-identity",
        lambda _emu: with_params(group_task(), drop="targetGroupIdentity"),
        MISSING.format("parameters.targetGroupIdentity"),
    ),
    _post400(
        "group-bad-nickname",
        lambda _emu: group_task("bad nick"),
        "The value 'bad nick' of 'parameters.sourceGroupIdentity.mailNickname' is not a valid mail nickname.",
    ),
    _post(
        "group-unknown-source",
        lambda _emu: group_task("nosuchgroup"),
        404,
        "itemNotFound",
        "The source group nosuchgroup could not be found in the source organization.",
    ),
    # User tasks: the users must exist on both sides, and two identities must name one user.
    _post(
        "user-unknown-source",
        lambda emu: user_identity(emu, {"userPrincipalName": "ghost@contoso.onmicrosoft.com"}),
        404,
        "itemNotFound",
        "The source user ghost@contoso.onmicrosoft.com could not be found in the source organization.",
    ),
    _post(
        "user-unknown-target",
        lambda emu: with_params(
            emu.user_task(1), targetUserIdentity={"userPrincipalName": "ghost@fabrikam.onmicrosoft.com"}
        ),
        422,
        "unprocessableEntity",
        "The target user ghost@fabrikam.onmicrosoft.com does not exist in the target organization.",
        setup=map_user_1,
    ),
    _post400(
        "user-id-and-upn-disagree",
        lambda emu: user_identity(
            emu,
            {**emu.user_task(1)["parameters"]["sourceUserIdentity"], "id": stable_id("user", "contoso", src_upn(2))},
        ),
        "parameters.sourceUserIdentity.id and parameters.sourceUserIdentity.userPrincipalName name different users.",
        setup=map_user_1,
    ),
    # 422: the documented prerequisites.
    _post(
        "unknown-target-organization-id",
        lambda _emu: with_params(site_task(), drop="targetOrganizationHost", targetOrganizationId=UNKNOWN_ORG),
        422,
        "unprocessableEntity",
        f"There is no Cross-Tenant relationship established for partner {UNKNOWN_ORG} and role target.",
    ),
    _post(
        "unknown-target-organization-host",
        lambda _emu: site_task(targetOrganizationHost="https://northwind-my.sharepoint.com"),
        422,
        "unprocessableEntity",
        "There is no Cross-Tenant relationship established for partner "
        "https://northwind-my.sharepoint.com and role target.",
    ),
    _post(
        "user-without-onedrive",
        lambda emu: emu.user_task(3),
        422,
        "unprocessableEntity",
        NO_ONEDRIVE,
        setup=user_3_without_onedrive,
    ),
    _post(
        "user-without-onedrive-validate-only",
        lambda emu: emu.user_task(3, validateOnly=True),
        422,
        "unprocessableEntity",
        NO_ONEDRIVE,
        setup=user_3_without_onedrive,
    ),
    _post(
        "partners-on-the-same-farm",
        lambda _emu: {
            "parameters": {
                "@odata.type": SITE_PARAMS,
                "targetOrganizationId": stable_id("tenant", "northwind"),
                "sourceSiteUrl": f"{SOURCE_HOST}/sites/site01",
                "targetSiteUrl": "https://northwind.sharepoint.com/sites/site01",
            }
        },
        501,
        "notImplemented",
        SAME_FARM,
        setup=northwind_on_the_source_farm,
    ),
]


@pytest.mark.parametrize("case", CREATES, ids=lambda case: case.id)
def test_a_bad_task_create_is_refused(emu: Emulator, case: Rejected) -> None:
    check_rejected(emu, case)


def check_rejected(emu: Emulator, case: Rejected) -> None:
    if case.setup is not None:
        case.setup(emu)
    kw = {} if case.body is None else {"json": case.body(emu)}
    check_error(call(emu, case.method, case.path, case.role, **kw), case.status, case.code, case.message)


# -- 422: the documented prerequisites -------------------------------------------------------------------


def test_trust_removed_is_422_on_create_and_validate_only(emu: Emulator) -> None:
    emu.map_user(src_upn(1))
    emu.control("PUT", "/trust", {"source": "contoso", "target": "fabrikam", "established": False})
    check_error(call(emu, "POST", TASKS, json=emu.user_task(1)), 422, "unprocessableEntity", TRUST_MESSAGE)
    check_error(call(emu, "POST", TASKS, json=site_task()), 422, "unprocessableEntity", TRUST_MESSAGE)
    check_error(call(emu, "POST", TASKS, json=site_task(validateOnly=True)), 422, "unprocessableEntity", TRUST_MESSAGE)
    # The reverse direction is still trusted; it does not stand in for the missing one.
    assert {"source": "fabrikam", "target": "contoso"} in emu.control("GET", "/world")["trust"]
    assert emu.control("GET", "/tasks")["tasks"] == []


def test_trust_removed_is_422_on_reads_and_cancel(slow: Emulator) -> None:
    task = create(slow, site_task())
    group = create(slow, group_task())
    slow.control("PUT", "/trust", {"source": "contoso", "target": "fabrikam", "established": False})
    for path in (
        f"{TASKS}/{task['id']}",
        f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl='{SOURCE_HOST}/sites/site01')",
        f"{TASKS}/getBySourceGroupMailNickname(sourceGroupMailNickname='group01')",
    ):
        check_error(call(slow, "GET", path), 422, "unprocessableEntity", TRUST_MESSAGE)
    check_error(call(slow, "POST", f"{TASKS}/{group['id']}/cancel"), 422, "unprocessableEntity", TRUST_MESSAGE)
    slow.control("PUT", "/trust", {"source": "contoso", "target": "fabrikam", "established": True})
    assert status_of(slow, group["id"]) == "notStarted"  # the rejected cancel changed nothing


def test_missing_identity_map_entry_is_422(emu: Emulator) -> None:
    message = f"Identity map entry for source UPN {src_upn(4)} does not exist on the target tenant."
    check_error(call(emu, "POST", TASKS, json=emu.user_task(4)), 422, "unprocessableEntity", message)
    check_error(call(emu, "POST", TASKS, json=emu.user_task(4, validateOnly=True)), 422, "unprocessableEntity", message)
    # A mapping in the wrong (source) tenant does not count.
    r = call(emu, "PATCH", USER_MAPPINGS, "source", json=delta(user_mapping(src_upn(4))))
    assert r.status_code == 200, r.text
    check_error(call(emu, "POST", TASKS, json=emu.user_task(4)), 422, "unprocessableEntity", message)
    emu.map_user(src_upn(4))
    assert create(emu, emu.user_task(4))["status"] == "notStarted"


def test_group_task_requires_mapping_switch(emu: Emulator) -> None:
    assert create(emu, group_task("group02"))["status"] == "notStarted"  # default: no mapping needed
    emu.control("PATCH", "/behaviour", {"group_task_requires_mapping": True})
    group_id = stable_id("group", "contoso", "group01")
    check_error(
        call(emu, "POST", TASKS, json=group_task("group01")),
        422,
        "unprocessableEntity",
        f"Identity map entry for source group {group_id} does not exist on the target tenant.",
    )
    r = call(emu, "PATCH", GROUP_MAPPINGS, "target", json=delta(group_mapping(group_id)))
    assert r.status_code == 200, r.text
    assert create(emu, group_task("group01"))["status"] == "notStarted"


# -- 401 / 403 ---------------------------------------------------------------------------------------------


def check_401(r: httpx.Response, message: str) -> None:
    check_error(r, 401, "InvalidAuthenticationToken", message)
    assert r.headers["www-authenticate"].startswith("Bearer "), r.headers


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Access token is empty."),
        ("", "Access token is empty."),
        ("Bearer", "Access token is empty or the authorization scheme is not Bearer."),
        ("Basic dXNlcjpwYXNz", "Access token is empty or the authorization scheme is not Bearer."),
        ("Bearer not-a-jwt", "IDX14100: JWT is not well formed."),
        ("Bearer a.b.c", "IDX14100: JWT is not well formed."),
    ],
)
def test_missing_or_malformed_token_is_401(emu: Emulator, authorization: str | None, message: str) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    check_401(raw(emu, "GET", f"{TASKS}/{uuid.uuid4()}", headers=headers), message)
    check_401(raw(emu, "POST", TASKS, headers=headers, json=site_task()), message)


def test_tampered_token_is_401(emu: Emulator) -> None:
    header, payload, signature = emu.token("source").split(".")
    claims = _claims(emu.token("source"))
    claims["tid"] = emu.target["tenant_id"]  # pretend to be the other tenant
    forged = f"{header}.{_b64(claims)}.{signature}"
    check_401(
        raw(emu, "GET", f"{TASKS}/{uuid.uuid4()}", headers={"Authorization": f"Bearer {forged}"}),
        "Access token validation failure. Invalid signature.",
    )
    # A byte of the signature itself flipped.
    sig = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    sig[len(sig) // 2] ^= 0x01
    flipped = f"{header}.{payload}.{base64.urlsafe_b64encode(bytes(sig)).decode().rstrip('=')}"
    check_401(
        raw(emu, "GET", f"{TASKS}/{uuid.uuid4()}", headers={"Authorization": f"Bearer {flipped}"}),
        "Access token validation failure. Invalid signature.",
    )


def test_token_signed_with_another_key_is_401(emu: Emulator) -> None:
    claims = _claims(emu.token("source"))
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for aud in ("https://graph.microsoft.com", "api://something-else"):
        token = jwt.encode({**claims, "aud": aud}, stranger, algorithm="RS256")
        check_401(
            raw(emu, "GET", f"{TASKS}/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"}),
            "Access token validation failure. Invalid signature.",
        )


def test_unsigned_and_symmetric_tokens_are_401(emu: Emulator) -> None:
    claims = _claims(emu.token("source"))
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    hs256 = jwt.encode(claims, "a-shared-secret-that-is-long-enough-for-hs256", algorithm="HS256")
    for token in (unsigned, hs256):
        r = raw(emu, "GET", f"{TASKS}/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"})
        check_401(r, "Access token validation failure. …")


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Any]]:
    """A second emulator whose signing key the test can read (from its --state file)."""
    workdir = tmp_path_factory.mktemp("keyed")
    state_file = workdir / "state.json"
    proc, conn = start_emulator(workdir, "--state", str(state_file))
    try:
        deadline = time.monotonic() + 10
        while not _readable(state_file) and time.monotonic() < deadline:
            time.sleep(0.05)
        data = json.loads(state_file.read_text())
        yield conn, _load_key(data["signing_key_pem"])
    finally:
        stop_emulator(proc)


def _readable(path: Path) -> bool:
    try:
        return "signing_key_pem" in json.loads(path.read_text())
    except (OSError, ValueError):
        return False


def _load_key(pem: str) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(pem.encode(), password=None)


def test_properly_signed_tokens_with_bad_claims_are_401(keyed: tuple[dict[str, Any], Any]) -> None:
    conn, key = keyed
    source = conn["tenants"]["source"]
    now = int(time.time())
    good = {
        "aud": "https://graph.microsoft.com",
        "tid": source["tenant_id"],
        "appid": source["client_id"],
        "roles": [READ_ROLE, MANAGE_ROLE],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    path = f"{conn['graph_base_url']}{TASKS}/{uuid.uuid4()}"
    with httpx.Client(verify=tls(conn["ca_file"]), timeout=30) as client:

        def get(claims: dict[str, Any]) -> httpx.Response:
            token = jwt.encode(claims, key, algorithm="RS256")
            return client.get(path, headers={"Authorization": f"Bearer {token}", "client-request-id": "abc-123"})

        # The minted token itself is accepted (so each failure below is about the one claim changed) …
        check_error(get(good), 404, "itemNotFound")
        check_error(get({**good, "aud": "00000003-0000-0000-c000-000000000000"}), 404, "itemNotFound")
        # … and each bad claim is a 401.
        check_401(get({**good, "aud": "api://another-resource"}), "Access token validation failure. Invalid audience.")
        check_401(get({**good, "exp": now - 60}), "Lifetime validation failed, the token is expired.")
        check_401(
            get({**good, "tid": str(uuid.uuid4())}),
            "Access token validation failure: the tenant of the token is unknown.",
        )
        check_401(get({k: v for k, v in good.items() if k != "tid"}), "Access token validation failure. …")
        check_401(get({k: v for k, v in good.items() if k != "aud"}), "Access token validation failure. …")


def test_app_without_roles_is_403(emu: Emulator, set_roles: Callable[[list[str]], str]) -> None:
    token = set_roles([])
    auth = {"Authorization": f"Bearer {token}"}
    read_denied = "Access denied. The application needs the SharePointCrossTenantMigration.Read.All permission."
    write_denied = "Access denied. The application needs the SharePointCrossTenantMigration.Manage.All permission."
    check_error(raw(emu, "GET", f"{TASKS}/{uuid.uuid4()}", headers=auth), 403, "accessDenied", read_denied)
    lookup = f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl='{SOURCE_HOST}/sites/site01')"
    check_error(raw(emu, "GET", lookup, headers=auth), 403, "accessDenied", read_denied)
    check_error(raw(emu, "POST", TASKS, headers=auth, json=site_task()), 403, "accessDenied", write_denied)
    check_error(raw(emu, "POST", f"{TASKS}/{uuid.uuid4()}/cancel", headers=auth), 403, "accessDenied", write_denied)
    r = raw(emu, "PATCH", USER_MAPPINGS, headers=auth, json=delta(user_mapping(src_upn(1))))
    check_error(r, 403, "accessDenied", write_denied)
    assert emu.control("GET", "/tasks")["tasks"] == []
    assert emu.control("GET", "/tenants/contoso/mappings")["user_mappings"] == {}


def test_read_only_app_cannot_write(emu: Emulator, set_roles: Callable[[list[str]], str]) -> None:
    auth = {"Authorization": f"Bearer {set_roles([READ_ROLE])}"}
    check_error(raw(emu, "GET", f"{TASKS}/{uuid.uuid4()}", headers=auth), 404, "itemNotFound")
    check_error(
        raw(emu, "POST", TASKS, headers=auth, json=site_task()),
        403,
        "accessDenied",
        "Access denied. The application needs the SharePointCrossTenantMigration.Manage.All permission.",
    )


def test_manage_only_app_reads_depend_on_switch(emu: Emulator, set_roles: Callable[[list[str]], str]) -> None:
    auth = {"Authorization": f"Bearer {set_roles([MANAGE_ROLE])}"}
    check_error(raw(emu, "GET", f"{TASKS}/{uuid.uuid4()}", headers=auth), 404, "itemNotFound")
    emu.control("PATCH", "/behaviour", {"manage_implies_read": False})
    check_error(
        raw(emu, "GET", f"{TASKS}/{uuid.uuid4()}", headers=auth),
        403,
        "accessDenied",
        "Access denied. The application needs the SharePointCrossTenantMigration.Read.All permission.",
    )


# -- URLs: segments, methods, query options, literals ------------------------------------------------------


LITERAL = "The value of {} must be a single-quoted string literal, …"
UNKNOWN_TASK = str(uuid.UUID(int=0xBEEF))
GROUP01 = stable_id("group", "contoso", "group01")


def _read(row_id: str, path: str, status: int, code: str, message: str | None, role: str = "") -> Rejected:
    """A GET (of a task function, or of a mapping by key as the target app): the error it gets."""
    role = role or ("target" if path.startswith((USER_MAPPINGS, GROUP_MAPPINGS)) else "source")
    return Rejected(row_id, "GET", path, status, code, message, role=role)


def _get400(row_id: str, path: str, message: str) -> Rejected:
    return _read(row_id, path, 400, "BadRequest", message)


def map_user_9(emu: Emulator) -> None:
    emu.map_user(src_upn(9))


READS = [
    *(
        _read(f"segment-{segment}-{n}", path, 400, "BadRequest", f"Resource not found for the segment '{segment}'.")
        for n, (path, segment) in enumerate(
            [
                ("/me", "me"),
                ("/solutions/foo", "foo"),
                ("/solutions/sharePoint/migration", "migration"),
                ("/solutions/sharePoint/migrations/crossOrganizationMigrationTask", "crossOrganizationMigrationTask"),
                ("/solutions/sharePoint/migrations/crossOrganizationUserMapping", "crossOrganizationUserMapping"),
                (
                    f"{TASKS}/getBySourceGroupObjectId(sourceGroupObjectId='{uuid.UUID(int=7)}')",
                    "getBySourceGroupObjectId",
                ),
                (f"{TASKS}/getBySourceSiteId(sourceSiteId='x')", "getBySourceSiteId"),
                (f"{TASKS}/getBySourceSiteId('x')", "getBySourceSiteId"),
                (f"{TASKS}/3ed6d46d-13a3-4995-b6ea-a74a20b1fac0()", "3ed6d46d-13a3-4995-b6ea-a74a20b1fac0"),
                (f"{TASKS}/3ed6d46d-13a3-4995-b6ea-a74a20b1fac0/cancel/now", "now"),
                (f"{TASKS}/3ed6d46d-13a3-4995-b6ea-a74a20b1fac0/status", "status"),
                (f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl='x')/more", "more"),
            ]
        )
    ),
    _get400("path-not-utf8", f"{TASKS}/%FF%FE", "The request URI is not valid: …"),
    # Function literals.
    _get400(
        "literal-unquoted-upn",
        f"{TASKS}/getBySourceUserPrincipalName(sourcePrincipalName={src_upn(1)})",
        "The value of sourcePrincipalName must be a single-quoted string literal, e.g. sourcePrincipalName='value' …",
    ),
    _get400(
        "literal-double-quoted",
        f'{TASKS}/getBySourceGroupMailNickname(sourceGroupMailNickname="group01")',
        LITERAL.format("sourceGroupMailNickname"),
    ),
    _get400(
        "literal-unquoted-nickname",
        f"{TASKS}/getBySourceGroupMailNickname(sourceGroupMailNickname=group01)",
        LITERAL.format("sourceGroupMailNickname"),
    ),
    _get400(
        "literal-unquoted-mapping-key",
        f"{USER_MAPPINGS}(sourceUserPrincipalName={src_upn(1)})",
        LITERAL.format("sourceUserPrincipalName"),
    ),
    _get400(
        "literal-unterminated",
        f"{TASKS}/getBySourceUserPrincipalName(sourcePrincipalName='o'brien@contoso.onmicrosoft.com')",
        "Unterminated string literal in the request URI.",
    ),
    _get400(
        "literal-single-quote-not-doubled",
        f"{TASKS}/getBySourceUserPrincipalName(sourcePrincipalName='a'b'@contoso.onmicrosoft.com')",
        "Syntax error in the string literal of sourcePrincipalName: a single quote must be doubled.",
    ),
    _get400(
        "literal-unclosed-call",
        f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl='{SOURCE_HOST}/sites/site01'",
        f"Resource not found for the segment 'getBySourceSiteUrl(sourceSiteUrl='{SOURCE_HOST}/sites/site01''.",
    ),
    # A doubled quote is accepted: the lookup runs, and finds nothing.
    _read(
        "literal-doubled-quote-accepted",
        f"{TASKS}/getBySourceUserPrincipalName(sourcePrincipalName='o''brien@contoso.onmicrosoft.com')",
        404,
        "itemNotFound",
        "The migration task for source o'brien@contoso.onmicrosoft.com could not be found.",
    ),
    # Parameter aliases.
    *(
        _read(
            f"alias-{n}",
            f"{TASKS}/getBySourceUserPrincipalName(sourcePrincipalName=@upn){query}",
            400,
            "BadRequest",
            message,
        )
        for n, (query, message) in enumerate(
            [
                ("", "The parameter alias @upn used for sourcePrincipalName is not given in the query string."),
                (
                    f"?@other='{src_upn(1)}'",
                    "The parameter alias @upn used for sourcePrincipalName is not given in the query string.",
                ),
                (f"?@upn={src_upn(1)}", LITERAL.format("sourcePrincipalName")),
            ]
        )
    ),
    # Function parameters and mapping keys. The parameter is sourcePrincipalName, not
    # sourceUserPrincipalName (reference §3.3).
    _get400(
        "function-wrong-parameter-name",
        f"{TASKS}/getBySourceUserPrincipalName(sourceUserPrincipalName='{src_upn(1)}')",
        "The function 'getBySourceUserPrincipalName' takes exactly one parameter, sourcePrincipalName='…'.",
    ),
    _get400(
        "function-parameter-twice",
        f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl='a',sourceSiteUrl='b')",
        "The parameter 'sourceSiteUrl' is given more than once in 'getBySourceSiteUrl'.",
    ),
    _get400(
        "function-parameter-empty", f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl='')", MISSING.format("sourceSiteUrl")
    ),
    _get400(
        "mapping-wrong-key-name",
        f"{USER_MAPPINGS}(sourcePrincipalName='{src_upn(1)}')",
        "The key of crossOrganizationUserMappings is sourceUserPrincipalName='…'.",
    ),
    _get400(
        "mapping-key-not-a-upn",
        f"{USER_MAPPINGS}(sourceUserPrincipalName='not-a-upn')",
        "The value 'not-a-upn' of 'sourceUserPrincipalName' is not a valid user principal name.",
    ),
    _get400(
        "mapping-key-not-a-guid",
        f"{GROUP_MAPPINGS}(sourceGroupObjectId='group01')",
        "The value 'group01' of 'sourceGroupObjectId' is not a valid GUID.",
    ),
    # 404: unknown task ids and mapping keys.
    _read(
        "unknown-task-id",
        f"{TASKS}/{UNKNOWN_TASK}",
        404,
        "itemNotFound",
        f"The migration task {UNKNOWN_TASK} could not be found.",
    ),
    Rejected(
        "cancel-unknown-task-id",
        "POST",
        f"{TASKS}/{UNKNOWN_TASK}/cancel",
        404,
        "itemNotFound",
        f"The migration task {UNKNOWN_TASK} could not be found.",
    ),
    _read(
        "unknown-user-mapping",
        f"{USER_MAPPINGS}(sourceUserPrincipalName='{src_upn(9)}')",
        404,
        "itemNotFound",
        f"The identity mapping for source user principal name '{src_upn(9)}' could not be found.",
    ),
    _read(
        "unknown-group-mapping",
        f"{GROUP_MAPPINGS}(sourceGroupObjectId='{GROUP01}')",
        404,
        "itemNotFound",
        f"The identity mapping for source group object id '{GROUP01}' could not be found.",
    ),
    # Mappings live in the target tenant: the source tenant does not see them.
    Rejected(
        "user-mapping-read-by-the-source",
        "GET",
        f"{USER_MAPPINGS}(sourceUserPrincipalName='{src_upn(9)}')",
        404,
        "itemNotFound",
        None,
        role="source",
        setup=map_user_9,
    ),
]


@pytest.mark.parametrize("case", READS, ids=lambda case: case.id)
def test_a_bad_url_or_an_unknown_key_is_refused(emu: Emulator, case: Rejected) -> None:
    check_rejected(emu, case)


def test_v1_0_is_400_because_the_api_is_beta_only(emu: Emulator) -> None:
    url = f"{emu.conn['authority_base_url']}/v1.0{TASKS}/{uuid.uuid4()}"
    r = raw(emu, "GET", url, headers=emu.auth("source"))
    check_error(r, 400, "BadRequest", "Resource not found for the segment 'migrations'.")


@pytest.mark.parametrize("path", ["/nothing/here", "/", "/graph/beta/solutions", "/_emulatorx"])
def test_unknown_top_level_path_is_404(emu: Emulator, path: str) -> None:
    r = raw(emu, "GET", f"{emu.conn['authority_base_url']}{path}", headers=emu.auth("source"))
    check_error(r, 404, "itemNotFound")


@pytest.mark.parametrize(
    ("method", "path", "role", "body"),
    [
        ("DELETE", f"{TASKS}/3ed6d46d-13a3-4995-b6ea-a74a20b1fac0", "source", None),
        ("PATCH", f"{TASKS}/3ed6d46d-13a3-4995-b6ea-a74a20b1fac0", "source", {"status": "cancelled"}),
        ("PUT", TASKS, "source", site_task()),
        ("DELETE", TASKS, "source", None),
        ("PATCH", TASKS, "source", {"value": []}),
        ("GET", f"{TASKS}/3ed6d46d-13a3-4995-b6ea-a74a20b1fac0/cancel", "source", None),
        ("DELETE", f"{TASKS}/getBySourceGroupMailNickname(sourceGroupMailNickname='group01')", "source", None),
        ("POST", f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl='{SOURCE_HOST}/sites/site01')", "source", {}),
        ("POST", USER_MAPPINGS, "target", {"value": []}),
        ("PUT", GROUP_MAPPINGS, "target", {"value": []}),
        ("DELETE", f"{USER_MAPPINGS}(sourceUserPrincipalName='user1@contoso.com')", "target", None),
        ("PATCH", f"{GROUP_MAPPINGS}(sourceGroupObjectId='{uuid.uuid4()}')", "target", {"groupType": "none"}),
        ("GET", "/$batch", "source", None),
        ("OPTIONS", TASKS, "source", None),
        ("MERGE", f"{USER_MAPPINGS}(sourceUserPrincipalName='user1@contoso.com')", "target", None),
    ],
)
def test_wrong_method_is_405(emu: Emulator, method: str, path: str, role: str, body: Any) -> None:
    kw: dict[str, Any] = {} if body is None else {"json": body}
    check_error(call(emu, method, path, role, **kw), 405, "methodNotAllowed", METHOD_NOT_ALLOWED)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        (f"{TASKS}/3ed6d46d-13a3-4995-b6ea-a74a20b1fac0", {"$filter": "status eq 'completed'"}),
        (f"{TASKS}/3ed6d46d-13a3-4995-b6ea-a74a20b1fac0", {"$expand": "parameters"}),
        (f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl='{SOURCE_HOST}/sites/site01')", {"$top": "1"}),
        (f"{USER_MAPPINGS}(sourceUserPrincipalName='user1@contoso.com')", {"$orderby": "id"}),
    ],
)
def test_unknown_query_options_are_400(emu: Emulator, path: str, query: dict[str, str]) -> None:
    name = next(iter(query))
    r = call(emu, "GET", path, params=query)
    check_error(r, 400, "BadRequest", f"The query option '{name}' is not supported by this resource.")


def test_head_is_405_without_a_body(emu: Emulator) -> None:
    r = call(emu, "HEAD", f"{TASKS}/3ed6d46d-13a3-4995-b6ea-a74a20b1fac0")
    assert r.status_code == 405
    assert r.content == b""
    assert r.headers["request-id"]


def test_mapping_by_id_is_501_unless_list_endpoints_are_on(emu: Emulator) -> None:
    emu.map_user(src_upn(1))
    mapping_id = call(emu, "GET", f"{USER_MAPPINGS}(sourceUserPrincipalName='{src_upn(1)}')", "target").json()["id"]
    message = "Listing this collection is not supported; read items by key."
    for path in (f"{USER_MAPPINGS}/{mapping_id}", f"{USER_MAPPINGS}('{mapping_id}')", USER_MAPPINGS, GROUP_MAPPINGS):
        check_error(call(emu, "GET", path, "target"), 501, "notSupported", message)
    emu.control("PATCH", "/behaviour", {"list_endpoints": True})
    assert call(emu, "GET", f"{USER_MAPPINGS}/{mapping_id}", "target").status_code == 200
    check_error(
        call(emu, "GET", f"{USER_MAPPINGS}/AQAAAAEAAABub2JvZHk", "target"),
        404,
        "itemNotFound",
        "The identity mapping AQAAAAEAAABub2JvZHk could not be found.",
    )
    for top in ("0", "1000", "x"):
        r = call(emu, "GET", USER_MAPPINGS, "target", params={"$top": top})
        check_error(r, 400, "BadRequest")
    check_error(call(emu, "GET", TASKS, params={"$filter": "x"}), 400, "BadRequest")


def test_query_option_rules(slow: Emulator) -> None:
    task = create(slow, site_task())
    path = f"{TASKS}/{task['id']}"
    check_error(
        call(slow, "GET", f"{path}?$select=id&$select=status"),
        400,
        "BadRequest",
        "Query option '$select' was specified more than once.",
    )
    # Custom (non-$) query parameters are ignored, as Graph does.
    ok = call(slow, "GET", path, params={"api-version": "1", "foo": "bar"})
    assert ok.status_code == 200, ok.text
    # Listing is off by default: 501, not an empty list.
    check_error(
        call(slow, "GET", TASKS),
        501,
        "notSupported",
        "Listing this collection is not supported; read items by key.",
    )
    check_error(
        call(slow, "GET", f"{TASKS}/$count"), 501, "notSupported", "$count is not supported on this collection."
    )


@pytest.mark.parametrize(
    ("path", "role", "select", "message"),
    [
        (
            "task",
            "source",
            "nope",
            "Could not find a property named 'nope' on type 'microsoft.graph.sharePointMigrationTask'.",
        ),
        (
            "task",
            "source",
            "id,errors",
            "Could not find a property named 'errors' on type 'microsoft.graph.sharePointMigrationTask'.",
        ),
        ("task", "source", "", "The $select query option must name at least one property."),
        (
            f"{USER_MAPPINGS}(sourceUserPrincipalName='{src_upn(1)}')",
            "target",
            "groupType",
            "Could not find a property named 'groupType' on type 'microsoft.graph.sharePointUserIdentityMapping'.",
        ),
        (
            f"{USER_MAPPINGS}(sourceUserPrincipalName='{src_upn(1)}')",
            "target",
            "sourceUserPrincipalName",
            "Could not find a property named 'sourceUserPrincipalName' "
            "on type 'microsoft.graph.sharePointUserIdentityMapping'.",
        ),
        (
            f"{GROUP_MAPPINGS}(sourceGroupObjectId='{uuid.UUID(int=1)}')",
            "target",
            "userType",
            "Could not find a property named 'userType' on type 'microsoft.graph.sharePointGroupIdentityMapping'.",
        ),
    ],
)
def test_bad_select_is_400(slow: Emulator, path: str, role: str, select: str, message: str) -> None:
    # The target exists, so the 400 is about $select and nothing else.
    if path == "task":
        path = f"{TASKS}/{create(slow, site_task())['id']}"
    slow.map_user(src_upn(1))
    r = call(slow, "PATCH", GROUP_MAPPINGS, "target", json=delta(group_mapping(str(uuid.UUID(int=1)))))
    assert r.status_code == 200, r.text
    check_error(call(slow, "GET", path, role, params={"$select": select}), 400, "BadRequest", message)


# -- 404 ------------------------------------------------------------------------------------------------


def test_task_of_the_other_tenant_is_404(slow: Emulator) -> None:
    task = create(slow, site_task())
    r = call(slow, "GET", f"{TASKS}/{task['id']}", "target")
    check_error(r, 404, "itemNotFound", f"The migration task {task['id']} could not be found.")


def test_lookup_with_no_task_is_404(slow: Emulator) -> None:
    create(slow, site_task(2))  # a task for another source does not match
    cases = [
        (f"getBySourceUserPrincipalName(sourcePrincipalName='{src_upn(1)}')", src_upn(1)),
        (f"getBySourceSiteUrl(sourceSiteUrl='{SOURCE_HOST}/sites/site01')", f"{SOURCE_HOST}/sites/site01"),
        ("getBySourceGroupMailNickname(sourceGroupMailNickname='group01')", "group01"),
    ]
    for function, key in cases:
        check_error(
            call(slow, "GET", f"{TASKS}/{function}"),
            404,
            "itemNotFound",
            f"The migration task for source {key} could not be found.",
        )
    # The site lookup matches site tasks only, not the group's connected site.
    create(slow, group_task("group01"))
    r = call(slow, "GET", f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl='{SOURCE_HOST}/sites/group01')")
    check_error(r, 404, "itemNotFound")


# -- 409 ------------------------------------------------------------------------------------------------


def test_cancel_in_progress_is_409(emu: Emulator) -> None:
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 0, "duration_seconds": 3600})
    task = create(emu, site_task())
    assert status_of(emu, task["id"]) == "inProgress"
    check_error(
        call(emu, "POST", f"{TASKS}/{task['id']}/cancel"),
        409,
        "conflict",
        "Cannot process the cancel request because the task is in progress",
    )
    got = call(emu, "GET", f"{TASKS}/{task['id']}").json()
    assert got["status"] == "inProgress"
    assert "finishedDateTime" not in got
    assert "error" not in got


def test_cancel_of_terminal_task_is_409(emu: Emulator) -> None:
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 0, "duration_seconds": 0})
    done = create(emu, site_task(1))
    assert status_of(emu, done["id"]) == "completed"
    check_error(
        call(emu, "POST", f"{TASKS}/{done['id']}/cancel"),
        409,
        "conflict",
        "Cannot process the cancel request because the task is completed",
    )
    assert status_of(emu, done["id"]) == "completed"
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 3600})
    pending = create(emu, site_task(2))
    assert call(emu, "POST", f"{TASKS}/{pending['id']}/cancel").status_code == 204
    check_error(
        call(emu, "POST", f"{TASKS}/{pending['id']}/cancel"),
        409,
        "conflict",
        "Cannot process the cancel request because the task is cancelled",
    )
    failed = create(emu, site_task(3))
    emu.control("POST", f"/tasks/{failed['id']}/force", {"status": "failed"})
    check_error(
        call(emu, "POST", f"{TASKS}/{failed['id']}/cancel"),
        409,
        "conflict",
        "Cannot process the cancel request because the task is failed",
    )


def test_duplicate_create_is_409_by_default(slow: Emulator) -> None:
    first = create(slow, site_task())
    source = f"{SOURCE_HOST}/sites/site01".lower()
    message = f"A migration task {first['id']} already exists for source {source} with status notStarted."
    check_error(call(slow, "POST", TASKS, json=site_task()), 409, "conflict", message)
    # Also while in progress.
    slow.control("POST", f"/tasks/{first['id']}/force", {"status": "inProgress"})
    check_error(
        call(slow, "POST", TASKS, json=site_task()),
        409,
        "conflict",
        f"A migration task {first['id']} already exists for source {source} with status inProgress.",
    )
    assert [t["id"] for t in slow.control("GET", "/tasks")["tasks"]] == [first["id"]]
    # A terminal task does not block a new one.
    slow.control("POST", f"/tasks/{first['id']}/force", {"status": "failed"})
    second = create(slow, site_task())
    assert second["id"] != first["id"]


def test_duplicate_user_task_is_409_whichever_identity_names_the_user(slow: Emulator) -> None:
    slow.map_user(src_upn(1))
    first = create(slow, slow.user_task(1))
    by_id = slow.user_task(1)
    by_id["parameters"]["sourceUserIdentity"] = {"id": stable_id("user", "contoso", src_upn(1))}
    check_error(
        call(slow, "POST", TASKS, json=by_id),
        409,
        "conflict",
        f"A migration task {first['id']} already exists for source {src_upn(1)} with status notStarted.",
    )


def test_duplicate_create_upsert_switch_returns_the_existing_task(slow: Emulator) -> None:
    slow.control("PATCH", "/behaviour", {"duplicate_create": "upsert"})
    first = create(slow, group_task())
    again = create(slow, group_task())
    assert again["id"] == first["id"]
    assert again["status"] == "notStarted"
    assert len(slow.control("GET", "/tasks")["tasks"]) == 1


def test_duplicate_create_allow_switch_creates_a_second_task(slow: Emulator) -> None:
    slow.control("PATCH", "/behaviour", {"duplicate_create": "allow"})
    first = create(slow, group_task())
    second = create(slow, group_task())
    assert second["id"] != first["id"]
    assert len(slow.control("GET", "/tasks")["tasks"]) == 2
    r = call(slow, "GET", f"{TASKS}/getBySourceGroupMailNickname(sourceGroupMailNickname='group01')")
    assert r.json()["id"] == second["id"]  # the most recently created one


# -- delta PATCH -------------------------------------------------------------------------------------------


def test_more_than_50_delta_items_is_400_and_nothing_is_applied(emu: Emulator) -> None:
    users = [user_mapping(src_upn(n)) for n in range(1, 51)] + [user_mapping("extra@contoso.onmicrosoft.com")]
    r = call(emu, "PATCH", USER_MAPPINGS, "target", json=delta(*users))
    check_error(r, 400, "BadRequest", "Maximum of 50 items allowed in the value array.")
    for upn in (src_upn(1), src_upn(50), "extra@contoso.onmicrosoft.com"):
        got = call(emu, "GET", f"{USER_MAPPINGS}(sourceUserPrincipalName='{upn}')", "target")
        check_error(got, 404, "itemNotFound")
    groups = [group_mapping(str(uuid.uuid4())) for _ in range(51)]
    r = call(emu, "PATCH", GROUP_MAPPINGS, "target", json=delta(*groups))
    check_error(r, 400, "BadRequest", "Maximum of 50 items allowed in the value array.")
    first = groups[0]["sourceGroupIdentity"]["id"]
    check_error(call(emu, "GET", f"{GROUP_MAPPINGS}(sourceGroupObjectId='{first}')", "target"), 404, "itemNotFound")
    assert emu.control("GET", "/tenants/fabrikam/mappings") == {"user_mappings": {}, "group_mappings": {}}
    # Exactly 50 is fine.
    ok = call(emu, "PATCH", USER_MAPPINGS, "target", json=delta(*users[:50]))
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["value"]) == 50


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"@context": "#$delta"}, "Cannot process the request because the required parameter value is missing."),
        ({"value": {"sourceUserIdentity": {}}}, "The property 'value' must be a JSON array."),
        ({"@context": "#$entity", "value": []}, 'The @context of a delta payload must be "#$delta".'),
        (
            {"value": [], "extra": 1},
            "The property 'extra' does not exist on type 'microsoft.graph.delta payload' (extra).",
        ),
        ({"value": [None]}, "The property 'value[0]' must be a JSON object."),
        ({"value": ["user1@contoso.com"]}, "The property 'value[0]' must be a JSON object."),
        (
            {"value": [{"userType": "regularUser"}]},
            "Cannot process the request because the required parameter "
            "value[0].sourceUserIdentity.userPrincipalName is missing.",
        ),
        (
            {"value": [{"sourceUserIdentity": "user1@contoso.com"}]},
            "The property 'value[0].sourceUserIdentity' must be a JSON object.",
        ),
        (
            {"value": [{"sourceUserIdentity": {"userPrincipalName": 1}}]},
            "The property 'value[0].sourceUserIdentity.userPrincipalName' must be a string.",
        ),
        (
            {"value": [{"sourceUserIdentity": {"userPrincipalName": "nobody"}}]},
            "The value 'nobody' of 'value[0].sourceUserIdentity.userPrincipalName' is not a valid user principal name.",
        ),
        (
            {"value": [{**user_mapping("a@contoso.com"), "userType": "owner"}]},
            "The value 'owner' of 'value[0].userType' is not one of: adminUser, guestUser, none, regularUser.",
        ),
        (
            {"value": [{**user_mapping("a@contoso.com"), "userType": 1}]},
            "The property 'value[0].userType' must be a string.",
        ),
        (
            {"value": [{**user_mapping("a@contoso.com"), "sourceOrganizationId": "contoso"}]},
            "The value 'contoso' of 'value[0].sourceOrganizationId' is not a valid GUID.",
        ),
        (
            {"value": [{**user_mapping("a@contoso.com"), "targetUserMigrationData": {"email": "nope"}}]},
            "The value 'nope' of 'value[0].targetUserMigrationData.email' is not a valid user principal name.",
        ),
        (
            {"value": [{**user_mapping("a@contoso.com"), "targetUserMigrationData": "a@b.com"}]},
            "The property 'value[0].targetUserMigrationData' must be a JSON object.",
        ),
        (
            {"value": [{**user_mapping("a@contoso.com"), "id": "AQAAAAEAAAB1c2VyMUBjb250b3NvLmNvbQ"}]},
            "The property 'id' does not exist on type 'microsoft.graph.sharePointUserIdentityMapping' (value[0].id).",
        ),
        (
            {"value": [{**user_mapping("a@contoso.com"), "deleted": {"state": "deleted"}}]},
            'value[0].deleted is set by the service; use "@removed" to delete a mapping.',
        ),
        (
            {"value": [{"sourceUserIdentity": {"userPrincipalName": "a@contoso.com"}}]},
            "Cannot process the request because the required parameter "
            "value[0].targetUserIdentity.userPrincipalName is missing.",
        ),
        (
            {
                "value": [
                    {"@removed": {"reason": "changed"}, "sourceUserIdentity": {"userPrincipalName": "a@contoso.com"}}
                ]
            },
            "value[0].@removed.reason must be \"deleted\" (got 'changed').",
        ),
        (
            {"value": [{"@removed": "deleted", "sourceUserIdentity": {"userPrincipalName": "a@contoso.com"}}]},
            "The property 'value[0].@removed' must be a JSON object.",
        ),
    ],
)
def test_invalid_user_delta_payload_is_400(emu: Emulator, body: dict[str, Any], message: str) -> None:
    check_error(call(emu, "PATCH", USER_MAPPINGS, "target", json=body), 400, "BadRequest", message)
    assert emu.control("GET", "/tenants/fabrikam/mappings")["user_mappings"] == {}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            {"sourceGroupIdentity": {"id": "group01"}},
            "The value 'group01' of 'value[0].sourceGroupIdentity.id' is not a valid GUID.",
        ),
        (
            {"sourceGroupIdentity": {"mailNickname": "group01"}},
            "The property 'mailNickname' does not exist on type 'microsoft.graph.identity' "
            "(value[0].sourceGroupIdentity.mailNickname).",
        ),
        (
            {**group_mapping(str(uuid.UUID(int=5))), "groupType": "m365group"},
            "The value 'm365group' of 'value[0].groupType' is not one of: m365Group, none, regularGroup.",
        ),
        (
            {**group_mapping(str(uuid.UUID(int=5))), "targetGroupIdentity": {"id": "x"}},
            "The value 'x' of 'value[0].targetGroupIdentity.id' is not a valid GUID.",
        ),
        (
            {**group_mapping(str(uuid.UUID(int=5))), "targetGroupMigrationData": {"mailNickname": "a b"}},
            "The value 'a b' of 'value[0].targetGroupMigrationData.mailNickname' is not a valid mail nickname.",
        ),
    ],
)
def test_invalid_group_delta_payload_is_400(emu: Emulator, item: dict[str, Any], message: str) -> None:
    check_error(call(emu, "PATCH", GROUP_MAPPINGS, "target", json=delta(item)), 400, "BadRequest", message)
    assert emu.control("GET", "/tenants/fabrikam/mappings")["group_mappings"] == {}


def test_atomic_delta_patch_applies_nothing_when_an_item_fails(emu: Emulator) -> None:
    emu.map_user(src_upn(1), "before@fabrikam.onmicrosoft.com")
    before = emu.control("GET", "/tenants/fabrikam/mappings")
    # A validation failure in item 2: items 0 and 1 are not applied.
    bad = {"sourceUserIdentity": {"userPrincipalName": "broken"}}
    body = delta(user_mapping(src_upn(1), "after@fabrikam.onmicrosoft.com"), user_mapping(src_upn(2)), bad)
    r = call(emu, "PATCH", USER_MAPPINGS, "target", json=body)
    check_error(r, 400, "BadRequest", "The value 'broken' of 'value[2].sourceUserIdentity.userPrincipalName' …")
    assert emu.control("GET", "/tenants/fabrikam/mappings") == before
    # A failure found while applying (a new key without a target) rolls back the earlier items.
    body = delta(
        user_mapping(src_upn(1), "after@fabrikam.onmicrosoft.com"),
        {"@removed": {"reason": "deleted"}, "sourceUserIdentity": {"userPrincipalName": src_upn(1)}},
        user_mapping(src_upn(2)),
        {"sourceUserIdentity": {"userPrincipalName": src_upn(3)}, "userType": "guestUser"},
    )
    r = call(emu, "PATCH", USER_MAPPINGS, "target", json=body)
    check_error(
        r,
        400,
        "BadRequest",
        "Cannot process the request because the required parameter value[3].targetUserIdentity.userPrincipalName "
        "is missing.",
    )
    assert emu.control("GET", "/tenants/fabrikam/mappings") == before
    got = call(emu, "GET", f"{USER_MAPPINGS}(sourceUserPrincipalName='{src_upn(1)}')", "target")
    assert got.json()["targetUserIdentity"] == {"userPrincipalName": "before@fabrikam.onmicrosoft.com"}


def test_removing_unknown_key_succeeds_or_fails_by_switch(emu: Emulator) -> None:
    gone = {"@removed": {"reason": "deleted"}, "sourceUserIdentity": {"userPrincipalName": src_upn(8)}}
    r = call(emu, "PATCH", USER_MAPPINGS, "target", json=delta(gone))
    assert r.status_code == 200, r.text
    assert r.json()["value"][0]["deleted"] == {"state": "deleted"}
    emu.control("PATCH", "/behaviour", {"removed_unknown_key": "fail"})
    emu.map_user(src_upn(1))
    before = emu.control("GET", "/tenants/fabrikam/mappings")
    body = delta({"@removed": {"reason": "deleted"}, "sourceUserIdentity": {"userPrincipalName": src_upn(1)}}, gone)
    r = call(emu, "PATCH", USER_MAPPINGS, "target", json=body)
    check_error(r, 404, "itemNotFound", f"value[1]: no identity mapping exists for '{src_upn(8)}'.")
    assert emu.control("GET", "/tenants/fabrikam/mappings") == before  # item 0's delete rolled back


def test_per_item_delta_errors_switch(emu: Emulator) -> None:
    emu.control("PATCH", "/behaviour", {"delta_patch_errors": "per_item", "removed_unknown_key": "fail"})
    body = delta(
        user_mapping(src_upn(1)),
        {"sourceUserIdentity": {"userPrincipalName": src_upn(2)}, "userType": "owner"},
        {"@removed": {"reason": "deleted"}, "sourceUserIdentity": {"userPrincipalName": src_upn(3)}},
        user_mapping(src_upn(4)),
    )
    r = call(emu, "PATCH", USER_MAPPINGS, "target", json=body)
    assert r.status_code == 200, r.text
    value = r.json()["value"]
    assert len(value) == 4
    assert value[0]["sourceUserIdentity"] == {"userPrincipalName": src_upn(1)}
    failed = value[1]["@Core.DataModificationException"]
    assert failed["failedOperation"] == "upsert"
    assert failed["responseCode"] == 400
    assert failed["info"]["code"] == "BadRequest"
    assert value[1]["sourceUserIdentity"] == {"userPrincipalName": src_upn(2)}
    missing = value[2]["@Core.DataModificationException"]
    assert (missing["failedOperation"], missing["responseCode"], missing["info"]["code"]) == (
        "delete",
        404,
        "itemNotFound",
    )
    assert value[3]["sourceUserIdentity"] == {"userPrincipalName": src_upn(4)}
    stored = emu.control("GET", "/tenants/fabrikam/mappings")["user_mappings"]
    assert sorted(stored) == [src_upn(1), src_upn(4)]


# -- no side effects, no 500 ---------------------------------------------------------------------------


def test_rejected_writes_change_nothing(slow: Emulator) -> None:
    slow.map_user(src_upn(1))
    existing = create(slow, slow.user_task(1))
    r = call(slow, "PATCH", GROUP_MAPPINGS, "target", json=delta(group_mapping(stable_id("group", "contoso", "g"))))
    assert r.status_code == 200, r.text
    before = state(slow)
    json_ct = {"content-type": "application/json"}
    rejected = [
        call(slow, "POST", TASKS, content=b"{", headers=json_ct),
        call(slow, "POST", TASKS, content=json.dumps(site_task()).encode(), headers={"content-type": "text/plain"}),
        call(slow, "POST", TASKS, json={"parameters": {"sourceSiteUrl": f"{SOURCE_HOST}/sites/site01"}}),
        call(slow, "POST", TASKS, json=site_task(targetSiteUrl=f"{SOURCE_HOST}/sites/site01")),
        call(slow, "POST", TASKS, json=slow.user_task(1)),  # duplicate
        call(slow, "POST", TASKS, json=slow.user_task(5)),  # no identity map entry
        call(slow, "POST", TASKS, content=b"{" + b" " * MAX_BODY + b"}", headers=json_ct),
        call(slow, "POST", f"{TASKS}/{uuid.uuid4()}/cancel"),
        call(slow, "PATCH", f"{TASKS}/{existing['id']}", json={"status": "cancelled"}),
        call(slow, "DELETE", f"{TASKS}/{existing['id']}"),
        call(slow, "PATCH", USER_MAPPINGS, "target", json=delta(*[user_mapping(src_upn(n)) for n in range(1, 52)])),
        call(
            slow,
            "PATCH",
            USER_MAPPINGS,
            "target",
            json=delta(
                {"@removed": {"reason": "deleted"}, "sourceUserIdentity": {"userPrincipalName": src_upn(1)}},
                {"sourceUserIdentity": {"userPrincipalName": src_upn(2)}},
            ),
        ),
        call(slow, "PATCH", GROUP_MAPPINGS, "target", json=delta({"sourceGroupIdentity": {"id": "nope"}})),
        call(slow, "DELETE", f"{USER_MAPPINGS}(sourceUserPrincipalName='{src_upn(1)}')", "target"),
    ]
    for r in rejected:
        assert 400 <= r.status_code < 500, (r.request.method, r.request.url, r.status_code, r.text)
        check_error(r, r.status_code, r.json()["error"]["code"])
    slow.control("PUT", "/trust", {"source": "contoso", "target": "fabrikam", "established": False})
    check_error(call(slow, "POST", f"{TASKS}/{existing['id']}/cancel"), 422, "unprocessableEntity")
    slow.control("PUT", "/trust", {"source": "contoso", "target": "fabrikam", "established": True})
    assert state(slow) == before
    assert status_of(slow, existing["id"]) == "notStarted"


GARBAGE: list[tuple[str, str, str, Any]] = [
    ("POST", TASKS, "source", b"null"),
    ("POST", TASKS, "source", b'"x"'),
    ("POST", TASKS, "source", b"[" * 5000 + b"]" * 5000),
    ("POST", TASKS, "source", b'{"parameters": NaN}'),
    ("POST", TASKS, "source", b'{"parameters": 1e999}'),
    ("POST", TASKS, "source", b'{"parameters": {"@odata.type": null}}'),
    (
        "POST",
        TASKS,
        "source",
        b'{"parameters": {"@odata.type": ["#microsoft.graph.sharePointSiteMigrationTaskParameters"]}}',
    ),
    (
        "POST",
        TASKS,
        "source",
        json.dumps(
            {"parameters": {"@odata.type": USER_PARAMS, "sourceUserIdentity": [], "targetUserIdentity": {}}}
        ).encode(),
    ),
    (
        "POST",
        TASKS,
        "source",
        json.dumps({"parameters": {"@odata.type": USER_PARAMS, "sourceUserIdentity": {"id": 5}}}).encode(),
    ),
    (
        "POST",
        TASKS,
        "source",
        json.dumps(
            {"parameters": {"@odata.type": GROUP_PARAMS, "sourceGroupIdentity": {"mailNickname": None}}}
        ).encode(),
    ),
    (
        "POST",
        TASKS,
        "source",
        json.dumps({"parameters": {"@odata.type": SITE_PARAMS, "sourceSiteUrl": {}, "targetSiteUrl": []}}).encode(),
    ),
    (
        "POST",
        TASKS,
        "source",
        json.dumps(
            {
                "parameters": {
                    **site_task()["parameters"],
                    "validateOnly": None,
                    "preferredStartDateTime": "",
                    "targetOrganizationId": "",
                }
            }
        ).encode(),
    ),
    ("POST", TASKS, "source", '{"parameters": {"@odata.type": "\u00e9\u0000"}}'.encode()),
    ("POST", TASKS, "source", b"\xff\xfe{}"),
    ("PATCH", USER_MAPPINGS, "target", b'{"value": [[]]}'),
    (
        "PATCH",
        USER_MAPPINGS,
        "target",
        b'{"value": [{"@removed": null, "sourceUserIdentity": {"userPrincipalName": "a@b.com"}}]}',
    ),
    (
        "PATCH",
        USER_MAPPINGS,
        "target",
        b'{"value": [{"@removed": {}, "sourceUserIdentity": {"userPrincipalName": "a@b.com"}}]}',
    ),
    (
        "PATCH",
        USER_MAPPINGS,
        "target",
        b'{"value": [{"sourceUserIdentity": {"userPrincipalName": "a@b.com"}, "targetUserIdentity": null}]}',
    ),
    (
        "PATCH",
        USER_MAPPINGS,
        "target",
        b'{"value": [{"sourceUserIdentity": {"userPrincipalName": "a@b.com"}, '
        b'"targetUserIdentity": {"userPrincipalName": []}}]}',
    ),
    ("PATCH", GROUP_MAPPINGS, "target", b'{"value": [{"sourceGroupIdentity": {"id": 1}}]}'),
    ("PATCH", GROUP_MAPPINGS, "target", b'{"value": null}'),
    ("GET", f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl=)", "source", None),
    ("GET", f"{TASKS}/getBySourceSiteUrl(=)", "source", None),
    ("GET", f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl='a'),x", "source", None),
    ("GET", f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl='a')(b)", "source", None),
    ("GET", f"{TASKS}/()", "source", None),
    ("GET", f"{TASKS}/'", "source", None),
    ("GET", f"{TASKS}/%00", "source", None),
    ("GET", f"{TASKS}/x?$select=%ZZ", "source", None),
    ("GET", f"{USER_MAPPINGS}()", "target", None),
    ("GET", f"{USER_MAPPINGS}(sourceUserPrincipalName='a@b.com')/x", "target", None),
    ("GET", f"{GROUP_MAPPINGS}(sourceGroupObjectId=@g)?@g=", "target", None),
]


@pytest.mark.parametrize(("method", "path", "role", "body"), GARBAGE)
def test_garbage_is_a_4xx_with_the_envelope_never_a_500(
    emu: Emulator, method: str, path: str, role: str, body: bytes | None
) -> None:
    kw: dict[str, Any] = {} if body is None else {"content": body, "headers": {"content-type": "application/json"}}
    r = call(emu, method, path, role, **kw)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    check_error(r, r.status_code, r.json()["error"]["code"])


def test_error_without_client_request_id_gets_a_generated_one(emu: Emulator) -> None:
    r = emu.graph("GET", f"{TASKS}/{uuid.uuid4()}")
    assert "client-request-id" not in r.request.headers
    error = check_error(r, 404, "itemNotFound")
    assert error["innerError"]["client-request-id"]
    r = emu.http.get(f"{TASKS}/{uuid.uuid4()}")  # no token either
    check_401(r, "Access token is empty.")
