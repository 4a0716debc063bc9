"""Probe a running emulator the way a real client would: msal tokens, then documented Graph calls."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msal

MIGRATIONS = "/solutions/sharePoint/migrations"


class ProbeError(Exception):
    pass


class _MsalHttp:
    """msal's http_client interface over httpx.

    msal's default (requests) lets REQUESTS_CA_BUNDLE override ``verify=``, so an explicit CA file is
    silently ignored on machines that set it; httpx honours the CA file it is given.
    """

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> httpx.Response:
        return self._client.get(url, params=params, headers=headers, timeout=kwargs.get("timeout", 30))

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> httpx.Response:
        content = data if isinstance(data, str | bytes) else None
        form = (
            {k: v.decode("ascii") if isinstance(v, bytes) else v for k, v in data.items()}
            if isinstance(data, dict)
            else None
        )
        return self._client.post(
            url, params=params, data=form, content=content, headers=headers, timeout=kwargs.get("timeout", 30)
        )

    def close(self) -> None:
        self._client.close()


def _token(conn: dict[str, Any], role: str) -> str:
    tenant = conn["tenants"][role]
    http = _MsalHttp(httpx.Client(verify=ssl.create_default_context(cafile=conn["ca_file"])))
    try:
        app = msal.ConfidentialClientApplication(
            tenant["client_id"],
            client_credential=tenant["client_secret"],
            authority=f"{conn['authority_base_url']}/{tenant['tenant_id']}",
            instance_discovery=False,
            http_client=http,
        )
        result = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    finally:
        http.close()
    if "access_token" not in result:
        raise ProbeError(f"token for {tenant['name']}: {result.get('error')}: {result.get('error_description')}")
    return str(result["access_token"])


def _check(response: httpx.Response, expected: int) -> Any:
    if response.status_code != expected:
        raise ProbeError(
            f"{response.request.method} {response.request.url} answered {response.status_code}: {response.text}"
        )
    return response.json() if response.content else None


def probe(connection_file: Path) -> Iterator[str]:
    try:
        conn = json.loads(connection_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProbeError(f"{connection_file}: {exc}") from exc
    try:
        yield from _probe(conn)
    except (httpx.HTTPError, OSError) as exc:  # refused, reset, or its CA file gone with it
        where = conn.get("graph_base_url", "the emulator")
        raise ProbeError(
            f"cannot reach {where}: {exc}. Is `reconciler emulator serve` running with this connection file "
            f"({connection_file})?"
        ) from None


def _probe(conn: dict[str, Any]) -> Iterator[str]:
    src, dst = conn["tenants"]["source"], conn["tenants"]["target"]
    yield f"emulator at {conn['graph_base_url']} (CA {conn['ca_file']})"
    tokens = {role: _token(conn, role) for role in ("source", "target")}
    for role, t in (("source", src), ("target", dst)):
        yield f"  msal: token for {role} tenant {t['name']} ({t['tenant_id']})"
    upn, target_upn = f"user001@{src['domain']}", f"user001@{dst['domain']}"
    with httpx.Client(
        base_url=conn["graph_base_url"], verify=ssl.create_default_context(cafile=conn["ca_file"]), timeout=30
    ) as client:
        target_auth = {"Authorization": f"Bearer {tokens['target']}"}
        body = {
            "@context": "#$delta",
            "value": [
                {
                    "sourceOrganizationId": src["tenant_id"],
                    "userType": "regularUser",
                    "sourceUserIdentity": {"userPrincipalName": upn},
                    "targetUserIdentity": {"userPrincipalName": target_upn},
                    "targetUserMigrationData": {"email": target_upn},
                }
            ],
        }
        out = _check(client.patch(f"{MIGRATIONS}/crossOrganizationUserMappings", json=body, headers=target_auth), 200)
        yield f"  PATCH crossOrganizationUserMappings (delta): 200, id {out['value'][0]['id']}"
        got = _check(
            client.get(
                f"{MIGRATIONS}/crossOrganizationUserMappings(sourceUserPrincipalName='{upn}')",
                headers=target_auth,
            ),
            200,
        )
        yield (
            f"  GET crossOrganizationUserMappings(sourceUserPrincipalName='{upn}'): 200 -> "
            f"{got['targetUserIdentity']['userPrincipalName']}"
        )
        task = {
            "parameters": {
                "@odata.type": "#microsoft.graph.sharePointUserMigrationTaskParameters",
                "targetOrganizationId": dst["tenant_id"],
                "validateOnly": True,
                "sourceUserIdentity": {"userPrincipalName": upn},
                "targetUserIdentity": {"userPrincipalName": target_upn},
            }
        }
        pre = _check(
            client.post(
                f"{MIGRATIONS}/crossOrganizationMigrationTasks",
                json=task,
                headers={"Authorization": f"Bearer {tokens['source']}"},
            ),
            200,
        )
        yield f"  POST crossOrganizationMigrationTasks (validateOnly): 200, status {pre['status']}"
        removal = {
            "@context": "#$delta",
            "value": [{"@removed": {"reason": "deleted"}, "sourceUserIdentity": {"userPrincipalName": upn}}],
        }
        _check(
            client.patch(f"{MIGRATIONS}/crossOrganizationUserMappings", json=removal, headers=target_auth),
            200,
        )
        yield "  PATCH crossOrganizationUserMappings (@removed): 200, world left as it was"
    yield "emulator OK"
