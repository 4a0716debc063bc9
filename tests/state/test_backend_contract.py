"""One contract, every backend: the local file and the Azure blob (on Azurite) behave the same.

Each ``Store`` makes independent backend instances on one shared store, as separate runs would;
``crash`` leaves a lock the way a killed run does (local: its OS lock is let go and its holder file
stays; blob: its lease is no longer renewed and lapses). A real kill -9 of a local holder is below.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.state.backend import LockInfo, StateBackend, StateConflict, StateLocked
from reconciler.state.local import LocalBackend
from reconciler.state.model import ResourceState, State, StateError

LEASE = 15  # the shortest lease Azure allows: the expiry test waits for it once


@dataclass
class Store:
    name: str
    new: Callable[[], StateBackend]
    crash: Callable[[StateBackend, LockInfo], None]
    crash_wait: float  # how long a crashed run's lock may take to lapse


def _local_crash(backend: StateBackend, lock: LockInfo) -> None:
    assert isinstance(backend, LocalBackend)
    backend.abandon()
    assert backend.lock_path.exists(), "a crash leaves the holder file behind"


def _blob_crash(backend: StateBackend, lock: LockInfo) -> None:
    from reconciler.state.azure_blob import AzureBlobBackend

    assert isinstance(backend, AzureBlobBackend)
    backend.abandon()


@pytest.fixture(params=["local", "azure_blob"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "local":
        path = tmp_path / ".reconciler" / "state.json"
        yield Store("local", lambda: LocalBackend(path), _local_crash, 0.0)
        return
    from azure.storage.blob import BlobClient

    from reconciler.state.azure_blob import AzureBlobBackend

    azurite = request.getfixturevalue("azurite")
    container = azurite.new_container()

    def new() -> StateBackend:
        client = BlobClient.from_connection_string(azurite.connection_string, container, "team/state.json")
        return AzureBlobBackend(client, lease_seconds=LEASE)

    yield Store("azure_blob", new, _blob_crash, LEASE + 10)


def _state(*addresses: str) -> State:
    state = State()
    for address in addresses:
        state.resources[address] = ResourceState("user_mapping", address, {"targetUserPrincipalName": address})
    return state


def _write(backend: StateBackend, state: State, operation: str = "test") -> None:
    lock = backend.lock(operation)
    try:
        backend.read()
        backend.write(state)
    finally:
        backend.release(lock)


def test_a_store_never_written_reads_as_an_empty_state_without_lineage(store: Store) -> None:
    state = store.new().read()
    assert (state.lineage, state.serial, state.resources, state.journal) == ("", 0, {}, [])
    assert store.new().holder() is None


def test_what_one_run_writes_the_next_reads_back(store: Store) -> None:
    first = store.new()
    state = _state("user_mapping[a@x.com]")
    state.serial = 3
    _write(first, state)
    assert state.lineage, "the first write assigns the lineage"
    again = store.new().read()
    assert again.to_json() == state.to_json()
    # and locking did not change what is stored
    other = store.new()
    lock = other.lock("look")
    try:
        assert other.read().to_json() == state.to_json()
    finally:
        other.release(lock)
    assert store.new().holder() is None


def test_a_write_needs_the_lock(store: Store) -> None:
    backend = store.new()
    backend.read()
    with pytest.raises(StateError, match="only under its lock"):
        backend.write(_state("user_mapping[a@x.com]"))
    assert store.new().read().lineage == ""


def test_a_second_run_is_refused_at_once_naming_the_holder(store: Store) -> None:
    holder = store.new()
    lock = holder.lock("apply")
    try:
        other = store.new()
        with pytest.raises(StateLocked) as refused:
            other.lock("plan")
        message = str(refused.value)
        assert lock.id in message
        assert "apply" in message
        assert lock.who in message
        assert f"reconciler state unlock {lock.id}" in message
        seen = other.holder()
        assert seen is not None
        assert (seen.id, seen.operation, seen.who, seen.created) == (lock.id, "apply", lock.who, lock.created)
    finally:
        holder.release(lock)
    assert store.new().holder() is None


def test_a_waiting_run_gets_the_lock_when_the_holder_releases_it(store: Store) -> None:
    holder = store.new()
    lock = holder.lock("apply")
    released = threading.Event()

    def release_soon() -> None:
        time.sleep(1.0)
        holder.release(lock)
        released.set()

    thread = threading.Thread(target=release_soon)
    thread.start()
    try:
        waiter = store.new()
        second = waiter.lock("apply", timeout=30)
        assert released.is_set(), "the waiter got the lock while the holder still held it"
        assert second.id != lock.id
        seen = store.new().holder()
        assert seen is not None
        assert seen.id == second.id
        waiter.release(second)
    finally:
        thread.join()


def test_a_writer_that_read_an_older_state_is_rejected(store: Store) -> None:
    _write(store.new(), _state("user_mapping[a@x.com]"))
    stale = store.new()
    stale.read()
    newer = _state("user_mapping[a@x.com]", "user_mapping[b@x.com]")
    newer.lineage = store.new().read().lineage
    newer.serial = 2
    _write(store.new(), newer)
    lock = stale.lock("apply")
    try:
        with pytest.raises(StateConflict, match="changed since this run read it"):
            stale.write(_state("user_mapping[c@x.com]"))
    finally:
        stale.release(lock)
    assert store.new().read().to_json() == newer.to_json(), "the newer state was overwritten"


def test_a_run_whose_lock_was_broken_cannot_overwrite_the_new_holder(store: Store) -> None:
    _write(store.new(), _state("user_mapping[a@x.com]"))
    first = store.new()
    first_lock = first.lock("apply")
    first.read()
    store.new().unlock(first_lock.id)  # `reconciler state unlock ID` by someone who thought it was stale
    second = store.new()
    second_lock = second.lock("apply")
    current = second.read()
    current.resources.update(_state("user_mapping[b@x.com]").resources)
    current.serial += 1
    second.write(current)
    with pytest.raises(StateConflict):
        first.write(_state("user_mapping[lost@x.com]"))
    first.release(first_lock)  # quietly: it is not the holder any more, and must not free the new lock
    seen = store.new().holder()
    assert seen is not None
    assert seen.id == second_lock.id
    second.release(second_lock)
    assert sorted(store.new().read().resources) == ["user_mapping[a@x.com]", "user_mapping[b@x.com]"]


def test_unlock_needs_the_exact_lock_id(store: Store) -> None:
    with pytest.raises(StateError, match="not locked"):
        store.new().unlock("00000000-0000-0000-0000-000000000000")
    holder = store.new()
    lock = holder.lock("apply")
    try:
        with pytest.raises(StateError, match=f"has id {lock.id}"):
            store.new().unlock("00000000-0000-0000-0000-000000000000")
        seen = store.new().holder()
        assert seen is not None
        assert seen.id == lock.id
    finally:
        holder.release(lock)


def test_a_crashed_runs_lock_lapses_and_its_late_write_is_rejected(store: Store) -> None:
    _write(store.new(), _state("user_mapping[a@x.com]"))
    crashed = store.new()
    lock = crashed.lock("apply")
    crashed.read()
    store.crash(crashed, lock)
    survivor = store.new()
    taken = survivor.lock("apply", timeout=store.crash_wait + 30)
    current = survivor.read()
    current.serial += 1
    current.resources.update(_state("user_mapping[b@x.com]").resources)
    survivor.write(current)
    with pytest.raises(StateConflict):
        crashed.write(_state("user_mapping[zombie@x.com]"))
    survivor.release(taken)
    assert "user_mapping[zombie@x.com]" not in store.new().read().resources


def test_a_damaged_state_is_refused_naming_where_it_is(store: Store) -> None:
    backend = store.new()
    _overwrite_raw(store, b'{"format_version": 99, "lineage": "x", "serial": 1}')
    with pytest.raises(StateError, match="format_version 99") as refused:
        backend.read()
    assert backend.location in str(refused.value)


def _overwrite_raw(store: Store, data: bytes) -> None:
    backend: Any = store.new()
    if isinstance(backend, LocalBackend):
        backend.path.parent.mkdir(parents=True, exist_ok=True)
        backend.path.write_bytes(data)
    else:
        backend._blob.upload_blob(data, overwrite=True)


def test_an_interrupted_applys_journal_is_folded_on_read_and_removed_by_the_next_write(store: Store) -> None:
    from reconciler.state.journal import encode, header_record

    first = store.new()
    _write(first, _state("user_mapping[a@x.com]"))
    crashed = store.new()
    lock = crashed.lock("apply")
    state = crashed.read()
    journal = crashed.journal()
    header = header_record(state)
    journal.create(encode(header))
    resource = {"kind": "user_mapping", "key": "b@x.com", "last_applied": {}}
    journal.append(encode({"t": "set", "address": "user_mapping[b@x.com]", "resource": resource}))
    journal.append(encode({"t": "rm", "address": "user_mapping[a@x.com]"}) + b'{"t": "se')  # torn at the end
    store.crash(crashed, lock)

    seen = store.new().read()  # a reader sees what the crashed run recorded, and writes nothing
    assert sorted(seen.resources) == ["user_mapping[b@x.com]"]
    assert seen.serial == state.serial + 1
    assert store.new().journal().read() is not None

    survivor = store.new()
    taken = survivor.lock("apply", timeout=store.crash_wait + 30)
    try:
        compacted = survivor.read()
        survivor.write(compacted)  # what locked_state does first
    finally:
        survivor.release(taken)
    assert not store.new().journal().read(), "compacted and removed (a blob journal is emptied)"
    again = store.new().read()
    assert sorted(again.resources) == ["user_mapping[b@x.com]"]
    assert again.journal_compacted == header["id"]
    assert again.serial == state.serial + 1
