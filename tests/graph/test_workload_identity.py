"""The Graph client signs in with workload identity federation: msal's assertion callback reads the token
file on every token request, errors are one line with the AADSTS code and the token request."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.emulator.world import DEFAULT_FEDERATED_SUBJECT
from reconciler.graph.auth import TokenProvider
from reconciler.graph.client import GraphClient
from reconciler.graph.config import WorkloadIdentity
from reconciler.graph.errors import AuthenticationError
from tests.conftest import Emulator
from tests.emulator.test_workload_identity import external_token
from tests.graph.conftest import connection, run


def _provider(emu: Emulator, role: str, token_file: Path) -> TokenProvider:
    client_id = emu.conn["tenants"][role]["client_id"]
    credential = WorkloadIdentity(client_id, token_file, "AZURE_FEDERATED_TOKEN_FILE")
    return TokenProvider(connection(emu.conn, role, credential=credential))


def test_both_tenants_sign_in_with_an_external_token_and_graph_answers(emu: Emulator, tmp_path: Path) -> None:
    token_file = tmp_path / "federated-token"
    token_file.write_text(external_token(emu) + "\n")
    credential = {
        role: WorkloadIdentity(emu.conn["tenants"][role]["client_id"], token_file) for role in ("source", "target")
    }
    graph = GraphClient(
        connection(emu.conn, "source", credential=credential["source"]),
        connection(emu.conn, "target", credential=credential["target"]),
    )

    async def read() -> object:
        async with graph:
            return await graph.get_user_mapping(f"user001@{emu.source['domain']}")

    assert run(read()) is None


def test_a_wrong_subject_is_one_line_with_aadsts70021_and_the_token_request(emu: Emulator, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(external_token(emu, "repo:contoso/migration:ref:refs/heads/feature"))
    provider = _provider(emu, "source", token_file)
    try:
        with pytest.raises(AuthenticationError) as info:
            provider.token_sync()
    finally:
        provider.close()
    text = str(info.value)
    assert "\n" not in text
    token_url = f"{emu.conn['authority_base_url']}/{emu.source['tenant_id']}/oauth2/v2.0/token"
    assert text.startswith(
        f"POST {token_url} -> 400 invalid_request: source tenant {emu.source['tenant_id']}: AADSTS70021: "
    )
    assert "Assertion Subject: 'repo:contoso/migration:ref:refs/heads/feature'" in text
    assert info.value.code == "invalid_request"


def test_an_expired_external_token_is_aadsts700024(emu: Emulator, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(external_token(emu, lifetime=300, age=3600))
    provider = _provider(emu, "target", token_file)
    try:
        expected = r"-> 401 invalid_client: target tenant .*: AADSTS700024: Client assertion is not within"
        with pytest.raises(AuthenticationError, match=expected):
            provider.token_sync()
    finally:
        provider.close()


def test_the_token_file_is_read_again_on_renewal(emu: Emulator, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(external_token(emu))
    provider = _provider(emu, "source", token_file)
    try:
        first = provider.token_sync()
        # CI rotates the file in place: a token for another subject is refused, so a renewal that
        # re-used the first assertion would pass where this one fails.
        token_file.write_text(external_token(emu, "repo:contoso/migration:environment:other"))
        with pytest.raises(AuthenticationError, match="AADSTS70021"):
            provider.token_sync(force=True)
        token_file.write_text(external_token(emu))
        renewed = provider.token_sync(force=True)
        assert renewed != first
        assert provider.acquisitions == 3
    finally:
        provider.close()


def test_a_token_file_emptied_or_removed_later_is_named_without_a_request(emu: Emulator, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(external_token(emu))
    provider = _provider(emu, "source", token_file)
    try:
        provider.token_sync()
        before = emu.control("GET", "/counters").get("token", {})
        token_file.write_text("  \n")
        with pytest.raises(AuthenticationError, match=rf"^source tenant: the federated token file {token_file} "):
            provider.token_sync(force=True)
        token_file.unlink()
        with pytest.raises(AuthenticationError, match=r"cannot read .* \(named by AZURE_FEDERATED_TOKEN_FILE\)"):
            provider.token_sync(force=True)
        assert emu.control("GET", "/counters").get("token", {}) == before  # nothing was sent
    finally:
        provider.close()


def test_the_default_subject_is_the_documented_one() -> None:
    assert DEFAULT_FEDERATED_SUBJECT == "repo:contoso/migration:ref:refs/heads/main"
