"""Value projections: each kind's values in the one shape plans, state and the applier compare and record.

A spec item (with the workspace's tenant ids) and an observed object both project to a flat dict of
the fields the spec declares, canonical as the service echoes them: ``differing`` compares the two,
the plan shows them as before/after, the applier records them as ``last_applied``, and
``observed_*_from_values`` turn recorded values back into observed objects for ``--no-refresh``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.kinds import TaskKind
from reconciler.observed import ObservedGroupMapping, ObservedTask, ObservedUserMapping
from reconciler.spec.desired import GroupMapping, Migration, UserMapping


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
    # At most this many of the workspace's migrations queued or in progress at once (reconciler.yaml).
    max_in_flight: int = 4000
    # plan --only: keep only changes of these actions (their values, e.g. "start"); empty keeps all.
    only: frozenset[str] = frozenset()


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not UTC:  # equal instants in other zones write other offsets: not from the cache
        return value.isoformat().replace("+00:00", "Z")
    text = _ISO.get(value)
    if text is None:
        text = value.isoformat().replace("+00:00", "Z")
        if len(_ISO) < _ISO_KEPT:
            _ISO[value] = text
    return text


# A wave's start times (UTC) are shared by thousands of its migrations: each is written out once, not per migration.
_ISO_KEPT = 4096
_ISO: dict[datetime, str] = {}


# -- mappings -------------------------------------------------------------------------------------


def user_mapping_values(m: UserMapping, ctx: PlanContext) -> dict[str, Any]:
    values: dict[str, Any] = {
        "target_upn": m.target_upn.lower(),
        "user_type": m.user_type._value_,  # the member's value, without the enum descriptor (100,000 rows)
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


def observed_user_from_values(key: str, values: dict[str, Any]) -> ObservedUserMapping:
    return ObservedUserMapping(
        key=key,
        target_upn=values.get("target_upn"),
        target_email=values.get("target_email"),
        user_type=values.get("user_type"),
        source_organization_id=values.get("source_organization_id"),
    )


def observed_group_from_values(key: str, values: dict[str, Any]) -> ObservedGroupMapping:
    return ObservedGroupMapping(
        key=key,
        target_group_id=values.get("target_group_id"),
        target_mail_nickname=values.get("target_mail_nickname"),
        group_type=values.get("group_type"),
        source_organization_id=values.get("source_organization_id"),
    )


# -- migrations -----------------------------------------------------------------------------------


def _task_values(
    target: str | None,
    organization_id: str | None,
    preferred_start: datetime | None,
    latest_start: datetime | None,
    data_location: str | None,
    host: str | None,
) -> dict[str, Any]:
    """The fields a task is compared on, in the one order plans print them; optional ones only when set."""
    values: dict[str, Any] = {"target": target, "target_organization_id": organization_id}
    if preferred_start is not None:
        values["preferred_start"] = _iso(preferred_start)
    if latest_start is not None:
        values["latest_start"] = _iso(latest_start)
    if data_location:
        values["target_data_location"] = data_location
    if host is not None:
        values["target_host"] = host
    return values


def migration_values(m: Migration, ctx: PlanContext) -> dict[str, Any]:
    host = m.target_host.rstrip("/").lower() if m.target_host else None
    values = _task_values(
        m.target, ctx.target_tenant_id.lower(), m.preferred_start, m.latest_start, m.target_data_location, host
    )
    if m.validate_only:
        values["validate_only"] = True
    return values


def observed_task_values(o: ObservedTask) -> dict[str, Any]:
    return _task_values(
        o.target,
        o.target_organization_id,
        o.preferred_start,
        o.latest_start,
        o.target_data_location,
        o.target_organization_host or None,
    )


def observed_task_from_values(kind: TaskKind, key: str, task_id: str, values: dict[str, Any]) -> ObservedTask:
    """What state last recorded of a task, as if read (``--no-refresh``): no times, no error."""
    return ObservedTask(
        kind=kind,
        key=key,
        id=task_id,
        status=str(values.get("status", "unknownFutureValue")),
        raw_status=None,
        target=values.get("target"),
        target_organization_id=values.get("target_organization_id"),
        target_organization_host=values.get("target_host"),
        target_data_location=values.get("target_data_location"),
        preferred_start=None,
        latest_start=None,
        validate_only=False,
        started=None,
        finished=None,
        last_updated=None,
        error=None,
    )


# -- comparing ------------------------------------------------------------------------------------


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
