"""Unmanaged objects that conflict with the spec, found in the listing of everything the tenants hold.

Pure: the listing arrives on ``Observed`` (refresh reads it only where the tenants answer collection
reads). An object is unmanaged when the state does not track its address: a mapping uploaded by CSV,
a move started from PowerShell or by another workspace. It conflicts with the spec when it is

* a mapping for a source the spec maps to another target (apply overwrites it),
* a mapping for another source that names a target the spec maps to (two sources, one target),
* a queued, running or completed task for a source the spec migrates, to another target,
* a queued, running or completed task for another source to a target the spec migrates to.

Each conflict is a warning on the spec's address, so every plan output shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from reconciler.kinds import ADDRESS_KIND, TASK_KINDS
from reconciler.observed import Listing
from reconciler.plan.model import PlanDiagnostic
from reconciler.spec.desired import GROUP_MAPPING, USER_MAPPING, Desired, address
from reconciler.state.model import State

LIVE = frozenset({"notStarted", "inProgress", "completed"})  # a failed or cancelled task moved nothing
OUTSIDE = "It was made outside this workspace (a CSV upload, PowerShell, or another workspace)."


def conflicts(
    desired: Desired, listing: Listing, state: State, select: Callable[[str], bool]
) -> Iterator[PlanDiagnostic]:
    managed = {(r.kind, r.key) for r in state.resources.values()}
    if listing.mappings_listed:
        yield from _mappings(desired, listing, managed, select)
    if listing.tasks_listed:
        yield from _tasks(desired, listing, managed, select)


def _warning(addr: str, summary: str, detail: str) -> PlanDiagnostic:
    return PlanDiagnostic("warning", summary, detail, addr)


def _mappings(
    desired: Desired, listing: Listing, managed: set[tuple[str, str]], select: Callable[[str], bool]
) -> Iterator[PlanDiagnostic]:
    kinds = (
        (USER_MAPPING, {k: m.target_upn.lower() for k, m in desired.user_mappings.items()}, listing.user_mappings),
        (
            GROUP_MAPPING,
            {k: m.target_group_id.lower() for k, m in desired.group_mappings.items()},
            listing.group_mappings,
        ),
    )
    for kind, wanted, live in kinds:
        spec_by_target: dict[str, list[str]] = {}
        for key, target in wanted.items():
            spec_by_target.setdefault(target, []).append(key)
        for key, seen in sorted(live.items()):
            if (kind, key) in managed:
                continue
            seen_target: str | None = getattr(seen, "target_upn", None) or getattr(seen, "target_group_id", None)
            want = wanted.get(key)
            if want is not None and seen_target != want and select(address(kind, key)):
                yield _warning(
                    address(kind, key),
                    f"An unmanaged mapping in the target tenant maps this source to {seen_target}, not to {want}",
                    f"{OUTSIDE} Apply overwrites it with the spec's target; check that nothing else relies on it.",
                )
            if want is None and seen_target is not None:
                for spec_key in spec_by_target.get(seen_target, []):
                    if select(address(kind, spec_key)):
                        yield _warning(
                            address(kind, spec_key),
                            f"An unmanaged mapping for {key} names the same target, {seen_target}",
                            f"{OUTSIDE} Two sources mapped to one target both give it their owners and "
                            "permissions; remove one of the mappings.",
                        )


def _tasks(
    desired: Desired, listing: Listing, managed: set[tuple[str, str]], select: Callable[[str], bool]
) -> Iterator[PlanDiagnostic]:
    for kind, task_kind in TASK_KINDS.items():
        wanted = {key: m.target for key, m in desired.migrations(kind).items()}
        spec_by_target: dict[str, list[str]] = {}
        for key, target in wanted.items():
            spec_by_target.setdefault(target, []).append(key)
        for task in listing.tasks:
            if task.kind != task_kind or task.status not in LIVE or (ADDRESS_KIND[task_kind], task.key) in managed:
                continue
            want = wanted.get(task.key)
            if want is not None:
                if task.target != want and select(address(kind, task.key)):
                    yield _warning(
                        address(kind, task.key),
                        f"An unmanaged {task.status} task ({task.id}) moves this source to {task.target}, "
                        f"not to {want}",
                        f"{OUTSIDE} A source moves once: cancel that task while it is queued, or change the spec.",
                    )
                continue
            for spec_key in spec_by_target.get(task.target or "", []):
                if select(address(kind, spec_key)):
                    yield _warning(
                        address(kind, spec_key),
                        f"An unmanaged {task.status} task ({task.id}) for {task.key} moves to the same target, "
                        f"{task.target}",
                        f"{OUTSIDE} The target would receive two moves; the second fails or overwrites the first.",
                    )
