"""End to end: ``reconciler plan`` and ``reconciler show`` drive the real CLI against the emulator over HTTPS."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TASKS, Emulator

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


@pytest.fixture
def workspace(quickstart_workspace: Path) -> Path:
    return quickstart_workspace


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args], capture_output=True, text=True, timeout=120, env=env
    )


def _plan_json(ws: Path, *extra: str) -> dict[str, Any]:
    out = _cli("plan", str(ws), "--format", "json", *extra)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_a_fresh_workspace_plans_every_mapping_and_migration(workspace: Path, emu: Emulator) -> None:
    doc = _plan_json(workspace)
    actions = {c["address"]: c["domain_action"] for c in doc["resource_changes"]}
    src = emu.source["domain"]
    assert actions[f'user_mapping["user001@{src}"]'] == "create"
    assert actions[f'user_mapping["user010@{src}"]'] == "create"  # from the identity-map CSV
    assert actions[f'user_migration["user001@{src}"]'] == "start"
    assert actions[f'user_migration["user006@{src}"]'] == "validate"
    assert actions['site_migration["https://contoso.sharepoint.com/sites/site01"]'] == "start"
    assert actions['group_migration["group01"]'] == "start"
    assert doc["format_version"] == "1.1"
    assert doc["applyable"] is True
    from tests.plan.test_plan_schema import VALIDATOR

    assert list(VALIDATOR.iter_errors(doc)) == []
    assert doc["evidence"]["refreshed"] is True


def test_live_objects_are_seen_a_started_task_is_adopted_not_started_again(workspace: Path, emu: Emulator) -> None:
    src = emu.source["domain"]
    emu.map_user(f"user001@{src}")
    started = emu.graph("POST", TASKS, json=emu.user_task(1))
    assert started.status_code == 200
    doc = _plan_json(workspace)
    changes = {c["address"]: c for c in doc["resource_changes"]}
    migration = changes[f'user_migration["user001@{src}"]']
    assert migration["domain_action"] == "adopt"
    assert migration["task_id"] == started.json()["id"]
    assert migration["status"] == "notStarted"
    assert changes[f'user_mapping["user001@{src}"]']["domain_action"] in ("adopt", "update")


def test_detailed_exitcode_and_targets(workspace: Path) -> None:
    out = _cli("plan", str(workspace), "--detailed-exitcode", "--no-color")
    assert out.returncode == 2, out.stderr
    assert "Plan:" in out.stdout
    assert "\x1b[" not in out.stdout
    doc = _plan_json(workspace, "--target", "group_migration[*]")
    assert {c["kind"] for c in doc["resource_changes"]} == {"group_migration"}


def test_saved_plan_is_shown_in_every_format(workspace: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    out = _cli("plan", str(workspace), "-out", str(saved))
    assert out.returncode == 0, out.stderr
    assert f"reconciler show {saved}" in out.stdout
    as_json = _cli("show", str(saved), "--format", "json")
    assert as_json.returncode == 0
    markdown = _cli("show", str(saved), "--format", "markdown")
    assert markdown.returncode == 0
    assert "Plan:" in markdown.stdout or "plan" in markdown.stdout.lower()
    text = _cli("show", str(saved))
    assert text.stdout.count("Plan:") == 1
    assert json.loads(as_json.stdout)["resource_changes"] == json.loads(saved.read_text())["resource_changes"]


def test_errors_are_clear(workspace: Path, tmp_path: Path) -> None:
    (workspace / ".reconciler" / "emulator.json").unlink()
    out = _cli("plan", str(workspace))
    assert out.returncode == 1
    assert "emulator connection file" in out.stderr
    bogus = tmp_path / "not-a-plan.json"
    bogus.write_text("{}")
    shown = _cli("show", str(bogus))
    assert shown.returncode == 1
    assert "not a plan file" in shown.stderr


def test_no_refresh_plans_from_state_alone(workspace: Path) -> None:
    doc = _plan_json(workspace, "--no-refresh")
    assert doc["evidence"]["refreshed"] is False
    assert all(c["domain_action"] in ("create", "start", "validate", "no-op") for c in doc["resource_changes"])


def test_a_converged_workspace_plans_no_changes(emu: Emulator, tmp_path: Path) -> None:
    """Idempotency end to end: the tenants hold what the spec says and state records it -> 'No changes.'"""
    src, dst = emu.source["domain"], emu.target["domain"]
    ws = tmp_path / "converged"
    ws.mkdir()
    shutil.copy(QUICKSTART / "reconciler.yaml", ws / "reconciler.yaml")
    (ws / ".reconciler").mkdir()
    (ws / ".reconciler" / "emulator.json").write_text(json.dumps(emu.conn))
    (ws / "spec.yaml").write_text(
        "user_mappings:\n"
        f"  - {{source_upn: user001@{src}, target_upn: user001@{dst}, target_email: user001@{dst}}}\n"
        "user_migrations:\n"
        f"  - {{source_upn: user001@{src}}}\n"
    )
    emu.map_user(f"user001@{src}")
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 0, "duration_seconds": 0})
    task = emu.graph("POST", TASKS, json=emu.user_task(1)).json()
    mapping_values = {
        "target_upn": f"user001@{dst}",
        "user_type": "regularUser",
        "source_organization_id": emu.source["tenant_id"],
        "target_email": f"user001@{dst}",
    }
    state = {
        "format_version": 1,
        "lineage": "test",
        "serial": 3,
        "journal": [],
        "resources": {
            f'user_mapping["user001@{src}"]': {
                "kind": "user_mapping",
                "key": f"user001@{src}",
                "last_applied": mapping_values,
            },
            f'user_migration["user001@{src}"]': {
                "kind": "user_migration",
                "key": f"user001@{src}",
                "task_id": task["id"],
                "last_applied": {},
            },
        },
    }
    (ws / ".reconciler" / "state.json").write_text(json.dumps(state))
    out = _cli("plan", str(ws), "--detailed-exitcode")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "No changes." in out.stdout
    # Someone edits the mapping in the tenant: the next plan shows drift and the fix.
    emu.map_user(f"user001@{src}", f"user002@{dst}")
    drifted = _cli("plan", str(ws), "--detailed-exitcode", "--no-color")
    assert drifted.returncode == 2
    assert "changed outside of reconciler" in drifted.stdout
    assert f'"user002@{dst}" -> "user001@{dst}"' in drifted.stdout
    # DeepDiff explains both at Graph's paths: the drift (last applied -> live) and the update (live -> spec).
    assert f'#   targetUserIdentity.userPrincipalName: "user001@{dst}" -> "user002@{dst}"' in drifted.stdout
    assert f'#   targetUserIdentity.userPrincipalName: "user002@{dst}" -> "user001@{dst}"' in drifted.stdout


def test_a_refused_sign_in_is_one_error_for_the_run_not_one_per_object(workspace: Path, emu: Emulator) -> None:
    connection = workspace / ".reconciler" / "emulator.json"
    conn = json.loads(connection.read_text())
    conn["tenants"]["target"]["client_secret"] = "not-the-secret"
    connection.write_text(json.dumps(conn))
    out = _cli("plan", str(workspace), "--detailed-exitcode")
    assert out.returncode == 1
    assert out.stdout == ""
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, out.stderr
    assert "AADSTS7000215" in errors[0]
    assert f"target tenant {emu.target['tenant_id']}" in errors[0]
