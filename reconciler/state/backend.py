"""State backends behind one interface: read, write (conditional), lock, release, unlock.

Every backend keeps the same contract (tests/state/test_backend_contract.py runs it on each):
``read`` remembers the version it saw; ``write`` needs the lock and succeeds only if the stored state
is still that version and the lock is still this run's (``StateConflict`` otherwise: a run that lost
its lock, or read an older state, can never overwrite newer state); ``lock`` fails at once naming the
holder, or waits up to a timeout; ``release`` frees this run's own lock (quietly, if it was already
broken); ``unlock ID`` breaks anyone's lock, for `reconciler state unlock`.

This module holds the protocol, the lock's holder info and the messages both backends share; the
backends are ``reconciler.state.local`` (a file, with an OS-level lock) and
``reconciler.state.azure_blob`` (a blob, with a lease).
"""

from __future__ import annotations

import os
import shlex
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from reconciler.spec.diagnostics import excerpt
from reconciler.state.identity import who
from reconciler.state.journal import JournalStore
from reconciler.state.model import State, StateError


class StateLocked(StateError):
    """Another run holds the lock; the message names it and says how to proceed."""

    def __init__(self, location: str, held: LockInfo | None) -> None:
        super().__init__(locked_message(location, held))
        self.location, self.held = location, held

    def for_workspace(self, workspace: str) -> str:
        """The message with the unlock command as it must be typed from elsewhere than the workspace."""
        return locked_message(self.location, self.held, workspace)


class StateConflict(StateError):
    """A write was refused: the state changed since it was read, or this run no longer holds the lock."""


@dataclass(frozen=True)
class LockInfo:
    id: str
    operation: str
    who: str
    pid: int
    host: str
    created: str
    damaged: str | None = None  # the lock file, when it holds something this tool did not write

    def to_json(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Operation": self.operation,
            "Who": self.who,
            "PID": self.pid,
            "Host": self.host,
            "Created": self.created,
        }

    @classmethod
    def from_json(cls, data: Any) -> LockInfo:
        """Raises ``ValueError`` for anything but the object ``to_json`` writes (values bounded for messages)."""
        if not isinstance(data, dict):
            raise ValueError("a lock is a JSON object")
        pid = data.get("PID", 0)
        if not isinstance(pid, int) or isinstance(pid, bool):
            raise ValueError("PID must be an integer")
        texts = [data.get(name) for name in ("ID", "Operation", "Who", "Host", "Created")]
        if not all(isinstance(text, str) for text in texts):
            raise ValueError("ID, Operation, Who, Host and Created must be strings")
        lock_id, operation, who, host, created = (excerpt(text, 200) for text in texts)
        return cls(lock_id, operation, who, pid, host, created)

    @classmethod
    def of_damaged(cls, lock_file: str) -> LockInfo:
        """A lock file that exists but cannot be read as a lock: it still locks; `state unlock damaged` removes it."""
        return cls("damaged", "unknown", "unknown", 0, "unknown", "unknown", damaged=lock_file)

    def describe(self) -> str:
        if self.damaged is not None:
            return f"a damaged lock file {self.damaged} (it names no run; lock id {self.id})"
        return f"{self.who} ({self.operation}, pid {self.pid} on {self.host}, since {self.created}; lock id {self.id})"


class StateBackend(Protocol):
    """Where a workspace's state lives; one instance per run (it remembers the version it read and its lock)."""

    @property
    def location(self) -> str:
        """Where the state is, for messages: a path, or azure_blob://account/container/blob."""
        ...

    def read(self) -> State:
        """The stored state, with an apply journal a crashed run left folded in (``state.pending_journal``)."""
        ...

    def write(self, state: State) -> None: ...
    def journal(self) -> JournalStore:
        """Where apply's intent journal for this state lives (``reconciler.state.journal``)."""
        ...

    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo: ...
    def release(self, lock: LockInfo) -> None: ...
    def unlock(self, lock_id: str) -> None: ...
    def holder(self) -> LockInfo | None: ...


def compact_pending(backend: StateBackend, state: State) -> None:
    """Under the lock, just after ``read``: write a journal a crashed apply left into the state and remove it."""
    if state.pending_journal is not None:
        backend.write(state)  # the read already counted the folded state as the next serial


def new_lock_info(operation: str) -> LockInfo:
    return LockInfo(
        str(uuid.uuid4()),
        operation,
        who(),
        os.getpid(),
        socket.gethostname(),
        datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )


def serialize(state: State) -> bytes:
    """The stored form of a state (the same bytes on every backend); assigns the lineage on first write."""
    if not state.lineage:
        state.lineage = str(uuid.uuid4())
    # orjson: a 20,000-address state is ~6 MB, and apply saves it after every chunk of work.
    return orjson.dumps(state.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def locked_message(location: str, held: LockInfo | None, workspace: str = ".") -> str:
    who = held.describe() if held else "another run"
    where = "" if workspace in ("", ".") else f" -w {shlex.quote(workspace)}"
    return (
        f"the state {location} is locked by {who}. Wait for it (--lock-timeout), or if that run is gone, "
        f"run `reconciler state unlock{where} {held.id if held else 'ID'}`"
    )


def changed_message(location: str) -> str:
    return (
        f"the state {location} changed since this run read it (another run wrote it, or the lock was "
        "broken and taken); nothing was overwritten. Plan again"
    )
