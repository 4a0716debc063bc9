"""Credentials by reference: resolved at run time from the environment, files or the emulator connection file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.graph.config import Certificate, ClientSecret, ManagedIdentity
from reconciler.workspace.connection import CredentialError, resolve_connection
from reconciler.workspace.loader import load_workspace

SOURCE_ID = "79d49731-4eec-55d9-bcd4-6d55505b7f2c"
TARGET_ID = "209a1d2e-6cb2-5501-a039-58b1392b7c3d"


def _config(tmp_path: Path, source_credentials: str, target_credentials: str, extra: str = "") -> Path:
    (tmp_path / "reconciler.yaml").write_text(
        f"version: 1\nsource:\n  tenant_id: {SOURCE_ID}\n  domain: contoso.onmicrosoft.com\n"
        f"  credentials: {source_credentials}\n"
        f"target:\n  tenant_id: {TARGET_ID}\n  domain: fabrikam.onmicrosoft.com\n"
        f"  credentials: {target_credentials}\n{extra}"
    )
    return tmp_path


def test_secret_from_environment_and_certificate(tmp_path: Path) -> None:
    ws_dir = _config(
        tmp_path,
        "{type: client_secret, client_id: 0c9f2b1e-7a4d-4c36-9d0e-2b8f5a1c7e30, client_secret_env: SRC_SECRET}",
        "{type: certificate, client_id: 5d1e0f7a-3b2c-4e8d-9a6f-0c1b2d3e4f50, certificate_path: t.pem, "
        "certificate_password_env: PEM_PASSWORD}",
        "graph:\n  ca_bundle: ca.pem\n",
    )
    (tmp_path / "t.pem").write_text("pem")
    ws = load_workspace(ws_dir)
    with pytest.raises(CredentialError, match=r"^source: CA bundle .*ca.pem does not exist$"):
        resolve_connection(ws, {"SRC_SECRET": "hunter2", "PEM_PASSWORD": "pw"})
    (tmp_path / "ca.pem").write_text("ca")
    connection = resolve_connection(ws, {"SRC_SECRET": "hunter2", "PEM_PASSWORD": "pw"})
    assert connection.source.graph_base_url == "https://graph.microsoft.com/beta"
    assert connection.target.authority == f"https://login.microsoftonline.com/{TARGET_ID}"
    assert connection.source.ca_file == tmp_path / "ca.pem"
    source, target = connection.source.credential, connection.target.credential
    assert isinstance(source, ClientSecret)
    assert source.secret.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(connection)
    assert isinstance(target, Certificate)
    assert target.path == tmp_path / "t.pem"
    assert target.password is not None
    assert target.password.get_secret_value() == "pw"
    assert connection.source.tenant_id == SOURCE_ID


def test_missing_references_are_one_line_errors(tmp_path: Path) -> None:
    ws = load_workspace(
        _config(
            tmp_path,
            "{type: client_secret, client_id: 0c9f2b1e-7a4d-4c36-9d0e-2b8f5a1c7e30, client_secret_file: secret.txt}",
            "{type: managed_identity}",
        )
    )
    with pytest.raises(CredentialError, match=r"^source: cannot read the client secret file .*secret.txt"):
        resolve_connection(ws, {})
    (tmp_path / "secret.txt").write_text("  s3cret\n")
    connection = resolve_connection(ws, {})
    assert isinstance(connection.source.credential, ClientSecret)
    assert connection.source.credential.secret.get_secret_value() == "s3cret"
    assert connection.target.credential == ManagedIdentity(None)
    env_ws = load_workspace(
        _config(
            tmp_path,
            "{type: client_secret, client_id: 0c9f2b1e-7a4d-4c36-9d0e-2b8f5a1c7e30, client_secret_env: NOPE}",
            "{type: device_code, client_id: 5d1e0f7a-3b2c-4e8d-9a6f-0c1b2d3e4f50}",
        )
    )
    with pytest.raises(CredentialError, match=r"^source: environment variable NOPE is not set$"):
        resolve_connection(env_ws, {})


def test_emulator_connection_file_fills_endpoints_and_apps(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "version: 1\nsource:\n  name: contoso\ntarget:\n  name: fabrikam\nemulator:\n  connection_file: conn.json\n"
    )
    ws = load_workspace(tmp_path)
    assert [d.render() for d in ws.diagnostics] == [
        f"{tmp_path}/reconciler.yaml:7:20: warning: emulator connection file conn.json does not exist yet; "
        "source.tenant_id, source.domain, target.tenant_id, target.domain will come from it; "
        "checks that need them were skipped"
    ]
    with pytest.raises(CredentialError, match="does not exist; is the emulator running"):
        resolve_connection(ws, {})
    tenants = {
        role: {
            "name": name,
            "tenant_id": tid,
            "domain": f"{name}.onmicrosoft.com",
            "client_id": cid,
            "client_secret": f"secret-{name}",
        }
        for role, name, tid, cid in (
            ("source", "contoso", SOURCE_ID, "a2c4d506-27a9-5427-b583-9ade81289055"),
            ("target", "fabrikam", TARGET_ID, "c04da7ff-0402-5d16-9723-70d0f0b4f9ab"),
        )
    }
    (tmp_path / "ca.pem").write_text("ca")
    (tmp_path / "conn.json").write_text(
        json.dumps(
            {
                "graph_base_url": "https://127.0.0.1:4443/beta",
                "authority_base_url": "https://127.0.0.1:4443",
                "ca_file": str(tmp_path / "ca.pem"),
                "control_url": "https://127.0.0.1:4443/_emulator",
                "tenants": tenants,
            }
        )
    )
    ws = load_workspace(tmp_path)
    assert list(ws.diagnostics) == []
    assert ws.source is not None
    assert (ws.source.tenant_id, ws.source.hosts) == (
        SOURCE_ID,
        ("https://contoso.sharepoint.com", "https://contoso-my.sharepoint.com"),
    )
    connection = resolve_connection(ws, {})
    assert (connection.target.graph_base_url, connection.target.ca_file) == (
        "https://127.0.0.1:4443/beta",
        tmp_path / "ca.pem",
    )
    target = connection.target.credential
    assert isinstance(target, ClientSecret)
    assert (target.client_id, target.secret.get_secret_value()) == (
        "c04da7ff-0402-5d16-9723-70d0f0b4f9ab",
        "secret-fabrikam",
    )
    assert "secret-fabrikam" not in repr(connection)
    assert "secret-" not in repr(ws)


def test_secrets_in_a_bad_connection_file_are_never_echoed(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "version: 1\nsource: {}\ntarget: {}\nemulator:\n  connection_file: conn.json\n"
    )
    (tmp_path / "conn.json").write_text('{"graph_base_url": "TOPSECRET", "tenants": {"source": {"client_secret": 5}}}')
    ws = load_workspace(tmp_path)
    conn = f"{tmp_path}/conn.json"
    assert [d.render() for d in ws.diagnostics.sorted()] == [
        f'{conn}:1:1: error: missing required field "authority_base_url"',
        f'{conn}:1:1: error: missing required field "ca_file"',
        f"{conn}:1:20: error: graph_base_url is not a valid URL; expected https://host[:port]/path",
        f'{conn}:1:44: error: missing required field "tenants.target"',
        f'{conn}:1:55: error: missing required field "tenants.source.client_id"',
        f'{conn}:1:55: error: missing required field "tenants.source.domain"',
        f'{conn}:1:55: error: missing required field "tenants.source.name"',
        f'{conn}:1:55: error: missing required field "tenants.source.tenant_id"',
        f"{conn}:1:73: error: tenants.source.client_secret: expected a string, got integer",
    ]


def test_workspace_with_errors_is_not_resolved(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text("version: 1\nsource: {}\n")
    with pytest.raises(CredentialError, match="run `reconciler validate`"):
        resolve_connection(load_workspace(tmp_path), {})
