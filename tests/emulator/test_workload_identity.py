"""Workload identity federation at the emulated authority: the emulator's own OIDC issuer, federated
credentials on app registrations, and the token endpoint's checks and Entra errors (unmodified msal)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import msal
import pytest

from reconciler.emulator.auth import new_signing_key_pem
from reconciler.emulator.world import DEFAULT_FEDERATED_SUBJECT, TOKEN_EXCHANGE_AUDIENCE
from tests.conftest import USER_MAPPINGS, Emulator, start_emulator, stop_emulator, tls

SCOPE = ["https://graph.microsoft.com/.default"]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def external_token(emu: Emulator, subject: str = DEFAULT_FEDERATED_SUBJECT, **extra: Any) -> str:
    token: str = emu.control("POST", "/oidc/token", {"subject": subject, **extra})["value"]
    return token


def _msal(emu: Emulator, role: str, assertion: str) -> dict[str, Any]:
    tenant = emu.conn["tenants"][role]
    app = msal.ConfidentialClientApplication(
        tenant["client_id"],
        client_credential={"client_assertion": lambda: assertion},
        authority=f"{emu.conn['authority_base_url']}/{tenant['tenant_id']}",
        instance_discovery=False,
        verify=emu.conn["ca_file"],
    )
    result: dict[str, Any] = app.acquire_token_for_client(scopes=SCOPE)
    app.http_client.close()
    return result


def _post(emu: Emulator, role: str, assertion: str, client_id: str | None = None) -> httpx.Response:
    tenant = emu.conn["tenants"][role]
    return httpx.post(
        f"{emu.conn['authority_base_url']}/{tenant['tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id or tenant["client_id"],
            "scope": SCOPE[0],
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        verify=tls(emu.conn["ca_file"]),
    )


@pytest.fixture
def federated(emu: Emulator) -> Iterator[str]:
    """The URL of the source app's federated credentials; edits are undone (reset keeps apps as they are)."""
    url = f"/tenants/contoso/apps/{emu.source['client_id']}/federated-credentials"
    before = emu.control("GET", url)["value"]
    yield url
    for cred in emu.control("GET", url)["value"]:
        emu.control("DELETE", f"{url}/{cred['name']}")
    for cred in before:
        body = {k: cred[k] for k in ("issuer", "subject", "audiences")}
        emu.control("PUT", f"{url}/{cred['name']}", body)


def test_the_issuer_publishes_discovery_and_keys_that_verify_its_tokens(emu: Emulator) -> None:
    issuer = emu.conn["control_url"] + "/oidc"
    verify = tls(emu.conn["ca_file"])
    discovery = httpx.get(issuer + "/.well-known/openid-configuration", verify=verify).json()
    assert discovery["issuer"] == issuer
    jwks = httpx.get(discovery["jwks_uri"], verify=verify).json()
    token = external_token(emu, lifetime=600)
    claims = jwt.decode(token, jwt.PyJWK(jwks["keys"][0]).key, algorithms=["RS256"], audience=TOKEN_EXCHANGE_AUDIENCE)
    assert claims["iss"] == issuer
    assert claims["sub"] == DEFAULT_FEDERATED_SUBJECT
    assert claims["exp"] - claims["iat"] == 600
    # The Entra-like access tokens are signed with another key.
    entra_keys = httpx.get(
        f"{emu.conn['authority_base_url']}/{emu.source['tenant_id']}/discovery/v2.0/keys", verify=verify
    ).json()
    assert entra_keys["keys"][0]["kid"] != jwks["keys"][0]["kid"]


def test_default_apps_trust_the_emulator_issuer_for_the_documented_subject(emu: Emulator) -> None:
    world = emu.control("GET", "/world")
    for tenant in world["tenants"]:
        (cred,) = tenant["apps"][0]["federated_credentials"]
        assert cred == {
            "name": "emulator-ci",
            "issuer": emu.conn["control_url"] + "/oidc",
            "subject": "repo:contoso/migration:ref:refs/heads/main",
            "audiences": ["api://AzureADTokenExchange"],
        }


