"""Run the emulator in a child process (``reconciler emulator serve --port 0``) and stop it: for tests and benches.

``start_emulator`` waits for the connection file the emulator writes once it listens, and returns it parsed;
the child's output goes to ``emulator.log`` in the work folder. The child runs from the folder that
holds this ``reconciler`` package, so tests and benches drive the emulator of the tree they are in.
This is the one copy of that code: tests/conftest.py and every ``bench/*.py`` use it.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent  # the folder holding the reconciler package


def start_emulator(workdir: Path, *args: str, wait: float = 30.0) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start the emulator with ``args`` added to ``serve --port 0``; wait up to ``wait`` s for its connection file.

    Raises ``RuntimeError`` (with the end of its log) if it exits first or does not start in time.
    """
    conn_file = workdir / "connection.json"
    log_file = workdir / "emulator.log"
    conn_file.unlink(missing_ok=True)  # only the file this emulator writes counts
    command = [sys.executable, "-m", "reconciler", "emulator", "serve", "--port", "0"]
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            [*command, "--connection-file", str(conn_file), *args],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + wait
    try:
        while time.monotonic() < deadline:
            if conn_file.exists() and conn_file.stat().st_size > 0:
                return proc, json.loads(conn_file.read_text())
            if proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {proc.returncode}: {log_file.read_text()[-4000:]}")
            time.sleep(0.05)
    except BaseException:  # Ctrl-C while waiting included: the caller never gets the process to stop it
        stop_emulator(proc)
        raise
    stop_emulator(proc)
    raise RuntimeError(f"emulator did not write its connection file within {wait:.0f} s")


def stop_emulator(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server child process with SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def emulator_running(
    workdir: Path, *args: str, wait: float = 30.0
) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    """``start_emulator``, then ``stop_emulator`` when the block ends."""
    proc, conn = start_emulator(workdir, *args, wait=wait)
    try:
        yield proc, conn
    finally:
        stop_emulator(proc)
