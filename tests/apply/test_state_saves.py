"""How apply saves the state: every start's intent is stored before its POST, in few whole-state writes.

A save rewrites the whole state (megabytes for a large estate, an upload on the blob backend), so
apply saves per chunk of task work, not per change; the intents of a chunk are all stored before any
of its POSTs leaves.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import reconciler.operations.apply as applying
from reconciler.apply import executor
from reconciler.operations.apply import ApplyOptions, run_apply
from reconciler.state.local import LocalBackend
from reconciler.state.model import State
from reconciler.workspace.loader import load_workspace
from tests.conftest import Emulator


class CountingBackend(LocalBackend):
    """The local backend, noting what each write stored and how many tasks existed at that moment."""

    def __init__(self, path: Path, emu: Emulator) -> None:
        super().__init__(path)
        self.emu = emu
        self.writes: list[tuple[int, int, int]] = []  # (journal entries, recorded task ids, tasks in the service)

    def write(self, state: State) -> None:
        tasks = len(self.emu.control("GET", "/tasks")["tasks"])
        recorded = sum(1 for r in state.resources.values() if r.task_id)
        self.writes.append((len(state.journal), recorded, tasks))
        super().write(state)


@pytest.mark.parametrize("chunk", [100, 3])
def test_intents_are_stored_before_their_posts_in_one_write_per_chunk(
    quickstart_workspace: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    ws = load_workspace(quickstart_workspace)
    backend = CountingBackend(ws.state_path, emu)
    monkeypatch.setattr(applying, "open_backend", lambda _ws: backend)
    monkeypatch.setattr(executor, "CHUNK", chunk)
    outcome = asyncio.run(run_apply(ws, ApplyOptions(auto_approve=True), lambda _p: True, lambda _e: None))
    assert outcome.report is not None
    assert outcome.report.ok, outcome.report.failures
    starts = outcome.report.done["start"]
    assert starts == 8
    chunks = -(-starts // chunk)
    with_intents = [w for w in backend.writes if w[0]]
    assert len(with_intents) == chunks, "one write stores a whole chunk's intents"
    for journal, recorded, tasks_in_service in with_intents:
        assert journal == min(chunk, starts) or journal == starts % chunk
        assert tasks_in_service == recorded, "no POST of the chunk left before its intents were stored"
    final_journal, final_recorded, final_tasks = backend.writes[-1]
    assert (final_journal, final_recorded, final_tasks) == (0, 8, 8)
    # mappings (users, groups), 2 per chunk of starts, 1 for the validation, 1 at the end
    assert len(backend.writes) == 2 + 2 * chunks + 1 + 1
