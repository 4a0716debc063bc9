"""Representative plans for the renderer tests, built in code: empty, converged, mixed and 10,000 changes."""

from __future__ import annotations

import dataclasses
from typing import Any

from reconciler.plan.model import Action, Change, Drift, EditedAttribute, Evidence, ImpossibleEdit, Plan, PlanDiagnostic

SOURCE = "11111111-1111-1111-1111-111111111111"
TARGET = "22222222-2222-2222-2222-222222222222"
EVIDENCE = Evidence("sha256:spec", "lineage-1", 7, True, "sha256:observed")


def _addr(kind: str, key: str) -> str:
    return f'{kind}["{key}"]'


def user_mapping(
    user: str, action: Action, reason: str, *, before: str | None = None, after: str | None = None
) -> Change:
    def values(upn: str | None) -> dict[str, Any] | None:
        if upn is None:
            return None
        return {"target_upn": upn, "user_type": "regularUser", "source_organization_id": SOURCE, "target_email": upn}

    key = f"{user}@contoso.com"
    return Change(_addr("user_mapping", key), "user_mapping", key, action, reason, values(before), values(after))


def migration(
    kind: str,
    key: str,
    action: Action,
    reason: str,
    *,
    wave: str | None = None,
    status: str | None = None,
    task_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> Change:
    return Change(_addr(kind, key), kind, key, action, reason, before, after, wave, status, task_id)


def task_values(target: str, **extra: Any) -> dict[str, Any]:
    return {"target": target, "target_organization_id": TARGET, **extra}


def empty_plan() -> Plan:
    return Plan(changes=[], evidence=EVIDENCE)


def converged_plan() -> Plan:
    """Nothing to do, but tasks are still running: the plan says so without listing them."""
    changes = [
        user_mapping(u, Action.NO_OP, "matches the spec", before=f"{u}@fabrikam.com", after=f"{u}@fabrikam.com")
        for u in ("amy", "ben", "cid")
    ]
    for i, status in enumerate(["inProgress", "inProgress", "notStarted", "completed"]):
        values = task_values(f"user{i}@fabrikam.com")
        action = Action.NO_OP if status == "completed" else Action.WAIT
        changes.append(
            migration(
                "user_migration",
                f"user{i}@contoso.com",
                action,
                status,
                wave="pilot",
                status=status,
                task_id=f"t-{i}",
                before=values,
                after=values,
            )
        )
    return Plan(changes=changes, evidence=EVIDENCE)


def mixed_plan() -> Plan:
    """Every action, waves, statuses, drift (changed and deleted) and both diagnostic severities."""
    start = "2025-07-01T22:00:00Z"
    changes = [
        user_mapping("alice", Action.CREATE, "not in the target tenant", after="alice@fabrikam.com"),
        user_mapping(
            "bob",
            Action.UPDATE,
            "target_upn changed in the spec",
            before="bob@fabrikam.com",
            after="robert@fabrikam.com",
        ),
        user_mapping(
            "carol", Action.DELETE, "managed by this workspace, gone from the spec", before="carol@fabrikam.com"
        ),
        user_mapping("dave", Action.NO_OP, "matches the spec", before="dave@fabrikam.com", after="dave@fabrikam.com"),
        Change(
            _addr("group_mapping", "6f1c2d3e-0000-4000-8000-000000000001"),
            "group_mapping",
            "6f1c2d3e-0000-4000-8000-000000000001",
            Action.CREATE,
            "not in the target tenant",
            after={
                "target_group_id": "9a8b7c6d-0000-4000-8000-000000000001",
                "target_mail_nickname": "finance",
                "group_type": "m365Group",
            },
        ),
        migration(
            "user_migration",
            "frank@contoso.com",
            Action.START,
            "no migration task exists for this source",
            wave="pilot",
            after=task_values("frank@fabrikam.com", preferred_start=start),
        ),
        migration(
            "user_migration",
            "grace@contoso.com",
            Action.CANCEL,
            "cancel requested and the task has not started",
            wave="pilot",
            status="notStarted",
            task_id="t-grace",
            before=task_values("grace@fabrikam.com"),
        ),
        migration(
            "user_migration",
            "heidi@contoso.com",
            Action.REPLACE,
            "preferred_start changed while not started: cancel, then start with the new values",
            wave="pilot",
            status="notStarted",
            task_id="t-heidi",
            before=task_values("heidi@fabrikam.com", preferred_start=start),
            after=task_values("heidi@fabrikam.com", preferred_start="2025-07-02T22:00:00Z"),
        ),
        migration(
            "user_migration",
            "niaj@contoso.com",
            Action.FORGET,
            "removed from the spec: stop tracking it (the migration itself is not cancelled)",
            wave="pilot",
            status="completed",
            task_id="t-niaj",
        ),
        migration(
            "user_migration",
            "ivan@contoso.com",
            Action.RESTART,
            "attempt 2 requested after the task failed",
            wave="wave-10",
            status="failed",
            task_id="t-ivan",
            before=task_values("ivan@fabrikam.com"),
            after=task_values("ivan@fabrikam.com"),
        ),
        migration(
            "user_migration",
            "judy@contoso.com",
            Action.VALIDATE,
            "validate_only: the service checks the move; nothing is started",
            wave="wave-2",
            after=task_values("judy@fabrikam.com", validate_only=True),
        ),
        migration(
            "user_migration",
            "mallory@contoso.com",
            Action.ADOPT,
            "a task already exists for this source (inProgress); adopting it instead of starting another",
            wave="wave-2",
            status="inProgress",
            task_id="t-mallory",
            before=task_values("mallory@fabrikam.com"),
            after=task_values("mallory@fabrikam.com"),
        ),
        migration(
            "site_migration",
            "https://contoso.sharepoint.com/sites/it",
            Action.START,
            "no migration task exists for this source",
            wave="wave-2",
            after=task_values("https://fabrikam.sharepoint.com/sites/it", target_data_location=None),
        ),
        migration(
            "site_migration",
            "https://contoso.sharepoint.com/sites/hr",
            Action.WAIT,
            "in progress",
            wave="wave-2",
            status="inProgress",
            task_id="t-hr",
        ),
        migration(
            "group_migration",
            "finance",
            Action.START,
            "no migration task exists for this source",
            after=task_values("finance"),
        ),
        migration("group_migration", "sales", Action.WAIT, "scheduled", status="notStarted", task_id="t-s"),
    ]
    for i, status in enumerate(["inProgress", "inProgress", "inProgress", "completed", "completed"]):
        action = Action.NO_OP if status == "completed" else Action.WAIT
        changes.append(migration("user_migration", f"u{i}@contoso.com", action, status, wave="pilot", status=status))
    drift = [
        Drift(
            _addr("user_mapping", "dave@contoso.com"),
            "user_mapping",
            "dave@contoso.com",
            {"target_upn": "dave@fabrikam.com", "user_type": "regularUser"},
            {"target_upn": "d.smith@fabrikam.com", "user_type": "regularUser"},
            "target_upn edited in the target tenant",
        ),
        Drift(
            _addr("group_mapping", "6f1c2d3e-0000-4000-8000-000000000002"),
            "group_mapping",
            "6f1c2d3e-0000-4000-8000-000000000002",
            {"target_group_id": "9a8b7c6d-0000-4000-8000-000000000002", "group_type": "regularGroup"},
            None,
            "deleted from the target tenant",
        ),
    ]
    diagnostics = [
        PlanDiagnostic(
            "warning",
            "Latest start is in the past",
            "latest_start was 2025-06-01T00:00:00Z.",
            _addr("site_migration", "https://contoso.sharepoint.com/sites/it"),
        ),
        PlanDiagnostic(
            "error",
            "No user mapping on the target tenant for this migration",
            "Add a user_mapping for judy@contoso.com,\nor remove the migration.",
            _addr("user_migration", "judy@contoso.com"),
        ),
    ]
    return Plan(changes=changes, drift=drift, diagnostics=diagnostics, evidence=EVIDENCE)


_BIG_MIX = [
    # (kind, action, status, share of 10,000): a first onboarding wave of a large estate.
    ("user_mapping", Action.CREATE, None, 6000),
    ("user_mapping", Action.NO_OP, None, 1500),
    ("user_mapping", Action.UPDATE, None, 200),
    ("user_mapping", Action.DELETE, None, 20),
    ("user_migration", Action.START, None, 250),
    ("user_migration", Action.WAIT, "inProgress", 1200),
    ("user_migration", Action.NO_OP, "completed", 600),
    ("user_migration", Action.CANCEL, "notStarted", 30),
    ("user_migration", Action.FORGET, "completed", 100),
    ("site_migration", Action.START, None, 80),
    ("site_migration", Action.WAIT, "notStarted", 20),
]


def big_plan() -> Plan:
    """10,000 changes across kinds and five waves, generated in a loop."""
    changes: list[Change] = []
    for kind, action, status, count in _BIG_MIX:
        for i in range(count):
            n = len(changes)
            if kind == "user_mapping":
                user = f"user{n:05d}"
                before = None if action is Action.CREATE else f"{user}@fabrikam.com"
                after = None if action is Action.DELETE else f"{user}@fabrikam.com"
                if action is Action.UPDATE:
                    after = f"{user}.new@fabrikam.com"
                changes.append(user_mapping(user, action, "generated", before=before, after=after))
                continue
            key = (
                f"user{n:05d}@contoso.com"
                if kind == "user_migration"
                else f"https://contoso.sharepoint.com/sites/s{n:05d}"
            )
            values = task_values(key.replace("contoso", "fabrikam"))
            changes.append(
                migration(
                    kind,
                    key,
                    action,
                    "generated",
                    wave=f"wave-{i % 5 + 1}",
                    status=status,
                    task_id=None if action is Action.START else f"t-{n:05d}",
                    before=None if action is Action.START else values,
                    after=None if action in (Action.CANCEL, Action.FORGET) else values,
                )
            )
    assert len(changes) == 10_000
    return Plan(changes=changes, evidence=EVIDENCE)


def _impossible() -> list[ImpossibleEdit]:
    return [
        ImpossibleEdit(
            _addr("site_migration", "https://contoso.sharepoint.com/sites/it"),
            "site_migration",
            "https://contoso.sharepoint.com/sites/it",
            "sites.yaml:12:5",
            "completed",
            "t-it",
            (
                EditedAttribute(
                    "target_url",
                    "https://fabrikam.sharepoint.com/sites/it",
                    "https://fabrikam.sharepoint.com/sites/it2",
                ),
            ),
            "target_url changed in the spec, but the migration is completed",
            "The move is done and cannot change. Restore the live value in the spec to record what happened; a move "
            "with other values is a new migration.",
        ),
        ImpossibleEdit(
            _addr("user_migration", "dan@contoso.com"),
            "user_migration",
            "dan@contoso.com",
            "users.yaml:40:5",
            "inProgress",
            "t-dan",
            (EditedAttribute("state", "inProgress", "cancelled"),),
            "cancel requested, but the migration is in progress",
            "The service cancels only migrations that have not started. Remove `state: cancelled` and let it finish.",
        ),
    ]


def _held(user: str) -> Change:
    change = user_mapping(user, Action.WAIT, "", before=f"{user}@fabrikam.com")
    reason = (
        "held: 3 migrations are queued or in progress and may use this mapping; the first plan after they finish "
        "deletes it"
    )
    return dataclasses.replace(change, reason=reason, held=True)


def guarded_plan() -> Plan:
    """Changes beside impossible edits, held deletions and the hold override (as a reviewed plan has it)."""
    changes = [
        user_mapping("eve", Action.CREATE, "not in the target tenant", after="eve@fabrikam.com"),
        user_mapping("fay", Action.DELETE, "removed from the spec; hold overridden", before="fay@fabrikam.com"),
        _held("gus"),
        _held("hal"),
        migration(
            "user_migration",
            "dan@contoso.com",
            Action.WAIT,
            "in progress",
            status="inProgress",
            task_id="t-dan",
            before=task_values("dan@fabrikam.com"),
        ),
    ]
    warning = PlanDiagnostic(
        "warning",
        "Mapping holds overridden: 1 mapping deletion planned while 3 migrations are queued or in progress",
        "The plan was made with --override-mapping-holds.",
    )
    return Plan(changes, [], [warning], EVIDENCE, _impossible(), {"override_mapping_holds": True})


def stalled_plan() -> Plan:
    """Nothing to apply, yet not converged: impossible edits and held deletions only."""
    return Plan([_held("gus")], [], [], EVIDENCE, _impossible())


def _site(name: str, action: Action, reason: str, wave: str, waiting: str | None = None) -> Change:
    key = f"https://contoso.sharepoint.com/sites/{name}"
    after = task_values(f"https://fabrikam.sharepoint.com/sites/{name}")
    change = migration("site_migration", key, action, reason, wave=wave, after=after)
    return dataclasses.replace(change, waiting=waiting)


def waves_plan() -> Plan:
    """Starts of an open wave beside starts waiting for a shut gate and for capacity (plan --only start)."""
    gate = "wave2 waits: pilot 3/4 completed (75% < 95%)"
    capacity = "capacity: 4,000 in flight (max_in_flight 4,000); a later plan starts it as tasks finish"
    changes = [
        _site("p4", Action.START, "no migration task exists for this source", "pilot"),
        _site("a1", Action.WAIT, capacity, "pilot", "capacity"),
        _site("w1", Action.WAIT, gate, "wave2", "gate"),
        _site("w2", Action.WAIT, gate, "wave2", "gate"),
    ]
    return Plan(changes, [], [], EVIDENCE, [], {"only_start": True})


def waiting_plan() -> Plan:
    """Nothing to start now: every start waits (not converged, and not pending either)."""
    return Plan([_site("w1", Action.WAIT, "wave2 waits: pilot 3 failed (> 2)", "wave2", "gate")], [], [], EVIDENCE)


PLANS = {
    "empty": empty_plan,
    "converged": converged_plan,
    "mixed": mixed_plan,
    "big": big_plan,
    "guarded": guarded_plan,
    "stalled": stalled_plan,
    "waves": waves_plan,
    "waiting": waiting_plan,
}
