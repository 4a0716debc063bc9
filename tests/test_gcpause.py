"""The collector pause around bulk building: restored afterwards, and in a one-shot process what was built is
frozen (out of the collector's reach) rather than walked again."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator

import pytest

from reconciler import gcpause


@pytest.fixture
def restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gcpause._freeze = False
    gc.unfreeze()
    if enabled:
        gc.enable()


def test_a_pause_restores_the_collector_and_nests(restored: None) -> None:
    gc.enable()
    with gcpause.gc_paused():
        assert not gc.isenabled()
        with gcpause.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause keeps the outer one's state
    assert gc.isenabled()
    gc.disable()
    with gcpause.gc_paused():
        pass
    assert not gc.isenabled()  # a collector that was off stays off


def test_only_a_one_shot_process_freezes_what_a_pause_built(restored: None) -> None:
    gc.enable()
    gc.unfreeze()
    with gcpause.gc_paused():
        kept = [[i] for i in range(1000)]
    assert gc.get_freeze_count() == 0  # a library caller's objects stay collectable
    gcpause.freeze_when_resumed()
    with gcpause.gc_paused():
        kept += [[i] for i in range(1000)]
    assert gc.get_freeze_count() >= 2000
    assert gc.isenabled()


def test_the_command_line_entry_points_freeze() -> None:
    code = (
        "import gc, sys; from reconciler.cli import main as m; from reconciler import gcpause\n"
        "sys.argv = ['reconciler', '--version']\n"
        "try:\n    m.run()\nexcept SystemExit:\n    pass\n"
        "print(gcpause._freeze)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("True")
