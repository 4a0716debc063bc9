"""An apply run: lock the state, settle interrupted starts, plan (or check a saved plan), execute.

Ties workspace, state backend, Graph client, planner and applier together; the CLI only parses,
asks for approval through ``confirm``, renders and sets the exit code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reconciler.apply.executor import Applier, ApplyReport, Emit
from reconciler.errors import ReconcilerError
from reconciler.graph.config import GraphSettings
from reconciler.operations import probing
from reconciler.operations.common import Meter, NoMeter, connect, locked_state
from reconciler.operations.plan import context, refresh_request
from reconciler.plan import planfile
from reconciler.plan.model import Action, Plan
from reconciler.plan.planner import plan
from reconciler.plan.selection import Selection
from reconciler.state.model import State
from reconciler.state.select import open_backend
from reconciler.workspace.loader import Workspace

DESTROY_SHARE = 0.10


class ApplyRefused(ReconcilerError):
    """The run stopped before changing anything; the message says why and what to do."""


@dataclass
class ApplyOptions:
    auto_approve: bool = False
    lock_timeout: float = 0.0
    parallelism: int = 10
    allow_destroy: bool = False
    selection: Selection = field(default_factory=Selection)
    override_mapping_holds: bool = False


@dataclass
class ApplyOutcome:
    plan: Plan
    report: ApplyReport | None  # None: nothing was applied (no changes, or not approved)
    notes: list[str]


def destroy_check(result: Plan, managed: int, allow: bool) -> None:
    destructive = sum(1 for c in result.changes if c.action in (Action.DELETE, Action.CANCEL, Action.REPLACE))
    if destructive and not allow and destructive > max(1, int(managed * DESTROY_SHARE)):
        raise ApplyRefused(
            f"the plan would delete or cancel {destructive} of the {managed} objects this workspace manages "
            f"(more than {int(DESTROY_SHARE * 100)}%); review it and rerun with --allow-destroy if that is intended"
        )


def _protect_lookup(ws: Workspace) -> Callable[[str], bool | None]:
    """The spec's protect flag per address; None for addresses no longer in the spec."""
    flags = {item.address: item.protect for item in ws.desired.items()}
    return flags.get


def _location_lookup(ws: Workspace) -> Callable[[str], str | None]:
    """``file:line`` of each spec item, to say where a change the service refused was written."""
    where = {item.address: f"{item.range.filename}:{item.range.start.line}" for item in ws.desired.items()}
    return where.get


def _attempt_lookup(ws: Workspace) -> Callable[[str], int]:
    attempts: dict[str, int] = {}
    for item in ws.desired.items():
        attempt = getattr(item, "attempt", None)
        if isinstance(attempt, int):
            attempts[item.address] = attempt
    return lambda address: attempts.get(address, 1)


async def run_apply(
    ws: Workspace,
    options: ApplyOptions,
    confirm: Callable[[Plan], bool],
    emit: Emit,
    saved: planfile.PlanFile | None = None,
    meter: Meter | None = None,
    report: ApplyReport | None = None,
) -> ApplyOutcome:
    """``report``, when given, is filled as the run goes, so a caller can tell how far an interrupted
    run got."""
    meter = meter or NoMeter()
    backend = open_backend(ws)
    with locked_state(backend, "apply", options.lock_timeout) as held:
        state = held.state  # the applier saves it after every change, under this lock
        connection, client = connect(ws, GraphSettings(max_concurrency=options.parallelism))
        async with client as graph:
            applier = Applier(
                graph,
                backend,
                state,
                protected=_protect_lookup(ws),
                attempt_of=_attempt_lookup(ws),
                location_of=_location_lookup(ws),
                parallelism=options.parallelism,
                emit=emit,
                report=report,
                journal=backend.journal(),
            )
            if saved is not None:
                _check_fresh(saved, ws, state)
            notes = await applier.resolve_intents() if state.journal else []
            if saved is not None:
                if notes:
                    raise ApplyRefused(
                        "a previous apply was interrupted; its outcome is now recorded ("
                        + "; ".join(notes)
                        + "). Plan again."
                    )
                result = saved.plan
                learned = probing.newer(state.probes, saved.probes)  # what the plan asked; plan writes no state
            else:
                ctx = context(ws, connection, override_mapping_holds=options.override_mapping_holds)
                reads = await probing.support(graph, connection, state)
                learned = reads.fresh
                request = refresh_request(ws.desired, state, options.selection)
                observed = await probing.observe(graph, request, meter, reads)
                result = plan(ws.desired, observed, state, ctx, options.selection)
            if result.errored:
                raise ApplyRefused("the plan has errors (see the diagnostics); nothing was applied")
            state.probes.update(learned)  # saved with the applier's first write
            if not result.has_changes:
                held.changed = bool(learned) and bool(state.lineage)  # nothing else to write: keep the answers
                return ApplyOutcome(result, None, notes)
            destroy_check(result, len(state.resources), options.allow_destroy)
            if saved is None and not options.auto_approve and not confirm(result):
                return ApplyOutcome(result, None, notes)
            _announce(result, emit)
            meter.start("Applying", sum(1 for c in result.changes if c.changing))
            applier.on_finished = meter.advance
            try:
                report = await applier.apply(result)
            finally:
                meter.finish()
            return ApplyOutcome(result, report, notes)


def _check_fresh(saved: planfile.PlanFile, ws: Workspace, state: State) -> None:
    reasons = planfile.stale_reasons(saved.plan, ws.desired.digest(), state.lineage, state.serial)
    if reasons:
        raise ApplyRefused(
            "the saved plan is stale: " + "; ".join(reasons) + ". Run `reconciler plan` again and review the new plan."
        )


def _announce(result: Plan, emit: Emit) -> None:
    """The approved plan as events, before anything is carried out."""
    for change in result.changes:
        if change.changing:
            emit(
                {
                    "type": "planned_change",
                    "address": change.address,
                    "action": change.action.value,
                    "reason": change.reason,
                }
            )
    for diagnostic in result.diagnostics:
        emit({"type": "diagnostic", **diagnostic.to_json()})


def event_line(event: dict[str, Any]) -> str | None:
    """Plain progress for logs: one line per finished change."""
    if event.get("type") == "apply_held":
        return f"{event['address']}: {event['@message']}"
    if event.get("type") == "apply_complete":
        if event.get("@message"):
            return f"{event['address']}: {event['@message']}"
        return f"{event['address']}: {event['action']} complete"
    # A failure is listed once, in the errors after the run (the CLI's ``Error:`` lines), not here too.
    return None
