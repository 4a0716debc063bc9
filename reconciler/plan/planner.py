"""The planner: a pure function from (desired, observed, state) to a Plan.

No I/O, no Graph, no CLI. Mappings are compared on the fields the spec declares (principal names,
ids and nicknames case-insensitively); tasks follow the migration lifecycle: a started task is
immutable, a not-started one with new parameters is replaced, a failed or cancelled one is
restarted only when the spec raises ``attempt``, and removing a migration from the spec only stops
tracking it. Values changed outside the tool (observed differs from what state last applied) are
reported as drift, apart from changes to the spec.

Two rules protect moves in flight. A spec edit the service cannot carry out (a started task is
immutable; only a queued one can be cancelled) is listed as an impossible edit with its location and
the fix, never passed over as "No changes". And an identity mapping that migrations may still use is
not deleted while any of them is queued or in progress: the deletion is held (a ``wait`` that says
why) until a plan sees them finished, unless the plan is made with ``override_mapping_holds``. Starts
wait, too, while their wave's gate is shut or ``max_in_flight`` is reached (``waves``).

Selection is in ``selection``, the values compared in ``projections``; this module holds the
decisions, one small function per situation: an address the spec no longer declares, an object that
does not exist, one that exists but this workspace did not make (foreign), and one it owns, by status.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from reconciler.gcpause import gc_paused
from reconciler.kinds import BY_NAME, KIND_ORDER, TASK_KINDS
from reconciler.observed import Observed, ObservedGroupMapping, ObservedTask, ObservedUserMapping
from reconciler.plan import unmanaged
from reconciler.plan.explain import explain
from reconciler.plan.model import (
    ONLY_PREFIX,
    ORDER,
    Action,
    Change,
    Drift,
    EditedAttribute,
    Evidence,
    ImpossibleEdit,
    Plan,
    PlanDiagnostic,
)
from reconciler.plan.projections import PlanContext as PlanContext
from reconciler.plan.projections import (
    differing,
    group_mapping_values,
    migration_values,
    observed_group_values,
    observed_task_values,
    observed_user_values,
    user_mapping_values,
    values_digest,
)
from reconciler.plan.selection import Selection as Selection
from reconciler.plan.waves import hold_starts
from reconciler.spec.desired import (
    GROUP_MAPPING,
    USER_MAPPING,
    Desired,
    GroupMapping,
    Migration,
    UserMapping,
    address,
)
from reconciler.state.model import ResourceState, State

# DeepDiff costs about half a millisecond an object: a spec edit retargeting 100,000 mappings would add a minute.
EXPLAIN_LIMIT = 2_000


@dataclass
class _Builder:
    ctx: PlanContext
    changes: list[Change] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    diagnostics: list[PlanDiagnostic] = field(default_factory=list)
    impossible: list[ImpossibleEdit] = field(default_factory=list)
    overridden_holds: int = 0
    explained: int = 0
    unexplained: int = 0

    def explain(self, kind: str, before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]] | None:
        """DeepDiff's path-level explanation, for the first ``EXPLAIN_LIMIT`` objects of a plan."""
        if self.explained >= EXPLAIN_LIMIT:
            self.unexplained += 1
            return None
        self.explained += 1
        return explain(kind, before, after)

    def change(self, addr: str, kind: str, key: str, action: Action, reason: str, **kw: Any) -> None:
        self.changes.append(Change(addr, kind, key, action, reason, **kw))

    def error(self, addr: str | None, summary: str, detail: str = "") -> None:
        self.diagnostics.append(PlanDiagnostic("error", summary, detail, addr))

    def warning(self, addr: str | None, summary: str, detail: str = "") -> None:
        self.diagnostics.append(PlanDiagnostic("warning", summary, detail, addr))


def plan(
    desired: Desired,
    observed: Observed,
    state: State,
    ctx: PlanContext,
    selection: Selection | None = None,
) -> Plan:
    with gc_paused():
        return _plan(desired, observed, state, ctx, selection)


