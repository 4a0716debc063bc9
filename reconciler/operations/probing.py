"""Whether each tenant answers collection reads: probed once, remembered in the state, used by plan and export.

A tenant's answer is taken from the state when the state has one (no request at all), and asked with
``graph.listing.probe`` otherwise or when the run is told to ``reprobe``. ``remember`` writes fresh
answers into an existing state under its lock, and only when no other run changed the state since it
was read, so a saved plan made from it stays fresh; a workspace with no state yet keeps none (the
first apply records them). ``observe`` is refresh plus, where supported, the listing of everything the
tenants hold, which the planner reads for the conflicts of unmanaged objects.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reconciler.errors import ReconcilerError
from reconciler.graph.client import SOURCE, TARGET, GraphClient
from reconciler.graph.listing import list_all, probe
from reconciler.graph.refresh import RefreshRequest
from reconciler.observed import Observed
from reconciler.operations.common import Meter, locked_state, refresh_with_meter
from reconciler.state.backend import StateBackend
from reconciler.state.model import Probe, State
from reconciler.workspace.connection import Connection


@dataclass
class Support:
    """Each role's answer, and the answers this run asked for (to be remembered)."""

    source: bool
    target: bool
    fresh: dict[str, Probe] = field(default_factory=dict)


async def support(graph: GraphClient, connection: Connection, state: State, *, reprobe: bool = False) -> Support:
    tenants = {SOURCE: connection.source.tenant_id.lower(), TARGET: connection.target.tenant_id.lower()}
    unknown: dict[str, str] = {}  # tenant id -> the role that asks it (one request per tenant)
    for role, tenant_id in tenants.items():
        if reprobe or tenant_id not in state.probes:
            unknown.setdefault(tenant_id, role)
    answers = await asyncio.gather(*(probe(graph, role) for role in unknown.values()))
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    fresh = {tenant_id: Probe(answer, stamp) for tenant_id, answer in zip(unknown, answers, strict=True)}
    known = {**state.probes, **fresh}
    return Support(known[tenants[SOURCE]].collection_reads, known[tenants[TARGET]].collection_reads, fresh)


def remember(backend: StateBackend, read: State, fresh: dict[str, Probe]) -> tuple[State, str | None]:
    """The state to plan with, and why the answers were not kept (None when they were, or nothing was new)."""
    if not fresh:
        return read, None
    if not read.lineage:
        return read, None  # no state yet: the first apply records them (plan never creates a state)
    try:
        with locked_state(backend, "plan (remember the collection-read probe)") as held:
            if (held.state.lineage, held.state.serial) != (read.lineage, read.serial):
                return read, "the state changed while this plan ran"
            held.state.probes.update(fresh)
            held.changed = True
            written = held.state
    except ReconcilerError as exc:  # the lock is held, or the state is read-only to this run
        return read, str(exc)
    return written, None


async def observe(graph: GraphClient, request: RefreshRequest, meter: Meter, reads: Support | None) -> Observed:
    """Refresh, then (where a tenant answers collection reads) list everything it holds into ``listing``."""
    observed = await refresh_with_meter(graph, request, meter)
    if reads is not None and (reads.source or reads.target):
        observed.listing = await list_all(graph, mappings=reads.target, tasks=reads.source)
    return observed
