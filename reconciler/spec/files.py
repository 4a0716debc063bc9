"""Which files a workspace may read: inside the workspace (symbolic links followed), regular, readable.

Spec files and the CSV files they name come from pull requests, which run ``validate`` and ``plan``
in CI with tenant secrets in the environment. A path that leaves the workspace (``../``, an absolute
path, a symbolic link to ``/proc/self/environ`` or a 0600 secret file), a dangling link, a link loop,
a folder or a device is refused here, from its metadata alone: nothing is read from it, so nothing
of it can reach a message. Problems are phrases that complete "FILE ...", for located diagnostics.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

OUTSIDE = "resolves outside the workspace"
OUTSIDE_DETAIL = "files a workspace names must be inside it (symbolic links are followed); nothing was read from it"


def file_problem(path: Path, root: Path | None) -> str | None:
    """Why ``path`` cannot be read as an input of the workspace at ``root`` (None: it can); reads no content.

    ``root`` None skips the confinement check (files the docs allow anywhere, such as a secret file).
    """
    if root is not None and not Path(os.path.realpath(path)).is_relative_to(root.resolve()):
        return OUTSIDE  # checked first: whether something exists outside is not the workspace's business
    try:
        os.lstat(path)
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return _os_problem(exc)
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        return "is a symbolic link whose target does not exist" if path.is_symlink() else "does not exist"
    except RuntimeError:  # Python 3.11 reports a symbolic link loop this way
        return "is a symbolic link loop"
    except OSError as exc:
        return _os_problem(exc)
    try:
        mode = os.stat(real).st_mode
    except OSError as exc:  # pragma: no cover - resolve(strict=True) just stat'ed it
        return _os_problem(exc)
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a device, pipe or socket)"
    if not os.access(real, os.R_OK):
        return "cannot be read: permission denied"
    return None


def _os_problem(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "is a symbolic link loop"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "cannot be read: permission denied"
    if exc.errno == errno.EISDIR:
        return "is a folder, not a file"
    if exc.errno == errno.ENOENT:
        return "does not exist"
    return f"cannot be read: {exc.strerror or type(exc).__name__}"


def inside(path: str) -> bool:
    """Whether a relative path or glob written in a workspace stays inside it lexically (no root, no ``..``)."""
    pure = Path(path)
    return not pure.is_absolute() and not path.startswith("~") and ".." not in pure.parts
