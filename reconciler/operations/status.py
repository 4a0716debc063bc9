"""Migration status: the tasks this workspace manages, counted by status and wave, read live from Graph."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reconciler.graph.refresh import RefreshRequest, refresh
from reconciler.kinds import TASK_KINDS
from reconciler.operations.common import connect
from reconciler.state.model import State
from reconciler.workspace.loader import Workspace

TERMINAL = ("completed", "failed", "cancelled")


@dataclass
class TaskRow:
    address: str
    wave: str | None
    status: str
    task_id: str | None
    started: datetime | None
    finished: datetime | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "wave": self.wave,
            "status": self.status,
            "task_id": self.task_id,
            "started": self.started.isoformat() if self.started else None,
            "finished": self.finished.isoformat() if self.finished else None,
            "error": self.error,
        }


@dataclass
class Status:
    rows: list[TaskRow] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return all(r.status in TERMINAL for r in self.rows)

    def by_status(self) -> Counter[str]:
        return Counter(r.status for r in self.rows)

    def by_wave(self) -> dict[str, Counter[str]]:
        waves: dict[str, Counter[str]] = {}
        for row in self.rows:
            waves.setdefault(row.wave or "(no wave)", Counter())[row.status] += 1
        return waves

    def to_json(self) -> dict[str, Any]:
        return {
            "total": len(self.rows),
            "by_status": dict(self.by_status()),
            "by_wave": {w: dict(c) for w, c in self.by_wave().items()},
            "done": self.done,
            "migrations": [r.to_json() for r in self.rows],
        }

    def render(self) -> str:
        if not self.rows:
            return "This workspace manages no migrations yet."
        lines = [f"{len(self.rows)} migrations: " + ", ".join(f"{n} {s}" for s, n in sorted(self.by_status().items()))]
        for wave, counts in sorted(self.by_wave().items()):
            rows = [r for r in self.rows if (r.wave or "(no wave)") == wave]
            starts = [r.started for r in rows if r.started]
            ends = [r.finished for r in rows if r.finished]
            times = ""
            if starts:
                times += f"; first started {min(starts):%Y-%m-%d %H:%M:%S}Z"
            if ends:
                times += f"; last finished {max(ends):%Y-%m-%d %H:%M:%S}Z"
            lines.append(f"  wave {wave}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + times)
        failed = [r for r in self.rows if r.status == "failed"]
        if failed:
            lines.append("Failed:")
            lines.extend(f"  {r.address}: {r.error or 'no message from the service'}" for r in failed)
        return "\n".join(lines)


async def read_status(ws: Workspace, state: State) -> Status:
    waves = {item.address: getattr(item, "wave", None) for item in ws.desired.items()}
    managed = [(a, r) for a, r in sorted(state.resources.items()) if r.kind in TASK_KINDS and r.task_id]
    request = RefreshRequest(tasks=[(TASK_KINDS[r.kind], r.key, r.task_id) for _, r in managed])
    _, client = connect(ws)
    async with client as graph:
        observed = await refresh(graph, request)
    status = Status()
    for address, resource in managed:
        task = observed.tasks.get((TASK_KINDS[resource.kind], resource.key))
        error = observed.errors.get((resource.kind, resource.key))
        status.rows.append(
            TaskRow(
                address=address,
                wave=waves.get(address),
                status=task.status if task else ("unreadable" if error else "gone"),
                task_id=task.id if task else resource.task_id,
                started=task.started if task else None,
                finished=task.finished if task else None,
                error=(task.error if task else error),
            )
        )
    return status
