"""The applier: executes a plan's changes in a safe order, saving state as each piece completes.

Order: mapping creates and updates (task starts need them), cancels, starts, mapping deletes, then
the state-only changes (adopt, forget). Before every task POST an intent is written and flushed to
the state; after it the intent is replaced by the task id. A run that dies in between leaves the
intent, and the next run resolves it by looking the task up by its source key — never by posting
again. On a failure the independent remainder still runs; failures are reported with the address
and the service's message.

Task work goes in chunks of ``CHUNK``: one save stores the intents of a whole chunk before any of its
POSTs leaves, one save records its outcomes. A save rewrites the whole state (megabytes for a large
estate; a blob upload on the Azure backend), so saving per change would make a 10,000-start wave
write the state 20,000 times.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reconciler.apply import params
from reconciler.graph.client import GraphClient, MappingWrite, TaskKey
from reconciler.graph.errors import AmbiguousMalformedResponse, AmbiguousWriteError, GraphError, ServiceUnreachableError
from reconciler.graph.models import GroupIdentityMapping, MigrationTask, UserIdentityMapping
from reconciler.plan.model import Action, Change, Plan
from reconciler.plan.planner import TASK_KINDS, values_digest
from reconciler.state.backend import StateBackend
from reconciler.state.model import ResourceState, State

Emit = Callable[[dict[str, Any]], None]
CHUNK = 100  # task changes per save; also the most intents a crash can leave for the next run to resolve
# Mapping writes are idempotent upserts: one lost with a crash is found equal (adopted) by the next plan.
MAPPING_SAVE_EVERY = 500

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


@dataclass
class ApplyReport:
    done: Counter[str] = field(default_factory=Counter)  # by action value
    failures: list[Failure] = field(default_factory=list)
    # Set when the Graph client's circuit breaker opened: the run stopped sending; the rest was not attempted.
    stopped: str | None = None
    not_attempted: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures and self.stopped is None

    def stopped_line(self) -> str:
        n = self.not_attempted
        return (
            f"{self.stopped}; apply stopped: {n} change{'' if n == 1 else 's'} not attempted. The state is saved: "
            "run apply again to continue"
        )

    def count(self, word: str) -> int:
        return sum(self.done[a.value] for a in DONE_WORDS[word])

    def summary_line(self) -> str:
        parts = [f"{self.count(w)} {w}" for w in ("created", "updated", "deleted", "started", "cancelled", "forgotten")]
        extra = [f"{self.count(w)} {w}" for w in ("validated", "adopted") if self.count(w)]
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
        parallelism: int = 10,
        emit: Emit = lambda event: None,
    ) -> None:
        self.graph = graph
        self.backend = backend
        self.state = state
        self.protected = protected
        self.attempt_of = attempt_of
        self.parallelism = parallelism
        self.emit = emit
        self.report = ApplyReport()
        self.halted: ServiceUnreachableError | None = None
        self.total = 0
        self.on_finished: Callable[[int], None] = lambda n: None

    # -- state -------------------------------------------------------------------------------------

    def save(self) -> None:
        self.state.serial += 1
        self.backend.write(self.state)

    def _record(self, change: Change, **fields: Any) -> None:
        resource = self.state.resources.get(change.address) or ResourceState(change.kind, change.key)
        wanted = self.protected(change.address)
        if wanted is not None:
            resource.protect = wanted
        for name, value in fields.items():
            setattr(resource, name, value)
        self.state.resources[change.address] = resource

    def _ok(self, change: Change) -> None:
        self.report.done[change.action.value] += 1
        self.emit({"type": "apply_complete", "address": change.address, "action": change.action.value})
        self.on_finished(1)
        finished = sum(self.report.done.values()) + len(self.report.failures)
        self.emit({"type": "apply_progress", "done": finished, "total": self.total})

    def _fail(self, change: Change, error: Exception | str) -> None:
        if isinstance(error, ServiceUnreachableError):
            # Nothing reached the service: not a failure of this change, and no new work is scheduled.
            self.halted = self.halted or error
            self.on_finished(1)
            return
        message = str(error)
        self.report.failures.append(Failure(change.address, message))
        self.on_finished(1)
        self.emit(
            {"type": "apply_errored", "address": change.address, "action": change.action.value, "@message": message}
        )

    # -- intents -----------------------------------------------------------------------------------

    async def resolve_intents(self) -> list[str]:
        """Settle task POSTs a previous run may have sent: look each up by source key, never re-post."""
        notes: list[str] = []
        remaining: list[dict[str, Any]] = []
        for intent in list(self.state.journal):
            kind, key, address = intent["kind"], intent["key"], intent["address"]
            try:
                task = await self.graph.find_task(TaskKey(TASK_KINDS[kind], key))  # type: ignore[arg-type]
            except GraphError as error:
                remaining.append(intent)
                notes.append(f"{address}: could not resolve an interrupted start ({error}); it will be retried")
                continue
            if task is not None and task.id:
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
        changes = [c for c in plan.changes if c.changing]
        by = {a: [c for c in changes if c.action is a] for a in Action}
        self.total = len(changes)
        self.emit({"type": "apply_start", "changes": len(changes)})
        await self._mappings([*by[Action.CREATE], *by[Action.UPDATE]], remove=False)
        cancelled_for_replace: set[str] = set()
        for chunk in _chunks(by[Action.CANCEL] + by[Action.REPLACE]):
            if self.halted:
                break
            await self._bounded([self._cancel(c, cancelled_for_replace) for c in chunk])
            self.save()
        starts = (
            by[Action.START]
            + by[Action.RESTART]
            + [c for c in by[Action.REPLACE] if c.address in cancelled_for_replace]
        )
        for chunk in _chunks(starts):
            if self.halted:
                break
            intents = {c.address: self._intent(c) for c in chunk}
            self.state.journal.extend(intents.values())
            self.save()  # every intent of the chunk is stored before any of its POSTs leaves
            await self._bounded([self._start(c, intents[c.address]) for c in chunk])
            self.save()
        for chunk in _chunks(by[Action.VALIDATE]):
            if self.halted:
                break
            await self._bounded([self._validate(c) for c in chunk])
            self.save()
        if not self.halted:
            await self._mappings(by[Action.DELETE], remove=True)
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
            self.state.resources.pop(change.address, None)
            self._ok(change)
        # protect follows the spec for every address still in it; a removed address keeps its last flag.
        for address, resource in self.state.resources.items():
            wanted = self.protected(address)
            if wanted is not None:
                resource.protect = wanted
        if self.halted:
            self.report.stopped = str(self.halted)
            self.report.not_attempted = self.total - sum(self.report.done.values()) - len(self.report.failures)
            self.emit(
                {
                    "type": "apply_stopped",
                    "not_attempted": self.report.not_attempted,
                    "@message": self.report.stopped_line(),
                }
            )
        self.save()
        return self.report

    async def _bounded(self, jobs: list[Any]) -> None:
        gate = asyncio.Semaphore(self.parallelism)

        async def run(job: Any) -> None:
            async with gate:
                await job

        await asyncio.gather(*(run(j) for j in jobs))

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
                        self.state.resources.pop(change.address, None)
                    else:
                        self._record(change, last_applied=dict(change.after or {}))
                    self._ok(change)
                else:
                    self._fail(change, result.error or "failed")
                pending += 1
                if pending >= MAPPING_SAVE_EVERY:  # save as work completes, not only at the end
                    self.save()
                    pending = 0
            self.save()

    async def _cancel(self, change: Change, cancelled_for_replace: set[str]) -> None:
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
            cancelled_for_replace.add(change.address)
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
        }

    async def _start(self, change: Change, intent: dict[str, Any]) -> None:
        """One task POST whose intent is already stored; the caller saves the outcome with its chunk."""
        task: MigrationTask | None = None
        if self.halted:  # its intent goes: this POST is never sent
            self.state.journal = [i for i in self.state.journal if i["id"] != intent["id"]]
            return
        try:
            task = await self.graph.create_task(params.task_parameters(change))
        except AmbiguousMalformedResponse as error:
            # A 2xx that does not say what happened is no proof of a start: the next run looks it up.
            self._fail(change, f"{error} (the intent stays in the state; the next run resolves it)")
            return
        except AmbiguousWriteError as error:
            # Learn the outcome by reading, never by posting again.
            try:
                task = await self.graph.find_task(TaskKey(TASK_KINDS[change.kind], change.key))  # type: ignore[arg-type]
            except GraphError as lookup_error:
                task = None
                if isinstance(lookup_error, ServiceUnreachableError):
                    self.halted = self.halted or lookup_error
            if task is None:
                self._fail(change, f"{error} (the intent stays in the state; the next run resolves it)")
                return
        except GraphError as error:
            self.state.journal = [i for i in self.state.journal if i["id"] != intent["id"]]
            self._fail(change, error)
            return
        self.state.journal = [i for i in self.state.journal if i["id"] != intent["id"]]
        self._record(
            change,
            task_id=task.id,
            attempt=self.attempt_of(change.address),
            last_applied={**(change.after or {}), "status": task.status.value},
        )
        self._ok(change)

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


def _chunks(changes: list[Change]) -> list[list[Change]]:
    return [changes[i : i + CHUNK] for i in range(0, len(changes), CHUNK)]
