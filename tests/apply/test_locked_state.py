"""``locked_state``: the one "lock, read, change, serial += 1, write, release" that runs share."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.operations.common import locked_state
from reconciler.state.backend import StateLocked
from reconciler.state.local import LocalBackend
from reconciler.state.model import ResourceState


def test_a_changed_state_is_written_with_the_next_serial_and_the_lock_released(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "reconciler.tfstate")
    with locked_state(backend, "import") as held:
        assert backend.holder() is not None
        assert held.state.serial == 0
        held.state.resources['user_mapping["a@contoso.com"]'] = ResourceState("user_mapping", "a@contoso.com")
        held.changed = True
    assert backend.holder() is None
    again = LocalBackend(tmp_path / "reconciler.tfstate").read()
    assert again.serial == 1
    assert list(again.resources) == ['user_mapping["a@contoso.com"]']


def test_an_unchanged_state_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.tfstate"
    with locked_state(LocalBackend(path), "import") as held:
        held.state.resources['user_mapping["a@contoso.com"]'] = ResourceState("user_mapping", "a@contoso.com")
    assert not path.exists()


def test_a_body_that_fails_writes_nothing_and_releases_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.tfstate"
    backend = LocalBackend(path)

    def interrupted() -> None:
        with locked_state(backend, "import") as held:
            held.changed = True
            raise RuntimeError("half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        interrupted()
    assert not path.exists()
    assert backend.holder() is None


def test_a_held_lock_stops_a_second_holder(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.tfstate"
    second = locked_state(LocalBackend(path), "import")
    with locked_state(LocalBackend(path), "apply"), pytest.raises(StateLocked):
        second.__enter__()
