"""Pydantic models of what a spec file may say: strict types, unknown fields forbidden.

These describe the files people write (and generate the JSON Schema); they are neither the resolved
desired state (``desired.py``, defaults and waves applied) nor the Graph wire models (the Graph layer).
Field order here is the canonical key order ``reconciler fmt`` writes.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from reconciler.spec.fields import (
    CsvFormatValue,
    DataLocation,
    DateTime,
    GroupTypeValue,
    Guid,
    HttpsUrl,
    MailNickname,
    MigrationStateValue,
    NonEmptyText,
    Threshold,
    Upn,
    UserTypeValue,
    WaveName,
)


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_enum_values=False)


class UserMappingSpec(SpecModel):
    """A user identity mapping (``sharePointUserIdentityMapping``, written to the target tenant)."""

    source_upn: Upn = Field(description="Source user principal name; the address key: user_mapping[source_upn].")
    target_upn: Upn = Field(description="Target user principal name (targetUserIdentity.userPrincipalName).")
    target_email: Upn | None = Field(None, description="Target email address (targetUserMigrationData.email).")
    user_type: UserTypeValue | None = Field(
        None, description="userType; default from reconciler.yaml defaults.user_type."
    )
    source_organization_id: Guid | None = Field(
        None, description="sourceOrganizationId; defaults to the source tenant id of reconciler.yaml."
    )
    protect: bool | None = Field(None, description="Never delete this mapping, even when it leaves the spec.")


class GroupMappingSpec(SpecModel):
    """A group identity mapping (``sharePointGroupIdentityMapping``, written to the target tenant)."""

    source_group_id: Guid = Field(
        description="Source group object id; the address key: group_mapping[source_group_id]."
    )
    target_group_id: Guid = Field(description="Target group object id (targetGroupIdentity.id).")
    target_mail_nickname: MailNickname = Field(
        description="Target group alias (targetGroupMigrationData.mailNickname)."
    )
    group_type: GroupTypeValue | None = Field(
        None, description="groupType; default from reconciler.yaml defaults.group_type."
    )
    source_organization_id: Guid | None = Field(
        None, description="sourceOrganizationId; defaults to the source tenant id of reconciler.yaml."
    )
    protect: bool | None = Field(None, description="Never delete this mapping, even when it leaves the spec.")


class GateSpec(SpecModel):
    """When a wave may start: how its predecessors (``after``) must stand, each of them on its own."""

    min_completed: Threshold = Field(
        "100%",
        description="At least this many of each predecessor's migrations completed: a count (10) or a share "
        "(95%). Default 100%.",
    )
    max_failed: Threshold = Field(
        0,
        description="At most this many of each predecessor's migrations failed: a count (2) or a share (5%). "
        "Default 0.",
    )


class WaveSpec(SpecModel):
    """A named group of migrations with its own schedule defaults, gate and capacity."""

    name: WaveName = Field(description="The wave's name; migrations join it with `wave: NAME`.")
    description: NonEmptyText | None = None
    preferred_start: DateTime | None = Field(None, description="Default preferredStartDateTime of its migrations.")
    latest_start: DateTime | None = Field(None, description="Default preferredLatestStartDateTime of its migrations.")
    validate_only: bool | None = Field(None, description="Default validateOnly of its migrations.")
    protect: bool | None = Field(None, description="Default protect of its migrations.")
    after: list[WaveName] | None = Field(
        None, description="The waves this one follows: its migrations start only once the gate holds for each."
    )
    gate: GateSpec | None = Field(
        None, description="How the waves named in `after` must stand (default: all completed, none failed)."
    )
    max_in_flight: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="At most this many of the wave's migrations queued or in progress at once; further starts wait.",
    )


class MigrationSpec(SpecModel):
    """What every migration says besides its source and target."""

    wave: WaveName | None = Field(None, description="The wave this migration belongs to.")
    preferred_start: DateTime | None = Field(
        None, description="preferredStartDateTime: start no earlier than this (default: the wave's, else at once)."
    )
    latest_start: DateTime | None = Field(
        None, description="preferredLatestStartDateTime: the service cancels the move if it has not started by then."
    )
    validate_only: bool | None = Field(None, description="validateOnly: check the move without running it.")
    state: MigrationStateValue | None = Field(
        None, description="present (default): the move should run; cancelled: cancel it while it has not started."
    )
    attempt: int | None = Field(
        None, ge=1, le=1000, description="Raise to ask for a new run after a failed or cancelled one (default 1)."
    )
    protect: bool | None = Field(None, description="Never cancel this migration, even when it leaves the spec.")
    target_data_location: DataLocation | None = Field(
        None, description="targetDataLocationCode for a multi-geo target (default: the target tenant's)."
    )
    target_host: HttpsUrl | None = Field(
        None, description="targetOrganizationHost for a multi-geo target (default: none)."
    )


class UserMigrationSpec(MigrationSpec):
    """A OneDrive (user) migration, addressed user_migration[source_upn]."""

    source_upn: Upn = Field(description="Source user principal name; needs a user mapping.")
    target_upn: Upn | None = Field(None, description="Target user; defaults to the user mapping's target_upn.")


class SiteMigrationSpec(MigrationSpec):
    """A regular (not group-connected) site migration, addressed site_migration[source_url]."""

    source_url: HttpsUrl = Field(description="Source site URL, on one of the source tenant's hosts.")
    target_url: HttpsUrl = Field(description="Target site URL, on one of the target tenant's hosts.")


class GroupMigrationSpec(MigrationSpec):
    """A group-connected site migration, addressed group_migration[source_mail_nickname]."""

    source_mail_nickname: MailNickname = Field(description="Source group alias (mail nickname).")
    target_mail_nickname: MailNickname | None = Field(None, description="Target group alias; defaults to the source's.")


class CsvFileSpec(SpecModel):
    """A CSV file holding many items of one kind, path relative to the spec file that names it."""

    path: NonEmptyText
    format: CsvFormatValue = Field(
        description="identity_map: the SharePoint cmdlet identity map (User/Group rows, no header); "
        "user_migrations, site_migrations, group_migrations: a header row of field names, then one item per row."
    )
    protect: bool | None = Field(None, description="Default protect of every item in the file.")
    wave: WaveName | None = Field(None, description="Default wave of every migration in the file.")


class SpecFile(SpecModel):
    """A spec file: any mix of kinds; split a workspace into as many files as you like."""

    csv_files: list[CsvFileSpec] = Field(default_factory=list, description="CSV files with many items.")
    waves: list[WaveSpec] = Field(default_factory=list)
    user_mappings: list[UserMappingSpec] = Field(default_factory=list)
    group_mappings: list[GroupMappingSpec] = Field(default_factory=list)
    user_migrations: list[UserMigrationSpec] = Field(default_factory=list)
    site_migrations: list[SiteMigrationSpec] = Field(default_factory=list)
    group_migrations: list[GroupMigrationSpec] = Field(default_factory=list)


ITEM_MODELS: dict[str, type[SpecModel]] = {
    "csv_files": CsvFileSpec,
    "waves": WaveSpec,
    "user_mappings": UserMappingSpec,
    "group_mappings": GroupMappingSpec,
    "user_migrations": UserMigrationSpec,
    "site_migrations": SiteMigrationSpec,
    "group_migrations": GroupMigrationSpec,
}

# The natural key of each kind: what its address names and what fmt sorts a list by.
ITEM_KEYS: dict[str, str] = {
    "csv_files": "path",
    "waves": "name",
    "user_mappings": "source_upn",
    "group_mappings": "source_group_id",
    "user_migrations": "source_upn",
    "site_migrations": "source_url",
    "group_migrations": "source_mail_nickname",
}

__all__ = [
    "ITEM_KEYS",
    "ITEM_MODELS",
    "CsvFileSpec",
    "GateSpec",
    "GroupMappingSpec",
    "GroupMigrationSpec",
    "MigrationSpec",
    "SiteMigrationSpec",
    "SpecFile",
    "SpecModel",
    "UserMappingSpec",
    "UserMigrationSpec",
    "WaveSpec",
]