def test_unmodified_msal_exchanges_an_external_token_for_a_graph_token(emu: Emulator) -> None:
    for role in ("source", "target"):
        result = _msal(emu, role, external_token(emu))
        assert "access_token" in result, result
    token = result["access_token"]  # the target tenant's: write a user mapping with it
    src = emu.source["domain"]
    item = {
        "sourceOrganizationId": emu.source["tenant_id"],
        "userType": "regularUser",
        "sourceUserIdentity": {"userPrincipalName": f"user001@{src}"},
        "targetUserIdentity": {"userPrincipalName": f"user001@{emu.target['domain']}"},
        "targetUserMigrationData": {"email": f"user001@{emu.target['domain']}"},
    }
    answer = httpx.patch(
        emu.conn["graph_base_url"] + USER_MAPPINGS,
        json={"@context": "#$delta", "value": [item]},
        headers={"Authorization": f"Bearer {token}"},
        verify=tls(emu.conn["ca_file"]),
    )
    assert answer.status_code == 200, answer.text


def _error(response: httpx.Response) -> tuple[int, str, int, str]:
    body = response.json()
    assert body["error_description"].startswith(f"AADSTS{body['error_codes'][0]}: ")
    return response.status_code, body["error"], body["error_codes"][0], body["error_description"]


def test_a_wrong_subject_is_aadsts70021_naming_issuer_subject_and_audience(emu: Emulator) -> None:
    status, error, code, text = _error(_post(emu, "source", external_token(emu, "repo:contoso/migration:pull_request")))
    assert (status, error, code) == (400, "invalid_request", 70021)
    issuer = emu.conn["control_url"] + "/oidc"
    assert (
        f"No matching federated identity record found for presented assertion. Assertion Issuer: '{issuer}'. "
        "Assertion Subject: 'repo:contoso/migration:pull_request'. Assertion Audience: 'api://AzureADTokenExchange'."
    ) in text
    # Matching is case-sensitive, as Entra's is.
    assert _error(_post(emu, "source", external_token(emu, DEFAULT_FEDERATED_SUBJECT.upper())))[2] == 70021


def test_an_expired_external_token_is_aadsts700024(emu: Emulator) -> None:
    status, error, code, text = _error(_post(emu, "source", external_token(emu, lifetime=300, age=3600)))
    assert (status, error, code) == (401, "invalid_client", 700024)
    assert "Client assertion is not within its valid time range. Current time: " in text
    assert "expiry time of assertion " in text
    assert "access_token" in _msal(emu, "source", external_token(emu, lifetime=60, age=30))


def test_a_wrong_audience_is_aadsts700212(emu: Emulator) -> None:
    status, error, code, text = _error(_post(emu, "source", external_token(emu, audience="api://SomethingElse")))
    assert (status, error, code) == (401, "invalid_client", 700212)
    assert "presented assertion audience 'api://SomethingElse'" in text


def test_an_issuer_the_app_does_not_trust_is_aadsts700211(emu: Emulator, tmp_path: Path) -> None:
    key = new_signing_key_pem()
    claims = {"iss": "https://token.actions.githubusercontent.com", "sub": DEFAULT_FEDERATED_SUBJECT}
    foreign = jwt.encode(
        {**claims, "aud": TOKEN_EXCHANGE_AUDIENCE, "exp": 2_000_000_000, "iat": 1_700_000_000}, key, "RS256"
    )
    status, error, code, text = _error(_post(emu, "source", foreign))
    assert (status, error, code) == (401, "invalid_client", 700211)
    assert "presented assertion issuer 'https://token.actions.githubusercontent.com'" in text


def test_a_trusted_foreign_issuer_cannot_be_verified_offline(emu: Emulator, federated: str) -> None:
    emu.control(
        "PUT", f"{federated}/github", {"issuer": "https://token.actions.githubusercontent.com", "subject": "repo:x/y"}
    )
    key = new_signing_key_pem()
    foreign = jwt.encode(
        {
            "iss": "https://token.actions.githubusercontent.com",
            "sub": "repo:x/y",
            "aud": TOKEN_EXCHANGE_AUDIENCE,
            "exp": 2_000_000_000,
        },
        key,
        "RS256",
    )
    assert _error(_post(emu, "source", foreign))[1:3] == ("invalid_client", 50166)


def test_a_token_signed_with_another_key_fails_signature_validation(emu: Emulator) -> None:
    key = new_signing_key_pem()
    genuine = jwt.decode(external_token(emu), options={"verify_signature": False})
    forged = jwt.encode(genuine, key, "RS256")
    status, error, code, _ = _error(_post(emu, "source", forged))
    assert (status, error, code) == (401, "invalid_client", 50013)


