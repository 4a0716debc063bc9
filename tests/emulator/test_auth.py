"""The Entra-like authority: unmodified msal with secrets and certificates, discovery, JWKS, OAuth errors."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import msal
import pytest

from tests.conftest import USER_MAPPINGS, Emulator, msal_token, self_signed_certificate, tls

SCOPE = ["https://graph.microsoft.com/.default"]
READ = "SharePointCrossTenantMigration.Read.All"
MANAGE = "SharePointCrossTenantMigration.Manage.All"


def _plain_msal(emu: Emulator, role: str, credential: Any) -> dict[str, Any]:
    """Exactly the call the issue names: unmodified msal, verify= the emulator's CA file."""
    tenant = emu.conn["tenants"][role]
    app = msal.ConfidentialClientApplication(
        tenant["client_id"],
        client_credential=credential,
        authority=f"{emu.conn['authority_base_url']}/{tenant['tenant_id']}",
        instance_discovery=False,
        verify=emu.conn["ca_file"],
    )
    result: dict[str, Any] = app.acquire_token_for_client(scopes=SCOPE)
    app.http_client.close()
    return result


def _claims(emu: Emulator, token: str) -> dict[str, Any]:
    jwks = httpx.get(
        f"{emu.conn['authority_base_url']}/{emu.source['tenant_id']}/discovery/v2.0/keys",
        verify=tls(emu.conn["ca_file"]),
    ).json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    return dict(jwt.decode(token, key, algorithms=["RS256"], audience="https://graph.microsoft.com"))


def _self_signed() -> tuple[str, str]:
    return self_signed_certificate()


def test_unmodified_msal_gets_a_token_with_a_client_secret(emu: Emulator) -> None:
    for role in ("source", "target"):
        result = _plain_msal(emu, role, emu.conn["tenants"][role]["client_secret"])
        assert result.get("token_type") == "Bearer", result
        claims = _claims(emu, result["access_token"])
        assert claims["tid"] == emu.conn["tenants"][role]["tenant_id"]
        assert claims["appid"] == emu.conn["tenants"][role]["client_id"]
        assert claims["aud"] == "https://graph.microsoft.com"
        assert set(claims["roles"]) == {READ, MANAGE}
        assert claims["exp"] > time.time() + 3000


@pytest.mark.parametrize("sha256", [False, True], ids=["sha1-thumbprint-RS256", "public-certificate-PS256"])
def test_unmodified_msal_gets_a_token_with_a_certificate(emu: Emulator, sha256: bool) -> None:
    key_pem, cert_pem = _self_signed()
    client_id = emu.source["client_id"]
    registered = emu.control("POST", f"/tenants/contoso/apps/{client_id}/certificates", {"certificate_pem": cert_pem})
    credential: dict[str, Any] = {"private_key": key_pem}
    if sha256:
        credential["public_certificate"] = cert_pem  # msal then signs PS256 with an x5t#S256 header
    else:
        credential["thumbprint"] = registered["thumbprint"]
    result = _plain_msal(emu, "source", credential)
    assert "access_token" in result, result
    assert _claims(emu, result["access_token"])["tid"] == emu.source["tenant_id"]


def test_certificate_not_registered_is_invalid_client(emu: Emulator) -> None:
    _key_pem, cert_pem = _self_signed()
    other_key, _ = _self_signed()
    registered = emu.control(
        "POST", f"/tenants/contoso/apps/{emu.source['client_id']}/certificates", {"certificate_pem": cert_pem}
    )
    # Right thumbprint, wrong private key: the signature does not verify.
    result = _plain_msal(emu, "source", {"private_key": other_key, "thumbprint": registered["thumbprint"]})
    assert result["error"] == "invalid_client"
    assert result["error_description"].startswith("AADSTS700027")


