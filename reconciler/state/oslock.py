"""An OS-level lock on a file, released by the operating system when the process holding it dies.

POSIX uses ``flock`` (held per open file, so two backends in one process exclude each other as two
processes do); Windows uses ``msvcrt.locking`` on the first byte. A crash (kill -9, power loss) never
leaves a lock that needs repair, and no process id is checked, so there is no window between deciding
a holder is dead and taking its place. A lock is broken by removing its file (``remove``): the holder
keeps a lock on a file nobody can open any more, which is why ``try_lock`` checks, once locked, that
the path still names the file it locked.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def try_lock(path: Path) -> int | None:
    """Lock ``path`` (created if absent, mode 0600) without waiting: the open descriptor, or None if held.

    Raises ``OSError`` when the file cannot be created or opened.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if not _try(fd):
                os.close(fd)
                return None
            if holds(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        # The holder let go and removed the file between our open and our lock (or it was broken): the
        # file we locked is gone, so the lock means nothing. Take the one at the path now.
        _unlock(fd)
        os.close(fd)


def holds(fd: int, path: Path) -> bool:
    """Whether the file open as ``fd`` is still the one at ``path`` (not removed by a release or a break)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def release(fd: int, path: Path) -> None:
    """Let go of the lock and remove its file, if it is still the one at ``path``."""
    if sys.platform == "win32":  # pragma: no cover - an open file cannot be removed there: close first
        mine = holds(fd, path)
        _unlock(fd)
        os.close(fd)
        if mine:
            remove(path)  # fails (and is left) if another run opened it meanwhile: that run holds it now
        return
    # POSIX: remove while still holding, so that nobody can lock this file after us and lose it to the unlink.
    if holds(fd, path):
        remove(path)
    os.close(fd)


def abandon(fd: int) -> None:
    """Close without removing anything: what the operating system does when the holder dies."""
    os.close(fd)


def remove(path: Path) -> bool:
    """Remove the lock file, breaking the lock of whoever holds it (POSIX); False if it could not be removed."""
    try:
        path.unlink()
    except FileNotFoundError:
        return True
    except OSError:  # Windows: the holder is alive and has it open
        return False
    return True
