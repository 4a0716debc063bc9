"""End to end: apply's report agrees with the plan, names where a refused item was written, and a Ctrl-C
ends with one line, the state saved, and a rerun that converges."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.apply.test_no_second_start import _edit, _post_task, _site_task, _tasks_by_source
from tests.conftest import Emulator, intents_in, run_cli

PLAN_LINE = re.compile(r"^Plan: (.*)\.$", re.M)
APPLY_LINE = re.compile(r"^Apply complete! (.*)\.$", re.M)
NOUN_TO_WORD = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "start": "started",
    "cancel": "cancelled",
    "forget": "forgotten",
    "validate": "validated",
    "adopt": "adopted",
}


def _counts(text: str, pattern: re.Pattern[str], joiner: str) -> list[tuple[str, int]]:
    match = pattern.search(text)
    assert match, text
    out = []
    for part in match.group(1).split(", "):
        number, word = part.split(joiner) if joiner else part.split(" ", 1)
        out.append((word.strip(), int(number)))
    return out


def test_the_apply_summary_counts_every_action_as_the_plan_did(
    quickstart_workspace: Path, emu: Emulator, tmp_path: Path
) -> None:
    emu.control("PUT", "/clock", {"speed": 0})  # tasks stay queued, so a changed target is a replace
    first = run_cli("apply", str(quickstart_workspace), "--auto-approve")
    assert first.returncode == 0, first.stdout + first.stderr
    # A replace (site01's target changes), an adopt (site04 added; a task for it exists), a validate
    # (user006's pre-flight with new values) and a plain start (site05).
    _edit(
        quickstart_workspace,
        "target_url: https://fabrikam.sharepoint.com/sites/site01\n",
        "target_url: https://fabrikam.sharepoint.com/sites/site01-new\n",
    )
    _edit(quickstart_workspace, "    validate_only: true", "    validate_only: true\n    target_data_location: NAM")
    spec = quickstart_workspace / "migrations.yaml"
    spec.write_text(
        spec.read_text().replace(
            "group_migrations:",
            "  - source_url: https://contoso.sharepoint.com/sites/site04\n"
            "    target_url: https://fabrikam.sharepoint.com/sites/site04\n"
            "  - source_url: https://contoso.sharepoint.com/sites/site05\n"
            "    target_url: https://fabrikam.sharepoint.com/sites/site05\n"
            "group_migrations:",
        )
    )
    _post_task(emu, _site_task(emu, "site04"))
    saved = tmp_path / "p.json"
    planned = run_cli("plan", str(quickstart_workspace), "-out", str(saved))
    assert planned.returncode == 0, planned.stdout + planned.stderr
    plan_counts = _counts(planned.stdout, PLAN_LINE, " to ")
    assert dict(plan_counts) == {
        "create": 0,
        "update": 0,
        "delete": 0,
        "start": 2,
        "cancel": 1,
        "forget": 0,
        "validate": 1,
        "adopt": 1,
    }, planned.stdout
    applied = run_cli("apply", str(saved))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    apply_counts = _counts(applied.stdout, APPLY_LINE, "")
    assert apply_counts == [(NOUN_TO_WORD[noun], n) for noun, n in plan_counts], applied.stdout


def _spec_line(spec: Path, needle: str) -> int:
    for number, line in enumerate(spec.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle} not in {spec}")


def test_a_start_or_validate_the_service_refuses_names_the_items_file_and_line(
    quickstart_workspace: Path, emu: Emulator
) -> None:
    for user in ("user002", "user006"):  # a start and a validate-only pre-flight, both refused with 422
        emu.control("PUT", f"/tenants/contoso/users/{user}@{emu.source['domain']}", {"one_drive": False})
    out = run_cli("apply", str(quickstart_workspace), "--auto-approve")
    assert out.returncode == 1
    spec = quickstart_workspace / "migrations.yaml"
    for user, action in (("user002", "start"), ("user006", "validate")):
        upn = f"{user}@{emu.source['domain']}"
        where = f"{spec}:{_spec_line(spec, f'source_upn: {upn}')}"  # as the workspace was named
        assert re.search(
            rf'^Error: {re.escape(where)}: user_migration\["{re.escape(upn)}"\]: POST \S+ -> 422 .*'
            rf"Unable to get a OneDrive URL for source user UPN {re.escape(upn)}",
            out.stderr,
            re.M,
        ), out.stderr
        assert out.stderr.count(f'user_migration["{upn}"]') == 1, "each failure is listed once"
        assert f'user_migration["{upn}"]: {action}' not in out.stdout


def _start_apply(workspace: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", str(workspace), "--auto-approve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def test_ctrl_c_mid_apply_ends_with_one_line_saves_state_and_a_rerun_converges(
    quickstart_workspace: Path, emu: Emulator
) -> None:
    # Every request is slow and each task POST takes 2 s, so the interrupt lands with POSTs in flight.
    emu.control(
        "PUT",
        "/faults",
        {
            "latency_ms": 50,
            "rules": [
                {
                    "method": "POST",
                    "path": "crossOrganizationMigrationTasks$",
                    "action": "latency",
                    "latency_ms": 2000,
                    "count": 100,
                }
            ],
        },
    )
    state_file = quickstart_workspace / ".reconciler" / "state.json"
    proc = _start_apply(quickstart_workspace)
    deadline = time.monotonic() + 60
    journal: list[Any] = []
    while time.monotonic() < deadline and not journal:
        journal = intents_in(quickstart_workspace / ".reconciler" / "state.json.journal")
        time.sleep(0.05)
    assert journal, "the apply never got to a task start"
    time.sleep(0.3)  # the POSTs leave
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    for text in (stdout, stderr):
        assert "Traceback" not in text
        assert "RuntimeWarning" not in text
        assert "never awaited" not in text
    lines = [line for line in (stdout + stderr).splitlines() if line.startswith("Interrupted")]
    assert lines == ["Interrupted: 13 done, 1 not attempted, state saved; run apply again"], stdout + stderr
    assert stderr.rstrip("\n").splitlines()[-1] == lines[0], "the run ends with that line"
    saved = json.loads(state_file.read_text())
    assert len(saved["journal"]) == 8, "the intents of the POSTs in flight are kept for the next run"
    assert not (quickstart_workspace / ".reconciler" / "state.json.journal").exists(), "compacted into the state"
    assert len([a for a in saved["resources"] if "mapping" in a]) == 13, "what was done is saved"
    assert not (quickstart_workspace / ".reconciler" / "state.json.lock").exists(), "the lock is released"

    time.sleep(2.5)  # the service finishes the POSTs the interrupted run sent
    emu.control("DELETE", "/faults")
    rerun = run_cli("apply", str(quickstart_workspace), "--auto-approve")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert set(map(len, _tasks_by_source(emu).values())) == {1}, "no source got a second task"
    assert len(_tasks_by_source(emu)) == 8
    final = run_cli("plan", str(quickstart_workspace), "--detailed-exitcode")
    assert final.returncode == 0, final.stdout + final.stderr
