"""The plan: ordered changes with reasons, drift, diagnostics and the evidence it was computed from.

``Plan.to_json`` is the one serializer. The JSON document (``format_version``, ``resource_changes``,
``resource_drift``, ``impossible_edits``, ``diagnostics``) is what ``-out`` saves and what every
renderer reads, so text, Markdown and JSON cannot disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.kinds import KIND_ORDER as KIND_ORDER

# 1.1 added held changes, impossible_edits and options. A saved 1.0 plan is refused (plan again): it
# was made without the holds on mapping deletions.
FORMAT_VERSION = "1.1"


class Action(StrEnum):
    CREATE = "create"  # mapping
    UPDATE = "update"  # mapping
    DELETE = "delete"  # mapping
    START = "start"  # task POST
    VALIDATE = "validate"  # task POST with validateOnly: nothing is started
    CANCEL = "cancel"  # task cancel (only while notStarted)
    REPLACE = "replace"  # cancel, then start (parameters changed while notStarted)
    RESTART = "restart"  # start again after failed/cancelled, because the spec asks (attempt)
    ADOPT = "adopt"  # exists already (PowerShell, another run): record it, change nothing
    FORGET = "forget"  # stop tracking; no API call
    WAIT = "wait"  # in flight; nothing to do
    NO_OP = "no-op"

    # str's own hash, in C: Enum's is a Python method, called on each of the million lookups of a large plan's
    # actions in dicts and sets. A member equals its value, so hashing as it is also keeps hash and == agreeing.
    __hash__ = str.__hash__


# Terraform-compatible ``actions`` arrays, for tools that read Terraform's plan JSON.
TERRAFORM_ACTIONS: dict[Action, list[str]] = {
    Action.CREATE: ["create"],
    Action.UPDATE: ["update"],
    Action.DELETE: ["delete"],
    Action.START: ["create"],
    Action.VALIDATE: ["read"],
    Action.CANCEL: ["delete"],
    Action.REPLACE: ["delete", "create"],
    Action.RESTART: ["create"],
    Action.ADOPT: ["no-op"],
    Action.FORGET: ["forget"],
    Action.WAIT: ["no-op"],
    Action.NO_OP: ["no-op"],
}
# Actions that change something (in the tenants or in state); the others are shown but not counted.
CHANGING = frozenset(
    {
        Action.CREATE,
        Action.UPDATE,
        Action.DELETE,
        Action.START,
        Action.VALIDATE,
        Action.CANCEL,
        Action.REPLACE,
        Action.RESTART,
        Action.ADOPT,
        Action.FORGET,
    }
)
IRREVERSIBLE = frozenset({Action.START, Action.REPLACE, Action.RESTART})
DESTRUCTIVE = frozenset({Action.DELETE, Action.CANCEL, Action.REPLACE})
# The order apply works in: mapping writes first (task starts need them), cancels before mapping
# deletes they may reference, forgets last.
ORDER = {
    Action.CREATE: 0,
    Action.UPDATE: 0,
    Action.CANCEL: 1,
    Action.REPLACE: 2,
    Action.START: 2,
    Action.RESTART: 2,
    Action.VALIDATE: 2,
    Action.DELETE: 3,
    Action.ADOPT: 4,
    Action.FORGET: 4,
    Action.WAIT: 5,
    Action.NO_OP: 5,
}


# Why a start waits (``Change.waiting``): its wave's gate is shut, or max_in_flight is reached.
WAITING = ("gate", "capacity")
# The actions ``plan --only`` may keep: those that change something.
ONLY_PREFIX = "only_"


# Not frozen: a frozen __init__ sets each field through object.__setattr__ (one per change, 120,000 in a large plan).
# Nothing assigns to it; it hashes and compares as it did.
@dataclass(slots=True, unsafe_hash=True)
class Change:
    address: str
    kind: str
    key: str
    action: Action
    reason: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    wave: str | None = None
    status: str | None = None  # a task's status as observed
    task_id: str | None = None
    held: bool = False  # a mapping deletion that waits until the migrations that may use it finish
    waiting: str | None = None  # a start that waits: "gate" (its wave's gate is shut) or "capacity" (max_in_flight)
    # An update's members that apply changes, at Graph's paths (``reconciler.plan.explain``); None otherwise.
    explanation: list[dict[str, Any]] | None = None

    @property
    def changing(self) -> bool:
        return self.action in CHANGING

    def changed_attributes(self) -> list[str]:
        """Attributes whose value differs between before and after (all of after when creating)."""
        before, after = self.before or {}, self.after or {}
        return [k for k in after if before.get(k) != after.get(k)] + [k for k in before if k not in after]

    def to_json(self) -> dict[str, Any]:
        doc = {
            "address": self.address,
            "kind": self.kind,
            "key": self.key,
            "actions": TERRAFORM_ACTIONS[self.action],
            "domain_action": self.action.value,
            "reason": self.reason,
            "before": self.before,
            "after": self.after,
            "wave": self.wave,
            "status": self.status,
            "task_id": self.task_id,
            "irreversible": self.action in IRREVERSIBLE,
            "destructive": self.action in DESTRUCTIVE,
            "held": self.held,
            **({"explanation": self.explanation} if self.explanation is not None else {}),
        }
        if self.waiting:
            # Only when set: plans of workspaces without gates or a full queue read as they always have.
            doc["waiting"] = self.waiting
        return doc

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        return cls(
            address=data["address"],
            kind=data["kind"],
            key=data["key"],
            action=Action(data["domain_action"]),
            reason=data["reason"],
            before=data.get("before"),
            after=data.get("after"),
            wave=data.get("wave"),
            status=data.get("status"),
            task_id=data.get("task_id"),
            held=data.get("held") is True,
            waiting=data["waiting"] if data.get("waiting") in WAITING else None,
            explanation=data.get("explanation"),
        )


@dataclass(frozen=True)
class EditedAttribute:
    name: str  # as the spec spells it (target_url, preferred_start, state, validate_only)
    live: Any  # what the service holds
    declared: Any  # what the spec now says

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "live": self.live, "declared": self.declared}


@dataclass(frozen=True)
class ImpossibleEdit:
    """A spec change the service cannot carry out (a started task is immutable; only a queued one
    can be cancelled). Nothing is planned for it, and the plan says so instead of "No changes"."""

    address: str
    kind: str
    key: str
    location: str | None  # file:line:col of the item in the spec
    status: str | None  # the task's status as observed
    task_id: str | None
    attributes: tuple[EditedAttribute, ...]
    reason: str
    fix: str

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "key": self.key,
            "location": self.location,
            "status": self.status,
            "task_id": self.task_id,
            "attributes": [a.to_json() for a in self.attributes],
            "reason": self.reason,
            "fix": self.fix,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImpossibleEdit:
        return cls(
            address=data["address"],
            kind=data["kind"],
            key=data["key"],
            location=data.get("location"),
            status=data.get("status"),
            task_id=data.get("task_id"),
            attributes=tuple(EditedAttribute(a["name"], a.get("live"), a.get("declared")) for a in data["attributes"]),
            reason=data["reason"],
            fix=data["fix"],
        )


@dataclass(frozen=True)
class Drift:
    """Values changed outside this tool: state's last applied value against what Graph shows now."""

    address: str
    kind: str
    key: str
    before: dict[str, Any]  # last applied
    after: dict[str, Any] | None  # observed now; None when the object is gone
    reason: str
    # Every member that differs between the last applied and the live object, at Graph's paths, declared in
    # the spec or not (``reconciler.plan.explain``); None when the object is gone.
    explanation: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "key": self.key,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            **({"explanation": self.explanation} if self.explanation is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Drift:
        return cls(
            data["address"],
            data["kind"],
            data["key"],
            data["before"],
            data.get("after"),
            data["reason"],
            data.get("explanation"),
        )


@dataclass(frozen=True)
class PlanDiagnostic:
    severity: str  # error | warning
    summary: str
    detail: str = ""
    address: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "summary": self.summary,
            "detail": self.detail,
            "address": self.address,
            "range": None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlanDiagnostic:
        return cls(data["severity"], data["summary"], data.get("detail", ""), data.get("address"))


class Evidence:
    """What the plan was computed from, so ``apply PLANFILE`` can refuse a stale plan.

    The two digests may be given as functions: each is computed the first time it is read, so a plan that
    is only printed as text (which shows neither) does not hash 100,000 items. A plan file or JSON output
    reads them, and gets the same bytes as if they had been computed at once (planning does not change
    the desired or observed values it hashes)."""

    __slots__ = ("_observed_digest", "_spec_digest", "refreshed", "state_lineage", "state_serial")

    def __init__(
        self,
        spec_digest: str | Callable[[], str],
        state_lineage: str,
        state_serial: int,
        refreshed: bool,
        observed_digest: str | Callable[[], str],
    ) -> None:
        self._spec_digest = spec_digest
        self.state_lineage = state_lineage
        self.state_serial = state_serial
        self.refreshed = refreshed
        self._observed_digest = observed_digest

    @property
    def spec_digest(self) -> str:
        if not isinstance(self._spec_digest, str):
            self._spec_digest = self._spec_digest()
        return self._spec_digest

    @property
    def observed_digest(self) -> str:
        if not isinstance(self._observed_digest, str):
            self._observed_digest = self._observed_digest()
        return self._observed_digest

    def _key(self) -> tuple[str, str, int, bool, str]:
        return (self.spec_digest, self.state_lineage, self.state_serial, self.refreshed, self.observed_digest)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Evidence) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        digests = (self._spec_digest, self._observed_digest)
        spec, observed = (v if isinstance(v, str) else "<not computed>" for v in digests)
        return f"Evidence({spec!r}, {self.state_lineage!r}, {self.state_serial!r}, {self.refreshed!r}, {observed!r})"


