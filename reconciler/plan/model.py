"""The plan: ordered changes with reasons, drift, diagnostics and the evidence it was computed from.

``Plan.to_json`` is the one serializer. The JSON document (``format_version``, ``resource_changes``,
``resource_drift``, ``diagnostics``) is what ``-out`` saves and what every renderer reads, so text,
Markdown and JSON cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

FORMAT_VERSION = "1.0"


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
KIND_ORDER = {"user_mapping": 0, "group_mapping": 1, "user_migration": 2, "site_migration": 3, "group_migration": 4}


@dataclass(frozen=True)
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

    @property
    def changing(self) -> bool:
        return self.action in CHANGING

    def changed_attributes(self) -> list[str]:
        """Attributes whose value differs between before and after (all of after when creating)."""
        before, after = self.before or {}, self.after or {}
        return [k for k in after if before.get(k) != after.get(k)] + [k for k in before if k not in after]

    def to_json(self) -> dict[str, Any]:
        return {
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
        }

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

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "key": self.key,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Drift:
        return cls(data["address"], data["kind"], data["key"], data["before"], data.get("after"), data["reason"])


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


@dataclass(frozen=True)
class Evidence:
    """What the plan was computed from, so ``apply PLANFILE`` can refuse a stale plan."""

    spec_digest: str
    state_lineage: str
    state_serial: int
    refreshed: bool
    observed_digest: str


@dataclass
class Plan:
    changes: list[Change]
    drift: list[Drift] = field(default_factory=list)
    diagnostics: list[PlanDiagnostic] = field(default_factory=list)
    evidence: Evidence | None = None

    @property
    def errored(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    @property
    def has_changes(self) -> bool:
        return any(c.changing for c in self.changes)

    def counts(self) -> dict[str, int]:
        out = {a.value: 0 for a in Action}
        for change in self.changes:
            out[change.action.value] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "applyable": self.has_changes and not self.errored,
            "complete": True,
            "errored": self.errored,
            "summary": self.counts(),
            "resource_changes": [c.to_json() for c in self.changes],
            "resource_drift": [d.to_json() for d in self.drift],
            "diagnostics": [d.to_json() for d in self.diagnostics],
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
        )