def _plan(
    desired: Desired,
    observed: Observed,
    state: State,
    ctx: PlanContext,
    selection: Selection | None,
) -> Plan:
    select = selection or Selection()
    b = _Builder(ctx)
    managed_by_kind: dict[str, dict[str, ResourceState]] = {k: {} for k in KIND_ORDER}
    for resource in state.resources.values():
        if resource.kind in managed_by_kind:
            managed_by_kind[resource.kind][resource.key] = resource

    def keys(kind: str, wanted: Iterable[str]) -> list[str]:
        managed = managed_by_kind[kind]
        every = set(wanted).union(managed) if managed else wanted
        if select.everything:  # no address to build and match for each of 120,000 keys
            return sorted(every)
        return sorted(k for k in every if select(address(kind, k)))

    # Tasks first: whether a mapping deletion is held depends on what this plan starts.
    for kind in TASK_KINDS:
        wanted = desired.migrations(kind)
        for key in keys(kind, wanted):
            seen = observed.tasks.get((TASK_KINDS[kind], key))
            _task(b, kind, key, wanted.get(key), seen, managed_by_kind[kind].get(key), observed)
    # Before the mapping holds: a start that waits for its wave's gate or for capacity starts nothing.
    b.changes = hold_starts(b.changes, desired, observed, b.ctx)
    flight = InFlight.of(observed, b.changes)
    mapping_kinds: tuple[tuple[str, Mapping[str, Any], Mapping[str, Any]], ...] = (
        (USER_MAPPING, desired.user_mappings, observed.user_mappings),
        (GROUP_MAPPING, desired.group_mappings, observed.group_mappings),
    )
    for kind, wanted_mappings, seen_mappings in mapping_kinds:
        for key in keys(kind, wanted_mappings):
            managed = managed_by_kind[kind].get(key)
            _mapping(b, kind, key, wanted_mappings.get(key), seen_mappings.get(key), managed, observed, flight)
    if observed.listing is not None:  # the tenants answer collection reads: unmanaged objects are known
        b.diagnostics.extend(unmanaged.conflicts(desired, observed.listing, state, select))
    return _finish(b, desired, observed, state, flight)


def _finish(b: _Builder, desired: Desired, observed: Observed, state: State, flight: InFlight) -> Plan:
    if b.overridden_holds:
        b.warning(
            None,
            f"Mapping holds overridden: {plural(b.overridden_holds, 'mapping deletion')} planned while "
            f"{flight.phrase()}",
            "The plan was made with --override-mapping-holds. Moves still queued or running may lose the owners "
            "and permissions these mappings carry; apply only if that was reviewed.",
        )
    if b.unexplained:
        b.warning(
            None,
            f"{plural(b.unexplained, 'drifted or updated object')} shown without a path-level explanation",
            f"Explanations are made for the first {EXPLAIN_LIMIT:,} objects of a plan; the attributes of the others "
            "are shown as usual. Plan with --target to explain a part.",
        )
    b.changes.sort(key=lambda c: (ORDER[c.action], KIND_ORDER[c.kind], c.wave or "", c.key))
    b.drift.sort(key=lambda d: (KIND_ORDER[d.kind], d.key))
    b.diagnostics.sort(key=lambda d: (d.severity != "error", d.address or "", d.summary))
    b.impossible.sort(key=lambda e: (KIND_ORDER[e.kind], e.key))
    ctx = b.ctx
    # Digests on demand: the text plan shows neither, and the spec's is a sorted JSON line per item.
    evidence = Evidence(
        desired.digest, state.lineage, state.serial, ctx.refreshed, functools.partial(_observed_digest, observed)
    )
    options = {"override_mapping_holds": True} if ctx.override_mapping_holds else {}
    if ctx.only:
        # A limited plan (plan --only start): the other changes are left for a full plan; waits stay, to say why.
        b.changes = [c for c in b.changes if not c.changing or c.action.value in ctx.only]
        options |= {ONLY_PREFIX + name: True for name in sorted(ctx.only)}
    return Plan(b.changes, b.drift, b.diagnostics, evidence, b.impossible, options)


ACTIVE = frozenset({"notStarted", "inProgress"})
STARTING = frozenset({Action.START, Action.RESTART, Action.REPLACE})
TARGET_FIELDS = frozenset({"target_upn", "target_email", "target_group_id", "target_mail_nickname"})


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass(frozen=True)
class InFlight:
    """Migrations that may still use identity mappings: tasks refresh saw queued or in progress, and
    those this plan starts (they are queued once apply has run)."""

    running: frozenset[tuple[str, str]]  # (task kind, key)
    starting: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, observed: Observed, changes: Iterable[Change]) -> InFlight:
        running = frozenset(k for k, task in observed.tasks.items() if task.status in ACTIVE)
        starting = frozenset((TASK_KINDS[c.kind], c.key) for c in changes if c.action in STARTING)
        return cls(running, starting - running)

    @property
    def count(self) -> int:
        return len(self.running) + len(self.starting)

    def phrase(self) -> str:
        verb = "is" if self.count == 1 else "are"
        started = f" ({len(self.starting)} started by this plan)" if self.starting else ""
        return f"{plural(self.count, 'migration')} {verb} queued or in progress{started}"

    def own(self, kind: str, key: str) -> str | None:
        """How this source's own migration stands, if it is not finished (only users: a group mapping's
        key is an object id, which no migration names)."""
        if kind != USER_MAPPING:
            return None
        if ("user", key) in self.starting:
            return "started by this plan"
        if ("user", key) in self.running:
            return "queued or in progress"
        return None


