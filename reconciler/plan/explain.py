"""Path-level explanations of what changed inside an object, by DeepDiff, for the plan's reviewers.

The planner decides with ``==`` on flat values; only for an object it already found different (drifted, or
to be updated) does it ask here what exactly differs. Values are laid out as the Graph resource nests them
(``targetUserIdentity.userPrincipalName``), every field the object carries, declared in the spec or not, so a
reviewer reads the paths Graph's documentation and Graph Explorer show. DeepDiff is imported on the first
call only: a plan without drift or updates neither imports it nor calls it (``calls`` counts, for the bench).
"""

from __future__ import annotations

from typing import Any

# Flat value name (``reconciler.plan.projections``) -> member path in the Graph resource, per address kind.
WIRE_PATHS: dict[str, dict[str, tuple[str, ...]]] = {
    "user_mapping": {
        "target_upn": ("targetUserIdentity", "userPrincipalName"),
        "target_email": ("targetUserMigrationData", "email"),
        "user_type": ("userType",),
        "source_organization_id": ("sourceOrganizationId",),
    },
    "group_mapping": {
        "target_group_id": ("targetGroupIdentity", "id"),
        "target_mail_nickname": ("targetGroupMigrationData", "mailNickname"),
        "group_type": ("groupType",),
        "source_organization_id": ("sourceOrganizationId",),
    },
}

calls = 0  # DeepDiff runs since the process started (bench/explain_calls.py reads it)


def wire_shape(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    """Flat values nested as the Graph resource carries them; absent (None) members are left out, as Graph does."""
    paths = WIRE_PATHS.get(kind, {})
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        *parents, leaf = paths.get(name, (name,))
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def explain(kind: str, before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Every member that differs, as ``{"path", "change", "before", "after"}`` sorted by path.

    ``change`` is ``changed``, ``added`` (absent before) or ``removed`` (absent after); the absent side is None.
    """
    global calls
    from deepdiff import DeepDiff  # only once a difference is known: importing it costs more than a small plan

    calls += 1
    diff = DeepDiff(wire_shape(kind, before), wire_shape(kind, after), view="tree", verbose_level=2)
    out: list[dict[str, Any]] = []
    for report, change in _REPORTS.items():
        for level in diff.get(report, ()):
            path = ".".join(str(part) for part in level.path(output_format="list"))
            t1 = None if change == "added" else level.t1
            t2 = None if change == "removed" else level.t2
            if change != "changed" and isinstance(t1 if t2 is None else t2, dict):
                # A whole member object appeared or went: name its leaves, the paths reviewers look for.
                side = "before" if t2 is None else "after"
                out += [
                    {"path": p, "change": change, "before": None, "after": None, side: v}
                    for p, v in _leaves(path, t1 if t2 is None else t2)
                ]
                continue
            out.append({"path": path, "change": change, "before": t1, "after": t2})
    return sorted(out, key=lambda e: e["path"])


def _leaves(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if not isinstance(value, dict) or not value:
        return [(prefix, value)]
    return [leaf for key, inner in value.items() for leaf in _leaves(f"{prefix}.{key}", inner)]


# DeepDiff's report names -> ours. Values are JSON scalars or objects; a member that turns from one to the
# other (a string where an object was) is a type change, shown as changed.
_REPORTS = {
    "values_changed": "changed",
    "type_changes": "changed",
    "dictionary_item_added": "added",
    "dictionary_item_removed": "removed",
    "iterable_item_added": "added",
    "iterable_item_removed": "removed",
}
