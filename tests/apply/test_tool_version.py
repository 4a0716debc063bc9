"""The reconciler version in plan files and in the state: apply refuses a plan another version made, naming
both; a state written by a newer version is refused by every command that reads it, untouched; a state of
format 1 (0.1, no version recorded) is read and written back as format 2 naming this version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler import __version__
from reconciler.state.model import FORMAT_VERSION, newer_than
from tests.conftest import Emulator, run_cli
from tests.plan.test_plan_schema import VALIDATOR

ADDRESS = 'user_mapping["user001@contoso.onmicrosoft.com"]'
FORMAT_1_STATE = {
    "format_version": 1,
    "lineage": "6b1f0c1e-0000-4000-8000-000000000001",
    "serial": 3,
    "resources": {ADDRESS: {"kind": "user_mapping", "key": "user001@contoso.onmicrosoft.com", "last_applied": {}}},
    "journal": [],
}


@pytest.fixture
def saved_plan(quickstart_workspace: Path, emu: Emulator, tmp_path: Path) -> Path:
    out = tmp_path / "plan.json"
    made = run_cli("plan", str(quickstart_workspace), "-out", str(out))
    assert made.returncode == 0, made.stderr
    return out


def _with_version(saved: Path, version: str | None) -> Path:
    doc = json.loads(saved.read_text())
    if version is None:
        del doc["planfile"]["reconciler_version"]
    else:
        doc["planfile"]["reconciler_version"] = version
    saved.write_text(json.dumps(doc))
    return saved


def test_a_plan_file_records_the_version_that_made_it(saved_plan: Path) -> None:
    doc = json.loads(saved_plan.read_text())
    assert doc["planfile"]["reconciler_version"] == __version__
    assert VALIDATOR.is_valid(doc)


@pytest.mark.parametrize(
    ("recorded", "named"),
    [("0.1.9", "reconciler 0.1.9"), ("99.0.0", "reconciler 99.0.0"), (None, "reconciler 0.1 (it records no version)")],
)
def test_apply_refuses_a_plan_another_version_made_and_names_both(
    saved_plan: Path, quickstart_workspace: Path, recorded: str | None, named: str
) -> None:
    _with_version(saved_plan, recorded)
    result = run_cli("apply", str(saved_plan))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: {saved_plan} was made by {named}; this is {__version__}: make the plan again with this version\n"
    )
    assert not (quickstart_workspace / ".reconciler" / "state.json").exists()  # nothing applied


def test_show_still_renders_a_plan_another_version_made(saved_plan: Path) -> None:
    _with_version(saved_plan, "0.1.9")
    result = run_cli("show", str(saved_plan))
    assert result.returncode == 0, result.stderr
    assert "Plan:" in result.stdout


def test_a_state_written_by_a_newer_version_is_refused_and_left_as_it_is(quickstart_workspace: Path) -> None:
    state = quickstart_workspace / ".reconciler" / "state.json"
    newer = {**FORMAT_1_STATE, "format_version": FORMAT_VERSION, "reconciler_version": "99.1.0"}
    state.write_text(json.dumps(newer))
    before = state.read_bytes()
    expected = (
        f"Error: {state}: the state was last written by reconciler 99.1.0; this is {__version__}, which may drop "
        "what a newer version records: upgrade reconciler to 99.1.0 or later\n"
    )
    for args in (["state", "list", "-w", str(quickstart_workspace)], ["plan", str(quickstart_workspace)]):
        result = run_cli(*args)
        assert (result.returncode, result.stderr) == (1, expected), args
    assert state.read_bytes() == before


def test_a_format_1_state_is_read_and_written_back_naming_this_version(quickstart_workspace: Path) -> None:
    state = quickstart_workspace / ".reconciler" / "state.json"
    state.write_text(json.dumps(FORMAT_1_STATE))
    listed = run_cli("state", "list", "-w", str(quickstart_workspace))
    assert (listed.returncode, listed.stdout) == (0, ADDRESS + "\n"), listed.stderr
    assert json.loads(state.read_text())["format_version"] == 1  # reading does not rewrite
    removed = run_cli("state", "rm", ADDRESS, "-w", str(quickstart_workspace))
    assert removed.returncode == 0, removed.stderr
    written = json.loads(state.read_text())
    assert (written["format_version"], written["reconciler_version"], written["serial"]) == (2, __version__, 4)
    assert written["lineage"] == FORMAT_1_STATE["lineage"]


@pytest.mark.parametrize(
    ("version", "current", "newer"),
    [
        ("0.10.0", "0.9.0", True),
        ("0.9.0", "0.10.0", False),
        ("0.2", "0.2.0", False),
        ("0.2.1", "0.2.0", True),
        ("0.2.0rc1", "0.2.0", False),
        ("1.0.0.dev3", "0.2.0", True),
        ("not a version", "0.2.0", False),
    ],
)
def test_newer_compares_releases_numerically(version: str, current: str, newer: bool) -> None:
    assert newer_than(version, current) is newer
