"""The collection-read probe's answers in the state: optional for older states, checked like every
field, and written by ``probing.remember`` only into an existing state nobody changed meanwhile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.operations.common import locked_state
from reconciler.operations.probing import remember
from reconciler.state.local import LocalBackend
from reconciler.state.model import Probe, ResourceState, State, StateError

TENANT = "79d49731-4eec-55d9-bcd4-6d55505b7f2c"
OLD = {"format_version": 1, "lineage": "5d0b", "serial": 3, "resources": {}, "journal": []}


def test_a_state_from_before_probes_reads_and_writes_as_it_was() -> None:
    state = State.parse(json.dumps(OLD).encode(), "s.json")
    assert state.probes == {}
    assert state.to_json() == OLD


def test_probes_round_trip_by_lower_cased_tenant_id() -> None:
    doc = {**OLD, "probes": {TENANT.upper(): {"collection_reads": True, "probed_at": "2026-12-01T12:00:00Z"}}}
    state = State.parse(json.dumps(doc).encode(), "s.json")
    assert state.probes == {TENANT: Probe(True, "2026-12-01T12:00:00Z")}
    assert state.to_json()["probes"] == {TENANT: {"collection_reads": True, "probed_at": "2026-12-01T12:00:00Z"}}


def test_a_damaged_probe_is_named() -> None:
    doc = {**OLD, "probes": {TENANT: {"collection_reads": "yes", "probed_at": "2026-12-01T12:00:00Z"}}}
    with pytest.raises(StateError) as refused:
        State.parse(json.dumps(doc).encode(), "s.json")
    assert str(refused.value) == (
        f's.json: the state is damaged: probes["{TENANT}"].collection_reads must be true or false, got a string; '
        "it was left as it is"
    )


FRESH = {TENANT: Probe(False, "2026-12-01T12:00:00Z")}


def _existing(path: Path) -> State:
    with locked_state(LocalBackend(path), "import") as held:
        held.state.resources["a"] = ResourceState("user_mapping", "a@contoso.com")
        held.changed = True
    return LocalBackend(path).read()


def test_remember_writes_into_the_state_it_read_and_plans_with_the_new_serial(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    read = _existing(path)
    state, why = remember(LocalBackend(path), read, FRESH)
    assert why is None
    assert state.serial == read.serial + 1
    assert LocalBackend(path).read().probes == FRESH


def test_remember_keeps_nothing_without_a_state_or_after_another_run_wrote(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert remember(LocalBackend(path), State(), FRESH) == (State(), None)
    assert not path.exists(), "plan never creates a state"
    read = _existing(path)
    _existing(path)  # another run writes meanwhile
    state, why = remember(LocalBackend(path), read, FRESH)
    assert (state, why) == (read, "the state changed while this plan ran")
    assert LocalBackend(path).read().probes == {}


def test_remember_under_a_held_lock_says_so_and_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    read = _existing(path)
    holder = LocalBackend(path)
    held = holder.lock("apply")
    try:
        state, why = remember(LocalBackend(path), read, FRESH)
    finally:
        holder.release(held)
    assert state is read
    assert why is not None
    assert "lock" in why
