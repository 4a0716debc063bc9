"""``reconciler import``: record objects that already exist (PowerShell, another tool) in state, changing nothing.

An address must be in the spec (its kind and key say what to read). The live object is read and
recorded as managed: a mapping with its current values as the last applied ones (a later plan then
shows any difference from the spec as an update), a task with its id.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.graph.config import GraphSettings
from reconciler.kinds import TASK_KINDS
from reconciler.operations.common import Meter, NoMeter, connect, locked_state, refresh_with_meter
from reconciler.operations.plan import refresh_request
from reconciler.plan.projections import observed_group_values, observed_user_values
from reconciler.plan.selection import Selection
from reconciler.spec.desired import canonical_address
from reconciler.state.model import ResourceState
from reconciler.state.select import open_backend
from reconciler.workspace.loader import Workspace


@dataclass
class ImportResult:
    imported: list[str]
    problems: list[str]  # address: why it was not imported


async def run_import(
    ws: Workspace, addresses: list[str], lock_timeout: float = 0.0, meter: Meter | None = None
) -> ImportResult:
    items = {item.address: item for item in ws.desired.items()}
    result = ImportResult([], [])
    wanted = []
    for address in dict.fromkeys(canonical_address(a) for a in addresses):
        if address not in items:
            result.problems.append(f"{address}: not in the spec; add it to a spec file, then import it")
        else:
            wanted.append(address)
    if not wanted:
        return result
    backend = open_backend(ws)
    with locked_state(backend, "import", lock_timeout) as held:
        state = held.state
        _, client = connect(ws, GraphSettings())
        exact = Selection(tuple(wanted))  # a literal * or ? only widens the read, never what is recorded
        async with client as graph:
            observed = await refresh_with_meter(graph, refresh_request(ws.desired, state, exact), meter or NoMeter())
        for address in wanted:
            item = items[address]
            kind, key = address.split("[", 1)[0], item.key
            if address in state.resources:
                result.problems.append(f"{address}: already managed by this workspace")
                continue
            if (kind, key) in observed.errors:
                result.problems.append(f"{address}: could not be read: {observed.errors[(kind, key)]}")
                continue
            resource = ResourceState(kind, key, protect=item.protect)
            if kind == "user_mapping" and key in observed.user_mappings:
                resource.last_applied = observed_user_values(observed.user_mappings[key])
            elif kind == "group_mapping" and key in observed.group_mappings:
                resource.last_applied = observed_group_values(observed.group_mappings[key])
            elif kind in TASK_KINDS and (TASK_KINDS[kind], key) in observed.tasks:
                task = observed.tasks[(TASK_KINDS[kind], key)]
                resource.task_id = task.id
                resource.attempt = getattr(item, "attempt", 1)
                resource.last_applied = {"status": task.status}
            else:
                result.problems.append(f"{address}: does not exist in the tenant; nothing to import")
                continue
            state.resources[address] = resource
            result.imported.append(address)
        held.changed = bool(result.imported)
    return result
