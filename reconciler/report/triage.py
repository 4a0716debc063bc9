"""Failure triage: a failed migration's service error (code and message) sorted into a group with advice.

The service's codes are not documented, so each group matches known codes first and then a pattern in
the message (case-insensitive), in the order below: the first group that matches wins. Errors no group
knows land in "other" groups of their own, one per code and message shape (the message with names,
URLs, ids and numbers blanked), so a hundred copies of one unknown error still make one row. Every piece
of advice ends the same way: restart is declarative, by raising the migration's ``attempt`` in the spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RESTART = "then raise `attempt` on the migration in the spec and apply: the plan starts it again."


@dataclass(frozen=True)
class Rule:
    group: str
    title: str
    codes: frozenset[str]
    pattern: re.Pattern[str]
    advice: str


def _rule(group: str, title: str, codes: set[str], pattern: str, advice: str) -> Rule:
    return Rule(group, title, frozenset(c.lower() for c in codes), re.compile(pattern, re.IGNORECASE), advice)


RULES: tuple[Rule, ...] = (
    _rule(
        "missing-mapping",
        "Missing identity mapping",
        {"identityMappingNotFound", "identityMappingMissing"},
        r"identity map",
        "The target tenant has no identity mapping for this user or group: add it to the spec (or the "
        "identity-map CSV) and apply it, " + RESTART,
    ),
    _rule(
        "target-exists",
        "Target OneDrive or site already exists",
        {"targetAlreadyExists", "targetSiteExists", "targetOneDriveExists"},
        r"already exists",
        "The target OneDrive or site already exists in the target tenant: delete or rename it there, or point "
        "the migration at another target, " + RESTART,
    ),
    _rule(
        "size-limit",
        "Size or item limit (2 TB / 1,000,000 items)",
        {"sourceTooLarge", "tooManyItems", "quotaExceeded", "itemLimitExceeded", "sizeLimitExceeded"},
        r"\b2 ?TB\b|1[,.]?000[,.]?000 items|\b1 ?M items|too large|size limit|item limit",
        "A OneDrive or site moves only under 2 TB and 1,000,000 items: move part of the content elsewhere or "
        "clean it up in the source, " + RESTART,
    ),
    _rule(
        "no-trust",
        "No trust between the tenants",
        {"crossTenantRelationshipMissing", "trustNotEstablished"},
        r"cross-tenant relationship|\btrust\b",
        "The cross-tenant relationship is missing or was removed: both admins set it up again "
        "(Set-SPOCrossTenantRelationship) and check it (Verify-SPOCrossTenantRelationship), " + RESTART,
    ),
    _rule(
        "feature-disabled",
        "Feature not enabled",
        {"featureNotEnabled", "notLicensed"},
        r"not (?:been )?enabled|not licensed|licen[cs]e",
        "Cross-tenant migration is not enabled for a tenant: it needs the Cross-Tenant User Data Migration "
        "license and the feature turned on for both tenants, " + RESTART,
    ),
    _rule(
        "source-locked",
        "Source read-only or on hold",
        {"sourceReadOnly", "sourceOnHold", "sourceLocked"},
        r"read[- ]?only|\blocked\b|on hold|\bhold\b|retention|ediscovery|litigation",
        "The source is read-only, locked or under a retention or eDiscovery hold, which blocks the move: unlock "
        "it or release the hold (ask compliance first), " + RESTART,
    ),
)

OTHER = "other"
OTHER_TITLE = "Other"
OTHER_ADVICE = (
    "Read the service's message and fix its cause (open a Microsoft support case with the task id if it does "
    "not say what to do), " + RESTART
)
ADVICE = {rule.group: rule.advice for rule in RULES} | {OTHER: OTHER_ADVICE}
TITLES = {rule.group: rule.title for rule in RULES} | {OTHER: OTHER_TITLE}

_SHAPES = (
    re.compile(r"https?://\S+", re.IGNORECASE),
    re.compile(r"\S+@\S+"),
    re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE),
    re.compile(r"'[^']*'|\"[^\"]*\""),
    re.compile(r"\d+(?:[.,]\d+)*"),
)


def message_shape(message: str) -> str:
    """The message with what varies per task (URLs, UPNs, ids, quoted names, numbers) replaced by ``…``."""
    for pattern in _SHAPES:
        message = pattern.sub("…", message)
    return " ".join(message.split())[:200]


def classify(code: str | None, message: str | None) -> str:
    """The group of a failure: a rule's group, or ``other``."""
    lowered = (code or "").lower()
    for rule in RULES:
        if lowered and lowered in rule.codes:
            return rule.group
    text = message or ""
    for rule in RULES:
        if rule.pattern.search(text):
            return rule.group
    return OTHER


def group_key(code: str | None, message: str | None) -> tuple[str, str]:
    """(group, pattern): the pattern tells the "other" failures apart; known groups have one pattern."""
    group = classify(code, message)
    if group != OTHER:
        return group, ""
    return group, f"{code or 'no code'}: {message_shape(message or 'no message')}"
