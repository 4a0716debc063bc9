"""Apply's intent journal: an append-only log of JSON lines beside the state, folded into it by compaction.

Apply records its progress here instead of rewriting the whole state after each piece of work, so the
cost of recording grows with the changes, not with the size of the state. The first line is a header
naming the state it continues (lineage and serial) and the journal's id; then one small record per
step: ``intent`` (a task POST about to leave; durable before it leaves), ``settle`` (that intent's
outcome is recorded), ``set`` (an address's new entry) and ``rm`` (an address no longer managed).
An append is durable when ``append`` returns (local: written and fsynced; blob: the append
acknowledged). A write cut short by a crash can only leave a torn *last* line, and only one whose
records nothing waited for, so a torn last line is ignored; damage anywhere else is refused.

Compaction folds the records into the state (``fold``), writes the state once with
``journal_compacted`` set to the journal's id, then removes the journal. Every read of the state
folds a pending journal in memory (``pending``; serial + 1, as its compaction will write it), so
``plan``, ``status`` and ``state list/show/pull`` see what a crashed run did; a run that takes the lock
writes the folded state before anything else (``backend.compact_pending``). A journal whose header
names another lineage or serial than the state (the state was replaced since) is refused with one
line naming both.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from reconciler.atomic import fsync_dir
from reconciler.state.model import ResourceState, State, StateError

FORMAT = 1
KINDS = ("intent", "settle", "set", "rm")


class JournalStore(Protocol):
    """Where one state's journal lives; ``append`` is durable when it returns and is thread-safe."""

    @property
    def location(self) -> str: ...

    def read(self) -> bytes | None:
        """The journal's bytes, or None when there is none."""
        ...

    def create(self, data: bytes) -> None:
        """Start a new journal holding ``data`` (the header), replacing any compacted one; durable on return."""
        ...

    def append(self, data: bytes) -> None: ...
    def remove(self) -> None: ...


@dataclass(frozen=True)
class Header:
    id: str
    lineage: str
    serial: int


@dataclass
class Parsed:
    header: Header | None  # None: no journal, or only a torn header (nothing was done after it)
    records: list[dict[str, Any]] = field(default_factory=list)
    torn: bool = False  # a last line without its newline was ignored


def encode(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record) + b"\n"


def header_record(state: State) -> dict[str, Any]:
    at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "t": "begin",
        "format": FORMAT,
        "id": str(uuid.uuid4()),
        "lineage": state.lineage,
        "serial": state.serial,
        "at": at,
    }


def parse(data: bytes | None, location: str) -> Parsed:
    """The journal's header and records; raises ``StateError`` naming the line of any damage."""
    if not data:
        return Parsed(None)
    end = data.rfind(b"\n") + 1
    torn = end < len(data)
    lines = data[:end].split(b"\n")[:-1]
    if not lines:
        return Parsed(None, torn=torn)
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise _damaged(location, number, "not a JSON line") from None
        if not isinstance(record, dict):
            raise _damaged(location, number, "not a JSON object")
        records.append(record)
    first = records[0]
    if first.get("t") != "begin":
        raise _damaged(location, 1, "the first line is not the journal's header")
    if first.get("format") != FORMAT:
        raise StateError(
            f"{location}: journal format {first.get('format')!r} is not supported (this tool reads {FORMAT}); "
            "upgrade reconciler"
        )
    ident, lineage, serial = first.get("id"), first.get("lineage"), first.get("serial")
    if not isinstance(ident, str) or not isinstance(lineage, str) or not isinstance(serial, int):
        raise _damaged(location, 1, "the header needs id and lineage (text) and serial (an integer)")
    for number, record in enumerate(records[1:], 2):
        if record.get("t") not in KINDS:
            raise _damaged(location, number, f"t must be one of {', '.join(KINDS)}, got {record.get('t')!r}")
    return Parsed(Header(ident, lineage, serial), records[1:], torn)


def _damaged(location: str, line: int, why: str) -> StateError:
    return StateError(f"{location}:{line}: the journal is damaged: {why}; it was left as it is")


