"""Damaged state, lock and plan files: one ``Error:`` line naming the file and the field, exit 1, no
traceback, and the file left byte for byte as it was. Plan files and exports are written 0600."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from reconciler.plan import planfile
from reconciler.plan.model import Action, Change, Evidence, Plan
from reconciler.state.local import LocalBackend
from reconciler.state.model import State, StateError
from tests.conftest import Emulator, run_cli

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
GOOD_RESOURCE = {"kind": "user_mapping", "key": "a@contoso.onmicrosoft.com", "last_applied": {}}
ADDRESS = 'user_mapping["a@contoso.onmicrosoft.com"]'


def _state(**changes: Any) -> bytes:
    doc: dict[str, Any] = {"format_version": 1, "lineage": "5d0b", "serial": 3, "resources": {ADDRESS: GOOD_RESOURCE}}
    doc.update(changes)
    return json.dumps(doc).encode()


DAMAGED_STATES = {
    "not-utf8": (_state()[:-1] + b'\xff"}', f"byte {len(_state()) - 1} (0xff) is not UTF-8"),
    "not-json": (b'{"format_version": 1, "lineage": ', "not JSON (Expecting value at line 1, column 34)"),
    "deep-json": (b"[" * 100_000, "not a state document (nested too deeply)"),
    "journal-without-kind": (
        _state(journal=[{"id": "1", "key": "a@contoso.onmicrosoft.com", "address": ADDRESS}]),
        "journal[0].kind is missing",
    ),
    "journal-not-objects": (_state(journal=["start"]), "journal[0] must be an object, got a string"),
    "protect-as-text": (
        _state(resources={ADDRESS: {**GOOD_RESOURCE, "protect": "false"}}),
        f'resources["{ADDRESS.replace(chr(34), chr(92) + chr(34))}"].protect must be true or false, got a string',
    ),
    "attempt-as-text": (
        _state(resources={ADDRESS: {**GOOD_RESOURCE, "attempt": "2"}}),
        f'resources["{ADDRESS.replace(chr(34), chr(92) + chr(34))}"].attempt must be an integer, got a string',
    ),
    "serial-as-bool": (_state(serial=True), "serial must be an integer, got a boolean"),
    "resources-as-list": (_state(resources=[]), "resources must be an object, got a list"),
    "serial-negative": (_state(serial=-1), "serial must be 0 or more, got -1"),
    "lineage-missing": (_state(lineage=None), "lineage must be a string, got null"),
    "attempt-zero": (
        _state(resources={ADDRESS: {**GOOD_RESOURCE, "attempt": 0}}),
        f'resources["{ADDRESS.replace(chr(34), chr(92) + chr(34))}"].attempt must be 1 or more, got 0',
    ),
    "journal-attempt-as-number": (
        _state(journal=[{"id": "1", "kind": "start", "key": "k", "address": ADDRESS, "attempt": 2.0}]),
        "journal[0].attempt must be an integer, got a number",
    ),
}


@pytest.mark.parametrize(("data", "problem"), DAMAGED_STATES.values(), ids=DAMAGED_STATES.keys())
def test_a_damaged_state_is_refused_naming_the_field(data: bytes, problem: str) -> None:
    with pytest.raises(StateError) as refused:
        State.parse(data, "s.json")
    assert str(refused.value) == f"s.json: the state is damaged: {problem}; it was left as it is"


def test_a_sound_state_reads_with_its_types() -> None:
    state = State.parse(_state(resources={ADDRESS: {**GOOD_RESOURCE, "protect": False, "attempt": 2}}), "s.json")
    assert state.resources[ADDRESS].protect is False
    assert state.resources[ADDRESS].attempt == 2
    assert State.parse(state_bytes := _state(), "s.json").to_json()["resources"] == json.loads(state_bytes)["resources"]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """The quickstart workspace without an emulator: every case stops before the network."""
    root = tmp_path / "ws"
    shutil.copytree(QUICKSTART, root)
    (root / ".reconciler").mkdir()
    return root


def _one_error(out: Any, *parts: str) -> None:
    assert out.returncode == 1, out
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, out.stderr
    assert errors[0].startswith("Error: ")
    for part in parts:
        assert part in errors[0], errors[0]


@pytest.mark.parametrize(
    "case", ["not-utf8", "journal-without-kind", "protect-as-text", "deep-json"], ids=lambda case: str(case)
)
def test_plan_apply_and_state_stop_on_a_damaged_state_and_leave_it_untouched(ws: Path, case: str) -> None:
    data, problem = DAMAGED_STATES[case]
    state_file = ws / ".reconciler" / "state.json"
    state_file.write_bytes(data)
    for command in (
        ("plan", str(ws)),
        ("apply", str(ws), "--auto-approve"),
        ("state", "list", "-w", str(ws)),
        ("status", str(ws)),
    ):
        _one_error(run_cli(*command), f"{state_file}: the state is damaged: {problem}")
        assert state_file.read_bytes() == data
    assert not (ws / ".reconciler" / "state.json.lock").exists(), "apply released its lock"


@pytest.mark.parametrize(
    "content",
    [b"garbage", b"\xff\xfe", b"[1, 2]", b'{"ID": "x", "PID": "12"}', b"", b"[" * 100_000],
    ids=["text", "not-utf8", "list", "pid-as-text", "empty", "deep"],
)
def test_a_garbage_lock_file_is_one_error_and_state_unlock_damaged_removes_it(ws: Path, content: bytes) -> None:
    lock_file = ws / ".reconciler" / "state.json.lock"
    lock_file.write_bytes(content)
    out = run_cli("apply", str(ws), "--auto-approve")
    _one_error(
        out,
        f"is locked by a damaged lock file {lock_file} (it names no run; lock id damaged)",
        f"run `reconciler state unlock -w {ws} damaged`",
    )
    assert lock_file.read_bytes() == content
    assert not (ws / ".reconciler" / "state.json").exists()
    unlocked = run_cli("state", "unlock", "-w", str(ws), "damaged")
    assert unlocked.returncode == 0, unlocked
    assert not lock_file.exists()


def test_a_live_lock_is_not_taken_for_a_damaged_one(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state.json")
    lock = backend.lock("plan")
    held = LocalBackend(tmp_path / "state.json").holder()
    assert held is not None
    assert held.id == lock.id
    assert held.damaged is None
    backend.release(lock)


def _saved_plan(path: Path) -> dict[str, Any]:
    change = Change(ADDRESS, "user_mapping", "a@contoso.onmicrosoft.com", Action.CREATE, "new", None, {"x": "y"})
    plan = Plan([change], evidence=Evidence("digest", "", 0, True, "observed"))
    planfile.save(path, plan, "79d49731-4eec-55d9-bcd4-6d55505b7f2c", "209a1d2e-6cb2-5501-a039-58b1392b7c3d")
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


DAMAGED_PLANS = {
    "refreshed-as-text": (
        lambda d: d["evidence"].update(refreshed="false"),
        "evidence.refreshed must be true or false, got a string",
    ),
    "serial-as-text": (lambda d: d["evidence"].update(state_serial="0"), "evidence.state_serial must be an integer"),
    "action-unknown": (
        lambda d: d["resource_changes"][0].update(domain_action="nuke"),
        'resource_changes[0].domain_action: unknown action "nuke"',
    ),
    "address-missing": (lambda d: d["resource_changes"][0].pop("address"), "resource_changes[0].address is missing"),
    "after-as-list": (
        lambda d: d["resource_changes"][0].update(after=[]),
        "resource_changes[0].after must be an object, got a list",
    ),
    "tenant-as-number": (
        lambda d: d["planfile"].update(source_tenant_id=7),
        "planfile.source_tenant_id must be a string, got a number",
    ),
    "changes-not-objects": (
        lambda d: d.update(resource_changes=["create"]),
        "resource_changes[0] must be an object, got a string",
    ),
}


@pytest.mark.parametrize(("damage", "problem"), DAMAGED_PLANS.values(), ids=DAMAGED_PLANS.keys())
def test_a_damaged_plan_file_names_the_field(tmp_path: Path, damage: Any, problem: str) -> None:
    path = tmp_path / "p.json"
    doc = _saved_plan(path)
    damage(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(planfile.PlanFileError) as refused:
        planfile.load(path)
    assert str(refused.value).startswith(f"{path}: the plan file is damaged: {problem}")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"planfile": ', "the plan file is damaged: not JSON (Expecting value at line 1, column 14)"),
        (b'{"a": "\xff"}', "the plan file is damaged: byte 7 is not UTF-8"),
        (b"[" * 100_000, "not a plan file written by `reconciler plan -out`"),
        (None, "the plan file is damaged: evidence.refreshed must be true or false, got a string"),
    ],
    ids=["not-json", "not-utf8", "deep", "refreshed-as-text"],
)
def test_show_and_apply_stop_on_a_damaged_plan_file(ws: Path, content: bytes | None, problem: str) -> None:
    path = ws / "p.json"
    if content is None:
        doc = _saved_plan(path)
        doc["evidence"]["refreshed"] = "false"
        content = json.dumps(doc).encode()
    path.write_bytes(content)
    for command in (("show", str(path)), ("apply", str(path))):
        _one_error(run_cli(*command), f"Error: {path}: {problem}")
    assert path.read_bytes() == content
    assert not (ws / ".reconciler" / "state.json").exists()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_plan_file_is_written_0600_even_over_a_readable_one(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("{}", encoding="utf-8")
    path.chmod(0o644)
    _saved_plan(path)
    assert _mode(path) == 0o600


def test_plan_out_export_and_state_files_are_0600(quickstart_workspace: Path, emu: Emulator) -> None:
    ws = quickstart_workspace
    saved = ws / "p.json"
    old_umask = os.umask(0o022)  # the usual umask: files would otherwise be 0644
    try:
        assert run_cli("plan", str(ws), "-out", str(saved)).returncode == 0
        assert run_cli("apply", str(saved)).returncode == 0
        out = ws / "exported"
        exported = run_cli("export", str(ws), "--out", str(out))
    finally:
        os.umask(old_umask)
    assert exported.returncode == 0, exported
    assert _mode(saved) == 0o600
    assert _mode(ws / ".reconciler" / "state.json") == 0o600
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["exported-identity-map.csv", "exported.yaml"]
    assert [_mode(f) for f in files] == [0o600, 0o600]


def test_a_state_path_that_is_not_a_regular_file_is_one_error_not_a_hang(ws: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "state.fifo"
    os.mkfifo(fifo)
    config = ws / "reconciler.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("path: .reconciler/state.json", f"path: {fifo}"), encoding="utf-8")
    for command in (("plan", str(ws)), ("apply", str(ws), "--auto-approve")):
        _one_error(run_cli(*command), f"{fifo}: the state is not a regular file; it was left as it is")
    config.write_text(text.replace("path: .reconciler/state.json", "path: /proc/self/no-such/state.json"))
    _one_error(
        run_cli("apply", str(ws), "--auto-approve"),
        "cannot create the folder of the state /proc/self/no-such/state.json",
    )
