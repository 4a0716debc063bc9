"""``reconciler doctor`` with the state in an Azure blob (Azurite): lockable and left as it was, or unreachable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from azure.storage.blob import BlobClient

from tests.azurite import ACCOUNT, KEY
from tests.conftest import Emulator
from tests.doctor.helpers import by_name, closed_port, doctor

LOCAL_STATE = "state:\n  backend: local\n  path: .reconciler/state.json\n"


def _blob_state(workspace: Path, container: str) -> None:
    config = workspace / "reconciler.yaml"
    text = config.read_text()
    assert text.count(LOCAL_STATE) == 1
    blob = (
        f"state:\n  backend: azure_blob\n  container: {container}\n  blob: state.json\n"
        "  auth:\n    type: connection_string\n    connection_string_env: DOCTOR_STORAGE\n"
    )
    config.write_text(text.replace(LOCAL_STATE, blob))


def test_a_blob_backend_is_locked_and_released_and_left_without_state(
    quickstart_workspace: Path, emu: Emulator, azurite: Any
) -> None:
    container = azurite.new_container()
    _blob_state(quickstart_workspace, container)
    code, report = doctor(quickstart_workspace, env={"DOCTOR_STORAGE": azurite.connection_string})
    assert code == 0, report
    state = by_name(report)["state"]
    assert state["detail"] == (
        f"azure_blob://{ACCOUNT}/{container}/state.json: read (no state yet), locked and released"
    )
    properties = BlobClient.from_connection_string(
        azurite.connection_string, container, "state.json"
    ).get_blob_properties()
    assert properties.lease.state != "leased"
    assert properties.size == 0  # the empty blob a lease needs: "no state yet", as before
    assert not any(key.startswith("reconcilerlock") for key in properties.metadata)


def test_an_unreachable_blob_backend_fails_in_seconds_naming_the_account(
    quickstart_workspace: Path, emu: Emulator
) -> None:
    port = closed_port()
    unreachable = (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )
    _blob_state(quickstart_workspace, "state")
    code, report = doctor(quickstart_workspace, env={"DOCTOR_STORAGE": unreachable})
    assert code == 1
    checks = by_name(report)
    state = checks["state"]
    assert state["status"] == "fail"
    assert state["detail"].startswith(
        f"cannot lock the state azure_blob://{ACCOUNT}/state/state.json: the storage account did not answer ("
    )
    assert "Connection refused" in state["detail"]
    assert "account_url, container, auth" in state["fix"]
    assert checks["graph.target"]["status"] == "pass"  # Graph is checked on its own


def test_a_missing_storage_variable_is_named(quickstart_workspace: Path, emu: Emulator) -> None:
    _blob_state(quickstart_workspace, "state")
    code, report = doctor(quickstart_workspace, env={"DOCTOR_STORAGE": ""})
    assert code == 1
    state = by_name(report)["state"]
    assert state["detail"] == (
        "state.auth: the environment variable DOCTOR_STORAGE (the storage account's connection string) is not set"
    )
