"""How apply saves the state end to end: progress goes to the journal, the whole state is written twice.

A whole-state write rewrites megabytes for a large estate (an upload on the blob backend), so apply
records progress in its journal and writes the state only to give a new state its lineage and to
compact the journal at the end. test_journal.py counts them for 1,000 starts in process and checks
that each intent is durable before its POST.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import reconciler.operations.apply as applying
from reconciler.operations.apply import ApplyOptions, run_apply
from reconciler.state.local import LocalBackend
from reconciler.state.model import State
from reconciler.workspace.loader import load_workspace
from tests.conftest import Emulator, intents_in


class CountingBackend(LocalBackend):
    """The local backend, noting for each write how many tasks it recorded and how many intents it kept."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writes: list[tuple[int, int]] = []

    def write(self, state: State) -> None:
        self.writes.append((sum(1 for r in state.resources.values() if r.task_id), len(state.journal)))
        super().write(state)


def test_an_apply_writes_the_whole_state_twice_and_leaves_no_journal(
    quickstart_workspace: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = load_workspace(quickstart_workspace)
    backend = CountingBackend(ws.state_path)
    monkeypatch.setattr(applying, "open_backend", lambda _ws: backend)
    outcome = asyncio.run(run_apply(ws, ApplyOptions(auto_approve=True), lambda _p: True, lambda _e: None))
    assert outcome.report is not None
    assert outcome.report.ok, outcome.report.failures
    assert outcome.report.done["start"] == 8
    # A new state: one write gives it its lineage (before the journal, which names it), one compacts.
    assert backend.writes == [(0, 0), (8, 0)]
    journal = ws.state_path.with_name("state.json.journal")
    assert not journal.exists()
    assert intents_in(journal) == []
    stored = json.loads(ws.state_path.read_text())
    assert stored["journal"] == []
    assert stored["journal_compacted"], "the state names the journal it compacted"
    assert len(stored["resources"]) == 22
