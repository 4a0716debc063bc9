"""Shared fixtures: a real emulator process over HTTPS, msal tokens, Graph and control clients."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msal
import pytest

from reconciler.emulator.process import start_emulator as start_emulator
from reconciler.emulator.process import stop_emulator as stop_emulator
from reconciler.emulator.tls import self_signed_certificate as self_signed_certificate
from reconciler.graph.auth import MsalHttpClient

MIGRATIONS = "/solutions/sharePoint/migrations"
TASKS = f"{MIGRATIONS}/crossOrganizationMigrationTasks"
USER_MAPPINGS = f"{MIGRATIONS}/crossOrganizationUserMappings"
GROUP_MAPPINGS = f"{MIGRATIONS}/crossOrganizationGroupMappings"
USER_PARAMS = "#microsoft.graph.sharePointUserMigrationTaskParameters"
SITE_PARAMS = "#microsoft.graph.sharePointSiteMigrationTaskParameters"
GROUP_PARAMS = "#microsoft.graph.sharePointGroupMigrationTaskParameters"


def tls(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``reconciler ARGS`` in a subprocess, no terminal on stdin; ``env`` adds to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def intents_in(journal_file: Path) -> list[dict[str, Any]]:
    """The unsettled intents of an apply journal file as it is now ([] when there is none)."""
    try:
        data = journal_file.read_bytes()
    except FileNotFoundError:
        return []
    intents: dict[str, dict[str, Any]] = {}
    for line in data[: data.rfind(b"\n") + 1].splitlines():
        record = json.loads(line)
        if record["t"] == "intent":
            intents[record["intent"]["id"]] = record["intent"]
        elif record["t"] == "settle":
            intents.pop(record["id"], None)
    return list(intents.values())


def msal_token(conn: dict[str, Any], role: str, credential: Any = None) -> dict[str, Any]:
    tenant = conn["tenants"][role]
    http = MsalHttpClient(tls(conn["ca_file"]))
    try:
        app = msal.ConfidentialClientApplication(
            tenant["client_id"],
            client_credential=credential if credential is not None else tenant["client_secret"],
            authority=f"{conn['authority_base_url']}/{tenant['tenant_id']}",
            instance_discovery=False,
            http_client=http,
        )
        result: dict[str, Any] = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    finally:
        http.close()
    return result


class Emulator:
    def __init__(self, conn: dict[str, Any]) -> None:
        self.conn = conn
        self.source = conn["tenants"]["source"]
        self.target = conn["tenants"]["target"]
        self._tokens: dict[str, str] = {}
        self.control_client = httpx.Client(base_url=conn["control_url"], verify=tls(conn["ca_file"]), timeout=30)
        self.http = httpx.Client(base_url=conn["graph_base_url"], verify=tls(conn["ca_file"]), timeout=30)

    def token(self, role: str) -> str:
        if role not in self._tokens:
            result = msal_token(self.conn, role)
            assert "access_token" in result, result
            self._tokens[role] = result["access_token"]
        return self._tokens[role]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def graph(self, method: str, path: str, role: str = "source", **kw: Any) -> httpx.Response:
        headers = {**self.auth(role), **kw.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kw)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = self.control_client.request(method, path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def map_user(self, source_upn: str, target_upn: str | None = None) -> None:
        target_upn = target_upn or source_upn.split("@")[0] + "@" + self.target["domain"]
        item = {
            "sourceOrganizationId": self.source["tenant_id"],
            "userType": "regularUser",
            "sourceUserIdentity": {"userPrincipalName": source_upn},
            "targetUserIdentity": {"userPrincipalName": target_upn},
            "targetUserMigrationData": {"email": target_upn},
        }
        r = self.graph("PATCH", USER_MAPPINGS, "target", json={"@context": "#$delta", "value": [item]})
        assert r.status_code == 200, r.text

    def user_task(self, n: int = 1, **extra: Any) -> dict[str, Any]:
        return {
            "parameters": {
                "@odata.type": USER_PARAMS,
                "targetOrganizationId": self.target["tenant_id"],
                "sourceUserIdentity": {"userPrincipalName": f"user{n:03d}@{self.source['domain']}"},
                "targetUserIdentity": {"userPrincipalName": f"user{n:03d}@{self.target['domain']}"},
                **extra,
            }
        }

    def close(self) -> None:
        self.control_client.close()
        self.http.close()


@pytest.fixture(scope="session")
def emulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("emulator")
    proc, conn = start_emulator(workdir)
    try:
        yield conn
    finally:
        stop_emulator(proc)


@pytest.fixture(scope="session")
def emulator_session(emulator_process: dict[str, Any]) -> Iterator[Emulator]:
    e = Emulator(emulator_process)
    try:
        yield e
    finally:
        e.close()


@pytest.fixture
def emu(emulator_session: Emulator) -> Emulator:
    """The shared emulator, reset to the default world before each test (tokens stay valid)."""
    emulator_session.control("POST", "/reset")
    return emulator_session


@pytest.fixture
def quickstart_workspace(emu: Emulator, tmp_path: Path) -> Path:
    """A copy of examples/quickstart wired to the shared emulator through its connection file."""
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(Path(__file__).resolve().parent.parent / "examples" / "quickstart", ws)
    (ws / ".reconciler").mkdir(exist_ok=True)
    (ws / ".reconciler" / "emulator.json").write_text(json.dumps(emu.conn))
    return ws


@pytest.fixture(autouse=True)
def _no_requests_ca_override(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests exercise msal's own verify= path too; machine-wide CA overrides must not hide a TLS problem.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Azurite blob service for the session (in memory, loopback); tests make their own containers."""
    from tests.azurite import running_azurite

    with running_azurite(tmp_path_factory.mktemp("azurite")) as service:
        yield service
