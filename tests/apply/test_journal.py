"""Apply's intent journal: intents durable before their POST, few whole-state writes, compaction after a crash.

The applier runs in process against a stand-in for the Graph client and the real local backend and
journal file; a "crash" is an exception no handler catches (nothing is saved on the way out) followed
by letting the OS lock go, as a killed process would. The end-to-end kill -9 trials are in
test_apply_cli.py and test_breaker.py.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.executor import REREAD_GROUP, Applier
from reconciler.graph.client import TaskKey
from reconciler.graph.models import MigrationTask, TaskStatus
from reconciler.operations.common import locked_state
from reconciler.plan.model import Action, Change, Plan
from reconciler.state.journal import LocalJournal
from reconciler.state.local import LocalBackend
from reconciler.state.model import ResourceState, State, StateError
from tests.conftest import intents_in, run_cli

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


class Crash(BaseException):
    """The process dies here: no handler saves anything."""


class Service:
    """The task endpoints of a stand-in Graph client; ``on_post`` runs before (``before``) or after a POST."""

    def __init__(self) -> None:
        self.tasks: dict[str, MigrationTask] = {}
        self.posts: list[str] = []
        self.crash_before: str | None = None  # the source whose POST the process dies sending
        self.crash_after: str | None = None  # the source whose answer the process dies receiving
        self.check: Any = None

    async def find_tasks(self, keys: Any) -> AsyncIterator[tuple[TaskKey, MigrationTask | None]]:
        for key in keys:
            yield key, self.tasks.get(key.value)

    async def find_task(self, key: TaskKey) -> MigrationTask | None:
        return self.tasks.get(key.value)

    async def create_task(self, parameters: Any) -> MigrationTask:
        source = parameters.source_site_url
        if self.check is not None:
            self.check(source)
        if source == self.crash_before:
            raise Crash
        self.posts.append(source)
        task = MigrationTask(id=f"task-{len(self.posts)}", status=TaskStatus.NOT_STARTED)
        self.tasks[source] = task
        await asyncio.sleep(0)
        if source == self.crash_after:
            raise Crash
        return task


class Journal(LocalJournal):
    """The local journal, noting which sources' intents each append made durable (after its fsync)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.durable: set[str] = set()

    def append(self, data: bytes) -> None:
        super().append(data)
        for line in data.splitlines():
            record = json.loads(line)
            if record["t"] == "intent":
                self.durable.add(record["intent"]["key"])


class Backend(LocalBackend):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._journal = Journal(self._journal.path)
        self.writes = 0

    def write(self, state: State) -> None:
        self.writes += 1
        super().write(state)


def _site(n: int) -> str:
    return f"https://contoso.sharepoint.com/sites/s{n:04d}"


def _plan(count: int) -> Plan:
    changes = [
        Change(
            f'site_migration["{_site(n)}"]',
            "site_migration",
            _site(n),
            Action.START,
            "test",
            after={"target": _site(n).replace("contoso", "fabrikam"), "target_organization_id": "t"},
        )
        for n in range(count)
    ]
    return Plan(changes=changes)


def _run(path: Path, service: Service, plan: Plan | None) -> tuple[Backend, Applier, list[str]]:
    """One apply run under the lock, as operations.apply drives it: compact, settle intents, apply."""
    backend = Backend(path)

    async def go() -> tuple[Applier, list[str]]:
        with locked_state(backend, "apply") as held:
            applier = Applier(service, backend, held.state, journal=backend.journal())  # type: ignore[arg-type]
            notes = await applier.resolve_intents() if held.state.journal else []
            if plan is not None:
                await applier.apply(plan)
            return applier, notes

    try:
        applier, notes = asyncio.run(go())
    except Crash:
        backend.abandon()  # the OS lets a dead process's lock go
        raise
    return backend, applier, notes


