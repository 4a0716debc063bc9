"""End to end: ``reconciler apply`` against the emulator — exact plans, convergence, crash safety, locks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Emulator, intents_in, run_cli

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


@pytest.fixture
def workspace(quickstart_workspace: Path) -> Path:
    return quickstart_workspace


_cli = run_cli


def _tasks_by_source(emu: Emulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in emu.control("GET", "/tasks")["tasks"]:
        counts[task["source"]] = counts.get(task["source"], 0) + 1
    return counts


def test_plan_apply_plan_converges_and_a_used_plan_is_refused(workspace: Path, emu: Emulator, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert _cli("plan", str(workspace), "-out", str(saved)).returncode == 0
    applied = _cli("apply", str(saved))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete! 13 created, 0 updated, 0 deleted, 8 started, 0 cancelled, 0 forgotten, 1 validated." in (
        applied.stdout
    )
    again = _cli("plan", str(workspace), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout
    assert "No changes." in again.stdout
    reused = _cli("apply", str(saved))
    assert reused.returncode == 1
    assert "stale" in reused.stderr
    assert set(_tasks_by_source(emu).values()) == {1}
    state = json.loads((workspace / ".reconciler" / "state.json").read_text())
    assert state["journal"] == []
    assert oct(os.stat(workspace / ".reconciler" / "state.json").st_mode & 0o777) == "0o600"
    assert not (workspace / ".reconciler" / "state.json.lock").exists()


def test_apply_asks_for_approval_and_refuses_without_a_terminal(workspace: Path) -> None:
    out = _cli("apply", str(workspace))
    assert out.returncode == 1
    assert "--auto-approve" in out.stderr
    assert not (workspace / ".reconciler" / "state.json").exists(), "nothing was applied"
    ok = _cli("apply", str(workspace), "--auto-approve", "--json")
    assert ok.returncode == 0, ok.stderr
    events = [json.loads(line) for line in ok.stdout.splitlines() if line.startswith("{")]
    assert {"planned_change", "apply_start", "apply_progress", "apply_complete", "change_summary"} <= {
        e["type"] for e in events
    }
    progress = [e for e in events if e["type"] == "apply_progress"]
    assert progress[-1]["done"] == progress[-1]["total"] == 22
    assert all("@timestamp" in e for e in events), "every NDJSON event carries its time"
    assert events[-1]["type"] == "change_summary"


def test_partial_failure_continues_reports_and_the_next_run_converges(workspace: Path, emu: Emulator) -> None:
    upn = f"user002@{emu.source['domain']}"
    emu.control("PUT", f"/tenants/contoso/users/{upn}", {"one_drive": False})
    out = _cli("apply", str(workspace), "--auto-approve")
    assert out.returncode == 1
    assert f'user_migration["{upn}"]' in out.stderr
    assert "Unable to get a OneDrive URL" in out.stderr
    assert "Apply finished with 1 failed." in out.stdout
    assert len(_tasks_by_source(emu)) == 7, "the independent remainder ran"
    emu.control("PUT", f"/tenants/contoso/users/{upn}", {"one_drive": True})
    fixed = _cli("apply", str(workspace), "--auto-approve")
    assert fixed.returncode == 0, fixed.stderr
    assert "1 started" in fixed.stdout
    assert set(_tasks_by_source(emu).values()) == {1}


def test_kill_9_mid_apply_then_rerun_never_starts_a_task_twice(workspace: Path, emu: Emulator) -> None:
    # Every task POST takes 2 s on the service side, so the process dies with POSTs in flight.
    emu.control(
        "PUT",
        "/faults",
        {
            "rules": [
                {
                    "method": "POST",
                    "path": "crossOrganizationMigrationTasks$",
                    "action": "latency",
                    "latency_ms": 2000,
                    "count": 100,
                }
            ]
        },
    )
    journal_file = workspace / ".reconciler" / "state.json.journal"
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", str(workspace), "--auto-approve"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    journal: list[Any] = []
    while time.monotonic() < deadline and not journal:
        journal = intents_in(journal_file)
        time.sleep(0.05)
    assert journal, "the apply never got to a task start"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(2.5)  # the service finishes the POSTs the dead process sent
    emu.control("DELETE", "/faults")
    assert (workspace / ".reconciler" / "state.json.lock").exists(), "the dead run's lock is left behind"
    rerun = _cli("apply", str(workspace), "--auto-approve")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert not journal_file.exists(), "the rerun compacted the journal into the state"
    assert "an interrupted start" in rerun.stdout
    assert set(_tasks_by_source(emu).values()) == {1}, "no source got a second task"
    assert len(_tasks_by_source(emu)) == 8
    final = _cli("plan", str(workspace), "--detailed-exitcode")
    assert final.returncode == 0, final.stdout


def test_a_live_lock_stops_a_second_run_and_unlock_breaks_it(workspace: Path) -> None:
    from reconciler.state.local import LocalBackend

    backend = LocalBackend(workspace / ".reconciler" / "state.json")
    held = backend.lock("apply")  # held by this (live) test process
    out = _cli("apply", str(workspace), "--auto-approve")
    assert out.returncode == 1
    printed = f"reconciler state unlock -w {workspace} {held.id}"  # as typed from where the run was
    assert printed in out.stderr
    assert "(apply, pid" in out.stderr
    unlocked = _cli(*printed.split()[1:])
    assert unlocked.returncode == 0, unlocked.stderr
    assert _cli("apply", str(workspace), "--auto-approve").returncode == 0
    listed = _cli("state", "list", "-w", str(workspace))
    assert 'user_mapping["user001@contoso.onmicrosoft.com"]' in listed.stdout
    removed = _cli("state", "rm", 'user_mapping["user001@contoso.onmicrosoft.com"]', "-w", str(workspace))
    assert removed.returncode == 0
    replan = _cli("plan", str(workspace), "--format", "json")
    actions = {c["address"]: c["domain_action"] for c in json.loads(replan.stdout)["resource_changes"]}
    assert actions['user_mapping["user001@contoso.onmicrosoft.com"]'] == "adopt"


def test_status_counts_by_status_and_wave_and_watch_ends_when_all_finished(workspace: Path, emu: Emulator) -> None:
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 0, "duration_seconds": 3600, "duration_jitter": 0})
    fail = f"user003@{emu.source['domain']}"
    emu.control("PUT", f"/tenants/contoso/users/{fail}", {"migration_error": "Target OneDrive is locked."})
    assert _cli("apply", str(workspace), "--auto-approve").returncode == 0
    running = _cli("status", str(workspace), "--format", "json")
    assert running.returncode == 0, running.stderr
    doc = json.loads(running.stdout)
    assert doc["total"] == 8
    assert doc["by_status"] == {"inProgress": 8}
    assert doc["by_wave"]["pilot"] == {"inProgress": 3}
    assert doc["done"] is False
    emu.control("POST", "/clock/advance", {"seconds": 4000})
    watched = _cli("status", str(workspace), "--watch", "--interval", "0.2")
    assert watched.returncode == 0
    assert "8 migrations: 7 completed, 1 failed" in watched.stdout
    assert f'user_migration["{fail}"]: Target OneDrive is locked.' in watched.stdout


def test_protect_is_recorded_and_survives_removal_from_the_spec(workspace: Path, emu: Emulator) -> None:
    assert _cli("apply", str(workspace), "--auto-approve").returncode == 0
    address = f'user_mapping["user004@{emu.source["domain"]}"]'
    shown = json.loads(_cli("state", "show", address, "-w", str(workspace)).stdout)
    assert shown["protect"] is True
    users = workspace / "users.yaml"
    text = users.read_text()
    block = text[text.index("  - source_upn: user004@") : text.index("  - source_upn: user005@")]
    users.write_text(text.replace(block, ""))
    refused = _cli("plan", str(workspace), "--no-color")
    assert refused.returncode == 1
    assert "Protected: refusing to delete a mapping that was removed from the spec" in refused.stdout
    assert _cli("apply", str(workspace), "--auto-approve").returncode == 1, "apply refuses an errored plan"
    assert emu.control("GET", "/tenants/fabrikam/mappings")["user_mappings"].get(f"user004@{emu.source['domain']}")


def test_import_records_existing_objects_without_changing_them(workspace: Path, emu: Emulator) -> None:
    src, dst = emu.source["domain"], emu.target["domain"]
    emu.map_user(f"user001@{src}", f"someone.else@{dst}")  # uploaded by PowerShell, differs from the spec
    task = emu.graph(
        "POST", "/solutions/sharePoint/migrations/crossOrganizationMigrationTasks", json=emu.user_task(1)
    ).json()
    emu.control("DELETE", "/counters")
    mapping_addr, task_addr = f'user_mapping["user001@{src}"]', f'user_migration["user001@{src}"]'
    out = _cli(
        "import",
        mapping_addr,
        task_addr,
        'user_mapping["nobody@contoso.onmicrosoft.com"]',
        f'user_mapping["user002@{src}"]',
        "-w",
        str(workspace),
    )
    assert out.returncode == 1
    assert "Import complete! 2 imported, 2 not imported." in out.stdout
    assert "not in the spec" in out.stderr
    assert "does not exist in the tenant" in out.stderr
    counters = emu.control("GET", "/counters")
    assert not any(name.endswith(("deltaPatch", "create", "cancel")) for name in counters), "nothing was written"
    state = json.loads((workspace / ".reconciler" / "state.json").read_text())["resources"]
    assert state[task_addr]["task_id"] == task["id"]
    assert state[mapping_addr]["last_applied"]["target_upn"] == f"someone.else@{dst}"
    doc = json.loads(_cli("plan", str(workspace), "--format", "json").stdout)
    actions = {c["address"]: c["domain_action"] for c in doc["resource_changes"]}
    assert actions[task_addr] == "wait", "an imported task is managed, not adopted again or started"
    assert actions[mapping_addr] == "update", "the imported mapping's difference from the spec is an update"


def test_export_then_adopt_plans_no_changes(emu: Emulator, tmp_path: Path) -> None:
    from reconciler.emulator.world import stable_id

    src = emu.source["domain"]
    gid, tgid = stable_id("group", "contoso", "group01"), stable_id("group", "fabrikam", "group01")
    emu.map_user(f"user001@{src}")
    emu.map_user(f"user002@{src}")
    write = {
        "@context": "#$delta",
        "value": [
            {
                "sourceOrganizationId": emu.source["tenant_id"],
                "sourceGroupIdentity": {"id": gid},
                "targetGroupIdentity": {"id": tgid},
                "groupType": "m365Group",
                "targetGroupMigrationData": {"mailNickname": "group01"},
            }
        ],
    }
    assert (
        emu.graph(
            "PATCH", "/solutions/sharePoint/migrations/crossOrganizationGroupMappings", "target", json=write
        ).status_code
        == 200
    )
    base = "/solutions/sharePoint/migrations/crossOrganizationMigrationTasks"
    assert emu.graph("POST", base, json=emu.user_task(1)).status_code == 200
    site = {
        "parameters": {
            "@odata.type": "#microsoft.graph.sharePointSiteMigrationTaskParameters",
            "targetOrganizationId": emu.target["tenant_id"],
            "sourceSiteUrl": "https://contoso.sharepoint.com/sites/site01",
            "targetSiteUrl": "https://fabrikam.sharepoint.com/sites/site01",
        }
    }
    assert emu.graph("POST", base, json=site).status_code == 200
    ws = tmp_path / "adopted"
    ws.mkdir()
    shutil.copy(QUICKSTART / "reconciler.yaml", ws / "reconciler.yaml")
    (ws / ".reconciler").mkdir()
    (ws / ".reconciler" / "emulator.json").write_text(json.dumps(emu.conn))
    keys = tmp_path / "keys.csv"
    keys.write_text(
        f"user001@{src}\nuser002@{src}\nuser003@{src}\n{gid}\nhttps://contoso.sharepoint.com/sites/site01\n"
    )
    out = _cli("export", str(ws), "--keys", str(keys))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Export complete! 3 mappings, 2 migrations; 1 key had nothing to export." in out.stdout
    assert _cli("validate", str(ws)).returncode == 0
    assert _cli("export", str(ws), "--keys", str(keys)).returncode == 1, "never overwrites without --force"
    first = json.loads(_cli("plan", str(ws), "--format", "json").stdout)
    assert {c["domain_action"] for c in first["resource_changes"]} == {"adopt"}, [
        (c["address"], c["reason"], c["before"], c["after"])
        for c in first["resource_changes"]
        if c["domain_action"] != "adopt"
    ]
    assert _cli("apply", str(ws), "--auto-approve").returncode == 0
    final = _cli("plan", str(ws), "--detailed-exitcode")
    assert final.returncode == 0, final.stdout
    assert "No changes." in final.stdout


def test_declining_at_the_prompt_exits_1_and_writes_nothing(workspace: Path, emu: Emulator) -> None:
    import pty
    import select

    controller, terminal = pty.openpty()  # a person at a terminal: all three streams on it
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", str(workspace)],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, "NO_COLOR": "1"},
    )
    os.close(terminal)
    seen = b""
    answered = False
    while True:
        ready, _, _ = select.select([controller], [], [], 120)
        assert ready, f"no output for 120 s; so far: {seen.decode(errors='replace')[-2000:]}"
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break  # the terminal closes when the process ends
        if not chunk:
            break
        seen += chunk
        if not answered and b"Only 'yes' will be accepted" in seen:
            os.write(controller, b"no\n")
            answered = True
    assert proc.wait(timeout=60) == 1
    os.close(controller)
    assert answered
    assert b"Apply cancelled." in seen
    assert b"will be created" in seen
    assert b"\x1b[32m" not in seen, "NO_COLOR is set: no colour in the plan (cursor codes of the bar are fine)"
    assert _tasks_by_source(emu) == {}
    assert not (workspace / ".reconciler" / "state.json").exists()


def test_a_saved_plan_is_applied_whole_so_target_is_refused_with_it(workspace: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert _cli("plan", str(workspace), "-out", str(saved)).returncode == 0
    refused = _cli("apply", str(saved), "--target", "user_mapping*")
    assert refused.returncode == 1
    assert "a saved plan is applied whole" in refused.stderr
    assert not (workspace / ".reconciler" / "state.json").exists()


def test_a_usage_error_exits_1_so_it_never_reads_as_drift(workspace: Path) -> None:
    mistyped = _cli("plan", str(workspace), "--detailed-exitcodes")
    assert mistyped.returncode == 1
    assert "No such option" in mistyped.stderr


def test_a_plan_made_in_one_checkout_applies_in_another(workspace: Path, emu: Emulator, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert _cli("plan", str(workspace), "-out", str(saved)).returncode == 0
    elsewhere = tmp_path / "second-checkout"
    shutil.copytree(workspace, elsewhere)
    shutil.rmtree(workspace)  # the planning job's folder is gone, as on another CI runner
    gone = _cli("apply", str(saved))
    assert gone.returncode == 1
    assert "pass --workspace" in gone.stderr
    applied = _cli("apply", str(saved), "--workspace", str(elsewhere))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete!" in applied.stdout
    assert (elsewhere / ".reconciler" / "state.json").exists()
    # a workspace with another spec does not accept it
    assert _cli("plan", str(elsewhere), "-out", str(saved)).returncode == 0
    other = tmp_path / "other"
    shutil.copytree(elsewhere, other)
    users = other / "users.yaml"
    email = "target_email: user001@fabrikam.onmicrosoft.com"
    users.write_text(users.read_text(encoding="utf-8").replace(email, email.replace("user001", "u1")), encoding="utf-8")
    refused = _cli("apply", str(saved), "-w", str(other))
    assert refused.returncode == 1
    assert "stale" in refused.stderr


def test_state_commands_match_keys_without_regard_to_case(workspace: Path, emu: Emulator) -> None:
    assert _cli("apply", str(workspace), "--auto-approve").returncode == 0
    typed = f'user_mapping["USER001@{emu.source["domain"].upper()}"]'
    shown = _cli("state", "show", typed, "-w", str(workspace))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["key"] == f"user001@{emu.source['domain']}"
    removed = _cli("state", "rm", typed, "-w", str(workspace))
    assert removed.returncode == 0, removed.stderr
    assert f'user_mapping["user001@{emu.source["domain"]}"]' not in _cli("state", "list", "-w", str(workspace)).stdout


def test_export_says_when_adopting_will_fill_in_what_a_partial_mapping_lacks(emu: Emulator, tmp_path: Path) -> None:
    src = emu.source["domain"]
    partial = {
        "sourceUserIdentity": {"userPrincipalName": f"user003@{src}"},
        "targetUserIdentity": {"userPrincipalName": f"user003@{emu.target['domain']}"},
    }
    written = emu.graph(
        "PATCH",
        "/solutions/sharePoint/migrations/crossOrganizationUserMappings",
        "target",
        json={"@context": "#$delta", "value": [partial]},
    )
    assert written.status_code == 200, written.text
    emu.map_user(f"user004@{src}")
    ws = tmp_path / "partial"
    ws.mkdir()
    shutil.copy(QUICKSTART / "reconciler.yaml", ws / "reconciler.yaml")
    (ws / ".reconciler").mkdir()
    (ws / ".reconciler" / "emulator.json").write_text(json.dumps(emu.conn))
    keys = tmp_path / "keys.csv"
    keys.write_text(f"user003@{src}\nuser004@{src}\n")
    out = _cli("export", str(ws), "--keys", str(keys))
    assert out.returncode == 0, out.stderr
    assert "Note: 1 mapping(s) in the tenant have no userType" in out.stdout
    plan = json.loads(_cli("plan", str(ws), "--format", "json").stdout)
    actions = {c["address"]: c["domain_action"] for c in plan["resource_changes"]}
    assert actions == {f'user_mapping["user003@{src}"]': "update", f'user_mapping["user004@{src}"]': "adopt"}


def test_format_json_streams_the_same_events_as_its_alias_json(workspace: Path, emu: Emulator) -> None:
    out = _cli("apply", str(workspace), "--auto-approve", "--format", "json", "--target", "user_mapping[*]")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]  # every stdout line is one event
    assert events[-1]["type"] == "change_summary"
    assert events[-1]["done"] == {"create": 10}
    assert "Refreshing" not in out.stderr, "no progress lines beside a JSON stream"
    alias = _cli("apply", str(workspace), "--auto-approve", "--json", "--target", "group_mapping[*]")
    assert alias.returncode == 0, alias.stderr
    alias_events = [json.loads(line) for line in alias.stdout.splitlines()]
    assert alias_events[-1]["type"] == "change_summary"
    assert {e["type"] for e in alias_events} == {e["type"] for e in events}


def test_import_and_export_print_one_json_document_with_format_json(
    workspace: Path, emu: Emulator, tmp_path: Path
) -> None:
    src = emu.source["domain"]
    emu.map_user(f"user001@{src}")
    wanted, unknown = f'user_mapping["user001@{src}"]', 'user_mapping["nobody@contoso.onmicrosoft.com"]'
    out = _cli("import", wanted, unknown, "-w", str(workspace), "--format", "json")
    assert out.returncode == 1, "an address not imported still fails the run"
    document = json.loads(out.stdout)
    assert document["imported"] == [wanted]
    assert len(document["problems"]) == 1
    assert document["problems"][0].startswith(f"{unknown}: not in the spec")
    assert out.stderr == "", "the problems are in the document, and no progress lines are printed"
    keys = tmp_path / "keys.csv"
    keys.write_text(f"user001@{src}\nuser003@{src}\n")
    exported = _cli("export", str(workspace), "--keys", str(keys), "--out", str(tmp_path / "out"), "--format", "json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout) == {
        "files": [str(tmp_path / "out" / "exported-identity-map.csv"), str(tmp_path / "out" / "exported.yaml")],
        "mappings": 1,
        "migrations": 0,
        "absent": 1,
        "incomplete": 0,
    }
