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
why) until a plan sees them finished, unless the plan is made with ``override_mapping_holds``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath
from typing import Any

from reconciler.kinds import BY_NAME, TASK_KINDS
from reconciler.observed import Observed, ObservedGroupMapping, ObservedTask, ObservedUserMapping
from reconciler.plan.model import (
    KIND_ORDER,
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
from reconciler.spec.desired import (
    GROUP_MAPPING,
    GROUP_MIGRATION,
    SITE_MIGRATION,
    USER_MAPPING,
    USER_MIGRATION,
    Desired,
    GroupMapping,
    GroupMigration,
    Migration,
    SiteMigration,
    UserMapping,
    UserMigration,
    address,
)
from reconciler.state.model import ResourceState, State


@dataclass(frozen=True)
class PlanContext:
    """Workspace facts the planner needs besides the spec."""

    source_tenant_id: str
    target_tenant_id: str
    refreshed: bool = True
    # Delete mappings even while migrations that may use them are queued or in progress (reviewed).
    override_mapping_holds: bool = False
    # Spec locations in the plan are relative to this folder, so a plan reads the same in every checkout.
    workspace_root: str = ""


def address_glob(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` are wildcards; brackets and quotes are literal, as addresses are full of them."""
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts) + r"\Z", re.IGNORECASE)


@dataclass(frozen=True)
class Selection:
    """``--target`` / ``--exclude``: address globs. Empty targets mean everything."""

    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    _targets: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False, default=())
    _excludes: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_targets", tuple(address_glob(t) for t in self.targets))
        object.__setattr__(self, "_excludes", tuple(address_glob(e) for e in self.excludes))

    def __call__(self, addr: str) -> bool:
        if self._targets and not any(t.match(addr) for t in self._targets):
            return False
        return not any(e.match(addr) for e in self._excludes)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _lower(value: str | None) -> str | None:
    return value.lower() if value else None


# -- declared values ------------------------------------------------------------------------------


def user_mapping_values(m: UserMapping, ctx: PlanContext) -> dict[str, Any]:
    values: dict[str, Any] = {
        "target_upn": m.target_upn.lower(),
        "user_type": m.user_type.value,
        "source_organization_id": (m.source_organization_id or ctx.source_tenant_id).lower(),
    }
    if m.target_email:
        values["target_email"] = m.target_email.lower()
    return values


def group_mapping_values(m: GroupMapping, ctx: PlanContext) -> dict[str, Any]:
    return {
        "target_group_id": m.target_group_id.lower(),
        "target_mail_nickname": m.target_mail_nickname.lower(),
        "group_type": m.group_type.value,
        "source_organization_id": (m.source_organization_id or ctx.source_tenant_id).lower(),
    }


def observed_user_values(o: ObservedUserMapping) -> dict[str, Any]:
    return {
        "target_upn": o.target_upn,
        "user_type": o.user_type,
        "source_organization_id": o.source_organization_id,
        "target_email": o.target_email,
    }


def observed_group_values(o: ObservedGroupMapping) -> dict[str, Any]:
    return {
        "target_group_id": o.target_group_id,
        "target_mail_nickname": o.target_mail_nickname,
        "group_type": o.group_type,
        "source_organization_id": o.source_organization_id,
    }


def migration_values(m: Migration, ctx: PlanContext) -> dict[str, Any]:
    if isinstance(m, UserMigration):
        target = m.target_upn.lower()
    elif isinstance(m, SiteMigration):
        target = m.target_url.rstrip("/").lower()
    else:
        assert isinstance(m, GroupMigration)
        target = m.target_mail_nickname.lower()
    values: dict[str, Any] = {"target": target, "target_organization_id": ctx.target_tenant_id.lower()}
    if m.preferred_start is not None:
        values["preferred_start"] = _iso(m.preferred_start)
    if m.latest_start is not None:
        values["latest_start"] = _iso(m.latest_start)
    if m.target_data_location:
        values["target_data_location"] = m.target_data_location
    if m.target_host:
        values["target_host"] = m.target_host.rstrip("/").lower()
    if m.validate_only:
        values["validate_only"] = True
    return values


def observed_task_values(o: ObservedTask) -> dict[str, Any]:
    values: dict[str, Any] = {"target": o.target, "target_organization_id": o.target_organization_id}
    if o.preferred_start is not None:
        values["preferred_start"] = _iso(o.preferred_start)
    if o.latest_start is not None:
        values["latest_start"] = _iso(o.latest_start)
    if o.target_data_location:
        values["target_data_location"] = o.target_data_location
    if o.target_organization_host:
        values["target_host"] = o.target_organization_host
    return values


def differing(declared: dict[str, Any], observed: dict[str, Any]) -> list[str]:
    """Declared attributes the observed object does not match (absent on the service counts as unknown)."""
    out = []
    for name, value in declared.items():
        seen = observed.get(name)
        if name == "target_organization_id" and seen is None:
            continue  # a task started by host only does not echo the organization id
        if name == "validate_only":
            continue
        if seen != value:
            out.append(name)
    return out


def values_digest(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


# -- the planner ----------------------------------------------------------------------------------


@dataclass
class _Builder:
    ctx: PlanContext
    changes: list[Change] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    diagnostics: list[PlanDiagnostic] = field(default_factory=list)
    impossible: list[ImpossibleEdit] = field(default_factory=list)
    overridden_holds: int = 0

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
    select = selection or Selection()
    b = _Builder(ctx)
    managed_by_kind: dict[str, dict[str, ResourceState]] = {k: {} for k in KIND_ORDER}
    for resource in state.resources.values():
        if resource.kind in managed_by_kind:
            managed_by_kind[resource.kind][resource.key] = resource

    def keys(kind: str, wanted: Iterable[str]) -> list[str]:
        every = set(wanted) | set(managed_by_kind[kind])
        return sorted(k for k in every if select(address(kind, k)))

    migrations: dict[str, dict[str, Migration]] = {
        USER_MIGRATION: dict(desired.user_migrations),
        SITE_MIGRATION: dict(desired.site_migrations),
        GROUP_MIGRATION: dict(desired.group_migrations),
    }
    # Tasks first: whether a mapping deletion is held depends on what this plan starts.
    for kind, wanted in migrations.items():
        for key in keys(kind, wanted):
            _task(
                b,
                kind,
                key,
                wanted.get(key),
                observed.tasks.get((TASK_KINDS[kind], key)),
                managed_by_kind[kind].get(key),
                observed,
            )
    flight = InFlight.of(observed, b.changes)
    mapping_kinds: tuple[tuple[str, Mapping[str, Any], Mapping[str, Any]], ...] = (
        (USER_MAPPING, desired.user_mappings, observed.user_mappings),
        (GROUP_MAPPING, desired.group_mappings, observed.group_mappings),
    )
    for kind, wanted_mappings, seen_mappings in mapping_kinds:
        for key in keys(kind, wanted_mappings):
            _mapping(
                b,
                kind,
                key,
                wanted_mappings.get(key),
                seen_mappings.get(key),
                managed_by_kind[kind].get(key),
                observed,
                flight,
            )
    if b.overridden_holds:
        b.warning(
            None,
            f"Mapping holds overridden: {plural(b.overridden_holds, 'mapping deletion')} planned while "
            f"{flight.phrase()}",
            "The plan was made with --override-mapping-holds. Moves still queued or running may lose the owners "
            "and permissions these mappings carry; apply only if that was reviewed.",
        )
    b.changes.sort(key=lambda c: (ORDER[c.action], KIND_ORDER[c.kind], c.wave or "", c.key))
    b.drift.sort(key=lambda d: (KIND_ORDER[d.kind], d.key))
    b.diagnostics.sort(key=lambda d: (d.severity != "error", d.address or "", d.summary))
    b.impossible.sort(key=lambda e: (KIND_ORDER[e.kind], e.key))
    evidence = Evidence(desired.digest(), state.lineage, state.serial, ctx.refreshed, _observed_digest(observed))
    options = {"override_mapping_holds": True} if ctx.override_mapping_holds else {}
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
    if (kind, key) in observed.errors:
        b.error(addr, "Could not read the live object; nothing is planned for it", observed.errors[(kind, key)])
        return
    if isinstance(seen, ObservedUserMapping):
        seen_values: dict[str, Any] | None = observed_user_values(seen)
    elif isinstance(seen, ObservedGroupMapping):
        seen_values = observed_group_values(seen)
    else:
        seen_values = None
    if managed is not None and managed.last_applied and observed.refreshed:
        _drift(b, kind, key, addr, managed.last_applied, seen_values)
    if want is None:
        if managed is None:
            return
        if managed.protect:
            b.error(
                addr,
                "Protected: refusing to delete a mapping that was removed from the spec",
                "Put it back, or set protect: false and plan again, or stop managing it with "
                f"`reconciler state rm '{addr}'`.",
            )
            return
        if seen_values is None:
            b.change(
                addr,
                kind,
                key,
                Action.FORGET,
                "removed from the spec and already gone from the tenant",
                before=managed.last_applied or None,
            )
        else:
            _delete_mapping(b, kind, key, _declared_view(managed.last_applied or seen_values, seen_values), flight)
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
        b.change(addr, kind, key, Action.UPDATE, reason, before=before, after=declared)
    elif managed is None:
        b.change(
            addr,
            kind,
            key,
            Action.ADOPT,
            "already exists as specified; recording it in state",
            before=before,
            after=declared,
        )
    else:
        b.change(addr, kind, key, Action.NO_OP, "matches the spec", before=before, after=declared)


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
            )
        )


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
        if managed is None:
            return
        if managed.protect:
            b.error(
                addr,
                "Protected: refusing to stop tracking a migration that was removed from the spec",
                f"Put it back, or set protect: false first, or run `reconciler state rm '{addr}'`.",
            )
            return
        b.change(
            addr,
            kind,
            key,
            Action.FORGET,
            "removed from the spec: stop tracking it (the migration itself is not cancelled)",
            **common,
        )
        return
    common["wave"] = want.wave
    declared = migration_values(want, b.ctx)
    ours = managed is not None and managed.task_id is not None and seen is not None and seen.id == managed.task_id

    if seen is None:
        if want.cancelled:
            b.change(
                addr,
                kind,
                key,
                Action.NO_OP,
                "cancel requested, but no task exists for this source",
                after=declared,
                **common,
            )
        elif managed is not None and managed.task_id:
            b.warning(
                addr,
                "The task this workspace started is no longer returned by the service",
                f"Task {managed.task_id}. Nothing is started again; run `reconciler state rm '{addr}'` "
                "to start it afresh.",
            )
            b.change(addr, kind, key, Action.NO_OP, "task no longer visible", after=declared, **common)
        elif want.validate_only:
            if managed is not None and managed.validated == values_digest(declared):
                b.change(
                    addr, kind, key, Action.NO_OP, "validated already with these parameters", after=declared, **common
                )
            else:
                b.change(
                    addr,
                    kind,
                    key,
                    Action.VALIDATE,
                    "validate_only: the service checks the move; nothing is started",
                    after=declared,
                    **common,
                )
        else:
            b.change(
                addr, kind, key, Action.START, "no migration task exists for this source", after=declared, **common
            )
        return

    before = observed_task_values(seen)
    diff = differing(declared, before)
    if not ours:
        if want.cancelled and seen.status == "notStarted":
            b.change(
                addr,
                kind,
                key,
                Action.CANCEL,
                "cancel requested; the existing task has not started",
                before=before,
                **common,
            )
            return
        b.change(
            addr,
            kind,
            key,
            Action.ADOPT,
            f"a task already exists for this source ({seen.status}); adopting it instead of starting another",
            before=before,
            after=declared,
            **common,
        )
        if seen.status == "notStarted" and diff and not want.validate_only:
            b.warning(
                addr,
                f"The existing task differs from the spec ({', '.join(diff)})",
                "It has not started: once adopted, the next plan replaces it (cancel, then start with the spec's "
                "values). Restore the live values in the spec to keep it as it is.",
            )
        else:
            _check_edit(b, kind, key, want, seen, declared, before, diff, attempt=want.attempt)
        if seen.status in ("failed", "cancelled"):
            b.warning(
                addr,
                f"The existing task is {seen.status}" + (f": {seen.error}" if seen.error else ""),
                "Raise attempt in the spec to start it again.",
            )
        return

    assert managed is not None
    if _check_edit(b, kind, key, want, seen, declared, before, diff, attempt=managed.attempt):
        # Nothing can be carried out for it; show how it stands.
        action = Action.WAIT if seen.status in ACTIVE else Action.NO_OP
        b.change(addr, kind, key, action, _STANDING.get(seen.status, seen.status), before=before, **common)
        return
    if want.cancelled:
        if seen.status == "notStarted":
            b.change(
                addr, kind, key, Action.CANCEL, "cancel requested and the task has not started", before=before, **common
            )
        else:
            b.change(
                addr, kind, key, Action.NO_OP, f"already {seen.status}; nothing to cancel", before=before, **common
            )
        return
    if seen.status == "notStarted":
        if diff:
            b.change(
                addr,
                kind,
                key,
                Action.REPLACE,
                f"{', '.join(diff)} changed while not started: cancel, then start with the new values",
                before=before,
                after=declared,
                **common,
            )
        else:
            b.change(
                addr, kind, key, Action.WAIT, "scheduled, not started yet", before=before, after=declared, **common
            )
    elif seen.status == "inProgress":
        b.change(addr, kind, key, Action.WAIT, "in progress", before=before, after=declared, **common)
    elif seen.status in ("failed", "cancelled"):
        if want.attempt > managed.attempt:
            b.change(
                addr,
                kind,
                key,
                Action.RESTART,
                f"attempt {want.attempt} requested after the task {seen.status}",
                before=before,
                after=declared,
                **common,
            )
        else:
            b.change(
                addr,
                kind,
                key,
                Action.NO_OP,
                f"{seen.status}; raise attempt to restart",
                before=before,
                after=declared,
                **common,
            )
            if seen.status == "failed":
                b.warning(
                    addr,
                    "The migration failed" + (f": {seen.error}" if seen.error else ""),
                    f"Raise attempt to {managed.attempt + 1} in the spec to start it again.",
                )
    elif seen.status == "completed":
        b.change(addr, kind, key, Action.NO_OP, "completed", before=before, after=declared, **common)
    else:
        b.warning(addr, f"The service reports a status this tool does not know ({seen.raw_status})")
        b.change(addr, kind, key, Action.WAIT, "unknown status", before=before, after=declared, **common)


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


def _check_edit(
    b: _Builder,
    kind: str,
    key: str,
    want: Migration,
    seen: ObservedTask,
    declared: dict[str, Any],
    before: dict[str, Any],
    diff: list[str],
    *,
    attempt: int,
) -> bool:
    """Record an impossible edit if the spec asks what the service cannot do to this task; True if so.

    Possible, and so not recorded here: any edit of a queued task (replace), cancelling a queued task,
    and new values for a failed or cancelled task together with a raised ``attempt`` (restart)."""
    status = seen.status
    words = _STANDING.get(status, status)

    def record(attributes: list[EditedAttribute], reason: str, fix: str) -> bool:
        b.impossible.append(
            ImpossibleEdit(
                address(kind, key), kind, key, _location(b.ctx, want), status, seen.id, tuple(attributes), reason, fix
            )
        )
        return True

    if want.validate_only:
        return record(
            [EditedAttribute("validate_only", False, True)],
            f"validate_only is set, but a task exists for this source ({words})",
            "A validation-only check creates no task, and this source already has one. Remove validate_only "
            "(or set it to false); to check a different move, declare it as a new migration.",
        )
    if want.cancelled:
        if status == "inProgress":
            return record(
                [EditedAttribute("state", status, "cancelled")],
                "cancel requested, but the migration is in progress",
                "The service cancels only migrations that have not started. Remove `state: cancelled` and let "
                "it finish.",
            )
        if status == "completed":
            return record(
                [EditedAttribute("state", status, "cancelled")],
                "cancel requested, but the migration has completed",
                "A completed move cannot be cancelled or undone. Remove `state: cancelled`.",
            )
        return False
    if not diff or status == "notStarted" or status not in _STANDING:
        return False  # an unknown status has its own warning
    if status in ("failed", "cancelled") and want.attempt > attempt:
        return False  # the restart carries the new values
    attributes = [
        EditedAttribute(
            BY_NAME[kind].target_field or name if name == "target" else name, before.get(name), declared.get(name)
        )
        for name in diff
    ]
    changed = ", ".join(a.name for a in attributes)
    if status == "inProgress":
        fix = (
            "A migration that has started cannot change. Restore the live value in the spec and let it finish; "
            "a move with other values is a new migration once this one has ended."
        )
    elif status == "completed":
        fix = (
            "The move is done and cannot change. Restore the live value in the spec to record what happened; "
            "a move with other values is a new migration."
        )
    elif status in ("failed", "cancelled"):
        fix = (
            f"Raise attempt to {attempt + 1} to start a new migration with the declared values, or restore the "
            "live value in the spec."
        )
    else:
        fix = "The task's status is unknown to this tool; restore the live value in the spec."
    return record(attributes, f"{changed} changed in the spec, but the migration is {words}", fix)


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
