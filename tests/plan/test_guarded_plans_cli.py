"""End to end against the emulator and its clock: mapping deletions held while moves are in flight, and
spec edits the service cannot carry out, in every output of the real CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import USER_MAPPINGS, Emulator, run_cli


@pytest.fixture
def workspace(quickstart_workspace: Path) -> Path:
    return quickstart_workspace


def _drop_user_mapping(ws: Path, user: str) -> None:
    users = ws / "users.yaml"
    text = users.read_text()
    start = text.index(f"  - source_upn: {user}@")
    end = text.find("  - source_upn: ", start + 1)
    users.write_text(text[:start] + (text[end:] if end != -1 else ""))


def _mapping_exists(emu: Emulator, upn: str) -> bool:
    response = emu.graph("GET", f"{USER_MAPPINGS}(sourceUserPrincipalName='{upn}')", "target")
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


def _plan_json(ws: Path, *extra: str) -> dict[str, Any]:
    out = run_cli("plan", str(ws), "--format", "json", *extra)
    assert out.returncode == 0, out.stdout + out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def _changes(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["address"]: c for c in doc["resource_changes"]}


def test_a_mapping_deletion_waits_while_moves_are_queued_and_happens_after_they_finish(
    workspace: Path, emu: Emulator
) -> None:
    emu.control("PUT", "/clock", {"speed": 0})  # the moves stay queued until the test moves the clock
    assert run_cli("apply", str(workspace), "--auto-approve").returncode == 0
    user = f"user005@{emu.source['domain']}"
    address = f'user_mapping["{user}"]'
    _drop_user_mapping(workspace, "user005")

    doc = _plan_json(workspace)
    held = _changes(doc)[address]
    assert held["domain_action"] == "wait"
    assert held["held"] is True
    assert held["reason"].startswith("held: 8 migrations are queued or in progress and may use this mapping")
    text = run_cli("plan", str(workspace), "--no-color", "--detailed-exitcode")
    assert text.returncode == 0, text.stdout + text.stderr  # held alone is not drift: a later plan does it
    assert "Held until the migrations that may use them finish:" in text.stdout
    assert f"{address} deletion held: 8 migrations are queued or in progress" in text.stdout
    assert "1 mapping deletion is held until the migrations that may use it finish." in text.stdout
    assert "match the configuration" not in text.stdout
    markdown = run_cli("plan", str(workspace), "--format", "markdown")
    assert "#### Held until the migrations that may use them finish (1)" in markdown.stdout
    assert f"- `{address}` deletion held: 8 migrations" in markdown.stdout

    applied = run_cli("apply", str(workspace), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "deletion held" in applied.stdout
    assert "match the configuration" not in applied.stdout
    assert _mapping_exists(emu, user), "apply deleted a mapping that queued moves may use"

    emu.control("POST", "/clock/advance", {"seconds": 4000})  # every move completes
    released = _changes(_plan_json(workspace))[address]
    assert released["domain_action"] == "delete"
    assert released["held"] is False
    assert run_cli("apply", str(workspace), "--auto-approve").returncode == 0
    assert not _mapping_exists(emu, user)
    again = run_cli("plan", str(workspace), "--detailed-exitcode")
    assert again.returncode == 0
    assert "No changes. Your tenants match the configuration." in again.stdout


def test_the_users_own_unmanaged_onedrive_move_holds_its_mapping(workspace: Path, emu: Emulator) -> None:
    """The user's own move is found by refresh even when no migration in the spec or the state names it."""
    emu.control("PUT", "/clock", {"speed": 0})
    for name in ("migrations.yaml",):  # no migrations at all in this workspace: only mappings
        (workspace / name).unlink()
    waves = workspace / "waves.yaml"
    waves.unlink()
    assert run_cli("apply", str(workspace), "--auto-approve").returncode == 0
    user = f"user005@{emu.source['domain']}"
    started = emu.graph(
        "POST", "/solutions/sharePoint/migrations/crossOrganizationMigrationTasks", json=emu.user_task(5)
    )
    assert started.status_code == 200, started.text  # PowerShell starts the move beside this tool
    _drop_user_mapping(workspace, "user005")
    change = _changes(_plan_json(workspace))[f'user_mapping["{user}"]']
    assert change["domain_action"] == "wait"
    assert "this user's own OneDrive migration among them (queued or in progress)" in change["reason"]


