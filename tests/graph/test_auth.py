"""Tokens per tenant with msal: secrets and certificates, refresh across expiry, 401 recovery, no leaks."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr

from reconciler.graph import auth
from reconciler.graph.auth import TokenProvider
from reconciler.graph.config import Certificate, ClientSecret
from reconciler.graph.errors import AuthenticationError
from tests.conftest import Emulator, self_signed_certificate, start_emulator, stop_emulator
from tests.graph.conftest import client, connection, run


def test_each_tenant_gets_its_own_token(emu: Emulator) -> None:
    source = TokenProvider(connection(emu.conn, "source"))
    target = TokenProvider(connection(emu.conn, "target"))
    try:
        tids = {jwt.decode(p.token_sync(), options={"verify_signature": False})["tid"] for p in (source, target)}
    finally:
        source.close()
        target.close()
    assert tids == {emu.source["tenant_id"], emu.target["tenant_id"]}


def test_tokens_are_renewed_before_they_expire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "REFRESH_MARGIN", 1.0)
    proc, conn = start_emulator(tmp_path, "--token-lifetime", "2")
    try:
        provider = TokenProvider(connection(conn, "target"))

        async def main() -> None:
            async with client(conn) as graph:
                graph.transport.channels["target"].auth.provider = provider
                assert await graph.get_user_mapping("user001@contoso.onmicrosoft.com") is None
                first = provider.acquisitions
                await asyncio.sleep(1.5)  # now less than REFRESH_MARGIN of the 2 s lifetime is left
                assert await graph.get_user_mapping("user001@contoso.onmicrosoft.com") is None
                assert provider.acquisitions == first + 1

        run(main())
        provider.close()
    finally:
        stop_emulator(proc)


def test_a_rejected_token_is_renewed_once_and_the_request_resent(emu: Emulator) -> None:
    async def main() -> None:
        async with client(emu) as graph:
            provider = graph.transport.channels["target"].provider
            provider.token_sync()
            before = provider.acquisitions
            provider._token = "not-a-token"  # as if the service had revoked it
            assert await graph.get_user_mapping(f"user001@{emu.source['domain']}") is None
            assert provider.acquisitions == before + 1

    run(main())


def _certificate_pem(tmp_path: Path) -> tuple[Path, str]:
    key_pem, cert_pem = self_signed_certificate()
    path = tmp_path / "app.pem"
    path.write_text(key_pem + cert_pem)
    return path, cert_pem


def test_certificate_credential_from_a_pem_file(emu: Emulator, tmp_path: Path) -> None:
    path, cert_pem = _certificate_pem(tmp_path)
    emu.control("POST", f"/tenants/contoso/apps/{emu.source['client_id']}/certificates", {"certificate_pem": cert_pem})
    conn = connection(emu.conn, "source", credential=Certificate(emu.source["client_id"], path))
    provider = TokenProvider(conn)
    try:
        claims = jwt.decode(provider.token_sync(), options={"verify_signature": False})
    finally:
        provider.close()
    assert claims["tid"] == emu.source["tenant_id"]


def test_a_certificate_file_with_non_ascii_bytes_is_one_error_that_quotes_nothing(
    emu: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "app.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\n\xff\xfeSECRETKEY\n")
    provider = TokenProvider(connection(emu.conn, "source", credential=Certificate(emu.source["client_id"], path)))
    try:
        with pytest.raises(
            AuthenticationError, match=r"app\.pem: not a PEM file \(it holds non-ASCII bytes\)$"
        ) as info:
            provider.token_sync()
    finally:
        provider.close()
    assert "SECRETKEY" not in str(info.value)


def test_a_wrong_secret_is_an_authentication_error_that_leaks_nothing(emu: Emulator) -> None:
    secret = "definitely-wrong-secret-value"
    conn = connection(emu.conn, "target", credential=ClientSecret(emu.target["client_id"], SecretStr(secret)))
    provider = TokenProvider(conn)
    try:
        with pytest.raises(AuthenticationError) as info:
            provider.token_sync()
    finally:
        provider.close()
    text = str(info.value) + repr(info.value)
    assert "invalid_client" in text
    assert "AADSTS7000215" in text
    assert secret not in text
    assert secret not in repr(conn)
    assert emu.target["client_secret"] not in repr(connection(emu.conn, "target"))


def test_the_persistent_token_cache_is_private(emu: Emulator, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "tokens.json"
    provider = TokenProvider(connection(emu.conn, "source", token_cache_file=cache))
    try:
        token = provider.token_sync()
    finally:
        provider.close()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    # A new provider (a new run) is served from the file without asking the authority.
    again = TokenProvider(connection(emu.conn, "source", token_cache_file=cache))
    try:
        assert again.token_sync() == token
    finally:
        again.close()


def test_device_code_sign_in_gives_a_delegated_token_graph_accepts(emu: Emulator) -> None:
    import re

    import httpx

    from reconciler.graph.config import DeviceCode
    from tests.conftest import tls

    prompts: list[str] = []

    def approve(message: str) -> None:
        # The person opens the page and types the code; the emulator's control API plays that part.
        prompts.append(message)
        code = re.search(r"enter the code (\w+)", message)
        assert code is not None
        r = httpx.post(
            f"{emu.conn['control_url']}/device-codes/approve",
            verify=tls(emu.conn["ca_file"]),
            json={"user_code": code.group(1), "user": f"user010@{emu.target['domain']}"},
        )
        assert r.status_code == 200, r.text

    credential = DeviceCode(emu.target["client_id"], prompt=approve)

    async def main() -> None:
        async with client(emu) as graph:
            provider = TokenProvider(connection(emu.conn, "target", credential=credential))
            graph.transport.channels["target"].auth.provider = provider
            try:
                assert await graph.get_user_mapping(f"user001@{emu.source['domain']}") is None
                claims = jwt.decode(await provider.token(), options={"verify_signature": False})
            finally:
                provider.close()
        assert claims["upn"] == f"user010@{emu.target['domain']}"
        assert "SharePointCrossTenantMigration.Read.All" in claims["scp"].split()
        assert "roles" not in claims

    run(main())
    assert len(prompts) == 1
    assert "enter the code" in prompts[0]


def test_managed_identity_on_an_app_service_style_endpoint(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.graph.config import ManagedIdentity

    endpoint = emu.control("GET", "/managed-identity")["contoso"]
    monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint["endpoint"])
    monkeypatch.setenv("IDENTITY_HEADER", endpoint["header"])
    for identity in (ManagedIdentity(), ManagedIdentity(client_id=emu.source["client_id"])):
        provider = TokenProvider(connection(emu.conn, "source", credential=identity))
        try:
            claims = jwt.decode(provider.token_sync(), options={"verify_signature": False})
        finally:
            provider.close()
        assert claims["tid"] == emu.source["tenant_id"]
        assert claims["appid"] == emu.source["client_id"]
    monkeypatch.setenv("IDENTITY_HEADER", "wrong")
    provider = TokenProvider(connection(emu.conn, "source", credential=ManagedIdentity()))
    try:
        with pytest.raises(AuthenticationError):
            provider.token_sync()
    finally:
        provider.close()
