"""Observed state: what Graph returned, normalized once by the Graph layer, read by the planner.

Plain frozen dataclasses at the bottom floor: no ``@odata`` members, no server-filled fields the spec
cannot declare, keys canonical (UPNs and ids lower-cased, site URLs without a trailing slash) so
they meet desired state's keys with ``==``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedUserMapping:
    key: str  # canonical source UPN
    target_upn: str | None
    target_email: str | None
    user_type: str | None
    source_organization_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedGroupMapping:
    key: str  # canonical source group object id
    target_group_id: str | None
    target_mail_nickname: str | None
    group_type: str | None
    source_organization_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedTask:
    """The newest task for a source (or the one state names by id), as the service reports it."""

    kind: str  # user | site | group
    key: str  # canonical source UPN, site URL or mail nickname
    id: str
    status: str  # notStarted | inProgress | completed | cancelled | failed | unknownFutureValue
    raw_status: str | None  # what the service sent when it was not a known status
    target: str | None  # target UPN, site URL or mail nickname
    target_organization_id: str | None
    target_organization_host: str | None
    target_data_location: str | None
    preferred_start: datetime | None
    latest_start: datetime | None
    validate_only: bool
    started: datetime | None
    finished: datetime | None
    last_updated: datetime | None
    error: str | None  # the service's message (its code when it sent no message)
    error_code: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in ("completed", "cancelled", "failed")


@dataclass
class Listing:
    """Every identity mapping and task the tenants hold, read through the collection GETs where the
    service answers them (``None`` on ``Observed`` where it does not): objects this workspace never
    made, such as mappings uploaded by CSV, included. ``tasks`` has every task, several per source."""

    user_mappings: dict[str, ObservedUserMapping] = field(default_factory=dict)
    group_mappings: dict[str, ObservedGroupMapping] = field(default_factory=dict)
    tasks: list[ObservedTask] = field(default_factory=list)
    mappings_listed: bool = False  # the target tenant answered (mappings above are all it holds)
    tasks_listed: bool = False  # the source tenant answered


@dataclass
class Observed:
    """Everything refresh saw; ``errors`` holds, by (address kind, key), the reads that failed and why."""

    user_mappings: dict[str, ObservedUserMapping] = field(default_factory=dict)
    group_mappings: dict[str, ObservedGroupMapping] = field(default_factory=dict)
    tasks: dict[tuple[str, str], ObservedTask] = field(default_factory=dict)  # by (kind, key)
    errors: dict[tuple[str, str], str] = field(default_factory=dict)
    refreshed: bool = True
    listing: Listing | None = None
