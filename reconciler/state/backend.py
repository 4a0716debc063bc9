"""State backends behind one interface: read, write (conditional), lock, release, unlock.

Every backend keeps the same contract (tests/state/test_backend_contract.py runs it on each):
``read`` remembers the version it saw; ``write`` needs the lock and succeeds only if the stored state
is still that version and the lock is still this run's (``StateConflict`` otherwise: a run that lost
its lock, or read an older state, can never overwrite newer state); ``lock`` fails at once naming the
holder, or waits up to a timeout; ``release`` frees this run's own lock (quietly, if it was already
broken); ``unlock ID`` breaks anyone's lock, for `reconciler state unlock`.

``LocalBackend`` keeps the state in a file (default ``.reconciler/state.json``, mode 0600) and the
lock beside it (``state.json.lock``: id, operation, who, pid, host, when); the version is a digest of
the file. A lock left by a process that died on this machine is broken automatically (a crash must
never need manual repair to rerun); a live or remote holder is broken only by ``state unlock ID``.
The Azure Blob backend is in ``reconciler.state.azure_blob``.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import shlex
import socket
import stat
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from reconciler.atomic import atomic_write_text
from reconciler.spec.diagnostics import excerpt
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

    def read(self) -> State: ...
    def write(self, state: State) -> None: ...
    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo: ...
    def release(self, lock: LockInfo) -> None: ...
    def unlock(self, lock_id: str) -> None: ...
    def holder(self) -> LockInfo | None: ...


def new_lock_info(operation: str) -> LockInfo:
    return LockInfo(
        str(uuid.uuid4()),
        operation,
        _who(),
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
        self._version: str | None = None  # digest of the file as last read or written; None: absent
        self._held: LockInfo | None = None

    @property
    def location(self) -> str:
        return str(self.path)

    def read(self) -> State:
        try:
            if not stat.S_ISREG(os.stat(self.path).st_mode):  # a folder, or a pipe that would block the run
                raise StateError(f"{self.path}: the state is not a regular file; it was left as it is")
            data = self.path.read_bytes()
        except FileNotFoundError:
            self._version = None
            return State()
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read the state: {exc.strerror or type(exc).__name__}") from None
        state = State.parse(data, str(self.path))
        self._version = hashlib.sha256(data).hexdigest()  # the bytes parsed, not a second read
        return state

    def _current_version(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except FileNotFoundError:
            return None

    def write(self, state: State) -> None:
        if self._held is None:
            raise StateError(f"the state {self.path} is written only under its lock (a bug: lock before writing)")
        held = self.holder()
        if held is None or held.id != self._held.id:
            raise StateConflict(
                f"this run's lock on {self.path} was broken"
                + (f" and is now held by {held.describe()}" if held else "")
                + "; nothing was written. Plan again"
            )
        if self._current_version() != self._version:
            raise StateConflict(changed_message(str(self.path)))
        data = serialize(state)
        atomic_write_text(self.path, data.decode("utf-8"), mode=0o600)
        self._version = hashlib.sha256(data).hexdigest()

    def holder(self) -> LockInfo | None:
        try:
            return LockInfo.from_json(json.loads(self.lock_path.read_bytes()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError):  # ValueError: not UTF-8, not JSON, not a lock
            return LockInfo.of_damaged(str(self.lock_path))

    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        info = new_lock_info(operation)
        deadline = time.monotonic() + timeout
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create the folder of the state {self.path}: {exc.strerror}") from None
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
                    raise StateLocked(str(self.path), held) from None
                time.sleep(min(0.5, max(0.05, deadline - time.monotonic())))
                continue
            except OSError as exc:
                raise StateError(f"cannot create the lock file {self.lock_path}: {exc.strerror}") from None
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(info.to_json(), handle)
            self._held = info
            return info

    def release(self, lock: LockInfo) -> None:
        self._held = None
        held = self.holder()
        if held is not None and held.id == lock.id:
            with contextlib.suppress(FileNotFoundError):
                self.lock_path.unlink()

    def unlock(self, lock_id: str) -> None:
        held = self.holder()
        if held is None:
            raise StateError(f"the state {self.path} is not locked")
        if held.id != lock_id:
            raise StateError(f"the lock on {self.path} has id {held.id}, not {lock_id}")
        self.lock_path.unlink()
        if self._held is not None and self._held.id == lock_id:
            self._held = None


def _who() -> str:
    """A person, or the CI run: `state unlock` users need to know which pipeline to look at."""
    env = os.environ
    if env.get("GITHUB_ACTIONS") == "true":
        server, repository = env.get("GITHUB_SERVER_URL", ""), env.get("GITHUB_REPOSITORY", "")
        run = f"{server}/{repository}/actions/runs/{env.get('GITHUB_RUN_ID', '')}"
        return f"{env.get('GITHUB_ACTOR', 'github')} via GitHub Actions {run}"
    if env.get("TF_BUILD") == "True":  # Azure Pipelines sets TF_BUILD on every agent
        return (
            f"{env.get('BUILD_REQUESTEDFOR', 'azure-pipelines')} via Azure Pipelines "
            f"{env.get('BUILD_DEFINITIONNAME', '')} build {env.get('BUILD_BUILDID', '')}"
        )
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        return f"pid {os.getpid()}@{socket.gethostname()}"
