"""Whether each tenant answers collection reads: probed once, remembered in the state, used by plan and export.

A tenant's answer is taken from the state when the state has one (no request at all), and asked with
``graph.listing.probe`` otherwise or when the run is told to ``reprobe``. Planning writes no state: a
plan's fresh answers travel in its plan file, and ``apply`` records them (``newer``) with its first
write, or alone when it has nothing else to write. ``observe`` is refresh plus, where supported, the
listing of everything the tenants hold, which the planner reads for the conflicts of unmanaged objects.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reconciler.graph.client import SOURCE, TARGET, GraphClient
from reconciler.graph.listing import list_all, probe
from reconciler.graph.refresh import RefreshRequest
from reconciler.observed import Observed
from reconciler.operations.common import Meter, refresh_with_meter
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


def newer(known: dict[str, Probe], carried: dict[str, Probe]) -> dict[str, Probe]:
    """The answers a saved plan carries that the state lacks or holds an older answer for."""
    return {
        tenant: probe
        for tenant, probe in carried.items()
        if tenant not in known or known[tenant].probed_at < probe.probed_at
    }


async def observe(graph: GraphClient, request: RefreshRequest, meter: Meter, reads: Support | None) -> Observed:
    """Refresh, then (where a tenant answers collection reads) list everything it holds into ``listing``."""
    observed = await refresh_with_meter(graph, request, meter)
    if reads is not None and (reads.source or reads.target):
        observed.listing = await list_all(graph, mappings=reads.target, tasks=reads.source)
    return observed
