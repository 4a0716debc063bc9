"""End to end: a saved plan never starts a second task for a source, whatever appeared since it was made.

Apply reads every source again just before its task POSTs (batched, 20 per ``$batch``); a task that
another tool started in the meantime (PowerShell, another workspace) is adopted, not joined by a second
one. Out-of-band tasks here are created the way such a tool would: a plain POST to the emulator's Graph
endpoint with the source tenant's token.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.executor import Applier
from reconciler.graph.client import TaskKey
from reconciler.graph.errors import AmbiguousWriteError, Conflict
from reconciler.graph.models import MigrationTask, TaskStatus
from reconciler.plan.model import Action, Change, Plan
from reconciler.state.journal import MemoryJournal
from reconciler.state.model import State
from tests.conftest import SITE_PARAMS, TASKS, Emulator, run_cli

GROUP_PARAMS = "#microsoft.graph.sharePointGroupMigrationTaskParameters"
ADOPTED = "adopted instead of started: a task for this source appeared after the plan was made"


def _tasks_by_source(emu: Emulator) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for task in emu.control("GET", "/tasks")["tasks"]:
        out.setdefault(task["source"].lower().rstrip("/"), []).append(task)
    return out


def _post_task(emu: Emulator, body: dict[str, Any]) -> str:
    response = emu.graph("POST", TASKS, json=body)
    assert response.status_code in (200, 201), response.text
    task_id: str = response.json()["id"]
    return task_id


def _site_task(emu: Emulator, name: str, target: str | None = None) -> dict[str, Any]:
    return {
        "parameters": {
            "@odata.type": SITE_PARAMS,
            "targetOrganizationId": emu.target["tenant_id"],
            "sourceSiteUrl": f"https://contoso.sharepoint.com/sites/{name}",
            "targetSiteUrl": target or f"https://fabrikam.sharepoint.com/sites/{name}",
        }
    }


def _group_task(emu: Emulator, nick: str) -> dict[str, Any]:
    return {
        "parameters": {
            "@odata.type": GROUP_PARAMS,
            "targetOrganizationId": emu.target["tenant_id"],
            "sourceGroupIdentity": {"mailNickname": nick},
            "targetGroupIdentity": {"mailNickname": nick},
        }
    }


def _force(emu: Emulator, task_id: str, status: str) -> None:
    emu.control("POST", f"/tasks/{task_id}/force", {"status": status})


def _state(workspace: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((workspace / ".reconciler" / "state.json").read_text())
    return state


@pytest.mark.parametrize("duplicates", ["conflict", "allow"])
def test_tasks_started_out_of_band_after_the_plan_are_adopted_not_started_again(
    quickstart_workspace: Path, emu: Emulator, tmp_path: Path, duplicates: str
) -> None:
    emu.control("PATCH", "/behaviour", {"duplicate_create": duplicates})
    emu.control("PUT", "/clock", {"speed": 0})  # statuses stay where the test puts them
    saved = tmp_path / "p.json"
    planned = run_cli("plan", str(quickstart_workspace), "-out", str(saved))
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "8 to start" in planned.stdout

    # Another tool starts five of the plan's sources: queued, running and completed ones.
    emu.map_user(f"user001@{emu.source['domain']}")
    oob = {
        "https://contoso.sharepoint.com/sites/site01": (_post_task(emu, _site_task(emu, "site01")), None),
        "https://contoso.sharepoint.com/sites/site02": (_post_task(emu, _site_task(emu, "site02")), "inProgress"),
        "https://contoso.sharepoint.com/sites/site03": (_post_task(emu, _site_task(emu, "site03")), "completed"),
        "group01": (_post_task(emu, _group_task(emu, "group01")), "completed"),
        f"user001@{emu.source['domain']}": (_post_task(emu, emu.user_task(1)), "inProgress"),
    }
    for task_id, status in oob.values():
        if status:
            _force(emu, task_id, status)

    applied = run_cli("apply", str(saved))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert applied.stdout.count(ADOPTED) == 5, applied.stdout
    for task_id, status in oob.values():
        assert f"(task {task_id}, {status or 'notStarted'})" in applied.stdout
    assert (
        "Apply complete! 13 created, 0 updated, 0 deleted, 3 started, 0 cancelled, 0 forgotten, 1 validated, "
        "5 adopted." in applied.stdout
    )
    by_source = _tasks_by_source(emu)
    assert len(by_source) == 8
    assert {source: len(tasks) for source, tasks in by_source.items() if len(tasks) != 1} == {}
    resources = _state(quickstart_workspace)["resources"]
    for source, (task_id, _status) in oob.items():
        kind = "site_migration" if source.startswith("https") else "user_migration" if "@" in source else None
        kind = kind or "group_migration"
        assert resources[f'{kind}["{source}"]']["task_id"] == task_id, "the adopted task is recorded"
    again = run_cli("plan", str(quickstart_workspace), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


def test_the_adoption_is_an_event_in_json_output(quickstart_workspace: Path, emu: Emulator, tmp_path: Path) -> None:
    saved = tmp_path / "p.json"
    assert run_cli("plan", str(quickstart_workspace), "-out", str(saved)).returncode == 0
    task_id = _post_task(emu, _site_task(emu, "site02"))
    _force(emu, task_id, "completed")  # the service would accept a second task now
    applied = run_cli("apply", str(saved), "--json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    events = [json.loads(line) for line in applied.stdout.splitlines() if line.startswith("{")]
    adopted = [e for e in events if e["type"] == "apply_complete" and e["action"] == "adopt"]
    assert len(adopted) == 1
    event = adopted[0]
    assert event["address"] == 'site_migration["https://contoso.sharepoint.com/sites/site02"]'
    assert (event["planned_action"], event["task_id"], event["status"]) == ("start", task_id, "completed")
    assert event["@message"].startswith(ADOPTED)
    summary = events[-1]
    assert summary["type"] == "change_summary"
    assert summary["done"]["adopt"] == 1
    assert summary["done"]["start"] == 7
    assert len(_tasks_by_source(emu)["https://contoso.sharepoint.com/sites/site02"]) == 1


def _apply_workspace(workspace: Path) -> None:
    first = run_cli("apply", str(workspace), "--auto-approve")
    assert first.returncode == 0, first.stdout + first.stderr


def _edit(workspace: Path, old: str, new: str) -> None:
    spec = workspace / "migrations.yaml"
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new, 1))


def test_a_restart_adopts_a_task_other_than_the_failed_one_and_starts_where_only_that_one_exists(
    quickstart_workspace: Path, emu: Emulator, tmp_path: Path
) -> None:
    emu.control("PUT", "/clock", {"speed": 0})
    _apply_workspace(quickstart_workspace)
    tasks = _tasks_by_source(emu)
    site01, site02 = (f"https://contoso.sharepoint.com/sites/{n}" for n in ("site01", "site02"))
    _force(emu, tasks[site01][0]["id"], "failed")
    _force(emu, tasks[site02][0]["id"], "failed")
    for name in ("site01", "site02"):
        _edit(
            quickstart_workspace,
            f"target_url: https://fabrikam.sharepoint.com/sites/{name}\n",
            f"target_url: https://fabrikam.sharepoint.com/sites/{name}\n    attempt: 2\n",
        )
    saved = tmp_path / "p.json"
    planned = run_cli("plan", str(quickstart_workspace), "-out", str(saved))
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "2 to start" in planned.stdout
    oob = _post_task(emu, _site_task(emu, "site01"))  # allowed: the source's only task is terminal
    _force(emu, oob, "completed")  # and a third would be accepted too

    applied = run_cli("apply", str(saved))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f'site_migration["{site01}"]: {ADOPTED} (task {oob}, completed)' in applied.stdout
    assert f'site_migration["{site02}"]: restart complete' in applied.stdout
    after = _tasks_by_source(emu)
    assert [t["id"] for t in after[site01]] == [tasks[site01][0]["id"], oob], "no third task for site01"
    assert len(after[site02]) == 2, "site02 was restarted: its failed task and the new one"
    resources = _state(quickstart_workspace)["resources"]
    assert resources[f'site_migration["{site01}"]']["task_id"] == oob
    assert resources[f'site_migration["{site01}"]']["attempt"] == 2


def test_a_replace_adopts_a_task_other_than_the_one_it_cancelled(
    quickstart_workspace: Path, emu: Emulator, tmp_path: Path
) -> None:
    emu.control("PUT", "/clock", {"speed": 0})  # the tasks stay queued, so a changed target is a replace
    _apply_workspace(quickstart_workspace)
    emu.control("PATCH", "/behaviour", {"duplicate_create": "allow"})
    site01, site02 = (f"https://contoso.sharepoint.com/sites/{n}" for n in ("site01", "site02"))
    for name in ("site01", "site02"):
        _edit(
            quickstart_workspace,
            f"target_url: https://fabrikam.sharepoint.com/sites/{name}\n",
            f"target_url: https://fabrikam.sharepoint.com/sites/{name}-new\n",
        )
    saved = tmp_path / "p.json"
    planned = run_cli("plan", str(quickstart_workspace), "-out", str(saved))
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "Plan: 0 to create, 0 to update, 0 to delete, 2 to start, 2 to cancel, 0 to forget." in planned.stdout
    before = _tasks_by_source(emu)
    oob = _post_task(emu, _site_task(emu, "site01", "https://fabrikam.sharepoint.com/sites/site01-new"))

    applied = run_cli("apply", str(saved), "--allow-destroy")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f'site_migration["{site01}"]: {ADOPTED} (task {oob}, notStarted)' in applied.stdout
    assert "1 started, 2 cancelled" in applied.stdout
    assert "1 adopted" in applied.stdout
    after = _tasks_by_source(emu)
    assert len(after[site01]) == 2, "the cancelled task and the adopted one; nothing started"
    assert len(after[site02]) == 2, "the cancelled task and its replacement"
    statuses = {t["id"]: t["status"] for t in after[site01]}
    assert statuses[before[site01][0]["id"]] == "cancelled"


def test_a_source_that_cannot_be_read_again_is_not_started(
    quickstart_workspace: Path, emu: Emulator, tmp_path: Path
) -> None:
    saved = tmp_path / "p.json"
    assert run_cli("plan", str(quickstart_workspace), "-out", str(saved)).returncode == 0
    # The re-read of site01 is refused (inside the $batch); every other source reads normally.
    rule = {"method": "GET", "path": "sourceSiteUrl='https://contoso.sharepoint.com/sites/site01'", "count": 100}
    emu.control("PUT", "/faults", {"rules": [{**rule, "action": "status", "status": 403}]})
    applied = run_cli("apply", str(saved))
    assert applied.returncode == 1
    site01 = 'site_migration["https://contoso.sharepoint.com/sites/site01"]'
    assert re.search(
        rf"Error: {re.escape(site01)}: not started: the source could not be read again just before the start "
        r"\(.*403.*\); nothing was sent, so no second task can result; run apply again",
        applied.stderr,
    ), applied.stderr
    assert "https://contoso.sharepoint.com/sites/site01" not in _tasks_by_source(emu)
    assert len(_tasks_by_source(emu)) == 7
    assert _state(quickstart_workspace)["journal"] == []
    emu.control("DELETE", "/faults")
    rerun = run_cli("apply", str(quickstart_workspace), "--auto-approve")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert {len(t) for t in _tasks_by_source(emu).values()} == {1}
    assert len(_tasks_by_source(emu)) == 8


def _sites_workspace(root: Path, emu: Emulator, count: int) -> Path:
    ws = root / "ws"
    ws.mkdir()
    quickstart = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "reconciler.yaml"
    (ws / "reconciler.yaml").write_text(quickstart.read_text())
    (ws / ".reconciler").mkdir()
    (ws / ".reconciler" / "emulator.json").write_text(json.dumps(emu.conn))
    lines = ["site_migrations:"]
    for n in range(1, count + 1):
        lines += [
            f"  - source_url: https://contoso.sharepoint.com/sites/s{n:04d}",
            f"    target_url: https://fabrikam.sharepoint.com/sites/s{n:04d}",
        ]
    (ws / "sites.yaml").write_text("\n".join(lines) + "\n")
    return ws


@pytest.mark.parametrize("starts", [7, 130])
def test_t_starts_cost_exactly_ceil_t_over_20_extra_batch_reads(emu: Emulator, tmp_path: Path, starts: int) -> None:
    sites = [{"url": f"https://contoso.sharepoint.com/sites/s{n:04d}"} for n in range(1, starts + 1)]
    emu.control("POST", "/seed", {"tenants": [{"name": "contoso", "sites": sites}]})
    ws = _sites_workspace(tmp_path, emu, starts)
    saved = tmp_path / "p.json"
    planned = run_cli("plan", str(ws), "-out", str(saved))
    assert planned.returncode == 0, planned.stdout + planned.stderr
    emu.control("DELETE", "/counters")
    applied = run_cli("apply", str(saved))  # a saved plan: no refresh, so every $batch is a pre-start read
    assert applied.returncode == 0, applied.stdout + applied.stderr
    counters = emu.control("GET", "/counters")
    batches = sum(counters.get("batch", {}).values())
    assert batches == math.ceil(starts / 20)
    assert sum(counters["tasks.getBySourceSiteUrl"].values()) == starts, "each source read once, inside a batch"
    assert sum(counters["tasks.create"].values()) == starts


# -- the retry paths, in process: a stand-in for the Graph client answers exactly what each case needs ----


class _Graph:
    """Answers the applier's task calls from ``tasks`` (source key -> newest task) and ``post``."""

    def __init__(self, tasks: dict[str, MigrationTask], post: Exception | None = None) -> None:
        self.tasks = tasks
        self.post = post
        self.posts = 0
        self.reads = 0

    async def find_tasks(self, keys: Any) -> AsyncIterator[tuple[TaskKey, MigrationTask | None]]:
        for key in keys:
            self.reads += 1
            yield key, self.tasks.get(key.value)

    async def find_task(self, key: TaskKey) -> MigrationTask | None:
        self.reads += 1
        return self.tasks.get(key.value)

    async def create_task(self, parameters: Any) -> MigrationTask:
        self.posts += 1
        if self.post is not None:
            raise self.post
        return MigrationTask(id="new-task", status=TaskStatus.NOT_STARTED)


