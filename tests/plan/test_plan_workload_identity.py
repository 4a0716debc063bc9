"""``reconciler plan`` on a copy of the quickstart with ``workload_identity`` on both tenants: the CLI signs
in with an external token minted by the emulator's OIDC issuer (msal for real, over HTTPS), no secret used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import Emulator
from tests.emulator.test_workload_identity import external_token


def _federated(ws: Path, emu: Emulator) -> None:
    config = ws / "reconciler.yaml"
    text = config.read_text()
    for role, before in (("source", "target:\n"), ("target", "emulator:\n")):
        client_id = emu.conn["tenants"][role]["client_id"]
        line = f"  credentials:\n    type: workload_identity\n    client_id: {client_id}\n"
        assert text.count(before) == 1
        text = text.replace(before, line + before)
    config.write_text(text)
    # No client secret anywhere: the emulator connection file keeps endpoints and CA only.
    conn = json.loads((ws / ".reconciler" / "emulator.json").read_text())
    for tenant in conn["tenants"].values():
        tenant["client_secret"] = "not-used"
    (ws / ".reconciler" / "emulator.json").write_text(json.dumps(conn))


def _plan(ws: Path, token_file: Path | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AZURE_FEDERATED_TOKEN_FILE"}
    if token_file is not None:
        env["AZURE_FEDERATED_TOKEN_FILE"] = str(token_file)
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", str(ws), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _token_requests(emu: Emulator) -> int:
    return sum(emu.control("GET", "/counters").get("token", {}).values())


def test_plan_signs_in_to_both_tenants_with_workload_identity(quickstart_workspace: Path, emu: Emulator) -> None:
    _federated(quickstart_workspace, emu)
    token_file = quickstart_workspace.parent / "federated-token"
    token_file.write_text(external_token(emu))
    before = _token_requests(emu)
    out = _plan(quickstart_workspace, token_file)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["evidence"]["refreshed"] is True
    actions = {c["address"]: c["domain_action"] for c in doc["resource_changes"]}
    assert actions[f'user_mapping["user001@{emu.source["domain"]}"]'] == "create"
    assert actions['group_migration["group01"]'] == "start"
    assert _token_requests(emu) - before == 2  # one exchange per tenant


def test_a_wrong_subject_fails_the_plan_with_one_line_naming_aadsts70021(
    quickstart_workspace: Path, emu: Emulator
) -> None:
    _federated(quickstart_workspace, emu)
    token_file = quickstart_workspace.parent / "federated-token"
    token_file.write_text(external_token(emu, "repo:contoso/migration:pull_request"))
    out = _plan(quickstart_workspace, token_file)
    assert out.returncode == 1, out.stderr
    assert out.stdout == "", "nothing is planned when a tenant refuses the sign-in"
    # One error for the run (not one per object it would have read), naming the token request and the code.
    [line] = [ln for ln in out.stderr.splitlines() if ln.startswith("Error: ")]
    role = "source" if "source tenant" in line else "target"
    tenant_id = emu.conn["tenants"][role]["tenant_id"]
    token_url = f"{emu.conn['authority_base_url']}/{tenant_id}/oauth2/v2.0/token"
    assert line.startswith(f"Error: POST {token_url} -> 400 invalid_request: {role} tenant {tenant_id}: AADSTS70021: ")
    assert "AADSTS70021: No matching federated identity record found for presented assertion." in line
    assert "Assertion Subject: 'repo:contoso/migration:pull_request'" in line


def test_a_missing_variable_or_empty_file_fails_before_any_request(quickstart_workspace: Path, emu: Emulator) -> None:
    _federated(quickstart_workspace, emu)
    before = _token_requests(emu)
    out = _plan(quickstart_workspace, None)
    assert out.returncode == 1
    assert "source: environment variable AZURE_FEDERATED_TOKEN_FILE is not set" in out.stderr
    token_file = quickstart_workspace.parent / "federated-token"
    token_file.write_text("")
    out = _plan(quickstart_workspace, token_file)
    assert out.returncode == 1
    assert f"source: the federated token file {token_file} (named by AZURE_FEDERATED_TOKEN_FILE) is empty" in out.stderr
    assert _token_requests(emu) == before
