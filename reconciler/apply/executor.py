"""The applier: executes a plan's changes in a safe order, recording progress in the state's journal.

Order: mapping creates and updates (task starts need them), cancels, starts, mapping deletes, then
the state-only changes (adopt, forget). Before every task POST an intent is appended to the state's
intent journal and made durable; after it a record settles the intent with the task id. A run that
dies in between leaves the intent, and the next run resolves it by looking the task up by its source
key — never by posting again. On a failure the independent remainder still runs; failures are
reported with the address and the service's message.

Progress goes to the journal (``reconciler.apply.recorder``): small records, many intents per fsync,
compacted into the state by one whole-state write at the end of the run, so recording costs what the
changes cost, not what the state weighs. Task starts run in a sliding window: ``parallelism`` workers
each take the next source as soon as their previous POST is answered, so the Graph scheduler's
concurrency never drops to zero between groups.

Just before its POST, every source is read again (batched, 20 per ``$batch``, a group or two ahead of
the workers): a plan can be days old, and another tool may have started a task for one of its sources
since. Such a task is adopted, never joined by a second one; a source that cannot be read is not
started at all. The intents of a group's starts are then made durable together (one append, one
fsync, for up to 20 POSTs) before any of them leaves; the intents of POSTs a stopped run never sent
are settled on the way out, and those a crash leaves are resolved by the next run's lookup.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from reconciler.apply import params
from reconciler.apply.recorder import Recorder
from reconciler.graph.client import GraphClient, MappingWrite, TaskKey
from reconciler.graph.errors import (
    AmbiguousMalformedResponse,
    AmbiguousWriteError,
    Conflict,
    GraphError,
    ServiceUnreachableError,
)
from reconciler.graph.models import GroupIdentityMapping, MigrationTask, TaskStatus, UserIdentityMapping
from reconciler.kinds import TASK_KINDS
from reconciler.plan.model import Action, Change, Plan
from reconciler.plan.projections import values_digest
from reconciler.state.backend import StateBackend
from reconciler.state.journal import JournalStore
from reconciler.state.model import ResourceState, State

Emit = Callable[[dict[str, Any]], None]
REREAD_GROUP = 20  # sources per pre-start re-read: one $batch
REREAD_AHEAD = 3  # groups read ahead of the workers: enough to keep them busy, few enough to stay "just before"
# Mapping results are flushed to the journal this often; they need no fsync before anything (a mapping write
# is an idempotent upsert: one lost with a crash is found equal, and adopted, by the next plan).
MAPPING_FLUSH_EVERY = 500
# The pre-start re-read. Only the request-count benchmark turns it off, in its own process, to measure
# what it costs; nothing a user sets reaches it.
PRESTART_READ = True
ADOPTED_INSTEAD = "adopted instead of started: a task for this source appeared after the plan was made"

# Past-tense words for the summary and the events.
DONE_WORDS = {
    "created": (Action.CREATE,),
    "updated": (Action.UPDATE,),
    "deleted": (Action.DELETE,),
    "started": (Action.START, Action.RESTART, Action.REPLACE),
    "validated": (Action.VALIDATE,),
    "cancelled": (Action.CANCEL,),
    "adopted": (Action.ADOPT,),
    "forgotten": (Action.FORGET,),
}


@dataclass(frozen=True)
class Failure:
    address: str
    message: str
    location: str | None = None  # the item's file:line, when the service refused it (4xx)


@dataclass
class ApplyReport:
    done: Counter[str] = field(default_factory=Counter)  # by action value
    failures: list[Failure] = field(default_factory=list)
    # Set when the Graph client's circuit breaker opened: the run stopped sending; the rest was not attempted.
    stopped: str | None = None
    replace_cancels: int = 0  # the cancel half of replaces, done (the start half counts under "replace")
    total: int = 0  # changes of the plan being applied
    in_flight: int = 0  # task changes whose request is under way (or was, when the run was interrupted)
    held: list[str] = field(default_factory=list)  # mapping deletions that met a migration in flight

    @property
    def ok(self) -> bool:
        return not self.failures and self.stopped is None

    def stopped_line(self) -> str:
        n = self.not_attempted
        return (
            f"{self.stopped}; apply stopped: {n} change{'' if n == 1 else 's'} not attempted. The state is saved: "
            "run apply again to continue"
        )

    @property
    def finished(self) -> int:
        return sum(self.done.values()) + len(self.failures) + len(self.held)

    @property
    def not_attempted(self) -> int:
        return max(0, self.total - self.finished - self.in_flight)

    def count(self, word: str) -> int:
        extra = self.replace_cancels if word == "cancelled" else 0
        return extra + sum(self.done[a.value] for a in DONE_WORDS[word])

    def interrupted_line(self) -> str:
        return (
            f"Interrupted: {sum(self.done.values())} done, {self.not_attempted} not attempted, state saved; "
            "run apply again"
        )

    def summary_line(self) -> str:
        parts = [f"{self.count(w)} {w}" for w in ("created", "updated", "deleted", "started", "cancelled", "forgotten")]
        extra = [f"{self.count(w)} {w}" for w in ("validated", "adopted") if self.count(w)]
        if self.held:
            extra.append(f"{len(self.held)} held")
        head = "Apply complete!" if self.ok else f"Apply finished with {len(self.failures)} failed."
        if self.stopped:
            head = f"Apply stopped: {len(self.failures)} failed, {self.not_attempted} not attempted."
        return f"{head} {', '.join(parts + extra)}."


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Applier:
    def __init__(
        self,
        graph: GraphClient,
        backend: StateBackend,
        state: State,
        *,
        protected: Callable[[str], bool | None] = lambda address: None,
        attempt_of: Callable[[str], int] = lambda address: 1,
        location_of: Callable[[str], str | None] = lambda address: None,
        parallelism: int = 10,
        emit: Emit = lambda event: None,
        report: ApplyReport | None = None,
        journal: JournalStore | None = None,
    ) -> None:
        self.graph = graph
        self.backend = backend
        self.state = state
        self.protected = protected
        self.attempt_of = attempt_of
        self.location_of = location_of
        self.parallelism = parallelism
        self.emit = emit
        self.report = report if report is not None else ApplyReport()
        self.halted: ServiceUnreachableError | None = None
        self.on_finished: Callable[[int], None] = lambda n: None
        self.recorder = Recorder(backend, state, journal if journal is not None else backend.journal())

    # -- state -------------------------------------------------------------------------------------

    def save(self) -> None:
        """A whole-state write, compacting the journal: a handful per run."""
        self.recorder.save()

    def _record(self, change: Change, **fields: Any) -> None:
        resource = self.state.resources.get(change.address) or ResourceState(change.kind, change.key)
        wanted = self.protected(change.address)
        if wanted is not None:
            resource.protect = wanted
        for name, value in fields.items():
            setattr(resource, name, value)
        self.state.resources[change.address] = resource
        self.recorder.record({"t": "set", "address": change.address, "resource": resource.to_json()})

    def _drop(self, address: str) -> None:
        self.state.resources.pop(address, None)
        self.recorder.record({"t": "rm", "address": address})

    def _settle(self, intent: dict[str, Any]) -> None:
        """The intent's outcome is recorded (or its POST was never sent): it leaves the journal."""
        self.state.journal = [i for i in self.state.journal if i["id"] != intent["id"]]
        self.recorder.record({"t": "settle", "id": intent["id"]})

    def _ok(self, change: Change, **extra: Any) -> None:
        action = extra.pop("action", change.action.value)
        self.report.done[action] += 1
        self.emit({"type": "apply_complete", "address": change.address, "action": action, **extra})
        self.on_finished(1)
        self.emit({"type": "apply_progress", "done": self.report.finished, "total": self.report.total})

    def _fail(self, change: Change, error: Exception | str) -> None:
        if isinstance(error, ServiceUnreachableError):
            # Nothing reached the service: not a failure of this change, and no new work is scheduled.
            self.halted = self.halted or error
            self.on_finished(1)
            return
        message = str(error)
        location = self.location_of(change.address) if _refused(error) else None
        self.report.failures.append(Failure(change.address, message, location))
        self.on_finished(1)
        event = {"type": "apply_errored", "address": change.address, "action": change.action.value, "@message": message}
        if location:
            event["location"] = location
        self.emit(event)

    # -- intents -----------------------------------------------------------------------------------

    async def resolve_intents(self) -> list[str]:
        """Settle task POSTs a previous run may have sent: look each up by source key, never re-post."""
        notes: list[str] = []
        remaining: list[dict[str, Any]] = []
        for intent in list(self.state.journal):
            kind, key, address = intent["kind"], intent["key"], intent["address"]
            try:
                task = await self.graph.find_task(TaskKey(TASK_KINDS[kind], key))
            except GraphError as error:
                remaining.append(intent)
                notes.append(f"{address}: could not resolve an interrupted start ({error}); it will be retried")
                continue
            if task is not None and task.id and not _same_id(task.id, intent.get("previous_task_id")):
                resource = self.state.resources.get(address) or ResourceState(kind, key)
                resource.task_id = task.id
                resource.attempt = int(intent.get("attempt", resource.attempt))
                resource.last_applied = {**intent.get("after", {}), "status": task.status.value}
                self.state.resources[address] = resource
                notes.append(f"{address}: an interrupted start did reach the service: task {task.id} recorded")
            else:
                notes.append(f"{address}: an interrupted start never reached the service")
        if notes:
            self.state.journal = remaining
            self.save()
        return notes

    # -- the run -----------------------------------------------------------------------------------

    async def apply(self, plan: Plan) -> ApplyReport:
        try:
            return await self._apply(plan)
        except asyncio.CancelledError:
            # Ctrl-C: keep what is done and the intents of POSTs in flight; the next run settles those.
            self.save()
            raise

    async def _apply(self, plan: Plan) -> ApplyReport:
        changes = [c for c in plan.changes if c.changing]
        by = {a: [c for c in changes if c.action is a] for a in Action}
        self.report.total = len(changes)
        self.emit({"type": "apply_start", "changes": len(changes)})
        await self._mappings([*by[Action.CREATE], *by[Action.UPDATE]], remove=False)
        cancelled_for_replace: set[str] = set()
        await self._each(by[Action.CANCEL] + by[Action.REPLACE], partial(self._cancel, cancelled=cancelled_for_replace))
        starts = (
            by[Action.START]
            + by[Action.RESTART]
            + [c for c in by[Action.REPLACE] if c.address in cancelled_for_replace]
        )
        await self._starts(starts)
        await self._each(by[Action.VALIDATE], self._validate)
        if not self.halted:
            deletes = await self._free_to_delete(by[Action.DELETE], plan.options.get("override_mapping_holds", False))
            await self._mappings(deletes, remove=True)
        for change in by[Action.ADOPT]:
            if change.kind in TASK_KINDS:
                self._record(
                    change,
                    task_id=change.task_id,
                    attempt=self.attempt_of(change.address),
                    last_applied={**(change.after or {}), "status": change.status},
                )
            else:
                self._record(change, last_applied=dict(change.after or {}))
            self._ok(change)
        for change in by[Action.FORGET]:
            self._drop(change.address)
            self._ok(change)
        # protect follows the spec for every address still in it; a removed address keeps its last flag.
        for address, resource in self.state.resources.items():
            wanted = self.protected(address)
            if wanted is not None:
                resource.protect = wanted
        if self.halted:
            self.report.stopped = str(self.halted)
            self.emit(
                {
                    "type": "apply_stopped",
                    "not_attempted": self.report.not_attempted,
                    "@message": self.report.stopped_line(),
                }
            )
        self.save()
        return self.report

    async def _workers(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``parallelism`` copies of ``work`` (each takes items until there are none); the first error
        stops the others. No coroutine is made before its turn, so an interrupted run leaves none unawaited."""
        tasks = [asyncio.ensure_future(work()) for _ in range(self.parallelism)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _each(self, changes: list[Change], job: Callable[[Change], Awaitable[None]]) -> None:
        """``job`` for every change, at most ``parallelism`` at once, a new one as soon as one finishes."""
        todo = iter(changes)

        async def work() -> None:
            for change in todo:
                if self.halted:
                    return
                self.report.in_flight += 1
                await job(change)
                # Not in a finally: a job cut off by Ctrl-C stays counted as begun.
                self.report.in_flight -= 1

        if changes:
            await self._workers(work)

    async def _starts(self, starts: list[Change]) -> None:
        """The task POSTs in a sliding window. A feeder re-reads the sources 20 at a time a few groups ahead
        and makes the intents of a group's starts durable in one append (one fsync for up to 20 POSTs);
        each worker takes the next start whose intent is durable and POSTs it."""
        if not starts:
            return
        ready: asyncio.Queue[tuple[Change, dict[str, Any]] | None] = asyncio.Queue(maxsize=REREAD_AHEAD * REREAD_GROUP)
        # Intents recorded whose POST no worker has taken yet: provably unsent, settled if the run stops.
        unsent: dict[str, dict[str, Any]] = {}

        async def feed() -> None:
            for i in range(0, len(starts), REREAD_GROUP):
                if self.halted:
                    break
                group = [(change, self._intent(change)) for change in await self._reread(starts[i : i + REREAD_GROUP])]
                for _change, intent in group:
                    self.state.journal.append(intent)
                    unsent[intent["id"]] = intent
                    self.recorder.record({"t": "intent", "intent": intent})
                await self.recorder.flush()  # the group's intents are durable before any of its POSTs leaves
                for item in group:
                    await ready.put(item)
            for _ in range(self.parallelism):
                await ready.put(None)

        async def work() -> None:
            while (item := await ready.get()) is not None:
                change, intent = item
                unsent.pop(intent["id"], None)
                if self.halted:
                    self._settle(intent)  # drained unsent: counted as not attempted
                    continue
                self.report.in_flight += 1
                await self._start(change, intent)
                self.report.in_flight -= 1

        feeder = asyncio.ensure_future(feed())
        workers = asyncio.ensure_future(self._workers(work))
        try:
            # The first to end says how the run goes. The feeder ends first when all is well (it hands out the
            # workers' stop markers last); the workers ending first means one failed or was cancelled, and the
            # feeder, its queue full, would wait for them forever: it is cancelled below, in either case.
            done, _ = await asyncio.wait({feeder, workers}, return_when=asyncio.FIRST_COMPLETED)
            if feeder in done:
                feeder.result()  # its error, if any (a cancelled feeder raises CancelledError)
                await workers
            else:
                workers.result()  # their error, or CancelledError if a worker was cancelled
                raise RuntimeError("the start workers stopped before every start was handed to them")
        finally:
            for task in (feeder, workers):
                task.cancel()
            await asyncio.gather(feeder, workers, return_exceptions=True)
            for intent in list(unsent.values()):  # the run stopped before these POSTs were taken: none was sent
                self._settle(intent)

    async def _reread(self, chunk: list[Change]) -> list[Change]:
        """Read each source of the group again, batched, just before its POSTs; answer the changes still to
        start. A task that appeared since the plan was made is adopted; a source that cannot be read is
        failed unsent (the next run retries): a start is never sent blind."""
        if not PRESTART_READ or not chunk:
            return chunk
        by_key = {TaskKey(TASK_KINDS[c.kind], c.key): c for c in chunk}
        found: dict[str, MigrationTask | GraphError | None] = {}
        async for key, result in self.graph.find_tasks(by_key):
            found[by_key[key].address] = result
        to_start: list[Change] = []
        for change in chunk:
            result = found.get(change.address)
            if isinstance(result, MigrationTask) and not result.id:
                result = GraphError("the service answered the source's task without an id")
            if isinstance(result, ServiceUnreachableError):
                self._fail(change, result)  # stops the run: nothing more is sent
            elif isinstance(result, GraphError):
                self._fail(
                    change,
                    f"not started: the source could not be read again just before the start ({result}); nothing "
                    "was sent, so no second task can result; run apply again",
                )
            elif result is not None and not _same_id(result.id, _previous_task(change)):
                self._adopt_instead(change, result)
            else:
                to_start.append(change)
        return to_start

    async def _free_to_delete(self, deletes: list[Change], override: bool) -> list[Change]:
        """The mapping deletions that may go ahead now. The plan held every deletion while a migration
        that may use the mapping was queued or in progress, but a saved plan can be days old: just before
        the deletes, every task this workspace manages and each deleted user's own OneDrive task are read
        again (batched). If one is queued or in progress now, the deletions wait for a later plan; if one
        cannot be read, they are not sent (never blind)."""
        if not deletes or override or not PRESTART_READ:
            return deletes
        keys = {
            TaskKey(TASK_KINDS[r.kind], r.key)
            for r in self.state.resources.values()
            if r.kind in TASK_KINDS and r.task_id
        }
        keys.update(TaskKey("user", c.key) for c in deletes if c.kind == "user_mapping")
        running = 0
        unreadable: GraphError | None = None
        async for _key, result in self.graph.find_tasks(sorted(keys, key=lambda k: (k.kind, k.value))):
            if isinstance(result, GraphError):
                unreadable = unreadable or result
            elif result is not None and result.status in (TaskStatus.NOT_STARTED, TaskStatus.IN_PROGRESS):
                running += 1
        if unreadable is not None:
            for change in deletes:
                self._fail(
                    change,
                    unreadable
                    if isinstance(unreadable, ServiceUnreachableError)
                    else f"not deleted: the migrations that may use this mapping could not be read again just before "
                    f"the delete ({unreadable}); nothing was sent; run apply again",
                )
            return []
        if not running:
            return deletes
        verb = "is" if running == 1 else "are"
        why = f"{running} migration{'' if running == 1 else 's'} {verb} queued or in progress now"
        for change in deletes:
            self.report.held.append(change.address)
            self.on_finished(1)
            self.emit(
                {
                    "type": "apply_held",
                    "address": change.address,
                    "action": change.action.value,
                    "@message": f"deletion held: {why} (read just before the delete); the first plan after they "
                    "finish deletes it",
                }
            )
        return []

    def _adopt_instead(self, change: Change, task: MigrationTask) -> None:
        """Record a task someone else started for this source as ours, as a plan's adopt would."""
        self._record(
            change,
            task_id=task.id,
            attempt=self.attempt_of(change.address),
            last_applied={**(change.after or {}), "status": task.status.value},
        )
        self._ok(
            change,
            action=Action.ADOPT.value,
            planned_action=change.action.value,
            task_id=task.id,
            status=task.status.value,
            **{"@message": f"{ADOPTED_INSTEAD} (task {task.id}, {task.status.value})"},
        )

    async def _mappings(self, changes: list[Change], *, remove: bool) -> None:
        users = [c for c in changes if c.kind == "user_mapping"]
        groups = [c for c in changes if c.kind == "group_mapping"]
        for batch, kind in ((users, "user"), (groups, "group")):
            if not batch or self.halted:
                continue
            by_key = {c.key: c for c in batch}
            if kind == "user":
                user_writes = [
                    MappingWrite[UserIdentityMapping](c.key, None if remove else params.user_mapping(c)) for c in batch
                ]
                results = self.graph.write_user_mappings(user_writes)
            else:
                group_writes = [
                    MappingWrite[GroupIdentityMapping](c.key, None if remove else params.group_mapping(c))
                    for c in batch
                ]
                results = self.graph.write_group_mappings(group_writes)  # type: ignore[assignment]
            pending = 0
            async for result in results:
                change = by_key[result.key.lower()]
                if result.ok:
                    if remove:
                        self._drop(change.address)
                    else:
                        self._record(change, last_applied=dict(change.after or {}))
                    self._ok(change)
                else:
                    self._fail(change, result.error or "failed")
                pending += 1
                if pending >= MAPPING_FLUSH_EVERY:  # recorded as work completes, not only at the end
                    await self.recorder.flush()
                    pending = 0
            await self.recorder.flush()

    async def _cancel(self, change: Change, cancelled: set[str]) -> None:
        if self.halted:
            return
        if not change.task_id:
            self._fail(change, "no task id to cancel")
            return
        try:
            await self.graph.cancel_task(change.task_id)
        except GraphError as error:
            self._fail(change, error)
            return
        if change.action is Action.REPLACE:
            cancelled.add(change.address)
            self.report.replace_cancels += 1
            return  # the start half follows
        self._record(change, task_id=change.task_id, last_applied={**(change.before or {}), "status": "cancelled"})
        self._ok(change)

    def _intent(self, change: Change) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "operation": "start",
            "address": change.address,
            "kind": change.kind,
            "key": change.key,
            "attempt": self.attempt_of(change.address),
            "after": change.after or {},
            "at": _now(),
            # A restart or replace: the task the plan saw. Found by a later lookup, it means this POST did
            # not reach the service (the lookup answers the newest task of the source).
            "previous_task_id": _previous_task(change),
        }

    async def _start(self, change: Change, intent: dict[str, Any]) -> None:
        """One task POST whose intent is durable; its outcome is recorded in the journal."""
        task: MigrationTask | None = None
        if self.halted:  # its intent goes: this POST is never sent
            self._settle(intent)
            return
        try:
            task = await self.graph.create_task(params.task_parameters(change))
        except AmbiguousMalformedResponse as error:
            # A 2xx that does not say what happened is no proof of a start: the next run looks it up.
            self._fail(change, f"{error} (the intent stays in the state; the next run resolves it)")
            return
        except AmbiguousWriteError as error:
            # Learn the outcome by reading, never by posting again.
            task = await self._lookup(change)
            if task is None:
                self._fail(change, f"{error} (the intent stays in the state; the next run resolves it)")
                return
        except Conflict as error:
            # The service refused a second task: one appeared between the re-read and this POST.
            other = await self._lookup(change)
            self._settle(intent)
            if other is None:
                self._fail(change, error)
            else:
                self._adopt_instead(change, other)
            return
        except GraphError as error:
            self._settle(intent)
            self._fail(change, error)
            return
        self._record(
            change,
            task_id=task.id,
            attempt=self.attempt_of(change.address),
            last_applied={**(change.after or {}), "status": task.status.value},
        )
        self._settle(intent)
        self._ok(change)

    async def _lookup(self, change: Change) -> MigrationTask | None:
        """The source's newest task unless it is the one the plan saw; None if none or unreadable."""
        try:
            task = await self.graph.find_task(TaskKey(TASK_KINDS[change.kind], change.key))
        except GraphError as error:
            if isinstance(error, ServiceUnreachableError):
                self.halted = self.halted or error
            return None
        if task is None or not task.id or _same_id(task.id, _previous_task(change)):
            return None
        return task

    async def _validate(self, change: Change) -> None:
        if self.halted:
            return
        try:
            await self.graph.validate_task(params.task_parameters(change))
        except GraphError as error:
            self._fail(change, error)
            return
        self._record(change, validated=values_digest(change.after or {}))
        self._ok(change)


def _previous_task(change: Change) -> str | None:
    """For a restart or replace, the task the plan saw (failed, cancelled, or cancelled by this run)."""
    return change.task_id if change.action in (Action.RESTART, Action.REPLACE) else None


def _same_id(a: str | None, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower()


def _refused(error: Exception | str) -> bool:
    """A 4xx answer other than throttling: the service refused the request as it was written."""
    status = getattr(error, "status", None)
    return isinstance(status, int) and 400 <= status < 500 and status not in (401, 408, 429)