def _stored(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_a_thousand_starts_write_the_state_twice_and_each_intent_is_durable_before_its_post(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    service = Service()
    journal_path = path.with_name("state.json.journal")
    durable: set[str] = set()

    def check(source: str) -> None:
        assert source in durable, f"the POST for {source} left before its intent was durable"

    service.check = check
    backend = Backend(path)
    durable = backend.journal().durable  # type: ignore[attr-defined]
    applier = Applier(service, backend, State(), journal=backend.journal(), parallelism=10)  # type: ignore[arg-type]
    lock = backend.lock("apply")
    try:
        report = asyncio.run(applier.apply(_plan(1000)))
    finally:
        backend.release(lock)
    assert report.ok
    assert report.done["start"] == 1000
    assert len(service.posts) == 1000
    assert len(set(service.posts)) == 1000
    # The first write gives a new state its lineage (the journal's header names it); the last compacts.
    assert backend.writes == 2
    assert applier.recorder.whole_state_writes == 2
    # The intents of a re-read group of 20 share one append, so 50 groups take about 50 fsyncs, not 1,000.
    fsyncs = backend.journal().fsyncs
    assert 0 < fsyncs <= 1000 // REREAD_GROUP + 10, fsyncs
    stored = _stored(path)
    assert len(stored["resources"]) == 1000
    assert stored["journal"] == []
    assert not journal_path.exists(), "compacted into the state and removed"


@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_crash_around_a_post_is_settled_by_the_next_run_without_a_second_post(tmp_path: Path, moment: str) -> None:
    path = tmp_path / "state.json"
    service = Service()
    victim = _site(3)
    setattr(service, f"crash_{moment}", victim)
    with pytest.raises(Crash):
        _run(path, service, _plan(5))
    journal_path = path.with_name("state.json.journal")
    assert [i["key"] for i in intents_in(journal_path) if i["key"] == victim] == [victim], "its intent is durable"
    serial = _stored(path)["serial"]
    assert (victim in service.posts) == (moment == "after")

    service.crash_before = service.crash_after = None
    posts = len(service.posts)
    backend, applier, notes = _run(path, service, None)
    address = f'site_migration["{victim}"]'
    if moment == "before":
        assert f"{address}: an interrupted start never reached the service" in notes
        assert address not in applier.state.resources or not applier.state.resources[address].task_id
    else:
        recorded = service.tasks[victim].id
        assert f"{address}: an interrupted start did reach the service: task {recorded} recorded" in notes
        assert _stored(path)["resources"][address]["task_id"] == recorded
    assert len(service.posts) == posts, "settling never posts"
    stored = _stored(path)
    assert stored["journal"] == []
    assert not journal_path.exists(), "the next run compacted the journal and removed it"
    assert stored["serial"] > serial
    assert backend.writes == 2, "one write compacts the journal, one records the settled intents"

    # And the run after that starts what is left, once: one task per source in the end.
    _run(path, service, Plan(changes=[c for c in _plan(5).changes if c.address not in stored["resources"]]))
    assert sorted(service.tasks) == sorted(_site(n) for n in range(5))
    assert len(service.posts) == 5


def test_an_interrupted_run_keeps_only_the_intents_of_posts_it_took_and_the_rerun_starts_the_rest_once(
    tmp_path: Path,
) -> None:
    """Intents are made durable a re-read group ahead of their POSTs; Ctrl-C settles those never taken."""
    path = tmp_path / "state.json"
    service = Service()
    victim = _site(25)

    main: list[asyncio.Task[Any]] = []

    def interrupt(source: str) -> None:
        if source == victim:
            main[0].cancel()  # what Ctrl-C does under asyncio.run: the run's main task is cancelled

    service.check = interrupt
    backend = Backend(path)
    applier = Applier(service, backend, State(), journal=backend.journal(), parallelism=4)  # type: ignore[arg-type]

    async def go() -> None:
        main.append(asyncio.current_task())  # type: ignore[arg-type]
        await applier.apply(_plan(100))

    lock = backend.lock("apply")
    try:
        with pytest.raises(asyncio.CancelledError):
            asyncio.run(go())
    finally:
        backend.release(lock)
    stored = _stored(path)
    kept = {intent["key"] for intent in stored["journal"]}
    durable = backend.journal().durable  # type: ignore[attr-defined]
    assert len(durable) > len(service.posts) + 1, "intents were durable ahead of their POSTs"
    assert kept, "the intents of POSTs in flight stay for the next run"
    assert kept <= {*service.posts, victim}, f"intents of POSTs never taken were kept: {kept - set(service.posts)}"

    service.check = None
    _run(path, service, _plan(100))
    assert sorted(service.tasks) == sorted(_site(n) for n in range(100))
    assert len(service.posts) == len(set(service.posts)) == 100, "no source was posted twice"


def test_a_worker_cancelled_on_its_own_ends_the_run_instead_of_leaving_the_feeder_waiting(tmp_path: Path) -> None:
    """A worker task that ends cancelled (not the run) stops the starts; the feeder, its queue full, must not
    be left waiting for workers that are gone. The intents of POSTs never taken are settled."""
    path = tmp_path / "state.json"
    service = Service()
    victim = _site(3)

    def cancelled(source: str) -> None:
        if source == victim:
            raise asyncio.CancelledError  # as if something cancelled this worker's task

    service.check = cancelled
    backend = Backend(path)
    applier = Applier(service, backend, State(), journal=backend.journal(), parallelism=2)  # type: ignore[arg-type]
    lock = backend.lock("apply")
    try:
        with pytest.raises(asyncio.CancelledError):  # a hang here is ended by the suite's pytest-timeout
            asyncio.run(applier.apply(_plan(200)))
    finally:
        backend.release(lock)
    kept = {intent["key"] for intent in _stored(path)["journal"]}
    assert kept <= {*service.posts, victim}, f"intents of POSTs never taken were kept: {kept - set(service.posts)}"
    assert len(service.posts) < 200

    service.check = None
    _run(path, service, _plan(200))
    assert sorted(service.tasks) == sorted(_site(n) for n in range(200))
    assert len(service.posts) == len(set(service.posts)) == 200, "no source was posted twice"


def _journal_lines(state: State, *records: dict[str, Any]) -> bytes:
    header = {"t": "begin", "format": 1, "id": "j1", "lineage": state.lineage, "serial": state.serial}
    return b"".join(json.dumps(r).encode() + b"\n" for r in (header, *records))


def _written_state(path: Path) -> State:
    backend = LocalBackend(path)
    lock = backend.lock("test")
    try:
        state = backend.read()
        state.resources['site_migration["a"]'] = ResourceState("site_migration", "a", {"target": "b"}, "old")
        backend.write(state)
    finally:
        backend.release(lock)
    return state


INTENT = {"id": "i1", "kind": "site_migration", "key": "x", "address": 'site_migration["x"]', "after": {}}


def test_a_torn_last_line_is_ignored_and_damage_before_it_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = _written_state(path)
    journal_path = path.with_name("state.json.journal")
    resource = {"kind": "site_migration", "key": "y", "last_applied": {}, "task_id": "t9"}
    good = _journal_lines(state, {"t": "intent", "intent": INTENT}, {"t": "set", "address": "Y", "resource": resource})
    journal_path.write_bytes(good + b'{"t": "intent", "intent": {"id": "i2", "ki')  # kill -9 mid-write
    seen = LocalBackend(path).read()
    assert [i["id"] for i in seen.journal] == ["i1"], "the torn intent's POST never left: it is not there"
    assert seen.resources["Y"].task_id == "t9"
    assert seen.serial == state.serial + 1
    assert seen.pending_journal == "j1"
    assert journal_path.read_bytes().startswith(good), "reading changes nothing"

    journal_path.write_bytes(good + b"not json\n" + good[good.index(b"\n") + 1 :])
    with pytest.raises(StateError) as refused:
        LocalBackend(path).read()
    assert str(refused.value) == f"{journal_path}:4: the journal is damaged: not a JSON line; it was left as it is"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(QUICKSTART, root)
    (root / ".reconciler").mkdir()
    return root


def test_state_commands_show_what_a_crashed_run_recorded_and_state_rm_compacts_it(ws: Path) -> None:
    path = ws / ".reconciler" / "state.json"
    state = _written_state(path)
    journal_path = path.with_name("state.json.journal")
    resource = {"kind": "site_migration", "key": "y", "last_applied": {}, "task_id": "t9"}
    journal = _journal_lines(
        state,
        {"t": "intent", "intent": INTENT},
        {"t": "set", "address": 'site_migration["y"]', "resource": resource},
        {"t": "rm", "address": 'site_migration["a"]'},
    )
    journal_path.write_bytes(journal)
    before = path.read_bytes()

    listed = run_cli("state", "list", "-w", str(ws))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ['site_migration["y"]']
    shown = run_cli("state", "show", 'site_migration["y"]', "-w", str(ws))
    assert json.loads(shown.stdout)["task_id"] == "t9"
    pulled = json.loads(run_cli("state", "pull", "-w", str(ws)).stdout)
    assert pulled["serial"] == state.serial + 1
    assert [i["id"] for i in pulled["journal"]] == ["i1"], "an unsettled intent stays for apply to resolve"
    assert path.read_bytes() == before, "reading writes nothing"
    assert journal_path.read_bytes() == journal

    removed = run_cli("state", "rm", 'site_migration["y"]', "-w", str(ws))
    assert removed.returncode == 0, removed.stderr
    assert not journal_path.exists(), "a run under the lock compacts the journal first"
    stored = _stored(path)
    assert stored["resources"] == {}
    assert [i["id"] for i in stored["journal"]] == ["i1"]
    assert stored["journal_compacted"] == "j1"


def test_a_journal_left_on_another_state_is_refused_naming_both(ws: Path) -> None:
    path = ws / ".reconciler" / "state.json"
    state = _written_state(path)
    journal_path = path.with_name("state.json.journal")
    state.serial -= 1  # the journal continues an older version of the state: the state was replaced since
    journal_path.write_bytes(_journal_lines(state, {"t": "intent", "intent": INTENT}))
    for command in (("state", "list", "-w", str(ws)), ("apply", str(ws), "--auto-approve")):
        out = run_cli(*command)
        assert out.returncode == 1, out
        assert "Traceback" not in out.stderr
        (line,) = [line for line in out.stderr.splitlines() if line.strip()]
        assert line == (
            f"Error: {journal_path}: this apply journal continues another state (lineage {state.lineage}, serial "
            f"{state.serial}) than {path} (lineage {state.lineage}, serial {state.serial + 1}): the state was "
            "replaced after an apply was interrupted. Both were left as they are. Put back the state that run used "
            "and run apply again, or move the journal away (the tasks it started are adopted by source key on the "
            "next plan)"
        )
    assert journal_path.exists()
    assert not path.with_name("state.json.lock").exists()
