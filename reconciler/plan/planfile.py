"""Saved plans (``plan -out FILE``): the plan document plus what apply needs to trust it.

The file is the plan's JSON (the one serializer) with a ``planfile`` section: when and for which
tenants it was made. ``stale_reasons`` compares the evidence with the workspace as it is now, so
``apply FILE`` can refuse a plan whose spec or state moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.atomic import atomic_write_text
from reconciler.plan.model import FORMAT_VERSION, Plan

KIND = "reconciler-plan"


class PlanFileError(Exception):
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
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")


def load(path: Path) -> PlanFile:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanFileError(f"{path}: cannot read the plan file: {exc}") from exc
    meta = doc.get("planfile") if isinstance(doc, dict) else None
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        raise PlanFileError(f"{path}: not a plan file written by `reconciler plan -out`")
    if doc.get("format_version") != FORMAT_VERSION:
        raise PlanFileError(
            f"{path}: plan format_version {doc.get('format_version')!r}; this version reads "
            f"{FORMAT_VERSION}: plan again"
        )
    try:
        plan = Plan.from_json(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanFileError(f"{path}: the plan file is damaged ({exc!r})") from exc
    return PlanFile(
        plan,
        str(meta.get("created")),
        str(meta["source_tenant_id"]),
        str(meta["target_tenant_id"]),
        meta.get("workspace"),
    )


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
