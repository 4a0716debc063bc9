"""How apply records its progress: records appended to the state's intent journal, whole-state writes rare.

Every change the applier makes to the state in memory is also one small record for the journal
(``reconciler.state.journal``). Most records are buffered and go out with the next append; an intent
is *durable* before its task POST leaves: the applier records the intents of a group of starts, and
``flush`` returns only once an append that holds them has been acknowledged (fsynced), so up to 20
intents share one fsync. Appends run in a worker thread while the event loop carries on, and
whatever accumulated meanwhile goes out with the next one (group commit): no caller waits for more
than the append in progress and its own. ``save`` is a whole-state
write that compacts the journal: the state in memory holds every record, so the journal is removed
and the next record starts a new one. A run makes a handful of those (the end of the run, Ctrl-C,
the settling of a crashed run's intents), whatever the number of changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from reconciler.state.backend import StateBackend
from reconciler.state.journal import JournalStore, encode, header_record
from reconciler.state.model import State, StateError

# An Append Block carries at most 4 MiB and an append blob at most 50,000 blocks: stay well inside both.
MAX_APPEND_BYTES = 1 << 20
MAX_APPENDS = 40_000


class Recorder:
    def __init__(self, backend: StateBackend, state: State, store: JournalStore) -> None:
        self.backend = backend
        self.state = state
        self.store = store
        self._open: str | None = None  # the id of the journal being appended to
        self._buffer: list[bytes] = []
        self._buffered = 0  # records handed to ``record`` so far
        self._durable = 0  # of those, how many are durable (in the journal, or in a written state)
        self._flusher: asyncio.Future[None] | None = None
        self._failed: StateError | None = None
        self._appends = 0  # to the open journal
        # Figures for the benchmark and the tests.
        self.whole_state_writes = 0
        self.journal_bytes = 0
        self.appends = 0

    def record(self, record: dict[str, Any]) -> None:
        """Queue a record for the next append (the journal is started on the first one)."""
        if self._open is None:
            self._begin()
        self._buffer.append(encode(record))
        self._buffered += 1

    async def flush(self) -> None:
        """Return once every record queued so far is durable."""
        target = self._buffered
        while self._durable < target:
            if self._failed is not None:
                raise self._failed
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.ensure_future(self._flush_once())
            await asyncio.shield(self._flusher)

    async def _flush_once(self) -> None:
        if self._failed is not None:
            raise self._failed
        if self._appends >= MAX_APPENDS:
            self.save()  # the blob journal's block limit: compact and go on in a new journal
            return
        pieces = _pieces(self._buffer)
        upto = self._buffered
        self._buffer = []
        try:
            for piece in pieces:
                await asyncio.to_thread(self._append, piece)
        except StateError as error:
            self._failed = error  # records were lost with it: nothing that needed them may proceed
            raise
        self._durable = max(self._durable, upto)

    def _append(self, data: bytes) -> None:
        try:
            self.store.append(data)
        except OSError as exc:
            raise StateError(
                f"{self.store.location}: cannot write the apply journal: {exc.strerror or type(exc).__name__}; "
                "nothing more is sent"
            ) from None
        self._appends += 1
        self.appends += 1
        self.journal_bytes += len(data)

    def _begin(self) -> None:
        if not self.state.lineage:
            self.save()  # the journal's header names a state that was written (its lineage is set then)
        header = header_record(self.state)
        data = encode(header)
        try:
            self.store.create(data)
        except OSError as exc:
            raise StateError(
                f"{self.store.location}: cannot create the apply journal: {exc.strerror or type(exc).__name__}"
            ) from None
        self.journal_bytes += len(data)
        self._open = header["id"]
        self._appends = 0

    def save(self) -> None:
        """Write the whole state (serial + 1); it holds every record, so the journal it compacts is removed."""
        self.state.serial += 1
        if self._open is not None:
            self.state.journal_compacted = self._open
        self.backend.write(self.state)
        self.whole_state_writes += 1
        self._open = None
        self._buffer = []
        self._durable = self._buffered  # what was queued is in the state now


def _pieces(lines: list[bytes]) -> list[bytes]:
    pieces: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        if current and size + len(line) > MAX_APPEND_BYTES:
            pieces.append(b"".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        pieces.append(b"".join(current))
    return pieces