# -- mappings -------------------------------------------------------------------------------------


def _mapping(
    b: _Builder,
    kind: str,
    key: str,
    want: UserMapping | GroupMapping | None,
    seen: ObservedUserMapping | ObservedGroupMapping | None,
    managed: ResourceState | None,
    observed: Observed,
    flight: InFlight,
) -> None:
    addr = address(kind, key)
    if observed.errors and (kind, key) in observed.errors:
        b.error(addr, "Could not read the live object; nothing is planned for it", observed.errors[(kind, key)])
        return
    seen_values: dict[str, Any] | None = None
    if seen is None:
        pass  # not in the tenant (and each of 100,000 new mappings of a first plan skips the type checks)
    elif isinstance(seen, ObservedUserMapping):
        seen_values = observed_user_values(seen)
    elif isinstance(seen, ObservedGroupMapping):
        seen_values = observed_group_values(seen)
    if managed is not None and managed.last_applied and observed.refreshed:
        _drift(b, kind, key, addr, managed.last_applied, seen_values)
    if want is None:
        if managed is not None:
            _mapping_removed(b, kind, key, managed, seen_values, flight)
        return
    declared = user_mapping_values(want, b.ctx) if isinstance(want, UserMapping) else group_mapping_values(want, b.ctx)
    if seen_values is None:
        reason = "not in the target tenant"
        if managed is not None:
            reason = "this workspace created it, but it is gone from the target tenant"
        b.change(addr, kind, key, Action.CREATE, reason, after=declared)
        return
    diff = differing(declared, seen_values)
    before = {name: seen_values.get(name) for name in declared}
    if diff:
        _mapping_update(b, kind, key, managed, declared, before, diff, flight)
    elif managed is None:
        reason = "already exists as specified; recording it in state"
        b.change(addr, kind, key, Action.ADOPT, reason, before=before, after=declared)
    else:
        b.change(addr, kind, key, Action.NO_OP, "matches the spec", before=before, after=declared)


def _mapping_removed(
    b: _Builder, kind: str, key: str, managed: ResourceState, seen: dict[str, Any] | None, flight: InFlight
) -> None:
    """The spec no longer declares a mapping this workspace manages: delete it (or hold that), or forget it."""
    addr = address(kind, key)
    if managed.protect:
        b.error(
            addr,
            "Protected: refusing to delete a mapping that was removed from the spec",
            "Put it back, or set protect: false and plan again, or stop managing it with "
            f"`reconciler state rm '{addr}'`.",
        )
    elif seen is None:
        reason = "removed from the spec and already gone from the tenant"
        b.change(addr, kind, key, Action.FORGET, reason, before=managed.last_applied or None)
    else:
        _delete_mapping(b, kind, key, _declared_view(managed.last_applied or seen, seen), flight)


def _mapping_update(
    b: _Builder,
    kind: str,
    key: str,
    managed: ResourceState | None,
    declared: dict[str, Any],
    before: dict[str, Any],
    diff: list[str],
    flight: InFlight,
) -> None:
    addr = address(kind, key)
    if (
        managed is not None
        and managed.last_applied
        and all(managed.last_applied.get(n) == declared.get(n) for n in diff)
    ):
        reason = f"changed outside reconciler ({', '.join(diff)}); restoring the spec's value"
    elif managed is None:
        reason = f"exists but differs from the spec ({', '.join(diff)})"
    else:
        reason = f"{', '.join(diff)} changed in the spec"
    retargeted = sorted(TARGET_FIELDS.intersection(diff))
    if retargeted and flight.count:
        b.warning(
            addr,
            f"Retargeting a mapping while {flight.phrase()}",
            f"{', '.join(retargeted)} changes from {_shown(before, retargeted)} to {_shown(declared, retargeted)}. "
            "The service reads the identity map during every move: content moved before this apply keeps the "
            "old target's owners and permissions, content moved after it gets the new one's. Check the "
            "permissions of the moves in flight once they finish.",
        )
    b.change(
        addr,
        kind,
        key,
        Action.UPDATE,
        reason,
        before=before,
        after=declared,
        explanation=b.explain(kind, before, declared),
    )


