"""Typed wire models for every resource and parameter type of the cross-tenant migration API.

Reading is tolerant (unknown enum values become ``unknownFutureValue`` with the raw value kept,
timestamps without zero padding parse, the legacy ``errors`` array is read as ``error``, unknown
members and ``@odata.*`` annotations are ignored). Writing produces exactly the documented JSON:
camelCase, ``@odata.type`` on task parameters, no nulls.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PrivateAttr,
    Tag,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic.alias_generators import to_camel

from reconciler.kinds import TaskKind

_camel = functools.cache(to_camel)  # a regex per call otherwise, twice per enum field of every answer read

ODATA_PREFIX: Final = "#microsoft.graph."
USER_PARAMETERS: Final = "#microsoft.graph.sharePointUserMigrationTaskParameters"
SITE_PARAMETERS: Final = "#microsoft.graph.sharePointSiteMigrationTaskParameters"
GROUP_PARAMETERS: Final = "#microsoft.graph.sharePointGroupMigrationTaskParameters"
BASE_PARAMETERS: Final = "#microsoft.graph.sharePointMigrationTaskParameters"

_LOOSE_TIME = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d+))?)?\s*(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)


def parse_timestamp(value: Any) -> Any:
    """ISO 8601, tolerating what the docs show (``2025-7-18T09:08:04.451Z``); naive times are UTC."""
    if not isinstance(value, str):
        return value
    match = _LOOSE_TIME.match(value.strip())
    if match is None:
        raise ValueError(f"not a timestamp: {value!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    parsed = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro)
    if zone is None or zone.upper() == "Z":
        return parsed.replace(tzinfo=UTC)
    sign = 1 if zone[0] == "+" else -1
    digits = zone[1:].replace(":", "")
    from datetime import timedelta, timezone

    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return parsed.replace(tzinfo=timezone(sign * offset)).astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_timestamp),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]


class TaskStatus(StrEnum):
    NOT_STARTED = "notStarted"
    IN_PROGRESS = "inProgress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"

    @property
    def terminal(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.FAILED)

    @property
    def active(self) -> bool:
        return self in (TaskStatus.NOT_STARTED, TaskStatus.IN_PROGRESS)


class UserType(StrEnum):
    NONE = "none"
    REGULAR_USER = "regularUser"
    ADMIN_USER = "adminUser"
    GUEST_USER = "guestUser"
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


class GroupType(StrEnum):
    NONE = "none"
    REGULAR_GROUP = "regularGroup"
    M365_GROUP = "m365Group"
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


class WireModel(BaseModel):
    """Base: camelCase aliases, unknown members ignored, evolvable enums read tolerantly."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
    _enum_fields: ClassVar[dict[str, type[StrEnum]]] = {}
    _unknown_values: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _tolerate_enums(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        unknown: dict[str, str] = {}
        if isinstance(data, dict) and cls._enum_fields:
            original = data
            for name, enum in cls._enum_fields.items():
                camel = _camel(name)
                key = camel if camel in data else name
                raw = data.get(key)
                if not isinstance(raw, str) or raw in enum._value2member_map_:
                    continue
                if data is original:  # copied only when a value is replaced: the caller's dict stays as sent
                    data = dict(data)
                folded = {m.value.lower(): m for m in enum}.get(raw.lower())
                data[key] = folded if folded is not None else enum("unknownFutureValue")
                unknown[name] = raw
        model = handler(data)
        if unknown and isinstance(model, WireModel):
            model._unknown_values.update(unknown)
        return model

    def raw_value(self, field: str) -> str | None:
        """The value the service sent for an enum member this client did not know, if any."""
        return self._unknown_values.get(field)

    def to_wire(self) -> dict[str, Any]:
        """The documented JSON: camelCase members, no nulls."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Identity(WireModel):
    id: str | None = None
    display_name: str | None = None


class UserIdentity(Identity):
    user_principal_name: str | None = None


class GroupIdentity(Identity):
    mail_nickname: str | None = None


class PublicErrorDetail(WireModel):
    code: str | None = None
    message: str | None = None
    target: str | None = None


class PublicError(WireModel):
    code: str | None = None
    message: str | None = None
    target: str | None = None
    details: list[PublicErrorDetail] | None = None
    inner_error: dict[str, Any] | None = None


def lower_key(value: str | None) -> str | None:
    """A principal name, id or nickname as observed state keys it."""
    return value.strip().lower() if value else None


def url_key(value: str | None) -> str | None:
    return value.strip().rstrip("/").lower() if value else None


class TaskParameters(WireModel):
    """``sharePointMigrationTaskParameters``: what every task kind shares."""

    odata_type: str = Field(BASE_PARAMETERS, alias="@odata.type")
    target_organization_id: str | None = None
    target_organization_host: str | None = None
    target_data_location_code: str | None = None
    preferred_start_date_time: Timestamp | None = None
    preferred_latest_start_date_time: Timestamp | None = None
    validate_only: bool | None = None
    source_site_url: str | None = None
    target_site_url: str | None = None

    def to_wire(self) -> dict[str, Any]:
        body = super().to_wire()
        # The service picks the subtype from @odata.type, so it always leads and is always canonical.
        return {"@odata.type": self.odata_type, **body}

    def target(self) -> str | None:
        """The canonical target of the move (each kind names it its own way); None when not given."""
        return None

    def source(self) -> str | None:
        """The canonical source key of the move, as the spec names it; None when not given."""
        return None

    def kind(self) -> TaskKind | None:
        """The task kind its ``@odata.type`` names; None for the base type."""
        kind = _parameters_kind(self)
        return kind if kind in ("user", "site", "group") else None  # type: ignore[return-value]


class UserTaskParameters(TaskParameters):
    odata_type: Literal["#microsoft.graph.sharePointUserMigrationTaskParameters"] = Field(
        USER_PARAMETERS, alias="@odata.type"
    )
    source_user_identity: UserIdentity | None = None
    target_user_identity: UserIdentity | None = None

    def target(self) -> str | None:
        return (
            lower_key(self.target_user_identity.user_principal_name) if self.target_user_identity is not None else None
        )

    def source(self) -> str | None:
        return (
            lower_key(self.source_user_identity.user_principal_name) if self.source_user_identity is not None else None
        )


class SiteTaskParameters(TaskParameters):
    odata_type: Literal["#microsoft.graph.sharePointSiteMigrationTaskParameters"] = Field(
        SITE_PARAMETERS, alias="@odata.type"
    )

    def target(self) -> str | None:
        return url_key(self.target_site_url)

    def source(self) -> str | None:
        return url_key(self.source_site_url)


class GroupTaskParameters(TaskParameters):
    odata_type: Literal["#microsoft.graph.sharePointGroupMigrationTaskParameters"] = Field(
        GROUP_PARAMETERS, alias="@odata.type"
    )
    source_group_identity: GroupIdentity | None = None
    target_group_identity: GroupIdentity | None = None

    def target(self) -> str | None:
        return lower_key(self.target_group_identity.mail_nickname) if self.target_group_identity is not None else None

    def source(self) -> str | None:
        return lower_key(self.source_group_identity.mail_nickname) if self.source_group_identity is not None else None


# The parameters' @odata.type per task kind (the discriminator's tags below), and back.
_CANONICAL: dict[TaskKind, str] = {"user": USER_PARAMETERS, "site": SITE_PARAMETERS, "group": GROUP_PARAMETERS}
_KINDS: dict[str, str] = {odata.lower(): kind for kind, odata in _CANONICAL.items()}


def _parameters_kind(value: Any) -> str:
    raw = value.get("@odata.type") if isinstance(value, dict) else getattr(value, "odata_type", None)
    if not isinstance(raw, str):
        return "base"
    name = raw.strip().lstrip("#").lower()
    if not name.startswith("microsoft.graph."):
        name = "microsoft.graph." + name
    return _KINDS.get("#" + name, "base")


def _canonical_type(value: Any) -> Any:
    # Accept "microsoft.graph.x", "#microsoft.graph.X" or "x": the discriminator already matched it.
    if isinstance(value, dict):
        kind = _parameters_kind(value)
        if kind in _CANONICAL:
            return {**value, "@odata.type": _CANONICAL[kind]}
    return value


AnyTaskParameters = Annotated[
    Annotated[UserTaskParameters, Tag("user")]
    | Annotated[SiteTaskParameters, Tag("site")]
    | Annotated[GroupTaskParameters, Tag("group")]
    | Annotated[TaskParameters, Tag("base")],
    Discriminator(_parameters_kind),
    BeforeValidator(_canonical_type),
]


class MigrationTask(WireModel):
    """``sharePointMigrationTask``."""

    _enum_fields: ClassVar[dict[str, type[StrEnum]]] = {"status": TaskStatus}

    id: str | None = None
    status: TaskStatus = TaskStatus.UNKNOWN_FUTURE_VALUE
    parameters: AnyTaskParameters | None = None
    started_date_time: Timestamp | None = None
    last_updated_date_time: Timestamp | None = None
    finished_date_time: Timestamp | None = None
    error: PublicError | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_errors(cls, data: Any) -> Any:
        # The first drafts had ``errors: [microsoft.graph.error]``; read its first entry as ``error``.
        if isinstance(data, dict) and data.get("error") is None and isinstance(data.get("errors"), list):
            first = next((e for e in data["errors"] if isinstance(e, dict)), None)
            if first is not None:
                return {**data, "error": first}
        return data


class UserMigrationData(WireModel):
    email: str | None = None


class GroupMigrationData(WireModel):
    mail_nickname: str | None = None


class Deleted(WireModel):
    state: str | None = None


class UserIdentityMapping(WireModel):
    """``sharePointUserIdentityMapping`` (lives in the target tenant)."""

    _enum_fields: ClassVar[dict[str, type[StrEnum]]] = {"user_type": UserType}

    id: str | None = None
    source_organization_id: str | None = None
    user_type: UserType | None = None
    source_user_identity: UserIdentity | None = None
    target_user_identity: UserIdentity | None = None
    target_user_migration_data: UserMigrationData | None = None
    deleted: Deleted | None = None

    @property
    def key(self) -> str | None:
        upn = self.source_user_identity.user_principal_name if self.source_user_identity else None
        return upn.lower() if upn else None


class GroupIdentityMapping(WireModel):
    """``sharePointGroupIdentityMapping`` (lives in the target tenant)."""

    _enum_fields: ClassVar[dict[str, type[StrEnum]]] = {"group_type": GroupType}

    id: str | None = None
    source_organization_id: str | None = None
    group_type: GroupType | None = None
    source_group_identity: Identity | None = None
    target_group_identity: Identity | None = None
    target_group_migration_data: GroupMigrationData | None = None
    deleted: Deleted | None = None

    @property
    def key(self) -> str | None:
        gid = self.source_group_identity.id if self.source_group_identity else None
        return gid.lower() if gid else None


class DataModificationException(WireModel):
    """OData's annotation on a delta-response entry whose change failed."""

    failed_operation: str | None = None
    response_code: int | None = None
    info: dict[str, Any] | None = None


# What a 2xx body must carry to be read at all (JSON paths, camelCase): a task without an id or a
# status, a mapping without its key, is not something to adopt or record.
REQUIRED: dict[type[WireModel], tuple[str, ...]] = {
    MigrationTask: ("id", "status"),
    UserIdentityMapping: ("sourceUserIdentity.userPrincipalName",),
    GroupIdentityMapping: ("sourceGroupIdentity.id",),
}


def missing_member(body: Any, required: tuple[str, ...]) -> str | None:
    """The first required member that is absent, empty or not a string; None when all are there."""
    if not isinstance(body, dict):
        return f"the body is {type(body).__name__ if body is not None else 'empty'}, not a JSON object"
    for dotted in required:
        value: Any = body
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None or value == "":
            return f"'{dotted}' is missing"
        if not isinstance(value, str):
            return f"'{dotted}' is {type(value).__name__}, not a string"
    return None
