"""Saved plans (``plan -out FILE``): the plan document plus what apply needs to trust it.

The file is the plan's JSON (the one serializer) with a ``planfile`` section: when, by which
reconciler version and for which tenants it was made. ``version_problem`` refuses a plan another
version made (as Terraform does: what a plan means may change between versions); ``stale_reasons``
compares the evidence with the workspace as it is now, so ``apply FILE`` can refuse a plan whose spec
or state moved. It lists every UPN, so it is written 0600.
Loading checks every field apply relies on for its type (strict pydantic models) before building the
plan: a damaged or hand-edited file (``"refreshed": "false"``) is one error naming the file and the field.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from reconciler import __version__
from reconciler.atomic import atomic_write_chunks
from reconciler.errors import ReconcilerError
from reconciler.jsonindent import iter_indented
from reconciler.plan.model import FORMAT_VERSION, Action, Plan
from reconciler.spec.diagnostics import excerpt
from reconciler.state.model import Probe
from reconciler.strict import first_fault

KIND = "reconciler-plan"
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
    reconciler_version: str | None = None  # None: made before versions were recorded (0.1)
    commit: str | None = None  # the commit the plan was made from, when known (the Markdown heading names it)
    # Collection-read probe answers this plan asked for, by tenant id: plan writes no state, so apply records them.
    probes: dict[str, Probe] = field(default_factory=dict)


def now() -> str:
    """The time a plan is made, as plan files record it; ``SOURCE_DATE_EPOCH`` (reproducible builds) pins it."""
    pinned = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    when = datetime.fromtimestamp(int(pinned), UTC) if pinned.isdigit() else datetime.now(UTC)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def save(
    path: Path,
    plan: Plan,
    source_tenant_id: str,
    target_tenant_id: str,
    workspace: Path | None = None,
    *,
    created: str | None = None,
    commit: str | None = None,
    probes: dict[str, Probe] | None = None,
) -> None:
    doc: dict[str, Any] = plan.to_json()
    doc["planfile"] = {
        "kind": KIND,
        "created": created or datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "reconciler_version": __version__,
        "source_tenant_id": source_tenant_id,
        "target_tenant_id": target_tenant_id,
    }
    if workspace is not None:
        doc["planfile"]["workspace"] = str(workspace.resolve())
    if commit:
        doc["planfile"]["commit"] = commit
    if probes:
        doc["planfile"]["probes"] = {tenant: probe.to_json() for tenant, probe in sorted(probes.items())}
    atomic_write_chunks(path, itertools.chain(iter_indented(doc, indent=1), "\n"), mode=0o600)


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
        reconciler_version=meta.get("reconciler_version"),
        commit=meta.get("commit"),
        probes=_probes(meta.get("probes"), path),
    )


def _probes(raw: Any, path: Path) -> dict[str, Probe]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PlanFileError(f"{path}: the plan file is damaged: planfile.probes is not an object")
    probes: dict[str, Probe] = {}
    for tenant, answer in raw.items():
        if (
            not isinstance(answer, dict)
            or type(answer.get("collection_reads")) is not bool
            or not isinstance(answer.get("probed_at"), str)
        ):
            raise PlanFileError(
                f"{path}: the plan file is damaged: planfile.probes[{excerpt(str(tenant))!r}] needs "
                "collection_reads (true or false) and probed_at (a time)"
            )
        probes[str(tenant).lower()] = Probe(answer["collection_reads"], answer["probed_at"])
    return probes


def version_problem(saved: PlanFile, path: Path, version: str = __version__) -> str | None:
    """Why this reconciler must not apply a plan (None: the same version made it)."""
    if saved.reconciler_version == version:
        return None
    made_by = (
        f"reconciler {saved.reconciler_version}"
        if saved.reconciler_version is not None
        else "reconciler 0.1 (it records no version)"
    )
    return f"{path} was made by {made_by}; this is {version}: make the plan again with this version"


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True)


# The fields apply relies on, in the order a fault is reported; a required field that is null is missing.
class _Meta(_Strict):
    created: str
    reconciler_version: str | None = None
    source_tenant_id: str
    target_tenant_id: str
    workspace: str | None = None
    commit: str | None = None


class _Evidence(_Strict):
    spec_digest: str
    state_lineage: str
    observed_digest: str
    state_serial: int
    refreshed: bool


class _Change(_Strict):
    address: str
    kind: str
    key: str
    domain_action: str
    reason: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    wave: str | None = None
    status: str | None = None
    task_id: str | None = None
    explanation: list[dict[str, Any]] | None = None

    @field_validator("domain_action")
    @classmethod
    def _known(cls, action: str) -> str:
        if action not in _ACTIONS:
            raise ValueError(f'unknown action "{excerpt(action, quote=True)}"')
        return action


class _Drift(_Strict):
    address: str
    kind: str
    key: str
    reason: str
    before: dict[str, Any]
    after: dict[str, Any] | None = None
    explanation: list[dict[str, Any]] | None = None


class _Diagnostic(_Strict):
    severity: str
    summary: str
    detail: str | None = None
    address: str | None = None


class _Document(_Strict):
    planfile: _Meta
    evidence: _Evidence | None = None
    resource_changes: list[_Change] | None = None
    resource_drift: list[_Drift] | None = None
    diagnostics: list[_Diagnostic] | None = None


def _shape_problem(doc: dict[str, Any]) -> str | None:
    """The first field of a plan document that is missing or of the wrong type (None: all are sound)."""
    try:
        _Document.model_validate(doc)
    except ValidationError as exc:
        return first_fault(exc, null_is_missing=True, describe=_type)
    return None


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
