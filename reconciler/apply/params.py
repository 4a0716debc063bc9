"""From a plan change's ``after`` values to the Graph layer's wire models (tasks and mappings)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reconciler.graph.models import (
    GroupIdentity,
    GroupIdentityMapping,
    GroupMigrationData,
    GroupTaskParameters,
    GroupType,
    Identity,
    SiteTaskParameters,
    TaskParameters,
    UserIdentity,
    UserIdentityMapping,
    UserMigrationData,
    UserTaskParameters,
    UserType,
)
from reconciler.plan.model import Change


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def task_parameters(change: Change) -> TaskParameters:
    after = change.after or {}
    common: dict[str, Any] = {
        "target_organization_id": after.get("target_organization_id"),
        "target_organization_host": after.get("target_host"),
        "target_data_location_code": after.get("target_data_location"),
        "preferred_start_date_time": _time(after.get("preferred_start")),
        "preferred_latest_start_date_time": _time(after.get("latest_start")),
    }
    target = after.get("target")
    if change.kind == "user_migration":
        return UserTaskParameters(
            source_user_identity=UserIdentity(user_principal_name=change.key),
            target_user_identity=UserIdentity(user_principal_name=target),
            **common,
        )
    if change.kind == "site_migration":
        return SiteTaskParameters(source_site_url=change.key, target_site_url=target, **common)
    return GroupTaskParameters(
        source_group_identity=GroupIdentity(mail_nickname=change.key),
        target_group_identity=GroupIdentity(mail_nickname=target),
        **common,
    )


def user_mapping(change: Change) -> UserIdentityMapping:
    after = change.after or {}
    email = after.get("target_email")
    return UserIdentityMapping(
        source_organization_id=after.get("source_organization_id"),
        user_type=UserType(after["user_type"]) if after.get("user_type") else None,
        source_user_identity=UserIdentity(user_principal_name=change.key),
        target_user_identity=UserIdentity(user_principal_name=after.get("target_upn")),
        target_user_migration_data=UserMigrationData(email=email) if email else None,
    )


def group_mapping(change: Change) -> GroupIdentityMapping:
    after = change.after or {}
    return GroupIdentityMapping(
        source_organization_id=after.get("source_organization_id"),
        group_type=GroupType(after["group_type"]) if after.get("group_type") else None,
        source_group_identity=Identity(id=change.key),
        target_group_identity=Identity(id=after.get("target_group_id")),
        target_group_migration_data=GroupMigrationData(mail_nickname=after.get("target_mail_nickname")),
    )
