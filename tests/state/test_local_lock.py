"""The local lock is an OS-level lock: it dies with its holder, and nothing checks process ids.

A holder that is killed (kill -9) frees the lock at once; a live holder in another process keeps it;
a holder file naming another machine, or a holder file alone that no process holds, is judged as the
docs say.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.state.backend import StateLocked
from reconciler.state.local import LocalBackend

HOLD = """
import sys, time
from pathlib import Path
from reconciler.state.local import LocalBackend
lock = LocalBackend(Path(sys.argv[1])).lock("apply")
print(lock.id, flush=True)
time.sleep(600)
"""


def _holder_process(path: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def test_a_live_holder_in_another_process_keeps_the_lock_and_a_killed_one_frees_it(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    proc, lock_id = _holder_process(path)
    try:
        with pytest.raises(StateLocked, match=f"pid {proc.pid} .*lock id {lock_id}"):
            LocalBackend(path).lock("plan", timeout=0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    held = LocalBackend(path).holder()
    assert held is not None
    assert held.id == lock_id, "a killed run leaves its holder file behind"
    backend = LocalBackend(path)
    lock = backend.lock("apply", timeout=0)  # no waiting allowed: a dead holder's lock is free at once
    seen = LocalBackend(path).holder()
    assert seen is not None
    assert seen.id == lock.id
    backend.release(lock)
    assert not backend.lock_path.exists()
    assert not backend.os_lock_path.exists()


def test_a_holder_named_on_another_machine_still_locks_until_unlocked(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    backend = LocalBackend(path)
    lock = backend.lock("apply")
    backend.abandon()
    info = json.loads(backend.lock_path.read_text(encoding="utf-8"))
    info["Host"] = "another-machine"
    backend.lock_path.write_text(json.dumps(info), encoding="utf-8")
    with pytest.raises(StateLocked, match="on another-machine"):
        LocalBackend(path).lock("plan")
    LocalBackend(path).unlock(lock.id)
    again = LocalBackend(path)
    again.release(again.lock("plan"))


def test_release_of_a_broken_lock_leaves_the_new_holders_files(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    first = LocalBackend(path)
    first_lock = first.lock("apply")
    LocalBackend(path).unlock(first_lock.id)
    second = LocalBackend(path)
    second_lock = second.lock("apply")
    first.release(first_lock)
    assert second.os_lock_path.exists()
    with pytest.raises(StateLocked, match=second_lock.id):
        LocalBackend(path).lock("plan")
    second.release(second_lock)
