"""The realistic ways a migration fails or stalls once it runs, by name, for seeds and the control API.

A source object's ``migration_error`` (seed files, control API) and ``POST /_emulator/tasks/{id}/force``
``{"status": "failed", "failure": NAME}`` name one of these; the task then fails with that kind's
``publicError`` code and message, worded as the documentation and people running cross-tenant moves
report them. ``stuck`` is not a failure: the task goes ``inProgress`` and stops updating. Any other
``migration_error`` text is kept as the message of a ``migrationFailed`` error, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STUCK = "stuck"


@dataclass(frozen=True)
class FailureKind:
    code: str
    message: str  # {source}: the source's key (UPN, site URL, nickname); {what}: OneDrive, site or group site


KINDS: dict[str, FailureKind] = {
    "missing-mapping": FailureKind(
        "identityMappingNotFound",
        "Identity map entry for source {source} does not exist on the target tenant.",
    ),
    "target-exists": FailureKind(
        "targetAlreadyExists",
        "The target {what} for {source} already exists in the target organization. "
        "Remove or rename it before the move.",
    ),
    "size-limit": FailureKind(
        "sourceTooLarge",
        "The source {what} {source} is larger than the 2 TB a cross-tenant move supports.",
    ),
    "item-limit": FailureKind(
        "tooManyItems",
        "The source {what} {source} holds more than the 1,000,000 items a cross-tenant move supports.",
    ),
    "no-trust": FailureKind(
        "crossTenantRelationshipMissing",
        "There is no Cross-Tenant relationship established for partner {target} and role target.",
    ),
    "feature-disabled": FailureKind(
        "featureNotEnabled",
        "Cross-tenant SharePoint migration is not enabled for this organization.",
    ),
    "read-only": FailureKind(
        "sourceReadOnly",
        "The source {what} {source} is read-only or locked and cannot be moved.",
    ),
    "on-hold": FailureKind(
        "sourceOnHold",
        "The source {what} {source} is on hold (retention policy or eDiscovery hold) and cannot be moved.",
    ),
}

WHAT = {"user": "OneDrive", "site": "site", "group": "group site"}


def error_for(name: str | None, kind: str, source: str, target: str) -> dict[str, Any] | None:
    """The ``publicError`` a task fails with for ``migration_error`` = ``name`` (None: it does not fail)."""
    if name is None or name == STUCK:
        return None
    known = KINDS.get(name)
    if known is None:
        return {"code": "migrationFailed", "message": name}
    text = known.message.format(source=source, target=target, what=WHAT.get(kind, "site"))
    return {"code": known.code, "message": text}
