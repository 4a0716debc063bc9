"""state push / pull rules: lineage, serial, same-serial differences, writes in flight, identical pushes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.state.local import LocalBackend
from reconciler.state.model import ResourceState, State, StateError
from reconciler.state.transfer import pull, push, read_state_file


def _state(lineage: str, serial: int, *keys: str) -> State:
    resources = {f'user_mapping["{k}"]': ResourceState("user_mapping", k) for k in keys}
    return State(lineage, serial, resources)


def _stored(backend: LocalBackend) -> State:
    return LocalBackend(backend.path).read()


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "state.json")


LINEAGE = "6b0e1f55-93a2-4c1e-8d7a-0f3c2b9e4a11"


def test_into_an_empty_backend_the_serial_and_lineage_are_kept(backend: LocalBackend) -> None:
    result = push(backend, _state(LINEAGE, 7, "a@x.com"), "file.json", force=False)
    assert (result.lineage, result.serial, result.resources, result.replaced) == (LINEAGE, 7, 1, False)
    stored = _stored(backend)
    assert (stored.lineage, stored.serial, list(stored.resources)) == (LINEAGE, 7, ['user_mapping["a@x.com"]'])
    assert backend.holder() is None


def test_a_newer_serial_of_the_same_history_moves_the_destination_forward(backend: LocalBackend) -> None:
    push(backend, _state(LINEAGE, 3, "a@x.com"), "old.json", force=False)
    result = push(backend, _state(LINEAGE, 5, "a@x.com", "b@x.com"), "new.json", force=False)
    assert (result.serial, result.replaced) == (5, True)
    assert len(_stored(backend).resources) == 2


def test_an_older_serial_is_refused_and_force_moves_past_the_destination(backend: LocalBackend) -> None:
    push(backend, _state(LINEAGE, 9, "a@x.com", "b@x.com"), "current.json", force=False)
    with pytest.raises(StateError, match=r"is newer \(serial 9\) than backup.json \(serial 4\)"):
        push(backend, _state(LINEAGE, 4, "a@x.com"), "backup.json", force=False)
    assert len(_stored(backend).resources) == 2
    forced = push(backend, _state(LINEAGE, 4, "a@x.com"), "backup.json", force=True)
    assert forced.serial == 10, "a forced push must still look newer than what it replaced (plan files go stale)"
    assert len(_stored(backend).resources) == 1


def test_a_different_state_under_the_same_serial_is_refused(backend: LocalBackend) -> None:
    push(backend, _state(LINEAGE, 4, "a@x.com"), "one.json", force=False)
    with pytest.raises(StateError, match="differ under the same serial 4"):
        push(backend, _state(LINEAGE, 4, "b@x.com"), "two.json", force=False)


def test_an_identical_state_is_not_written_again(backend: LocalBackend) -> None:
    push(backend, _state(LINEAGE, 4, "a@x.com"), "one.json", force=False)
    before = backend.path.stat().st_mtime_ns
    result = push(backend, _state(LINEAGE, 4, "a@x.com"), "one.json", force=False)
    assert result.unchanged
    assert backend.path.stat().st_mtime_ns == before


def test_writes_in_flight_are_refused_even_with_force(backend: LocalBackend) -> None:
    interrupted = _state(LINEAGE, 4, "a@x.com")
    interrupted.journal.append({"address": 'user_migration["a@x.com"]', "op": "start"})
    for force in (False, True):
        with pytest.raises(StateError, match="still in flight"):
            push(backend, interrupted, "crashed.json", force=force)
    assert not backend.path.exists()


def test_pull_prints_what_push_reads(backend: LocalBackend, tmp_path: Path) -> None:
    push(backend, _state(LINEAGE, 2, "a@x.com"), "one.json", force=False)
    copy = tmp_path / "copy.json"
    copy.write_text(pull(backend), encoding="utf-8")
    assert read_state_file(copy).to_json() == _stored(backend).to_json()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a state file"),
        (json.dumps({"format_version": 1, "lineage": "", "serial": 0}), "never written"),
        (json.dumps({"format_version": 3, "lineage": LINEAGE, "serial": 1}), "format_version 3"),
    ],
)
def test_a_file_that_is_not_a_written_state_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "in.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(StateError, match=message):
        read_state_file(path)
