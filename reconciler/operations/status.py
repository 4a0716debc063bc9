"""Migration status: the tasks this workspace manages, read live from Graph, as one ``StatusReport``.

The report is judged as of the service's clock (the ``Date`` header of its answers; the local clock
only if it sent none), so stuck and overdue follow the service's time, including the emulator's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.atomic import atomic_write_text
from reconciler.errors import ReconcilerError
from reconciler.graph.refresh import RefreshRequest, refresh
from reconciler.kinds import TASK_KINDS
from reconciler.operations.common import connect
from reconciler.report.model import DEFAULT_STUCK_AFTER, Row, StatusReport, build_report
from reconciler.state.model import State
from reconciler.workspace.config import parse_duration
from reconciler.workspace.loader import Workspace


def write_report(path: Path, text: str) -> None:
    """The report as the whole new content of ``path`` (atomically: a reader sees the old page or the new)."""
    try:
        atomic_write_text(path, text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        raise ReconcilerError(f"cannot write the report to {path}: {exc.strerror or exc}") from None


async def read_status(ws: Workspace, state: State, stuck_after: timedelta | None = None) -> StatusReport:
    """The report of every migration the state knows a task id for; ``stuck_after`` overrides the config's."""
    spec = {}
    for item in ws.desired.items():
        span = getattr(item, "range", None)
        spec[item.address] = (
            getattr(item, "wave", None),
            f"{span.filename}:{span.start.line}" if span is not None else None,
            getattr(item, "latest_start", None),
        )
    managed = [(a, r) for a, r in sorted(state.resources.items()) if r.kind in TASK_KINDS and r.task_id]
    request = RefreshRequest(tasks=[(TASK_KINDS[r.kind], r.key, r.task_id) for _, r in managed])
    _, client = connect(ws)
    async with client as graph:
        observed = await refresh(graph, request)
        now = graph.server_time or datetime.now(UTC)
    rows = []
    for address, resource in managed:
        kind = TASK_KINDS[resource.kind]
        task = observed.tasks.get((kind, resource.key))
        error = observed.errors.get((resource.kind, resource.key))
        wave, location, declared_latest = spec.get(address, (None, None, None))
        rows.append(
            Row(
                address=address,
                kind=kind,
                wave=wave,
                status=task.status if task else ("unreadable" if error else "gone"),
                task_id=task.id if task else resource.task_id,
                started=task.started if task else None,
                finished=task.finished if task else None,
                last_updated=task.last_updated if task else None,
                latest_start=(task.latest_start if task else None) or declared_latest,
                error=task.error if task else error,
                error_code=task.error_code if task else None,
                location=location,
            )
        )
    configured = ws.config.status.stuck_after if ws.config is not None else None
    threshold = stuck_after or (parse_duration(configured) if configured else DEFAULT_STUCK_AFTER)
    return build_report(rows, now, threshold, list(ws.desired.waves))