def test_wrong_secret_is_invalid_client_with_entra_shape(emu: Emulator) -> None:
    result = _plain_msal(emu, "target", "not-the-secret")
    assert result["error"] == "invalid_client"
    assert result["error_description"].startswith("AADSTS7000215")
    assert result["error_codes"] == [7000215]
    r = httpx.post(
        f"{emu.conn['authority_base_url']}/{emu.target['tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": emu.target["client_id"],
            "client_secret": "nope",
            "scope": SCOPE[0],
        },
        verify=tls(emu.conn["ca_file"]),
    )
    assert r.status_code == 401
    assert set(r.json()) >= {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id"}


def _token_post(emu: Emulator, tenant: str, **form: str) -> httpx.Response:
    return httpx.post(
        f"{emu.conn['authority_base_url']}/{tenant}/oauth2/v2.0/token", data=form, verify=tls(emu.conn["ca_file"])
    )


def test_token_endpoint_errors(emu: Emulator) -> None:
    good = {
        "grant_type": "client_credentials",
        "client_id": emu.source["client_id"],
        "client_secret": emu.source["client_secret"],
        "scope": SCOPE[0],
    }
    r = _token_post(emu, "11111111-2222-3333-4444-555555555555", **good)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_tenant")
    r = _token_post(emu, emu.source["tenant_id"], **{**good, "scope": "https://management.azure.com/.default"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_scope")
    r = _token_post(emu, emu.source["tenant_id"], **{**good, "grant_type": "password"})
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_grant_type")
    r = _token_post(emu, emu.source["tenant_id"], **{**good, "client_id": "99999999-2222-3333-4444-555555555555"})
    assert (r.status_code, r.json()["error"]) == (400, "unauthorized_client")
    no_secret = {k: v for k, v in good.items() if k != "client_secret"}
    r = _token_post(emu, emu.source["tenant_id"], **no_secret)
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
    # The domain name works as the tenant segment, as with Entra; so does HTTP Basic client auth.
    r = _token_post(emu, emu.source["domain"], **good)
    assert r.status_code == 200
    r = httpx.post(
        f"{emu.conn['authority_base_url']}/{emu.source['tenant_id']}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "scope": SCOPE[0]},
        auth=(emu.source["client_id"], emu.source["client_secret"]),
        verify=tls(emu.conn["ca_file"]),
    )
    assert r.status_code == 200


def test_discovery_document_points_at_this_authority(emu: Emulator) -> None:
    base = emu.conn["authority_base_url"]
    tid = emu.target["tenant_id"]
    doc = httpx.get(f"{base}/{tid}/v2.0/.well-known/openid-configuration", verify=tls(emu.conn["ca_file"])).json()
    assert doc["token_endpoint"] == f"{base}/{tid}/oauth2/v2.0/token"
    assert doc["issuer"] == f"{base}/{tid}/v2.0"
    assert doc["jwks_uri"] == f"{base}/{tid}/discovery/v2.0/keys"
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]


def test_a_read_only_app_can_read_but_not_write(emu: Emulator) -> None:
    client_id = emu.target["client_id"]
    emu.control("PATCH", f"/tenants/fabrikam/apps/{client_id}", {"roles": [READ]})
    try:
        token = msal_token(emu.conn, "target")["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        got = emu.http.get(f"{USER_MAPPINGS}(sourceUserPrincipalName='user001@contoso.onmicrosoft.com')", headers=auth)
        assert got.status_code == 404
        wrote = emu.http.patch(USER_MAPPINGS, headers=auth, json={"@context": "#$delta", "value": []})
        assert wrote.status_code == 403
        assert wrote.json()["error"]["code"] == "accessDenied"
    finally:
        emu.control("PATCH", f"/tenants/fabrikam/apps/{client_id}", {"roles": [READ, MANAGE]})


def test_manage_implies_read_is_a_switch(emu: Emulator) -> None:
    client_id = emu.target["client_id"]
    emu.control("PATCH", f"/tenants/fabrikam/apps/{client_id}", {"roles": [MANAGE]})
    try:
        token = msal_token(emu.conn, "target")["access_token"]
        path = f"{USER_MAPPINGS}(sourceUserPrincipalName='user001@contoso.onmicrosoft.com')"
        auth = {"Authorization": f"Bearer {token}"}
        assert emu.http.get(path, headers=auth).status_code == 404
        emu.control("PATCH", "/behaviour", {"manage_implies_read": False})
        assert emu.http.get(path, headers=auth).status_code == 403
    finally:
        emu.control("PATCH", f"/tenants/fabrikam/apps/{client_id}", {"roles": [READ, MANAGE]})


def test_expired_token_is_rejected(tmp_path: Any) -> None:
    from tests.conftest import start_emulator, stop_emulator

    proc, conn = start_emulator(tmp_path, "--token-lifetime", "1")
    try:
        e = Emulator(conn)
        try:
            token = e.token("target")
            claims = jwt.decode(token, options={"verify_signature": False})
            assert claims["exp"] - claims["iat"] == 1
            path = f"{USER_MAPPINGS}(sourceUserPrincipalName='user001@contoso.onmicrosoft.com')"
            time.sleep(2.1)
            r = e.http.get(path, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401
            assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
            assert "expired" in r.json()["error"]["message"]
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
        finally:
            e.close()
    finally:
        stop_emulator(proc)
