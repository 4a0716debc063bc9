"""A plan run: the workspace and its state, a batched refresh through Graph, then the pure planner.

This ties the floors together (workspace, graph, plan); the CLI only parses, calls ``run_plan``,
renders and sets the exit code. ``refresh_request``, ``observed_from_state`` and ``context`` serve the
other runs too (apply plans again; import reads what it records).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reconciler.kinds import TASK_KINDS
from reconciler.observed import Observed
from reconciler.plan.model import Plan
from reconciler.plan.planner import plan
from reconciler.plan.projections import (
    PlanContext,
    observed_group_from_values,
    observed_task_from_values,
    observed_user_from_values,
)
from reconciler.plan.selection import Selection
from reconciler.spec.desired import GROUP_MAPPING, USER_MAPPING, USER_MIGRATION, Desired, address, wave_key
from reconciler.state.model import Probe, State
from reconciler.workspace.config import DEFAULT_MAX_IN_FLIGHT
from reconciler.workspace.loader import Workspace

if TYPE_CHECKING:
    # The Graph client (httpx, msal) is loaded only by a run that refreshes: plan --no-refresh never uses it.
    from reconciler.graph.refresh import RefreshRequest
    from reconciler.operations.common import Meter
    from reconciler.workspace.connection import Connection


@dataclass(frozen=True)
class PlanOptions:
    refresh: bool = True
    selection: Selection = field(default_factory=Selection)
    parallelism: int = 10
    override_mapping_holds: bool = False
    only: frozenset[str] = frozenset()  # plan --only: the actions kept (empty: all)
    reprobe: bool = False  # ask the tenants again whether they answer collection reads


def refresh_request(desired: Desired, state: State, selection: Selection) -> RefreshRequest:
    """Every address in desired state and in state (narrowed by the selection), by kind.

    A selected mapping that state manages and the spec no longer declares may be deleted, and whether
    that deletion is held depends on every migration in flight: then every managed task is read too,
    selected or not, and the OneDrive task of each such user mapping's own source. A selected migration
    may start, and whether it may depends on capacity (every managed task in flight counts) and on its
    wave's gate (the migrations of the waves it follows): those are read too.
    """
    from reconciler.graph.refresh import RefreshRequest

    request = RefreshRequest()
    managed: dict[str, dict[str, str | None]] = {}
    for resource in state.resources.values():
        managed.setdefault(resource.kind, {})[resource.key] = resource.task_id
    user_keys = set(desired.user_mappings) | set(managed.get(USER_MAPPING, {}))
    request.user_mappings = sorted(k for k in user_keys if selection(address(USER_MAPPING, k)))
    group_keys = set(desired.group_mappings) | set(managed.get(GROUP_MAPPING, {}))
    request.group_mappings = sorted(k for k in group_keys if selection(address(GROUP_MAPPING, k)))
    removed_users = [
        k for k in request.user_mappings if k in managed.get(USER_MAPPING, {}) and k not in desired.user_mappings
    ]
    removed_groups = [
        k for k in request.group_mappings if k in managed.get(GROUP_MAPPING, {}) and k not in desired.group_mappings
    ]
    deleting = bool(removed_users or removed_groups)
    starting, gating = _starts_need(desired, selection)
    for kind, task_kind in TASK_KINDS.items():
        items = desired.migrations(kind)
        known = managed.get(kind, {})
        own = removed_users if kind == USER_MIGRATION else []
        for key in sorted(set(items) | set(known) | set(own)):
            wave = items[key].wave if key in items else None
            if (
                selection(address(kind, key))
                or ((deleting or starting) and key in known)
                or (deleting and key in own)
                or (wave is not None and wave_key(wave) in gating)
            ):
                request.tasks.append((task_kind, key, known.get(key)))
    return request


def _starts_need(desired: Desired, selection: Selection) -> tuple[bool, set[str]]:
    """Whether any migration is selected (so capacity counts every managed task), and the waves whose
    migrations the selected ones' gates are judged by."""
    starting = False
    gating: set[str] = set()
    for kind in TASK_KINDS:
        for key, migration in desired.migrations(kind).items():
            if not selection(address(kind, key)):
                continue
            starting = True
            wave = desired.waves.get(wave_key(migration.wave)) if migration.wave is not None else None
            if wave is not None:
                gating.update(wave.after)
    return starting, gating


def observed_from_state(state: State) -> Observed:
    """``--no-refresh``: take state's last applied values as what the tenants hold."""
    observed = Observed(refreshed=False)
    for r in state.resources.values():
        last = r.last_applied
        if r.kind == USER_MAPPING and last:
            observed.user_mappings[r.key] = observed_user_from_values(r.key, last)
        elif r.kind == GROUP_MAPPING and last:
            observed.group_mappings[r.key] = observed_group_from_values(r.key, last)
        elif r.kind in TASK_KINDS and r.task_id:
            kind = TASK_KINDS[r.kind]
            observed.tasks[(kind, r.key)] = observed_task_from_values(kind, r.key, r.task_id, last)
    return observed


def context(
    workspace: Workspace,
    connection: Connection | None,
    *,
    override_mapping_holds: bool = False,
    only: frozenset[str] = frozenset(),
) -> PlanContext:
    source = (workspace.source.tenant_id if workspace.source else None) or (
        connection.source.tenant_id if connection else ""
    )
    target = (workspace.target.tenant_id if workspace.target else None) or (
        connection.target.tenant_id if connection else ""
    )
    return PlanContext(
        source_tenant_id=source or "",
        target_tenant_id=target or "",
        override_mapping_holds=override_mapping_holds,
        workspace_root=str(workspace.root),
        max_in_flight=workspace.config.max_in_flight if workspace.config else DEFAULT_MAX_IN_FLIGHT,
        only=only,
    )


def plan_from_state(workspace: Workspace, state: State, options: PlanOptions) -> tuple[Plan, PlanContext]:
    """``--no-refresh``: plan against state's last applied values, without an event loop (nothing to await)."""
    ctx = context(workspace, None, override_mapping_holds=options.override_mapping_holds, only=options.only)
    observed = observed_from_state(state)
    return plan(workspace.desired, observed, state, dataclasses.replace(ctx, refreshed=False), options.selection), ctx


async def run_plan(
    workspace: Workspace,
    state: State,
    options: PlanOptions,
    meter: Meter | None = None,
    fresh_probes: dict[str, Probe] | None = None,
) -> tuple[Plan, PlanContext]:
    """Refresh (unless told not to) and plan. Raises ``CredentialError`` or ``GraphError`` on failure.

    Planning writes no state: answers of the collection-read probe this run had to ask for are added to
    ``fresh_probes``, which a saved plan carries so that its apply records them."""
    if not options.refresh:
        return plan_from_state(workspace, state, options)
    from reconciler.graph.config import GraphSettings
    from reconciler.operations import probing
    from reconciler.operations.common import NoMeter, connect

    connection, client = connect(workspace, GraphSettings(max_concurrency=options.parallelism))
    ctx = context(workspace, connection, override_mapping_holds=options.override_mapping_holds, only=options.only)
    async with client as graph:
        reads = await probing.support(graph, connection, state, reprobe=options.reprobe)
        if fresh_probes is not None:
            fresh_probes.update(reads.fresh)
        request = refresh_request(workspace.desired, state, options.selection)
        observed = await probing.observe(graph, request, meter or NoMeter(), reads)
    return plan(workspace.desired, observed, state, ctx, options.selection), ctx
