"""The spec's enumerations (Graph's user and group types, a migration's desired state, CSV formats).

Plain ``StrEnum``s with no dependencies, so desired state can use them without importing pydantic.
"""

from __future__ import annotations

from enum import StrEnum


class UserType(StrEnum):
    """``sharePointIdentityMappingUserType`` (``unknownFutureValue`` is the service's, never the user's)."""

    NONE = "none"
    REGULAR_USER = "regularUser"
    ADMIN_USER = "adminUser"
    GUEST_USER = "guestUser"


class GroupType(StrEnum):
    """``sharePointIdentityMappingGroupType``."""

    NONE = "none"
    REGULAR_GROUP = "regularGroup"
    M365_GROUP = "m365Group"


class MigrationState(StrEnum):
    """Desired state of a migration: ``present`` (should run) or ``cancelled`` (the explicit cancel intent)."""

    PRESENT = "present"
    CANCELLED = "cancelled"


class CsvFormat(StrEnum):
    """What a CSV file referenced from a spec file holds."""

    IDENTITY_MAP = "identity_map"
    USER_MIGRATIONS = "user_migrations"
    SITE_MIGRATIONS = "site_migrations"
    GROUP_MIGRATIONS = "group_migrations"