@dataclass
class Plan:
    changes: list[Change]
    drift: list[Drift] = field(default_factory=list)
    diagnostics: list[PlanDiagnostic] = field(default_factory=list)
    evidence: Evidence | None = None
    impossible: list[ImpossibleEdit] = field(default_factory=list)
    # How the plan was made, where that changes what it does (e.g. override_mapping_holds).
    options: dict[str, bool] = field(default_factory=dict)

    @property
    def errored(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    @property
    def has_changes(self) -> bool:
        return any(c.changing for c in self.changes)

    @property
    def held(self) -> list[Change]:
        return [c for c in self.changes if c.held]

    @property
    def waiting(self) -> list[Change]:
        return [c for c in self.changes if c.waiting]

    @property
    def only(self) -> list[str]:
        """The actions ``plan --only`` kept (empty: every action); the others were left out of this plan."""
        return [k.removeprefix(ONLY_PREFIX) for k, v in self.options.items() if k.startswith(ONLY_PREFIX) and v]

    @property
    def converged(self) -> bool:
        """Nothing to apply and the spec agrees with the tenants: only then "No changes". A plan with errors
        is never converged: what could not be read or decided is unknown, not equal; nor is one limited
        with ``--only``, or one whose starts wait for a gate or capacity."""
        return (
            not self.has_changes
            and not self.impossible
            and not self.held
            and not self.waiting
            and not self.only
            and not self.errored
        )

    @property
    def pending(self) -> bool:
        """What ``--detailed-exitcode`` reports as 2: changes to apply, or spec edits the service cannot
        carry out (the repository disagrees with the tenants until someone acts). Held deletions and
        starts waiting for a gate or capacity are not pending: a later plan carries them out by itself."""
        return self.has_changes or bool(self.impossible)

    def counts(self) -> dict[str, int]:
        tally = Counter(change.action for change in self.changes)
        return {a.value: tally[a] for a in Action}

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "applyable": self.has_changes and not self.errored,
            "complete": True,
            "errored": self.errored,
            "summary": self.counts(),
            "resource_changes": [c.to_json() for c in self.changes],
            "resource_drift": [d.to_json() for d in self.drift],
            "impossible_edits": [e.to_json() for e in self.impossible],
            "diagnostics": [d.to_json() for d in self.diagnostics],
            "options": dict(self.options),
        }
        if self.evidence is not None:
            e = self.evidence
            doc["evidence"] = {
                "spec_digest": e.spec_digest,
                "state_lineage": e.state_lineage,
                "state_serial": e.state_serial,
                "refreshed": e.refreshed,
                "observed_digest": e.observed_digest,
            }
        return doc

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        evidence = None
        if data.get("evidence"):
            e = data["evidence"]
            evidence = Evidence(
                e["spec_digest"], e["state_lineage"], int(e["state_serial"]), bool(e["refreshed"]), e["observed_digest"]
            )
        return cls(
            changes=[Change.from_json(c) for c in data.get("resource_changes", [])],
            drift=[Drift.from_json(d) for d in data.get("resource_drift", [])],
            diagnostics=[PlanDiagnostic.from_json(d) for d in data.get("diagnostics", [])],
            evidence=evidence,
            impossible=[ImpossibleEdit.from_json(e) for e in data.get("impossible_edits", [])],
            options={str(k): v is True for k, v in (data.get("options") or {}).items()},
        )
