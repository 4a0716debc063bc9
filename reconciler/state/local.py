"""The local state backend: the state in a file, locked with an OS-level lock that dies with its holder.

The state is ``.reconciler/state.json`` by default (mode 0600, replaced atomically); its version is a
digest of the bytes. The lock is two files beside it: ``state.json.oslock``, which the running process
holds an OS-level lock on (``reconciler.state.oslock``: released by the operating system when the
process dies, so a crash never needs manual repair), and ``state.json.lock``, the holder's id,
operation, who, pid, host and start time, for the messages and for ``state unlock ID``. A holder named
in ``state.json.lock`` on this machine whose OS lock is free is gone and is replaced; a holder on
another machine, or a damaged ``state.json.lock``, still locks until ``state unlock``. Apply's intent
journal is ``state.json.journal`` beside it (``reconciler.state.journal``): a read folds a journal a
crashed run left into the state it returns, and a write that compacted a journal removes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from pathlib import Path

from reconciler.atomic import atomic_write_text
from reconciler.state import oslock
from reconciler.state.backend import LockInfo, StateConflict, StateLocked, changed_message, new_lock_info, serialize
from reconciler.state.journal import LocalJournal, pending, remove_compacted
from reconciler.state.model import State, StateError


class LocalBackend:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")  # the holder info
        self.os_lock_path = path.with_name(path.name + ".oslock")  # the file the holder keeps locked
        self._version: str | None = None  # digest of the file as last read or written; None: absent
        self._held: LockInfo | None = None
        self._fd: int | None = None  # the OS lock, while this run holds it
        self._journal = LocalJournal(path.with_name(path.name + ".journal"))

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
            return pending(State(), self._journal, str(self.path))
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read the state: {exc.strerror or type(exc).__name__}") from None
        state = State.parse(data, str(self.path))
        self._version = hashlib.sha256(data).hexdigest()  # the bytes parsed, not a second read
        return pending(state, self._journal, str(self.path))

    def journal(self) -> LocalJournal:
        return self._journal

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
        remove_compacted(state, self._journal)

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
                fd = oslock.try_lock(self.os_lock_path)
            except OSError as exc:
                raise StateError(f"cannot create the lock file {self.os_lock_path}: {exc.strerror}") from None
            held = self.holder()
            if fd is not None:
                # Holding the OS lock, this run is alone: a holder still named on this machine died (it would
                # hold the OS lock otherwise), so its lock protects nothing any more.
                if held is None or (held.damaged is None and held.host == info.host):
                    self._take(fd, info)
                    return info
                oslock.abandon(fd)  # a damaged holder file, or a holder elsewhere: it locks until `state unlock`
            if time.monotonic() >= deadline:
                raise StateLocked(str(self.path), held)
            time.sleep(min(0.5, max(0.05, deadline - time.monotonic())))

    def _take(self, fd: int, info: LockInfo) -> None:
        try:
            atomic_write_text(self.lock_path, json.dumps(info.to_json()), mode=0o600)
        except OSError as exc:
            oslock.release(fd, self.os_lock_path)
            raise StateError(f"cannot create the lock file {self.lock_path}: {exc.strerror}") from None
        self._fd, self._held = fd, info

    def release(self, lock: LockInfo) -> None:
        fd, self._fd, self._held = self._fd, None, None
        held = self.holder()
        if held is not None and held.id == lock.id:
            with contextlib.suppress(FileNotFoundError):
                self.lock_path.unlink()
        if fd is not None:
            oslock.release(fd, self.os_lock_path)

    def abandon(self) -> None:
        """Let the OS lock go and leave the files: what a crashed run leaves behind (for tests and drills)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            oslock.abandon(fd)

    def unlock(self, lock_id: str) -> None:
        held = self.holder()
        if held is None:
            raise StateError(f"the state {self.path} is not locked")
        if held.id != lock_id:
            raise StateError(f"the lock on {self.path} has id {held.id}, not {lock_id}")
        self.lock_path.unlink()
        # A live holder keeps an OS lock on a file no other run can open any more; its next write sees that
        # the holder file no longer names it and is refused.
        oslock.remove(self.os_lock_path)
        if self._held is not None and self._held.id == lock_id:
            self.abandon()
            self._held = None
