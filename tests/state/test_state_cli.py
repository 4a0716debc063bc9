"""End to end through the CLI: a workspace on the Azure Blob backend (Azurite) and the Graph emulator,
the lock seen by a second run, `state unlock`, and moving a state between backends with push/pull."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobClient

from reconciler.state.azure_blob import AzureBlobBackend
from tests.conftest import Emulator, run_cli

LOCAL_STATE = "state:\n  backend: local\n  path: .reconciler/state.json\n"


_cli = run_cli


def _use_blob(workspace: Path, container: str) -> None:
    config = workspace / "reconciler.yaml"
    text = config.read_text(encoding="utf-8")
    assert LOCAL_STATE in text
    blob = (
        "state:\n  backend: azure_blob\n"
        f"  container: {container}\n  blob: contoso-to-fabrikam.json\n"
        "  auth:\n    type: connection_string\n    connection_string_env: TEAM_STATE_CONNECTION\n"
    )
    config.write_text(text.replace(LOCAL_STATE, blob), encoding="utf-8")


def _blob(azurite: Any, container: str) -> AzureBlobBackend:
    client = BlobClient.from_connection_string(azurite.connection_string, container, "contoso-to-fabrikam.json")
    return AzureBlobBackend(client, 15)


def test_plan_apply_plan_on_the_blob_backend_converges_and_keeps_state_in_the_blob(
    quickstart_workspace: Path, emu: Emulator, azurite: Any, tmp_path: Path
) -> None:
    container = azurite.new_container()
    _use_blob(quickstart_workspace, container)
    env = {"TEAM_STATE_CONNECTION": azurite.connection_string}
    ws = str(quickstart_workspace)
    assert _cli("validate", ws, env=env).returncode == 0
    saved = tmp_path / "plan.json"
    planned = _cli("plan", ws, "-out", str(saved), env=env)
    assert planned.returncode == 0, planned.stderr
    applied = _cli("apply", str(saved), env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = _cli("plan", ws, "--detailed-exitcode", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes." in again.stdout
    assert not (quickstart_workspace / ".reconciler" / "state.json").exists(), "state leaked to a local file"
    stored = _blob(azurite, container).read()
    assert len(stored.resources) == 22
    listed = _cli("state", "list", "-w", ws, env=env)
    assert listed.stdout.split() == sorted(stored.resources)
    assert _blob(azurite, container).holder() is None, "apply left its lock behind"


def test_a_second_run_sees_the_blob_lock_and_state_unlock_breaks_exactly_it(
    quickstart_workspace: Path, emu: Emulator, azurite: Any
) -> None:
    container = azurite.new_container()
    _use_blob(quickstart_workspace, container)
    env = {"TEAM_STATE_CONNECTION": azurite.connection_string}
    ws = str(quickstart_workspace)
    other = _blob(azurite, container)
    lock = other.lock("apply")
    other.abandon()  # stop renewing: the lease is the only thing holding it now, like a crashed run
    refused = _cli("apply", ws, "--auto-approve", env=env)
    assert refused.returncode == 1
    assert f"is locked by {lock.who} (apply" in refused.stderr
    assert f"reconciler state unlock -w {ws} {lock.id}" in refused.stderr
    wrong = _cli("state", "unlock", "11111111-1111-1111-1111-111111111111", "-w", ws, env=env)
    assert wrong.returncode == 1
    assert f"has id {lock.id}" in wrong.stderr
    unlocked = _cli("state", "unlock", lock.id, "-w", ws, env=env)
    assert unlocked.returncode == 0, unlocked.stderr
    assert _blob(azurite, container).holder() is None
    applied = _cli("apply", ws, "--auto-approve", env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr


def test_a_missing_credential_variable_is_named_and_nothing_runs(
    quickstart_workspace: Path, emu: Emulator, azurite: Any
) -> None:
    _use_blob(quickstart_workspace, azurite.new_container())
    env = dict(os.environ)
    env.pop("TEAM_STATE_CONNECTION", None)
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", str(quickstart_workspace)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 1
    assert "TEAM_STATE_CONNECTION" in result.stderr


def test_state_moves_from_the_local_file_to_the_blob_with_pull_and_push(
    quickstart_workspace: Path, emu: Emulator, azurite: Any, tmp_path: Path
) -> None:
    ws = str(quickstart_workspace)
    assert _cli("apply", ws, "--auto-approve").returncode == 0
    pulled = _cli("state", "pull", "-w", ws)
    assert pulled.returncode == 0
    backup = tmp_path / "backup.json"
    backup.write_text(pulled.stdout, encoding="utf-8")
    local = json.loads((quickstart_workspace / ".reconciler" / "state.json").read_text(encoding="utf-8"))
    assert json.loads(pulled.stdout) == local

    container = azurite.new_container()
    _use_blob(quickstart_workspace, container)
    env = {"TEAM_STATE_CONNECTION": azurite.connection_string}
    pushed = _cli("state", "push", str(backup), "-w", ws, env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert f"serial {local['serial']}" in pushed.stdout
    moved = _blob(azurite, container).read()
    assert (moved.lineage, moved.serial) == (local["lineage"], local["serial"])
    after = _cli("plan", ws, "--detailed-exitcode", env=env)
    assert after.returncode == 0, after.stdout + after.stderr

    # Another workspace's state must not land on this one without --force.
    foreign = dict(local, lineage="0f0f0f0f-0000-4000-8000-000000000000", serial=local["serial"] + 5)
    foreign_file = tmp_path / "foreign.json"
    foreign_file.write_text(json.dumps(foreign), encoding="utf-8")
    refused = _cli("state", "push", str(foreign_file), "-w", ws, env=env)
    assert refused.returncode == 1
    assert "another workspace's history" in refused.stderr
    assert _blob(azurite, container).read().lineage == local["lineage"]
    forced = _cli("state", "push", str(foreign_file), "-w", ws, "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert _blob(azurite, container).read().lineage == foreign["lineage"]
