"""What only the Azure Blob backend has: lease renewal, lost responses, authentication and clear errors."""

from __future__ import annotations

import time
from typing import Any

import pytest
from azure.identity import DefaultAzureCredential
from azure.storage.blob import BlobClient

from reconciler.state.azure_blob import AzureBlobBackend, client_from_config
from reconciler.state.backend import StateLocked
from reconciler.state.model import ResourceState, State, StateError
from reconciler.workspace.config import AzureBlobStateConfig
from tests.azurite import ACCOUNT


def _config(**fields: Any) -> AzureBlobStateConfig:
    return AzureBlobStateConfig.model_validate({"backend": "azure_blob", "container": "c", **fields})


def _backend(azurite: Any, container: str, lease_seconds: int = 15) -> AzureBlobBackend:
    client = BlobClient.from_connection_string(azurite.connection_string, container, "state.json")
    return AzureBlobBackend(client, lease_seconds)


def test_a_held_lock_is_renewed_past_its_lease(azurite: Any) -> None:
    container = azurite.new_container()
    holder = _backend(azurite, container)
    lock = holder.lock("apply")
    try:
        time.sleep(15 + 6)  # longer than the lease: only renewal keeps it
        with pytest.raises(StateLocked):
            _backend(azurite, container).lock("plan")
        holder.read()
        holder.write(State())
        assert holder.renew_error is None
    finally:
        holder.release(lock)
    assert _backend(azurite, container).holder() is None


def test_the_lock_info_is_in_the_blob_metadata_and_cleared_on_release(azurite: Any) -> None:
    container = azurite.new_container()
    backend = _backend(azurite, container)
    lock = backend.lock("apply")
    client = BlobClient.from_connection_string(azurite.connection_string, container, "state.json")
    metadata = client.get_blob_properties().metadata
    assert metadata["reconcilerlockid"] == lock.id
    assert metadata["reconcilerlockoperation"] == "apply"
    assert metadata["reconcilerlockcreated"] == lock.created
    assert client.get_blob_properties().lease.state == "leased"
    backend.release(lock)
    properties = client.get_blob_properties()
    assert properties.lease.state != "leased"
    assert not any(key.startswith("reconcilerlock") for key in properties.metadata)


def test_a_write_whose_response_was_lost_is_recognised_when_the_retry_finds_it_done(azurite: Any) -> None:
    container = azurite.new_container()
    backend = _backend(azurite, container)
    lock = backend.lock("apply")
    try:
        backend.read()
        before = backend._version
        state = State(resources={"user_mapping[a@x.com]": ResourceState("user_mapping", "a@x.com")})
        backend.write(state)
        backend._version = before  # as if the response never arrived: the retry's If-Match fails
        backend.write(state)  # the same bytes are there: success, not a conflict
        state.serial += 1
        backend.write(state)
    finally:
        backend.release(lock)
    assert _backend(azurite, container).read().serial == 1


def test_a_missing_container_is_named_with_how_to_create_it(azurite: Any) -> None:
    backend = _backend(azurite, "no-such-container")
    with pytest.raises(StateError, match="container 'no-such-container' does not exist") as refused:
        backend.lock("apply")
    assert "az storage container create" in str(refused.value)
    with pytest.raises(StateError, match="does not exist"):
        backend.read()


def test_a_wrong_account_key_is_a_clear_authentication_error(azurite: Any) -> None:
    container = azurite.new_container()
    wrong = azurite.connection_string.replace("AccountKey=Eby8", "AccountKey=AAAA")
    backend = AzureBlobBackend(BlobClient.from_connection_string(wrong, container, "state.json"))
    with pytest.raises(StateError, match="refused the credentials") as refused:
        backend.read()
    assert f"azure_blob://{ACCOUNT}/{container}/state.json" in str(refused.value)


def test_a_sas_token_works_and_a_read_only_one_is_refused_on_lock(azurite: Any) -> None:
    container = azurite.new_container()
    config = _config(account_url=azurite.account_url, container=container, auth={"type": "sas_token"})
    backend = AzureBlobBackend(
        client_from_config(config, {"AZURE_STORAGE_SAS_TOKEN": "?" + azurite.sas_token(container)}), 15
    )
    lock = backend.lock("apply")
    backend.read()
    backend.write(State())
    backend.release(lock)
    assert backend.read().lineage
    read_only = AzureBlobBackend(
        client_from_config(config, {"AZURE_STORAGE_SAS_TOKEN": azurite.sas_token(container, "r")}), 15
    )
    assert read_only.read().lineage  # reading is enough for plan
    with pytest.raises(StateError, match="access denied"):
        read_only.lock("apply")


def test_credentials_come_only_from_the_environment_and_a_missing_one_is_named() -> None:
    with pytest.raises(StateError, match="AZURE_STORAGE_CONNECTION_STRING"):
        client_from_config(_config(auth={"type": "connection_string"}), {})
    with pytest.raises(StateError, match="MY_SAS"):
        client_from_config(
            _config(
                account_url="https://acct.blob.core.windows.net", auth={"type": "sas_token", "sas_token_env": "MY_SAS"}
            ),
            {},
        )
    with pytest.raises(StateError, match="not a valid storage connection string"):
        client_from_config(_config(auth={"type": "connection_string"}), {"AZURE_STORAGE_CONNECTION_STRING": "nonsense"})


def test_client_options_reach_the_sdk_client() -> None:
    # doctor asks for one attempt (retry_total=0): an unreachable account is then reported at once, not after
    # the SDK's own retries.
    config = _config(auth={"type": "connection_string"})
    env = {"AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;"}
    assert _retries(client_from_config(config, env, retry_total=0)) == 0
    assert _retries(client_from_config(config, env)) > 0


def _retries(client: BlobClient) -> int:
    total: int = getattr(client._config.retry_policy, "total_retries")  # noqa: B009 (the SDK types it as any policy)
    return total


def test_azure_ad_is_the_default_and_uses_default_azure_credential() -> None:
    config = _config(account_url="https://acct.blob.core.windows.net", container="state", blob="prod.json")
    assert config.auth.type == "azure_ad"
    client = client_from_config(config, {})
    assert isinstance(client.credential, DefaultAzureCredential)
    backend = AzureBlobBackend(client)
    assert backend.location == "azure_blob://acct/state/prod.json"
