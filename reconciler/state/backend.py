"""State backends behind one interface: read, write (atomic), lock and unlock.

``LocalBackend`` keeps the state in a file (default ``.reconciler/state.json``, mode 0600) and the
lock beside it (``state.json.lock``: id, operation, who, pid, host, when). A second run fails at once
naming the holder, or waits up to the lock timeout. A lock left by a process that died on this
machine is broken automatically (a crash must never need manual repair to rerun); a live or remote
holder is broken only by ``reconciler state unlock ID``.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from reconciler.atomic import atomic_write_text
from reconciler.state.model import State, StateError


class StateLocked(StateError):
    """Another run holds the lock; the message names it and says how to proceed."""


@dataclass(frozen=True)
class LockInfo:
    id: str
    operation: str
    who: str
    pid: int
    host: str
    created: str

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
    def from_json(cls, data: dict[str, Any]) -> LockInfo:
        return cls(
            str(data.get("ID")),
            str(data.get("Operation")),
            str(data.get("Who")),
            int(data.get("PID", 0)),
            str(data.get("Host")),
            str(data.get("Created")),
        )

    def describe(self) -> str:
        return f"{self.who} ({self.operation}, pid {self.pid} on {self.host}, since {self.created}; lock id {self.id})"


class StateBackend(Protocol):
    def read(self) -> State: ...
    def write(self, state: State) -> None: ...
    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo: ...
    def unlock(self, lock_id: str) -> None: ...
    def holder(self) -> LockInfo | None: ...


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalBackend:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

    def read(self) -> State:
        return State.read(self.path)

    def write(self, state: State) -> None:
        if not state.lineage:
            state.lineage = str(uuid.uuid4())
        atomic_write_text(self.path, json.dumps(state.to_json(), indent=1) + "\n", mode=0o600)

    def holder(self) -> LockInfo | None:
        try:
            return LockInfo.from_json(json.loads(self.lock_path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return LockInfo("unknown", "unknown", "unknown", 0, "unknown", "unknown")

    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        info = LockInfo(
            str(uuid.uuid4()),
            operation,
            _who(),
            os.getpid(),
            socket.gethostname(),
            datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )
        deadline = time.monotonic() + timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                held = self.holder()
                if held is not None and held.host == info.host and held.pid and not _alive(held.pid):
                    # The holder died (kill -9, power loss): its lock protects nothing any more.
                    with contextlib.suppress(FileNotFoundError):
                        self.lock_path.unlink()
                    continue
                if time.monotonic() >= deadline:
                    who = held.describe() if held else "another run"
                    raise StateLocked(
                        f"the state {self.path} is locked by {who}. Wait for it (--lock-timeout), or if that run "
                        f"is gone, run `reconciler state unlock {held.id if held else 'ID'}`"
                    ) from None
                time.sleep(min(0.5, max(0.05, deadline - time.monotonic())))
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(info.to_json(), handle)
            return info

    def unlock(self, lock_id: str) -> None:
        held = self.holder()
        if held is None:
            raise StateError(f"the state {self.path} is not locked")
        if held.id != lock_id:
            raise StateError(f"the lock on {self.path} has id {held.id}, not {lock_id}")
        self.lock_path.unlink()


def _who() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        return f"pid {os.getpid()}@{socket.gethostname()}"
