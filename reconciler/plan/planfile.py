"""Saved plans (``plan -out FILE``): the plan document plus what apply needs to trust it.

The file is the plan's JSON (the one serializer) with a ``planfile`` section: when and for which
tenants it was made. ``stale_reasons`` compares the evidence with the workspace as it is now, so
``apply FILE`` can refuse a plan whose spec or state moved. It lists every UPN, so it is written 0600.
Loading checks every field apply relies on for its type before building the plan: a damaged or
hand-edited file (``"refreshed": "false"``) is one error naming the file and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.atomic import atomic_write_text
from reconciler.errors import ReconcilerError
from reconciler.plan.model import FORMAT_VERSION, Action, Plan
from reconciler.spec.diagnostics import excerpt

KIND = "reconciler-plan"
_OPTIONAL: Any = object()
_WORDS = {str: "a string", int: "an integer", bool: "true or false", dict: "an object", list: "a list"}
_ACTIONS = {a.value for a in Action}


class PlanFileError(ReconcilerError):
    """The file is not a plan this version can read; the message names the file."""


@dataclass(frozen=True)
class PlanFile:
    plan: Plan
    created: str
    source_tenant_id: str
    target_tenant_id: str
    workspace: str | None = None


def save(path: Path, plan: Plan, source_tenant_id: str, target_tenant_id: str, workspace: Path | None = None) -> None:
    doc: dict[str, Any] = plan.to_json()
    doc["planfile"] = {
        "kind": KIND,
        "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "source_tenant_id": source_tenant_id,
        "target_tenant_id": target_tenant_id,
    }
    if workspace is not None:
        doc["planfile"]["workspace"] = str(workspace.resolve())
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n", mode=0o600)


def load(path: Path) -> PlanFile:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read the plan file: {exc.strerror or type(exc).__name__}") from None
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PlanFileError(f"{path}: the plan file is damaged: byte {exc.start} is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise PlanFileError(
            f"{path}: the plan file is damaged: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise PlanFileError(f"{path}: not a plan file written by `reconciler plan -out`") from None
    meta = doc.get("planfile") if isinstance(doc, dict) else None
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        raise PlanFileError(f"{path}: not a plan file written by `reconciler plan -out`")
    if doc.get("format_version") != FORMAT_VERSION:
        raise PlanFileError(
            f"{path}: plan format_version {doc.get('format_version')!r}; this version reads "
            f"{FORMAT_VERSION}: plan again"
        )
    problem = _shape_problem(doc)
    if problem is not None:
        raise PlanFileError(f"{path}: the plan file is damaged: {problem}")
    try:
        plan = Plan.from_json(doc)
    except (KeyError, TypeError, ValueError) as exc:  # a field the checks above do not know yet
        raise PlanFileError(f"{path}: the plan file is damaged ({excerpt(repr(exc))})") from None
    return PlanFile(
        plan,
        meta["created"],
        meta["source_tenant_id"],
        meta["target_tenant_id"],
        meta.get("workspace"),
    )


def _shape_problem(doc: dict[str, Any]) -> str | None:
    """The first field of a plan document that is missing or of the wrong type (None: all are sound)."""
    try:
        meta = doc["planfile"]
        for name in ("created", "source_tenant_id", "target_tenant_id"):
            _check(meta, name, str, "planfile.")
        _check(meta, "workspace", str, "planfile.", _OPTIONAL)
        evidence = _check(doc, "evidence", dict, "", _OPTIONAL)
        if evidence is not None:
            for name in ("spec_digest", "state_lineage", "observed_digest"):
                _check(evidence, name, str, "evidence.")
            _check(evidence, "state_serial", int, "evidence.")
            _check(evidence, "refreshed", bool, "evidence.")
        for index, change in enumerate(_items(doc, "resource_changes")):
            where = f"resource_changes[{index}]."
            for name in ("address", "kind", "key", "domain_action", "reason"):
                _check(change, name, str, where)
            if change["domain_action"] not in _ACTIONS:
                return f'{where}domain_action: unknown action "{excerpt(change["domain_action"], quote=True)}"'
            for name in ("before", "after"):
                _check(change, name, dict, where, _OPTIONAL)
            for name in ("wave", "status", "task_id"):
                _check(change, name, str, where, _OPTIONAL)
        for index, drift in enumerate(_items(doc, "resource_drift")):
            where = f"resource_drift[{index}]."
            for name in ("address", "kind", "key", "reason"):
                _check(drift, name, str, where)
            _check(drift, "before", dict, where)
            _check(drift, "after", dict, where, _OPTIONAL)
        for index, diagnostic in enumerate(_items(doc, "diagnostics")):
            where = f"diagnostics[{index}]."
            _check(diagnostic, "severity", str, where)
            _check(diagnostic, "summary", str, where)
            _check(diagnostic, "detail", str, where, _OPTIONAL)
            _check(diagnostic, "address", str, where, _OPTIONAL)
    except _Wrong as wrong:
        return str(wrong)
    return None


class _Wrong(Exception):
    pass


def _check(data: dict[str, Any], name: str, kind: type, where: str, optional: Any = None) -> Any:
    """``data[name]`` if of type ``kind``; with ``optional=_OPTIONAL`` absent or null is allowed too."""
    value = data.get(name)
    if value is None:
        if optional is _OPTIONAL:
            return None
        raise _Wrong(f"{where}{name} is missing")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Wrong(f"{where}{name} must be {_WORDS[kind]}, got {_type(value)}")
    return value


def _items(doc: dict[str, Any], name: str) -> list[dict[str, Any]]:
    items = _check(doc, name, list, "", _OPTIONAL) or []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _Wrong(f"{name}[{index}] must be an object, got {_type(item)}")
    return list(items)


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else "null"


def stale_reasons(saved: Plan, spec_digest: str, state_lineage: str, state_serial: int) -> list[str]:
    """Why a saved plan no longer describes the workspace (empty: still current)."""
    evidence = saved.evidence
    if evidence is None:
        return ["the plan file carries no evidence of what it was computed from"]
    reasons = []
    if evidence.spec_digest != spec_digest:
        reasons.append("the spec changed since the plan was made")
    if not evidence.state_lineage and state_lineage:
        reasons.append("the state was created since the plan was made: this plan, or another, was applied")
    elif evidence.state_lineage != state_lineage:
        reasons.append("the state belongs to another lineage (a different workspace or a replaced state)")
    elif evidence.state_serial != state_serial:
        reasons.append(
            f"the state moved from serial {evidence.state_serial} to {state_serial}: this plan, or another, "
            "was applied since"
        )
    return reasons
