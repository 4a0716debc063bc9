"""Delegated and managed-identity sign-in for the emulated authority.

* Device code (RFC 8628) as Entra runs it: ``/oauth2/v2.0/devicecode`` hands out a user code; the
  token endpoint answers ``authorization_pending`` until the code is approved through the control
  API (``POST /_emulator/device-codes/approve``), then issues a delegated token (``scp`` instead of
  ``roles``), an id token, client info and a refresh token.
* Managed identity as App Service exposes it: ``GET /{tenant}/msi/token?resource=…`` with the
  ``X-IDENTITY-HEADER`` secret, answering ``{access_token, expires_on, resource, token_type}``.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

from reconciler.emulator.world import KNOWN_ROLES, AppRegistration, Tenant, User

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRAPH_RESOURCES = (
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000",
)
DEVICE_CODE_LIFETIME = 900


@dataclass
class DeviceCode:
    tenant_id: str
    client_id: str
    device_code: str
    user_code: str
    expires_at: float
    user_upn: str | None = None  # set on approval
    redeemed: bool = False


@dataclass(frozen=True)
class RefreshGrant:
    tenant_id: str
    client_id: str
    user_upn: str


class DelegatedFlows:
    def __init__(self) -> None:
        self.device_codes: dict[str, DeviceCode] = {}  # by device_code
        self.refresh_tokens: dict[str, RefreshGrant] = {}
        self.identity_header = secrets.token_urlsafe(24)

    def start(self, tenant: Tenant, client_id: str, base_url: str) -> dict[str, Any]:
        alphabet = string.ascii_uppercase + string.digits
        user_code = "".join(secrets.choice(alphabet) for _ in range(9))
        code = DeviceCode(
            tenant.tenant_id, client_id, secrets.token_urlsafe(32), user_code, time.time() + DEVICE_CODE_LIFETIME
        )
        self.device_codes[code.device_code] = code
        uri = f"{base_url}/_emulator/device-codes"
        return {
            "user_code": user_code,
            "device_code": code.device_code,
            "verification_uri": uri,
            "expires_in": DEVICE_CODE_LIFETIME,
            "interval": 1,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the code {user_code} to "
            "authenticate. (Emulator: approve it with POST /_emulator/device-codes/approve.)",
        }

    def approve(self, user_code: str, tenant: Tenant | None, upn: str | None) -> DeviceCode:
        for code in self.device_codes.values():
            if code.user_code == user_code.strip().upper() and not code.redeemed:
                chosen = upn or (next(iter(tenant.users_by_upn.values())).upn if tenant else None)
                if chosen is None:
                    raise KeyError("no user to sign in")
                code.user_upn = chosen
                return code
        raise KeyError(f"no pending device code {user_code}")


def client_info(user: User, tenant: Tenant) -> str:
    raw = json.dumps({"uid": user.id, "utid": tenant.tenant_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def delegated_scopes(app: AppRegistration) -> str:
    # Delegated permissions mirror the app's consented application permissions.
    return " ".join(sorted(r for r in app.roles if r in KNOWN_ROLES))