def _shown(values: dict[str, Any], names: list[str]) -> str:
    return ", ".join(json.dumps(values.get(n)) for n in names)


def _delete_mapping(b: _Builder, kind: str, key: str, before: dict[str, Any], flight: InFlight) -> None:
    """Delete, or hold the deletion while migrations that may use the mapping are queued or running."""
    addr = address(kind, key)
    reason = "removed from the spec; this workspace manages it"
    if not flight.count:
        b.change(addr, kind, key, Action.DELETE, reason, before=before)
        return
    own = flight.own(kind, key)
    why = flight.phrase() + " and may use this mapping"
    if own is not None:
        why += f", this user's own OneDrive migration among them ({own})"
    if b.ctx.override_mapping_holds:
        b.overridden_holds += 1
        b.change(addr, kind, key, Action.DELETE, f"{reason}; hold overridden: {why}", before=before)
        return
    b.change(
        addr,
        kind,
        key,
        Action.WAIT,
        f"held: {why}; the first plan after they finish deletes it",
        before=before,
        held=True,
    )


def _declared_view(values: dict[str, Any], seen: dict[str, Any]) -> dict[str, Any]:
    return {name: seen.get(name) for name in values}


def _drift(b: _Builder, kind: str, key: str, addr: str, last: dict[str, Any], seen: dict[str, Any] | None) -> None:
    if seen is None:
        b.drift.append(Drift(addr, kind, key, last, None, "deleted outside reconciler"))
        return
    changed = [name for name, value in last.items() if seen.get(name) != value and seen.get(name) is not None]
    if changed:
        b.drift.append(
            Drift(
                addr,
                kind,
                key,
                {n: last[n] for n in changed},
                {n: seen.get(n) for n in changed},
                f"{', '.join(changed)} changed outside reconciler",
                b.explain(kind, last, seen),  # every member, not only those state recorded
            )
        )


# -- migrations -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Case:
    """One declared migration being decided: where changes and warnings go, and what every change carries."""

    b: _Builder
    kind: str
    key: str
    addr: str
    want: Migration
    declared: dict[str, Any]
    common: dict[str, Any]  # status, task id, wave

    def change(self, action: Action, reason: str, **kw: Any) -> None:
        self.b.change(self.addr, self.kind, self.key, action, reason, **kw, **self.common)

    def warning(self, summary: str, detail: str = "") -> None:
        self.b.warning(self.addr, summary, detail)


def _task(
    b: _Builder,
    kind: str,
    key: str,
    want: Migration | None,
    seen: ObservedTask | None,
    managed: ResourceState | None,
    observed: Observed,
) -> None:
    addr = address(kind, key)
    if (kind, key) in observed.errors:
        b.error(addr, "Could not read the live task; nothing is planned for it", observed.errors[(kind, key)])
        return
    status = seen.status if seen else None
    task_id = seen.id if seen else (managed.task_id if managed else None)
    common: dict[str, Any] = {"status": status, "task_id": task_id}
    if want is None:
        if managed is not None:
            _task_removed(b, kind, key, managed, common)
        return
    common["wave"] = want.wave
    case = _Case(b, kind, key, addr, want, migration_values(want, b.ctx), common)
    if seen is None:
        _task_absent(case, managed)
    elif managed is not None and managed.task_id is not None and seen.id == managed.task_id:
        _task_owned(case, seen, managed)
    else:
        _task_foreign(case, seen)


def _task_removed(b: _Builder, kind: str, key: str, managed: ResourceState, common: dict[str, Any]) -> None:
    addr = address(kind, key)
    if managed.protect:
        b.error(
            addr,
            "Protected: refusing to stop tracking a migration that was removed from the spec",
            f"Put it back, or set protect: false first, or run `reconciler state rm '{addr}'`.",
        )
        return
    reason = "removed from the spec: stop tracking it (the migration itself is not cancelled)"
    b.change(addr, kind, key, Action.FORGET, reason, **common)