def test_a_reviewed_override_deletes_at_once_and_every_output_says_so(
    workspace: Path, emu: Emulator, tmp_path: Path
) -> None:
    emu.control("PUT", "/clock", {"speed": 0})
    assert run_cli("apply", str(workspace), "--auto-approve").returncode == 0
    user = f"user005@{emu.source['domain']}"
    _drop_user_mapping(workspace, "user005")
    saved = tmp_path / "override.json"
    made = run_cli("plan", str(workspace), "--override-mapping-holds", "-out", str(saved), "--no-color")
    assert made.returncode == 0, made.stdout + made.stderr
    assert "Mapping holds overridden (--override-mapping-holds)" in made.stdout
    doc = json.loads(saved.read_text())
    assert doc["options"] == {"override_mapping_holds": True}
    assert _changes(doc)[f'user_mapping["{user}"]']["domain_action"] == "delete"
    comment = run_cli("show", str(saved), "--format", "markdown")
    assert "> [!WARNING]\n> Mapping holds overridden (--override-mapping-holds)" in comment.stdout
    refused = run_cli("apply", str(saved), "--override-mapping-holds")
    assert refused.returncode == 1, "the option belongs to planning: a saved plan records it"
    applied = run_cli("apply", str(saved))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert not _mapping_exists(emu, user)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_impossible_edits_show_in_text_markdown_and_json_and_exit_2(workspace: Path, emu: Emulator) -> None:
    emu.control("PUT", "/clock", {"speed": 0})
    assert run_cli("apply", str(workspace), "--auto-approve").returncode == 0
    emu.control("POST", "/clock/advance", {"seconds": 4000})  # every move completed
    migrations = workspace / "migrations.yaml"
    _edit(
        migrations,
        "target_url: https://fabrikam.sharepoint.com/sites/site01",
        "target_url: https://fabrikam.sharepoint.com/sites/site01-new",
    )
    _edit(
        migrations,
        "  - source_upn: user002@contoso.onmicrosoft.com\n    wave: pilot\n",
        "  - source_upn: user002@contoso.onmicrosoft.com\n    wave: pilot\n    state: cancelled\n",
    )
    line = migrations.read_text().splitlines().index("  - source_url: https://contoso.sharepoint.com/sites/site01") + 1

    text = run_cli("plan", str(workspace), "--no-color", "--detailed-exitcode")
    assert text.returncode == 2, text.stdout + text.stderr
    site = 'site_migration["https://contoso.sharepoint.com/sites/site01"]'
    assert "Spec changes the service cannot carry out (nothing is planned for them):" in text.stdout
    assert (
        f"! {site} (at migrations.yaml:{line}:5): target_url changed in the spec, but the migration is completed"
        in (text.stdout)
    )
    assert (
        'target_url: live "https://fabrikam.sharepoint.com/sites/site01", '
        'declared "https://fabrikam.sharepoint.com/sites/site01-new"'
    ) in text.stdout
    assert "cancel requested, but the migration has completed" in text.stdout
    assert "2 spec changes cannot be carried out: the spec disagrees with the tenants." in text.stdout
    assert "match the configuration" not in text.stdout
    assert "Error:" not in text.stdout + text.stderr

    doc = _plan_json(workspace)
    edits = {e["address"]: e for e in doc["impossible_edits"]}
    assert edits[site]["location"] == f"migrations.yaml:{line}:5"
    assert edits[site]["attributes"] == [
        {
            "name": "target_url",
            "live": "https://fabrikam.sharepoint.com/sites/site01",
            "declared": "https://fabrikam.sharepoint.com/sites/site01-new",
        }
    ]
    assert edits[site]["status"] == "completed"
    markdown = run_cli("plan", str(workspace), "--format", "markdown")
    assert "#### Spec changes the service cannot carry out (2)" in markdown.stdout
    assert f"`{site}` at `migrations.yaml:{line}:5`" in markdown.stdout

    applied = run_cli("apply", str(workspace), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "match the configuration" not in applied.stdout
    assert "Spec changes the service cannot carry out" in applied.stdout


def test_cancelling_a_running_move_is_an_impossible_edit_not_an_error(workspace: Path, emu: Emulator) -> None:
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 0, "duration_seconds": 3600, "duration_jitter": 0})
    assert run_cli("apply", str(workspace), "--auto-approve").returncode == 0
    _edit(
        workspace / "migrations.yaml",
        "  - source_upn: user001@contoso.onmicrosoft.com\n    wave: pilot\n",
        "  - source_upn: user001@contoso.onmicrosoft.com\n    wave: pilot\n    state: cancelled\n",
    )
    _edit(
        workspace / "migrations.yaml",
        "  - source_upn: user003@contoso.onmicrosoft.com\n    wave: pilot\n",
        "  - source_upn: user003@contoso.onmicrosoft.com\n    wave: pilot\n    validate_only: true\n",
    )
    out = run_cli("plan", str(workspace), "--no-color", "--detailed-exitcode")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Error:" not in out.stdout + out.stderr
    assert "cancel requested, but the migration is in progress" in out.stdout
    assert 'state: live "inProgress", declared "cancelled"' in out.stdout
    assert "validate_only is set, but a task exists for this source (in progress)" in out.stdout
    assert "No changes to apply now." in out.stdout
    assert "match the configuration" not in out.stdout


def test_a_saved_deletion_waits_when_a_move_started_after_the_plan(
    workspace: Path, emu: Emulator, tmp_path: Path
) -> None:
    """The plan saw nothing in flight; by apply time PowerShell has queued the user's own OneDrive move."""
    emu.control("PUT", "/clock", {"speed": 0})
    assert run_cli("apply", str(workspace), "--auto-approve").returncode == 0
    emu.control("POST", "/clock/advance", {"seconds": 4000})  # every managed move completed
    user = f"user005@{emu.source['domain']}"
    address = f'user_mapping["{user}"]'
    _drop_user_mapping(workspace, "user005")
    saved = tmp_path / "delete.json"
    assert run_cli("plan", str(workspace), "-out", str(saved)).returncode == 0
    assert _changes(json.loads(saved.read_text()))[address]["domain_action"] == "delete"
    started = emu.graph(
        "POST", "/solutions/sharePoint/migrations/crossOrganizationMigrationTasks", json=emu.user_task(5)
    )
    assert started.status_code == 200, started.text

    applied = run_cli("apply", str(saved))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"{address}: deletion held: 1 migration is queued or in progress now" in applied.stdout
    assert "0 deleted" in applied.stdout
    assert "1 held" in applied.stdout
    assert _mapping_exists(emu, user)

    emu.control("POST", "/clock/advance", {"seconds": 4000})
    assert _changes(_plan_json(workspace))[address]["domain_action"] == "delete"
    assert run_cli("apply", str(workspace), "--auto-approve").returncode == 0
    assert not _mapping_exists(emu, user)
