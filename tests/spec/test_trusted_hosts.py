"""Real credentials and the tokens they buy go only to Microsoft's endpoints, loopback, or hosts the job trusts:
a pull request cannot point reconciler.yaml at a server of its own and collect the tenants' secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.workspace.connection import CredentialError, resolve_connection
from reconciler.workspace.loader import load_workspace
from tests.conftest import run_cli

SOURCE_ID = "79d49731-4eec-55d9-bcd4-6d55505b7f2c"
TARGET_ID = "209a1d2e-6cb2-5501-a039-58b1392b7c3d"
SECRET = "s3cr3t-value-that-must-not-travel"
CREDENTIALS = "{type: client_secret, client_id: 0c9f2b1e-7a4d-4c36-9d0e-2b8f5a1c7e30, client_secret_env: TENANT_SECRET}"


def _workspace(tmp_path: Path, graph: str) -> Path:
    (tmp_path / "reconciler.yaml").write_text(
        f"version: 1\nsource:\n  tenant_id: {SOURCE_ID}\n  domain: contoso.onmicrosoft.com\n"
        f"  credentials: {CREDENTIALS}\n"
        f"target:\n  tenant_id: {TARGET_ID}\n  domain: fabrikam.onmicrosoft.com\n"
        f"  credentials: {CREDENTIALS}\n{graph}"
    )
    (tmp_path / "users.yaml").write_text(
        "user_mappings:\n  - source_upn: a@contoso.onmicrosoft.com\n    target_upn: a@fabrikam.onmicrosoft.com\n"
    )
    return tmp_path


@pytest.mark.parametrize(
    ("graph", "field", "host"),
    [
        (
            "graph:\n  authority_base_url: https://login.attacker.example\n",
            "authority_base_url",
            "login.attacker.example",
        ),
        ("graph:\n  graph_base_url: https://graph.attacker.example/beta\n", "graph_base_url", "graph.attacker.example"),
        (
            "graph:\n  authority_base_url: https://login.microsoftonline.com.attacker.example\n",
            "authority_base_url",
            "login.microsoftonline.com.attacker.example",
        ),
    ],
)
def test_a_credential_is_never_sent_to_a_host_the_repository_chose(
    tmp_path: Path, graph: str, field: str, host: str
) -> None:
    ws = load_workspace(_workspace(tmp_path, graph))
    assert ws.ok, ws.diagnostics.sorted()
    with pytest.raises(CredentialError, match=rf"^source: refusing to send .* to {host} \({field} ") as caught:
        resolve_connection(ws, {"TENANT_SECRET": SECRET})
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "graph",
    [
        "",  # Microsoft's global cloud
        "graph:\n  graph_base_url: https://graph.microsoft.us/beta\n  authority_base_url: https://login.microsoftonline.us\n",
        "graph:\n  graph_base_url: https://127.0.0.1:8443/beta\n  authority_base_url: https://localhost:8443\n",
        "graph:\n  graph_base_url: https://[::1]:8443/beta\n  authority_base_url: https://[::1]:8443\n",
    ],
)
def test_microsofts_clouds_and_loopback_are_trusted(tmp_path: Path, graph: str) -> None:
    connection = resolve_connection(load_workspace(_workspace(tmp_path, graph)), {"TENANT_SECRET": SECRET})
    assert connection.source.credential is not None


def test_the_jobs_environment_can_trust_a_host_of_its_own(tmp_path: Path) -> None:
    graph = "graph:\n  graph_base_url: https://graph.proxy.corp/beta\n  authority_base_url: https://login.proxy.corp\n"
    ws = load_workspace(_workspace(tmp_path, graph))
    with pytest.raises(CredentialError, match=r"login\.proxy\.corp"):
        resolve_connection(ws, {"TENANT_SECRET": SECRET, "RECONCILER_TRUSTED_HOSTS": "graph.proxy.corp"})
    env = {"TENANT_SECRET": SECRET, "RECONCILER_TRUSTED_HOSTS": " graph.proxy.corp , LOGIN.proxy.corp "}
    assert resolve_connection(ws, env).target.graph_base_url == "https://graph.proxy.corp/beta"


def test_plan_refuses_in_one_line_and_sends_nothing(tmp_path: Path) -> None:
    # A host that would answer if asked: the refusal must come before any connection is tried.
    ws = _workspace(tmp_path, "graph:\n  authority_base_url: https://127.0.0.2.nip.attacker.example:1\n")
    out = run_cli("plan", str(ws), env={"TENANT_SECRET": SECRET})
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("Error: source: refusing to send this tenant's credential")
    assert "Traceback" not in out.stderr
    assert SECRET not in out.stdout + out.stderr
    assert "cannot reach" not in out.stderr, "no connection may be attempted"