class _Backend:
    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []

    def write(self, state: State) -> None:
        self.saved.append(json.loads(json.dumps(state.to_json())))


SITE = "https://contoso.sharepoint.com/sites/site01"
SITE_ADDRESS = f'site_migration["{SITE}"]'


def _change(action: Action, task_id: str | None = None) -> Change:
    after = {"target": "https://fabrikam.sharepoint.com/sites/site01", "target_organization_id": "t"}
    return Change(SITE_ADDRESS, "site_migration", SITE, action, "test", after=after, task_id=task_id)


def _applier(graph: _Graph, state: State | None = None) -> tuple[Applier, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    applier = Applier(
        graph,  # type: ignore[arg-type]
        _Backend(),  # type: ignore[arg-type]
        state or State("lineage"),
        emit=events.append,
        journal=MemoryJournal(),
    )
    return applier, events


def test_a_409_on_the_post_adopts_the_task_that_appeared_after_the_re_read() -> None:
    graph = _Graph({})

    async def run() -> Applier:
        applier, _ = _applier(graph)
        graph_tasks = graph.tasks

        async def create_task(parameters: Any) -> MigrationTask:  # another tool wins the race
            graph_tasks[SITE] = MigrationTask(id="other", status=TaskStatus.IN_PROGRESS)
            raise Conflict("A migration task other already exists", method="POST", path="/tasks", status=409)

        graph.create_task = create_task  # type: ignore[method-assign]
        await applier.apply(Plan(changes=[_change(Action.START)]))
        return applier

    applier = asyncio.run(run())
    assert applier.report.ok, applier.report.failures
    assert applier.report.count("adopted") == 1
    assert applier.report.count("started") == 0
    assert applier.state.resources[SITE_ADDRESS].task_id == "other"
    assert applier.state.journal == []


def test_an_ambiguous_restart_post_is_not_mistaken_for_the_failed_task_the_plan_saw() -> None:
    failed = MigrationTask(id="old", status=TaskStatus.FAILED)
    graph = _Graph({SITE: failed}, post=AmbiguousWriteError("connection dropped", method="POST", path="/tasks"))
    applier, _ = _applier(graph)
    report = asyncio.run(applier.apply(Plan(changes=[_change(Action.RESTART, task_id="old")])))
    assert graph.posts == 1
    assert [f.address for f in report.failures] == [SITE_ADDRESS]
    assert "the next run resolves it" in report.failures[0].message
    assert SITE_ADDRESS not in applier.state.resources or applier.state.resources[SITE_ADDRESS].task_id != "old"
    (intent,) = applier.state.journal
    assert intent["previous_task_id"] == "old"

    # The next run: the lookup still answers only the failed task, so the POST never reached the service.
    later, _ = _applier(_Graph({SITE: failed}), applier.state)
    notes = asyncio.run(later.resolve_intents())
    assert notes == [f"{SITE_ADDRESS}: an interrupted start never reached the service"]
    assert later.state.journal == []


def test_an_interrupted_restart_that_did_reach_the_service_is_recorded() -> None:
    state = State("lineage")
    state.journal.append(
        {
            "id": "i",
            "kind": "site_migration",
            "key": SITE,
            "address": SITE_ADDRESS,
            "attempt": 2,
            "after": {},
            "previous_task_id": "old",
        }
    )
    applier, _ = _applier(_Graph({SITE: MigrationTask(id="new", status=TaskStatus.NOT_STARTED)}), state)
    notes = asyncio.run(applier.resolve_intents())
    assert notes == [f"{SITE_ADDRESS}: an interrupted start did reach the service: task new recorded"]
    assert applier.state.resources[SITE_ADDRESS].task_id == "new"
