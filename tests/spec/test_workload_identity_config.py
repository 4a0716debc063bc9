"""``type: workload_identity`` in reconciler.yaml: the token file named by an environment variable is
checked when the connection is resolved (one-line errors, no network call) and handed to the Graph layer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.graph.config import WorkloadIdentity
from reconciler.workspace.config import WorkloadIdentityCredential
from reconciler.workspace.connection import CredentialError, resolve_connection
from reconciler.workspace.loader import load_workspace
from tests.spec.test_connection import _config

SOURCE_APP = "0c9f2b1e-7a4d-4c36-9d0e-2b8f5a1c7e30"
TARGET_APP = "5d1e0f7a-3b2c-4e8d-9a6f-0c1b2d3e4f50"


def _workspace(tmp_path: Path) -> Path:
    return _config(
        tmp_path,
        f"{{type: workload_identity, client_id: {SOURCE_APP}}}",
        f"{{type: workload_identity, client_id: {TARGET_APP}, token_file_env: FABRIKAM_TOKEN_FILE}}",
    )


def test_the_token_file_env_defaults_to_azure_federated_token_file() -> None:
    ref = WorkloadIdentityCredential.model_validate({"type": "workload_identity", "client_id": SOURCE_APP})
    assert ref.token_file_env == "AZURE_FEDERATED_TOKEN_FILE"
    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "specs" / "workspace" / "reconciler.schema.json").read_text()
    )
    assert schema["$defs"]["WorkloadIdentityCredential"]["properties"]["token_file_env"]["default"] == (
        "AZURE_FEDERATED_TOKEN_FILE"
    )


def test_each_tenant_gets_its_token_file(tmp_path: Path) -> None:
    ws = load_workspace(_workspace(tmp_path))
    assert list(ws.diagnostics) == []
    (tmp_path / "github.jwt").write_text("eyJ.github.token\n")
    (tmp_path / "ado.jwt").write_text("eyJ.ado.token")
    env = {"AZURE_FEDERATED_TOKEN_FILE": str(tmp_path / "github.jwt"), "FABRIKAM_TOKEN_FILE": str(tmp_path / "ado.jwt")}
    connection = resolve_connection(ws, env)
    assert connection.source.credential == WorkloadIdentity(
        SOURCE_APP, tmp_path / "github.jwt", "AZURE_FEDERATED_TOKEN_FILE"
    )
    assert connection.target.credential == WorkloadIdentity(TARGET_APP, tmp_path / "ado.jwt", "FABRIKAM_TOKEN_FILE")
    assert "eyJ" not in repr(connection)  # the token is read at sign-in, never kept in the connection


def test_a_missing_variable_or_an_empty_or_missing_file_is_named(tmp_path: Path) -> None:
    ws = load_workspace(_workspace(tmp_path))
    token = tmp_path / "token.jwt"
    with pytest.raises(
        CredentialError,
        match=r"^source: environment variable AZURE_FEDERATED_TOKEN_FILE is not set; it must name the file "
        r"holding the federated token",
    ):
        resolve_connection(ws, {"FABRIKAM_TOKEN_FILE": str(token)})
    with pytest.raises(
        CredentialError,
        match=rf"^source: cannot read the federated token file {token} \(named by AZURE_FEDERATED_TOKEN_FILE\): "
        "No such file or directory$",
    ):
        resolve_connection(ws, {"AZURE_FEDERATED_TOKEN_FILE": str(token), "FABRIKAM_TOKEN_FILE": str(token)})
    token.write_text(" \n")
    with pytest.raises(
        CredentialError,
        match=rf"^source: the federated token file {token} \(named by AZURE_FEDERATED_TOKEN_FILE\) is empty$",
    ):
        resolve_connection(ws, {"AZURE_FEDERATED_TOKEN_FILE": str(token), "FABRIKAM_TOKEN_FILE": str(token)})
    token.write_text("eyJ.token")
    with pytest.raises(CredentialError, match=r"^target: environment variable FABRIKAM_TOKEN_FILE is not set"):
        resolve_connection(ws, {"AZURE_FEDERATED_TOKEN_FILE": str(token)})


def test_a_secret_value_in_the_config_is_refused(tmp_path: Path) -> None:
    ws = load_workspace(
        _config(
            tmp_path,
            f"{{type: workload_identity, client_id: {SOURCE_APP}, token: eyJ.secret}}",
            f"{{type: workload_identity, client_id: {TARGET_APP}}}",
        )
    )
    assert not ws.ok
    assert "eyJ.secret" not in "\n".join(d.render() for d in ws.diagnostics.sorted())
