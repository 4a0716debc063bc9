"""Answers are checked: a 2xx whose body is not what the API documents never counts as success.

Driven end to end through the real CLI with the emulator's ``body`` fault rules: after a task POST
the answer is ambiguous (the intent stays, the next run looks the task up; never "start complete");
a read without its required members is a per-object read error, never adopted or recorded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.graph.models import REQUIRED, MigrationTask, UserIdentityMapping, missing_member
from reconciler.graph.transport import is_json
from tests.conftest import USER_PARAMS, Emulator, run_cli

TASKS_PATH = "crossOrganizationMigrationTasks$"
HOSTILE: dict[str, dict[str, Any]] = {
    "malformed_json": {"body": "malformed_json"},
    "html": {"body": "html"},
    "empty_object": {"body": "empty_object"},
    "no_id": {"body": "drop_members", "members": ["id"]},
    "wrong_types": {"body": "wrong_types"},
}
# What each hostile body is called in the error line.
PROBLEM = {
    "malformed_json": "the answer is not valid JSON",
    "html": "the answer is text/html; charset=utf-8, not JSON",
    "empty_object": "'id' is missing",
    "no_id": "'id' is missing",
    "wrong_types": "'id' is int, not a string",
}

# Reads go in a $batch, where a non-JSON body travels as a string with its content type.
READ_PROBLEM = {
    **PROBLEM,
    "malformed_json": "the answer inside the $batch is not valid JSON",
    "html": "the answer inside the $batch is text/html; charset=utf-8, not JSON",
}


def _state(ws: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((ws / ".reconciler" / "state.json").read_text())
    return state


def _sources(emu: Emulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in emu.control("GET", "/tasks")["tasks"]:
        counts[task["source"]] = counts.get(task["source"], 0) + 1
    return counts


@pytest.fixture
def workspace(quickstart_workspace: Path, emu: Emulator) -> Path:
    emu.control("PUT", "/engine", {"queue_delay_seconds": 0, "duration_seconds": 0})
    return quickstart_workspace


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_answer_to_a_task_post_is_never_a_start(name: str, workspace: Path, emu: Emulator) -> None:
    upn = f"user001@{emu.source['domain']}"
    address = f'user_migration["{upn}"]'
    rule = {"method": "POST", "path": TASKS_PATH, "action": "body", "count": 1, **HOSTILE[name]}
    # Only the first real start of the run gets the hostile body: the validate-only pre-flight runs last.
    emu.control("PUT", "/faults", {"rules": [rule]})
    mapping = f'user_mapping["{upn}"]'
    out = run_cli("apply", str(workspace), "--auto-approve", "--target", address, "--target", mapping)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert f"{address}: start complete" not in out.stdout
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, out.stderr
    pattern = (
        rf"^Error: {re.escape(address)}: POST {re.escape(emu.conn['graph_base_url'])}/solutions/sharePoint/"
        r"migrations/crossOrganizationMigrationTasks( -> 200)?: .*"
        + re.escape(PROBLEM[name])
        + r".* \(request-id [0-9a-f-]{36}\)"
    )
    assert re.match(pattern, errors[0]), errors[0]
    assert "the intent stays in the state; the next run resolves it" in errors[0]
    assert emu.control("GET", "/counters")["malformed"] == {"200": 1}
    state = _state(workspace)
    assert state["resources"].get(address, {}).get("task_id") is None, "no start was recorded"
    assert [i["address"] for i in state["journal"]] == [address], "the intent is kept"
    # The next run looks the task up by its source key and records it; it never posts again.
    emu.control("DELETE", "/faults")
    rerun = run_cli("apply", str(workspace), "--auto-approve", "--target", address)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{address}: an interrupted start did reach the service" in rerun.stdout
    assert _sources(emu) == {upn.lower(): 1}
    task_id = _state(workspace)["resources"][address]["task_id"]
    assert task_id == emu.control("GET", "/tasks")["tasks"][0]["id"]


def _start_out_of_band(emu: Emulator, n: int) -> str:
    emu.map_user(f"user{n:03d}@{emu.source['domain']}")
    r = emu.graph("POST", "/solutions/sharePoint/migrations/crossOrganizationMigrationTasks", json=emu.user_task(n))
    assert r.status_code == 200, r.text
    task_id: str = r.json()["id"]
    return task_id


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_answer_to_a_task_read_is_never_adopted(name: str, workspace: Path, emu: Emulator) -> None:
    upn = f"user001@{emu.source['domain']}"
    address = f'user_migration["{upn}"]'
    _start_out_of_band(emu, 1)
    good = run_cli("plan", str(workspace), "--format", "json", "--target", address)
    assert good.returncode == 0, good.stderr
    actions = [c["domain_action"] for c in json.loads(good.stdout)["resource_changes"] if c["address"] == address]
    assert actions == ["adopt"], "the control: without the fault it is adopted"
    rule = {"method": "GET", "path": "crossOrganizationMigrationTasks", "action": "body", "count": 1000}
    emu.control("PUT", "/faults", {"rules": [{**rule, **HOSTILE[name]}]})
    planned = run_cli("plan", str(workspace), "--format", "json", "--target", address)
    assert planned.returncode == 1, planned.stdout + planned.stderr
    document = json.loads(planned.stdout)
    assert [c for c in document["resource_changes"] if c["address"] == address] == [], "nothing is planned for it"
    diagnostics = [d for d in document["diagnostics"] if d.get("address") == address]
    assert diagnostics, document["diagnostics"]
    assert diagnostics[0]["summary"] == "Could not read the live task; nothing is planned for it"
    assert READ_PROBLEM[name] in diagnostics[0]["detail"]
    assert re.search(r"\(request-id [0-9a-f-]{36}\)$", diagnostics[0]["detail"])
    applied = run_cli("apply", str(workspace), "--auto-approve", "--target", address)
    assert applied.returncode == 1
    assert "Traceback" not in applied.stderr
    assert not (workspace / ".reconciler" / "state.json").exists() or address not in _state(workspace)["resources"]
    assert _sources(emu) == {upn.lower(): 1}, "nothing was started either"


def test_a_mapping_read_without_its_key_is_a_read_error(workspace: Path, emu: Emulator) -> None:
    upn = f"user001@{emu.source['domain']}"
    address = f'user_mapping["{upn}"]'
    emu.map_user(upn)
    rule = {
        "method": "GET",
        "path": "crossOrganizationUserMappings",
        "action": "body",
        "body": "drop_members",
        "members": ["sourceUserIdentity"],
        "count": 1000,
    }
    emu.control("PUT", "/faults", {"rules": [rule]})
    planned = run_cli("plan", str(workspace), "--format", "json", "--target", address)
    assert planned.returncode == 1, planned.stderr
    diagnostics = [d for d in json.loads(planned.stdout)["diagnostics"] if d.get("address") == address]
    assert diagnostics[0]["summary"] == "Could not read the live object; nothing is planned for it"
    assert "'sourceUserIdentity.userPrincipalName' is missing" in diagnostics[0]["detail"]
    assert re.search(r"\(request-id [0-9a-f-]{36}\)", diagnostics[0]["detail"])


def test_required_members_and_content_types() -> None:
    task = {"id": "t1", "status": "queued"}
    assert missing_member(task, REQUIRED[MigrationTask]) is None
    assert missing_member({"status": "completed"}, REQUIRED[MigrationTask]) == "'id' is missing"
    assert missing_member({"id": "", "status": "x"}, REQUIRED[MigrationTask]) == "'id' is missing"
    assert missing_member({"id": "t", "status": 3}, REQUIRED[MigrationTask]) == "'status' is int, not a string"
    assert missing_member([], REQUIRED[MigrationTask]) == "the body is list, not a JSON object"
    assert missing_member(None, REQUIRED[MigrationTask]) == "the body is empty, not a JSON object"
    mapping = {"sourceUserIdentity": {"userPrincipalName": "a@b"}}
    assert missing_member(mapping, REQUIRED[UserIdentityMapping]) is None
    assert is_json("application/json;odata.metadata=minimal;charset=utf-8")
    assert is_json("application/problem+json")
    assert not is_json("text/html; charset=utf-8")
    assert not is_json(None)
    assert USER_PARAMS.startswith("#microsoft.graph.")
