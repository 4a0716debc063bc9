"""``--state FILE``: a restarted emulator keeps its CA, keys, secrets, directory, mappings, tasks and clock."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path

from tests.conftest import TASKS, USER_MAPPINGS, Emulator, start_emulator, stop_emulator


def test_restart_with_state_keeps_everything(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    proc, conn = start_emulator(tmp_path, "--state", str(state))
    try:
        e = Emulator(conn)
        try:
            e.control("PUT", "/clock", {"speed": 0})
            e.control("PATCH", "/engine", {"queue_delay_seconds": 10, "duration_seconds": 100, "duration_jitter": 0})
            e.control("PUT", f"/tenants/contoso/users/newbie@{e.source['domain']}", {"one_drive": True})
            e.control("PATCH", "/behaviour", {"duplicate_create": "upsert"})
            e.map_user(f"user001@{e.source['domain']}")
            e.map_user(f"newbie@{e.source['domain']}")
            task = e.graph("POST", TASKS, json=e.user_task(1)).json()
            e.control("POST", "/clock/advance", {"seconds": 20})
            before = e.graph("GET", f"{TASKS}/{task['id']}").json()
            assert before["status"] == "inProgress"
            token = e.token("target")
            ca_before = Path(conn["ca_file"]).read_text()
        finally:
            e.close()
    finally:
        stop_emulator(proc)
    assert stat.S_IMODE(state.stat().st_mode) == 0o600

    proc, conn2 = start_emulator(tmp_path, "--state", str(state))
    try:
        assert conn2["tenants"] == conn["tenants"], "ids and secrets survive a restart"
        assert Path(conn2["ca_file"]).read_text() == ca_before, "the CA survives a restart"
        e = Emulator(conn2)
        try:
            # A token issued before the restart still verifies: the signing key was kept.
            r = e.http.get(
                f"{USER_MAPPINGS}(sourceUserPrincipalName='newbie@{e.source['domain']}')",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200
            after = e.graph("GET", f"{TASKS}/{task['id']}").json()
            before.pop("@odata.context")  # names the new port
            after.pop("@odata.context")
            assert after == before, "the frozen clock and the task were restored exactly"
            assert e.control("GET", "/behaviour")["duplicate_create"] == "upsert"
            assert e.control("GET", "/engine")["duration_seconds"] == 100
            e.control("POST", "/clock/advance", {"seconds": 200})
            assert e.graph("GET", f"{TASKS}/{task['id']}").json()["status"] == "completed"
        finally:
            e.close()
    finally:
        stop_emulator(proc)


def test_state_survives_kill_9(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    proc, conn = start_emulator(tmp_path, "--state", str(state))
    try:
        e = Emulator(conn)
        try:
            e.map_user(f"user007@{e.source['domain']}")
        finally:
            e.close()
        time.sleep(0.6)  # the state is written within 0.2 s of a change
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            stop_emulator(proc)
    saved = json.loads(state.read_text())
    fabrikam = next(t for t in saved["world"]["tenants"] if t["name"] == "fabrikam")
    assert f"user007@{conn['tenants']['source']['domain']}" in fabrikam["user_mappings"]
    proc, conn2 = start_emulator(tmp_path, "--state", str(state))
    try:
        e = Emulator(conn2)
        try:
            r = e.graph("GET", f"{USER_MAPPINGS}(sourceUserPrincipalName='user007@{e.source['domain']}')", "target")
            assert r.status_code == 200
        finally:
            e.close()
    finally:
        stop_emulator(proc)


def test_damaged_state_file_is_a_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    state = tmp_path / "state.json"
    state.write_text('{"format_version": 99}')
    out = subprocess.run(
        [sys.executable, "-m", "reconciler", "emulator", "serve", "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert str(state) in out.stderr
    assert "format_version" in out.stderr