def fold(state: State, records: list[dict[str, Any]], location: str) -> None:
    """Carry the records into ``state``, in order (idempotent: folding twice gives the same state)."""
    from reconciler.state.document import Damaged, validate_journal_entry

    for number, record in enumerate(records, 2):
        kind = record["t"]
        try:
            if kind == "intent":
                intent = record.get("intent")
                validate_journal_entry(intent)
                assert isinstance(intent, dict)
                if not any(i.get("id") == intent["id"] for i in state.journal):
                    state.journal.append(intent)
            elif kind == "settle":
                state.journal = [i for i in state.journal if i.get("id") != record.get("id")]
            elif kind == "set":
                address = _address(record)
                state.resources[address] = ResourceState.from_json(record.get("resource"))
            else:
                state.resources.pop(_address(record), None)
        except Damaged as exc:
            raise _damaged(location, number, str(exc)) from None


def _address(record: dict[str, Any]) -> str:
    from reconciler.state.document import Damaged

    address = record.get("address")
    if not isinstance(address, str):
        raise Damaged("address must be text")
    return address


def pending(state: State, store: JournalStore, state_location: str) -> State:
    """``state`` with a journal a crashed apply left folded in (in memory; ``state.pending_journal`` names it)."""
    parsed = parse(store.read(), store.location)
    header = parsed.header
    if header is None or header.id == state.journal_compacted:
        return state  # none, or already compacted (the run died before removing it)
    if header.lineage != state.lineage or header.serial != state.serial:
        raise StateError(
            f"{store.location}: this apply journal continues another state (lineage {header.lineage or '-'}, serial "
            f"{header.serial}) than {state_location} (lineage {state.lineage or '-'}, serial {state.serial}): the "
            "state was replaced after an apply was interrupted. Both were left as they are. Put back the state that "
            "run used and run apply again, or move the journal away (the tasks it started are adopted by source "
            "key on the next plan)"
        )
    fold(state, parsed.records, store.location)
    # The folded state is a new version: what the compaction will write. A plan saved before the crashed
    # run is stale against it; one made from this view applies once the compaction is written.
    state.serial += 1
    state.journal_compacted = header.id
    state.pending_journal = header.id
    return state


def remove_compacted(state: State, store: JournalStore) -> None:
    """After ``state`` was written: remove the journal it compacted (a journal it does not name stays)."""
    if state.journal_compacted is None:
        return
    with contextlib.suppress(StateError):
        data = store.read() or b""
        header = parse(data[: data.find(b"\n") + 1], store.location).header  # the header line is enough
        if header is not None and header.id == state.journal_compacted:
            store.remove()
    state.pending_journal = None


class LocalJournal:
    """The journal as a file beside the state file (``state.json.journal``, mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()
        self.fsyncs = 0

    @property
    def location(self) -> str:
        return str(self.path)

    def read(self) -> bytes | None:
        try:
            if not stat.S_ISREG(os.stat(self.path).st_mode):
                raise StateError(f"{self.path}: the apply journal is not a regular file; it was left as it is")
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read the apply journal: {exc.strerror}") from None

    def create(self, data: bytes) -> None:
        with self._lock:
            self._close()
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, data)
                os.fsync(fd)
                os.replace(tmp, self.path)  # never a moment with a half-written header under the real name
            except BaseException:
                os.close(fd)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            os.close(fd)
            fsync_dir(self.path.parent)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def append(self, data: bytes) -> None:
        with self._lock:
            if self._fd is None:
                raise StateError(f"{self.path}: the apply journal is not open (a bug: create it first)")
            if os.fstat(self._fd).st_nlink == 0:
                # Removed under this run: its lock was broken and another run compacted the journal.
                raise StateError(
                    f"{self.path}: this run's apply journal was removed by another run (was the lock broken?); "
                    "nothing more is sent. Plan again"
                )
            # One write of whole lines: a crash can tear only the last line, never interleave two.
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
            self.fsyncs += 1

    def remove(self) -> None:
        with self._lock:
            self._close()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            fsync_dir(self.path.parent)

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class MemoryJournal:
    """A journal kept in memory: for an applier driven without a backend (tests); it survives nothing."""

    def __init__(self) -> None:
        self.data: bytes | None = None

    @property
    def location(self) -> str:
        return "memory"

    def read(self) -> bytes | None:
        return self.data

    def create(self, data: bytes) -> None:
        self.data = data

    def append(self, data: bytes) -> None:
        self.data = (self.data or b"") + data

    def remove(self) -> None:
        self.data = None
