"""Planner cases as data: build Desired, Observed and State from compact JSON files in cases/."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.observed import Observed, ObservedGroupMapping, ObservedTask, ObservedUserMapping
from reconciler.plan.planner import PlanContext
from reconciler.spec.desired import (
    Desired,
    Gate,
    GroupMapping,
    GroupMigration,
    SiteMigration,
    Threshold,
    UserMapping,
    UserMigration,
    Wave,
)
from reconciler.spec.diagnostics import SourceRange
from reconciler.spec.enums import GroupType, MigrationState, UserType
from reconciler.state.model import ResourceState, State

CASES = Path(__file__).parent / "cases"
SOURCE = "11111111-1111-1111-1111-111111111111"
TARGET = "22222222-2222-2222-2222-222222222222"
HERE = SourceRange.at("spec.yaml", 1)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _migration(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "wave": raw.get("wave"),
        "preferred_start": _time(raw.get("preferred_start")),
        "latest_start": _time(raw.get("latest_start")),
        "validate_only": raw.get("validate_only", False),
        "state": MigrationState(raw.get("state", "present")),
        "attempt": raw.get("attempt", 1),
        "protect": raw.get("protect", False),
        "target_data_location": raw.get("target_data_location"),
        "target_host": raw.get("target_host"),
        "range": HERE,
    }


def _wave(raw: dict[str, Any]) -> Wave:
    gate = raw.get("gate", {})
    return Wave(
        name=raw["name"],
        description=None,
        preferred_start=_time(raw.get("preferred_start")),
        latest_start=None,
        validate_only=None,
        protect=None,
        range=HERE,
        after=tuple(a.lower() for a in raw.get("after", [])),
        gate=Gate(Threshold.parse(gate.get("min_completed", "100%")), Threshold.parse(gate.get("max_failed", 0))),
        max_in_flight=raw.get("max_in_flight"),
    )


def desired(raw: dict[str, Any]) -> Desired:
    d = Desired()
    for w in raw.get("waves", []):
        wave = _wave(w)
        d.waves[wave.key] = wave
    for m in raw.get("user_mappings", []):
        item = UserMapping(
            source_upn=m["source_upn"],
            target_upn=m["target_upn"],
            target_email=m.get("target_email"),
            user_type=UserType(m.get("user_type", "regularUser")),
            source_organization_id=m.get("source_organization_id"),
            protect=m.get("protect", False),
            range=HERE,
        )
        d.user_mappings[item.key] = item
    for m in raw.get("group_mappings", []):
        group = GroupMapping(
            source_group_id=m["source_group_id"],
            target_group_id=m["target_group_id"],
            target_mail_nickname=m["target_mail_nickname"],
            group_type=GroupType(m.get("group_type", "m365Group")),
            source_organization_id=m.get("source_organization_id"),
            protect=m.get("protect", False),
            range=HERE,
        )
        d.group_mappings[group.key] = group
    for m in raw.get("user_migrations", []):
        user = UserMigration(source_upn=m["source_upn"], target_upn=m["target_upn"], **_migration(m))
        d.user_migrations[user.key] = user
    for m in raw.get("site_migrations", []):
        site = SiteMigration(source_url=m["source_url"], target_url=m["target_url"], **_migration(m))
        d.site_migrations[site.key] = site
    for m in raw.get("group_migrations", []):
        grp = GroupMigration(
            source_mail_nickname=m["source_mail_nickname"],
            target_mail_nickname=m["target_mail_nickname"],
            **_migration(m),
        )
        d.group_migrations[grp.key] = grp
    return d


def observed(raw: dict[str, Any]) -> Observed:
    o = Observed()
    for m in raw.get("user_mappings", []):
        o.user_mappings[m["key"]] = ObservedUserMapping(
            key=m["key"],
            target_upn=m.get("target_upn"),
            target_email=m.get("target_email"),
            user_type=m.get("user_type", "regularUser"),
            source_organization_id=m.get("source_organization_id", SOURCE),
        )
    for m in raw.get("group_mappings", []):
        o.group_mappings[m["key"]] = ObservedGroupMapping(
            key=m["key"],
            target_group_id=m.get("target_group_id"),
            target_mail_nickname=m.get("target_mail_nickname"),
            group_type=m.get("group_type", "m365Group"),
            source_organization_id=m.get("source_organization_id", SOURCE),
        )
    for t in raw.get("tasks", []):
        o.tasks[(t["kind"], t["key"])] = ObservedTask(
            kind=t["kind"],
            key=t["key"],
            id=t["id"],
            status=t["status"],
            raw_status=t.get("raw_status"),
            target=t.get("target"),
            target_organization_id=t.get("target_organization_id", TARGET),
            target_organization_host=t.get("target_host"),
            target_data_location=t.get("target_data_location"),
            preferred_start=_time(t.get("preferred_start")),
            latest_start=_time(t.get("latest_start")),
            validate_only=False,
            started=None,
            finished=None,
            last_updated=None,
            error=t.get("error"),
        )
    for kind, key, message in raw.get("errors", []):
        o.errors[(kind, key)] = message
    return o


def state(raw: dict[str, Any]) -> State:
    s = State(lineage="case-lineage", serial=raw.get("serial", 1))
    for addr, r in raw.get("resources", {}).items():
        s.resources[addr] = ResourceState.from_json(r)
    return s


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CASES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def names() -> list[str]:
    return sorted(p.stem for p in CASES.glob("*.json"))


CONTEXT = PlanContext(source_tenant_id=SOURCE, target_tenant_id=TARGET)
