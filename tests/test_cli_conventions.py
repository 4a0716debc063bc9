"""CLI conventions users expect from Terraform-like tools: shell completion, NO_COLOR/FORCE_COLOR, `show` of the
state, `state mv` and `force-unlock`. State commands call no API, so they run through click's runner on a local
state; colour and completion run the real CLI in a subprocess (no terminal, as in CI)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from reconciler.cli.main import main
from reconciler.state.local import LocalBackend
from reconciler.state.model import ResourceState, State

ROOT = Path(__file__).resolve().parent.parent
ALICE = 'user_mapping["alice@contoso.com"]'
ALICE_RENAMED = 'user_mapping["alice.smith@contoso.com"]'
BOB = 'user_mapping["bob@contoso.com"]'
MIGRATION = 'user_migration["alice@contoso.com"]'
LAST = {"target_upn": "alice@fabrikam.com", "user_type": "regularUser"}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(ROOT / "examples" / "quickstart" / "reconciler.yaml", ws / "reconciler.yaml")
    state = State(lineage="6b1f0c1e-0000-4000-8000-000000000002", serial=4)
    state.resources[ALICE] = ResourceState("user_mapping", "alice@contoso.com", dict(LAST))
    state.resources[BOB] = ResourceState("user_mapping", "bob@contoso.com", {"target_upn": "bob@fabrikam.com"})
    state.resources[MIGRATION] = ResourceState("user_migration", "alice@contoso.com", {}, task_id="t-1", attempt=2)
    _write(ws, state)
    return ws


def _backend(ws: Path) -> LocalBackend:
    return LocalBackend(ws / ".reconciler" / "state.json")


def _write(ws: Path, state: State) -> None:
    backend = _backend(ws)
    lock = backend.lock("test")
    backend.write(state)
    backend.release(lock)


def _run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args))


def _subprocess(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run(
        [sys.executable, "-c", "from reconciler.cli.main import main; main(prog_name='reconciler')", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
        env={**clean, **env},
    )


# --- completion ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "marker"), [("bash", "complete -o"), ("zsh", "#compdef reconciler"), ("fish", "complete")]
)
def test_completion_prints_the_shells_script(shell: str, marker: str) -> None:
    result = _run("completion", shell)
    assert result.exit_code == 0
    assert marker in result.stdout
    assert f"_RECONCILER_COMPLETE={shell}_complete" in result.stdout


def test_the_script_completes_commands_by_calling_reconciler_back() -> None:
    done = _subprocess(
        env={"_RECONCILER_COMPLETE": "bash_complete", "COMP_WORDS": "reconciler state ", "COMP_CWORD": "2"}
    )
    assert done.returncode == 0, done.stderr
    assert {"plain,mv", "plain,unlock", "plain,rm"} <= set(done.stdout.split())
    done = _subprocess(env={"_RECONCILER_COMPLETE": "bash_complete", "COMP_WORDS": "reconciler for", "COMP_CWORD": "1"})
    assert done.stdout.split() == ["plain,force-unlock"]


def test_completion_names_the_shells_it_knows() -> None:
    result = _run("completion", "powershell")
    assert result.exit_code == 1
    assert "'powershell' is not one of 'bash', 'zsh', 'fish'" in result.stderr


# --- colour ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "coloured"),
    [
        ({}, False),  # not a terminal
        ({"FORCE_COLOR": "1"}, True),
        ({"FORCE_COLOR": ""}, False),  # empty: ignored
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),  # NO_COLOR wins
        ({"FORCE_COLOR": "1", "NO_COLOR": ""}, True),  # an empty NO_COLOR is ignored (no-color.org)
    ],
)
def test_no_color_and_force_color(workspace: Path, tmp_path: Path, env: dict[str, str], coloured: bool) -> None:
    saved = tmp_path / "plan.json"
    made = _subprocess("plan", str(workspace), "--no-refresh", "-out", str(saved), env={})
    assert made.returncode == 0, made.stderr
    shown = _subprocess("show", str(saved), env=env)
    assert shown.returncode == 0, shown.stderr
    assert ("\x1b[" in shown.stdout) is coloured
    flag = _subprocess("show", str(saved), "--no-color", env={"FORCE_COLOR": "1"})
    assert "\x1b[" not in flag.stdout


# --- show without a plan file ----------------------------------------------------------------------------


def test_show_without_a_plan_file_prints_the_state(workspace: Path) -> None:
    result = _run("show", "-w", str(workspace))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:5] == [
        f"# {ALICE}:",
        'user_mapping "alice@contoso.com" {',
        '    target_upn = "alice@fabrikam.com"',
        '    user_type  = "regularUser"',
        "}",
    ]
    assert '    task_id = "t-1"\n    attempt = 2\n' in result.stdout
    doc = json.loads(_run("show", "-w", str(workspace), "--format", "json").stdout)
    assert (doc["serial"], [r["address"] for r in doc["resources"]]) == (4, [ALICE, BOB, MIGRATION])


def test_show_of_an_empty_state_says_so_and_markdown_needs_a_plan(tmp_path: Path) -> None:
    shutil.copy(ROOT / "examples" / "quickstart" / "reconciler.yaml", tmp_path / "reconciler.yaml")
    result = _run("show", "-w", str(tmp_path))
    assert (result.exit_code, result.stdout) == (0, "The state is empty: this workspace manages nothing yet.\n")
    result = _run("show", "-w", str(tmp_path), "--format", "markdown")
    assert result.exit_code == 1
    assert "--format markdown renders a saved plan; without PLANFILE use text or json" in result.stderr


# --- state mv ----------------------------------------------------------------------------------------------


def test_state_mv_moves_an_address_keeping_task_id_and_last_applied(workspace: Path) -> None:
    migration = 'user_migration["Alice.Smith@Contoso.com"]'  # typed in another case: canonicalized
    result = _run("state", "mv", MIGRATION, migration, "-w", str(workspace))
    assert (result.exit_code, result.stdout) == (
        0,
        f'Moved {MIGRATION} to user_migration["alice.smith@contoso.com"].\n',
    ), result.stderr
    result = _run("state", "mv", ALICE, ALICE_RENAMED, "-w", str(workspace))
    assert result.exit_code == 0, result.stderr
    state = _backend(workspace).read()
    assert state.serial == 6
    moved = state.resources['user_migration["alice.smith@contoso.com"]']
    assert (moved.key, moved.task_id, moved.attempt) == ("alice.smith@contoso.com", "t-1", 2)
    assert state.resources[ALICE_RENAMED].last_applied == LAST
    assert ALICE not in state.resources
    assert MIGRATION not in state.resources


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (ALICE, BOB, f"Error: {BOB} is already in the state; remove it first (`reconciler state rm`) to replace it"),
        (
            ALICE,
            'user_migration["alice@contoso.com"]',
            f"Error: cannot move {ALICE} to {MIGRATION}: the kind changes (user_mapping to user_migration)",
        ),
        (
            'user_mapping["nobody@contoso.com"]',
            ALICE_RENAMED,
            'Error: not in the state: user_mapping["nobody@contoso.com"]',
        ),
        (
            ALICE,
            "alice.smith",
            'Error: \'alice.smith\' is not an address: expected kind["key"], e.g. user_mapping["alice@contoso.com"]',
        ),
        (ALICE, 'mapping["x"]', "Error: 'mapping[\"x\"]': unknown kind 'mapping'"),
    ],
)
def test_state_mv_refuses_and_writes_nothing(workspace: Path, old: str, new: str, message: str) -> None:
    before = (workspace / ".reconciler" / "state.json").read_bytes()
    result = _run("state", "mv", old, new, "-w", str(workspace))
    assert result.exit_code == 1
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert (workspace / ".reconciler" / "state.json").read_bytes() == before


def test_state_mv_takes_the_state_lock(workspace: Path) -> None:
    held = _backend(workspace).lock("apply")
    result = _run("state", "mv", ALICE, ALICE_RENAMED, "-w", str(workspace))
    assert result.exit_code == 1
    assert f"reconciler state unlock -w {workspace} {held.id}" in result.stderr
    assert ALICE in _backend(workspace).read().resources


def test_state_mv_refuses_while_an_interrupted_apply_has_writes_in_flight(workspace: Path) -> None:
    backend = _backend(workspace)
    lock = backend.lock("test")
    state = backend.read()
    state.journal.append({"id": "i-1", "kind": "user_mapping", "key": "alice@contoso.com", "address": ALICE})
    backend.write(state)
    backend.release(lock)
    result = _run("state", "mv", ALICE, ALICE_RENAMED, "-w", str(workspace))
    assert result.exit_code == 1
    assert "1 write(s) still in flight from an interrupted apply" in result.stderr


# --- force-unlock ------------------------------------------------------------------------------------------


def test_force_unlock_is_state_unlock(workspace: Path) -> None:
    held = _backend(workspace).lock("apply")
    result = _run("force-unlock", held.id, "-w", str(workspace))
    assert (result.exit_code, result.stdout) == (0, f"Lock {held.id} released.\n"), result.stderr
    assert _run("state", "rm", BOB, "-w", str(workspace)).exit_code == 0  # the lock is free again