def _task_absent(case: _Case, managed: ResourceState | None) -> None:
    """No task exists for the source: start it (or only validate it), unless there is a reason not to."""
    want, declared = case.want, case.declared
    if want.cancelled:
        case.change(Action.NO_OP, "cancel requested, but no task exists for this source", after=declared)
    elif managed is not None and managed.task_id:
        case.warning(
            "The task this workspace started is no longer returned by the service",
            f"Task {managed.task_id}. Nothing is started again; run `reconciler state rm '{case.addr}'` "
            "to start it afresh.",
        )
        case.change(Action.NO_OP, "task no longer visible", after=declared)
    elif want.validate_only:
        if managed is not None and managed.validated == values_digest(declared):
            case.change(Action.NO_OP, "validated already with these parameters", after=declared)
        else:
            reason = "validate_only: the service checks the move; nothing is started"
            case.change(Action.VALIDATE, reason, after=declared)
    else:
        case.change(Action.START, "no migration task exists for this source", after=declared)


def _task_foreign(case: _Case, seen: ObservedTask) -> None:
    """A task exists that this workspace did not start: adopt it (or cancel it if asked and still queued)."""
    before = observed_task_values(seen)
    diff = differing(case.declared, before)
    if case.want.cancelled and seen.status == "notStarted":
        case.change(Action.CANCEL, "cancel requested; the existing task has not started", before=before)
        return
    case.change(
        Action.ADOPT,
        f"a task already exists for this source ({seen.status}); adopting it instead of starting another",
        before=before,
        after=case.declared,
    )
    if seen.status == "notStarted" and diff and not case.want.validate_only:
        case.warning(
            f"The existing task differs from the spec ({', '.join(diff)})",
            "It has not started: once adopted, the next plan replaces it (cancel, then start with the spec's "
            "values). Restore the live values in the spec to keep it as it is.",
        )
    else:
        _check_edit(case, seen, before, diff, attempt=case.want.attempt)
    if seen.status in ("failed", "cancelled"):
        case.warning(
            f"The existing task is {seen.status}" + (f": {seen.error}" if seen.error else ""),
            "Raise attempt in the spec to start it again.",
        )


def _task_owned(case: _Case, seen: ObservedTask, managed: ResourceState) -> None:
    """The task this workspace started: by what the spec asks, then by its status."""
    before = observed_task_values(seen)
    diff = differing(case.declared, before)
    if _check_edit(case, seen, before, diff, attempt=managed.attempt):
        # Nothing can be carried out for it; show how it stands.
        action = Action.WAIT if seen.status in ACTIVE else Action.NO_OP
        case.change(action, _STANDING.get(seen.status, seen.status), before=before)
    elif case.want.cancelled:
        if seen.status == "notStarted":
            case.change(Action.CANCEL, "cancel requested and the task has not started", before=before)
        else:
            case.change(Action.NO_OP, f"already {seen.status}; nothing to cancel", before=before)
    elif seen.status == "notStarted":
        if diff:
            reason = f"{', '.join(diff)} changed while not started: cancel, then start with the new values"
            case.change(Action.REPLACE, reason, before=before, after=case.declared)
        else:
            case.change(Action.WAIT, "scheduled, not started yet", before=before, after=case.declared)
    elif seen.status in ("failed", "cancelled"):
        _task_ended(case, seen, managed, before)
    elif seen.status == "inProgress":
        case.change(Action.WAIT, "in progress", before=before, after=case.declared)
    elif seen.status == "completed":
        case.change(Action.NO_OP, "completed", before=before, after=case.declared)
    else:
        case.warning(f"The service reports a status this tool does not know ({seen.raw_status})")
        case.change(Action.WAIT, "unknown status", before=before, after=case.declared)


def _task_ended(case: _Case, seen: ObservedTask, managed: ResourceState, before: dict[str, Any]) -> None:
    """Our task failed or was cancelled: restart it when the spec raises ``attempt``."""
    if case.want.attempt > managed.attempt:
        reason = f"attempt {case.want.attempt} requested after the task {seen.status}"
        case.change(Action.RESTART, reason, before=before, after=case.declared)
        return
    case.change(Action.NO_OP, f"{seen.status}; raise attempt to restart", before=before, after=case.declared)
    if seen.status == "failed":
        case.warning(
            "The migration failed" + (f": {seen.error}" if seen.error else ""),
            f"Raise attempt to {managed.attempt + 1} in the spec to start it again.",
        )