def test_federated_credentials_are_set_and_removed_through_the_control_api(emu: Emulator, federated: str) -> None:
    emu.control("PUT", f"{federated}/pull-requests", {"issuer": "emulator", "subject": "repo:contoso/migration:pr"})
    assert "access_token" in _msal(emu, "source", external_token(emu, "repo:contoso/migration:pr"))
    emu.control("DELETE", f"{federated}/pull-requests")
    assert _msal(emu, "source", external_token(emu, "repo:contoso/migration:pr"))["error_codes"] == [70021]
    emu.control("DELETE", f"{federated}/emulator-ci")
    assert emu.control("GET", federated) == {"value": []}
    assert _msal(emu, "source", external_token(emu))["error_codes"] == [700211]
    bad = emu.control_client.put(f"{federated}/x", json={"issuer": "http://insecure", "subject": "s"})
    assert bad.status_code == 400
    assert "https://" in bad.text


def test_a_seed_file_declares_federated_credentials(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "tenants:\n"
        "  - name: north\n"
        "    apps:\n"
        "      - federated_credentials:\n"
        "          - {name: deploy, issuer: emulator, subject: 'repo:north/x:environment:prod'}\n"
        "          - name: gh\n"
        "            issuer: https://token.actions.githubusercontent.com\n"
        "            subject: 'repo:north/x:ref:main'\n"
        "  - name: south\n"
        "    apps:\n"
        "      - federated_credentials: []\n"
    )
    proc, conn = start_emulator(tmp_path, "--seed", str(seed))
    try:
        emu = Emulator(conn)
        try:
            tenants = {t["name"]: t for t in emu.control("GET", "/world")["tenants"]}
            assert [c["name"] for c in tenants["north"]["apps"][0]["federated_credentials"]] == ["deploy", "gh"]
            assert tenants["south"]["apps"][0]["federated_credentials"] == []
            assert "access_token" in _msal(emu, "source", external_token(emu, "repo:north/x:environment:prod"))
            assert _msal(emu, "target", external_token(emu))["error_codes"] == [700211]
        finally:
            emu.close()
    finally:
        stop_emulator(proc)


def test_the_issuer_documents_need_no_control_key_but_minting_does(tmp_path: Path) -> None:
    proc, conn = start_emulator(tmp_path, "--control-key", "k3y")
    try:
        verify = tls(conn["ca_file"])
        issuer = conn["control_url"] + "/oidc"
        assert httpx.get(issuer + "/.well-known/openid-configuration", verify=verify).status_code == 200
        assert httpx.get(issuer + "/.well-known/jwks", verify=verify).status_code == 200
        assert httpx.post(issuer + "/token", json={"subject": "s"}, verify=verify).status_code == 401
        minted = httpx.post(issuer + "/token", json={"subject": "s"}, headers={"X-Emulator-Key": "k3y"}, verify=verify)
        assert minted.status_code == 200
    finally:
        stop_emulator(proc)


def test_federated_credentials_and_the_issuer_key_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"

    def kid_and_credentials(conn: dict[str, Any], add: bool) -> tuple[str, list[dict[str, Any]]]:
        emu = Emulator(conn)
        try:
            jwks = emu.control("GET", "/oidc/.well-known/jwks")
            url = f"/tenants/{emu.source['tenant_id']}/apps/{emu.source['client_id']}/federated-credentials"
            if add:
                emu.control("PUT", f"{url}/deploy", {"issuer": "emulator", "subject": "repo:a/b:environment:prod"})
            creds: list[dict[str, Any]] = emu.control("GET", url)["value"]
            assert "access_token" in _msal(emu, "source", external_token(emu, "repo:a/b:environment:prod"))
            return str(jwks["keys"][0]["kid"]), [{k: v for k, v in c.items() if k != "issuer"} for c in creds]
        finally:
            emu.close()

    proc, conn = start_emulator(tmp_path, "--state", str(state))
    try:
        first = kid_and_credentials(conn, add=True)
    finally:
        stop_emulator(proc)
    proc, conn = start_emulator(tmp_path, "--state", str(state))
    try:
        assert kid_and_credentials(conn, add=False) == first
    finally:
        stop_emulator(proc)
    assert [c["name"] for c in first[1]] == ["emulator-ci", "deploy"]