# -- impossible edits -----------------------------------------------------------------------------


def _location(ctx: PlanContext, item: Migration) -> str:
    where = item.range
    name = PurePath(where.filename)
    if ctx.workspace_root and name.is_relative_to(ctx.workspace_root):
        name = name.relative_to(ctx.workspace_root)
    return f"{name.as_posix()}:{where.start.line}:{where.start.column}"


_STANDING = {
    "notStarted": "scheduled, not started yet",
    "inProgress": "in progress",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}


Found = tuple[list[EditedAttribute], str, str]  # the attributes, the reason, the fix


def _check_edit(case: _Case, seen: ObservedTask, before: dict[str, Any], diff: list[str], *, attempt: int) -> bool:
    """Record an impossible edit if the spec asks what the service cannot do to this task; True if so.

    Possible, and so not recorded here: any edit of a queued task (replace), cancelling a queued task,
    and new values for a failed or cancelled task together with a raised ``attempt`` (restart)."""
    status = seen.status
    words = _STANDING.get(status, status)
    if case.want.validate_only or case.want.cancelled:
        found = _impossible_request(case.want, status, words)
    else:
        found = _impossible_values(case, status, words, before, diff, attempt)
    if found is None:
        return False
    attributes, reason, fix = found
    where = _location(case.b.ctx, case.want)
    case.b.impossible.append(
        ImpossibleEdit(case.addr, case.kind, case.key, where, status, seen.id, tuple(attributes), reason, fix)
    )
    return True


def _impossible_request(want: Migration, status: str, words: str) -> Found | None:
    """``validate_only`` or ``state: cancelled`` asked of a task that exists."""
    if want.validate_only:
        return (
            [EditedAttribute("validate_only", False, True)],
            f"validate_only is set, but a task exists for this source ({words})",
            "A validation-only check creates no task, and this source already has one. Remove validate_only "
            "(or set it to false); to check a different move, declare it as a new migration.",
        )
    if status == "inProgress":
        return (
            [EditedAttribute("state", status, "cancelled")],
            "cancel requested, but the migration is in progress",
            "The service cancels only migrations that have not started. Remove `state: cancelled` and let it finish.",
        )
    if status == "completed":
        return (
            [EditedAttribute("state", status, "cancelled")],
            "cancel requested, but the migration has completed",
            "A completed move cannot be cancelled or undone. Remove `state: cancelled`.",
        )
    return None


def _impossible_values(
    case: _Case, status: str, words: str, before: dict[str, Any], diff: list[str], attempt: int
) -> Found | None:
    """New values for a task that has started (or ended without a raised ``attempt``)."""
    if not diff or status == "notStarted" or status not in _STANDING:
        return None  # an unknown status has its own warning
    if status in ("failed", "cancelled") and case.want.attempt > attempt:
        return None  # the restart carries the new values
    spec_name = {"target": BY_NAME[case.kind].target_field or "target"}  # the spec's name of the task's target
    declared = case.declared
    attributes = [EditedAttribute(spec_name.get(n, n), before.get(n), declared.get(n)) for n in diff]
    changed = ", ".join(a.name for a in attributes)
    return attributes, f"{changed} changed in the spec, but the migration is {words}", _edit_fix(status, attempt)


def _edit_fix(status: str, attempt: int) -> str:
    if status == "inProgress":
        return (
            "A migration that has started cannot change. Restore the live value in the spec and let it finish; "
            "a move with other values is a new migration once this one has ended."
        )
    if status == "completed":
        return (
            "The move is done and cannot change. Restore the live value in the spec to record what happened; "
            "a move with other values is a new migration."
        )
    if status in ("failed", "cancelled"):
        return (
            f"Raise attempt to {attempt + 1} to start a new migration with the declared values, or restore the "
            "live value in the spec."
        )
    return "The task's status is unknown to this tool; restore the live value in the spec."


def _observed_digest(observed: Observed) -> str:
    h = hashlib.sha256()
    for key in sorted(observed.user_mappings):
        h.update(repr(observed.user_mappings[key]).encode())
    for key in sorted(observed.group_mappings):
        h.update(repr(observed.group_mappings[key]).encode())
    for task_key in sorted(observed.tasks):
        task = observed.tasks[task_key]
        # Progress (status, timestamps) is not evidence: the plan stays valid while tasks move.
        h.update(f"{task.kind}:{task.key}:{task.id}".encode())
    return h.hexdigest()
