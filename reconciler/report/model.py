"""The status report's one data model: every managed migration as a row, flagged and triaged, plus the views
(per wave, per day, stuck, overdue, failure groups) that every format renders.

Built from plain values by ``build_report`` (no I/O: the operation reads Graph, the renderers only format),
so the text, JSON, Markdown, CSV and HTML outputs cannot disagree. "Now" is the service's clock where it gave
one (its ``Date`` header), so a skewed local clock does not make tasks look stuck.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from reconciler.report import triage

TERMINAL = ("completed", "failed", "cancelled")
STATUS_ORDER = ("completed", "inProgress", "notStarted", "failed", "cancelled")
FLAGS = ("failed", "stuck", "overdue")  # what --fail-on can name
NO_WAVE = "(no wave)"
DEFAULT_STUCK_AFTER = timedelta(hours=24)


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    address: str
    kind: str  # the task kind: user, site or group
    wave: str | None
    status: str
    task_id: str | None
    started: datetime | None = None
    finished: datetime | None = None
    last_updated: datetime | None = None
    latest_start: datetime | None = None
    error: str | None = None
    error_code: str | None = None
    location: str | None = None  # file:line of the migration in the spec
    flags: tuple[str, ...] = ()  # stuck, overdue
    triage: str | None = None  # the failure group of a failed row
    pattern: str = ""  # tells "other" failures apart

    @property
    def marks(self) -> tuple[str, ...]:
        """What ``--fail-on`` can name that this row is: ``failed``, ``stuck``, ``overdue``."""
        return ("failed", *self.flags) if self.status == "failed" else self.flags

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "wave": self.wave,
            "status": self.status,
            "task_id": self.task_id,
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "last_updated": _iso(self.last_updated),
            "latest_start": _iso(self.latest_start),
            "flags": list(self.marks),
            "error": self.error,
            "error_code": self.error_code,
            "triage": self.triage,
            "location": self.location,
        }


@dataclass(frozen=True)
class WaveProgress:
    name: str
    counts: dict[str, int]
    first_started: datetime | None
    last_finished: datetime | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class FailureGroup:
    group: str
    title: str
    pattern: str
    advice: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class DayCount:
    day: date
    started: int
    completed: int
    failed: int
    cancelled: int


@dataclass
class StatusReport:
    rows: list[Row]
    now: datetime
    stuck_after: timedelta = DEFAULT_STUCK_AFTER
    wave_order: list[str] = field(default_factory=list)  # declared order; others follow by name

    @property
    def done(self) -> bool:
        return all(r.status in TERMINAL for r in self.rows)

    def by_status(self) -> Counter[str]:
        return Counter(r.status for r in self.rows)

    def waves(self) -> list[WaveProgress]:
        rows_by: dict[str, list[Row]] = {}
        for row in self.rows:
            rows_by.setdefault(row.wave or NO_WAVE, []).append(row)
        rank = {name: i for i, name in enumerate(self.wave_order)}
        names = sorted(rows_by, key=lambda n: (n == NO_WAVE, rank.get(n, len(rank)), n))
        out = []
        for name in names:
            rows = rows_by[name]
            starts = [r.started for r in rows if r.started]
            ends = [r.finished for r in rows if r.finished]
            out.append(
                WaveProgress(
                    name,
                    dict(Counter(r.status for r in rows)),
                    min(starts) if starts else None,
                    max(ends) if ends else None,
                )
            )
        return out

    def flagged(self, flag: str) -> list[Row]:
        if flag == "failed":
            return [r for r in self.rows if r.status == "failed"]
        return [r for r in self.rows if flag in r.flags]

    def failure_groups(self) -> list[FailureGroup]:
        """Failed rows by group and pattern; known groups in rule order, then "other" by size."""
        grouped: dict[tuple[str, str], list[Row]] = {}
        for row in self.rows:
            if row.status == "failed":
                grouped.setdefault((row.triage or triage.OTHER, row.pattern), []).append(row)
        order = {rule.group: i for i, rule in enumerate(triage.RULES)}
        keys = sorted(grouped, key=lambda k: (order.get(k[0], len(order)), -len(grouped[k]), k[1]))
        return [
            FailureGroup(
                group,
                triage.TITLES[group] if group != triage.OTHER else f"{triage.OTHER_TITLE}: {pattern}",
                pattern,
                triage.ADVICE[group],
                tuple(grouped[(group, pattern)]),
            )
            for group, pattern in keys
        ]

    def days(self) -> list[DayCount]:
        """Starts and finishes per UTC day, every day from the first to the last with one."""
        started: Counter[date] = Counter()
        ended: dict[str, Counter[date]] = {s: Counter() for s in TERMINAL}
        for row in self.rows:
            if row.started:
                started[row.started.astimezone(UTC).date()] += 1
            if row.finished and row.status in ended:
                ended[row.status][row.finished.astimezone(UTC).date()] += 1
        seen = set(started).union(*ended.values())
        if not seen:
            return []
        first, last = min(seen), max(seen)
        span = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        return [DayCount(d, started[d], ended["completed"][d], ended["failed"][d], ended["cancelled"][d]) for d in span]

    def failing(self, flags: Iterable[str]) -> dict[str, int]:
        """How many rows carry each of ``flags`` (only those with some): what ``--fail-on`` reports."""
        counts = {flag: len(self.flagged(flag)) for flag in flags}
        return {flag: n for flag, n in counts.items() if n}

    def to_json(self) -> dict[str, Any]:
        return {
            "now": _iso(self.now),
            "stuck_after_seconds": int(self.stuck_after.total_seconds()),
            "total": len(self.rows),
            "by_status": dict(self.by_status()),
            "by_wave": {w.name: w.counts for w in self.waves()},
            "done": self.done,
            "stuck": [r.address for r in self.flagged("stuck")],
            "overdue": [r.address for r in self.flagged("overdue")],
            "failures": [
                {
                    "group": g.group,
                    "title": g.title,
                    "count": len(g.rows),
                    "advice": g.advice,
                    "migrations": [{"address": r.address, "location": r.location, "error": r.error} for r in g.rows],
                }
                for g in self.failure_groups()
            ],
            "days": [
                {
                    "day": d.day.isoformat(),
                    "started": d.started,
                    "completed": d.completed,
                    "failed": d.failed,
                    "cancelled": d.cancelled,
                }
                for d in self.days()
            ],
            "migrations": [r.to_json() for r in self.rows],
        }


def flags_of(row: Row, now: datetime, stuck_after: timedelta) -> tuple[str, ...]:
    """``stuck``: in progress with no update for longer than ``stuck_after``; ``overdue``: not started
    after its latest start."""
    if row.status == "inProgress":
        seen = row.last_updated or row.started
        if seen is not None and now - seen > stuck_after:
            return ("stuck",)
    if row.status == "notStarted" and row.latest_start is not None and now > row.latest_start:
        return ("overdue",)
    return ()


def build_report(
    rows: Iterable[Row],
    now: datetime,
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
    wave_order: list[str] | None = None,
) -> StatusReport:
    """The report of ``rows`` (flags and triage filled in) as of ``now``."""
    out = []
    for row in rows:
        group, pattern = triage.group_key(row.error_code, row.error) if row.status == "failed" else (None, "")
        out.append(replace(row, flags=flags_of(row, now, stuck_after), triage=group, pattern=pattern))
    return StatusReport(out, now, stuck_after, list(wave_order or []))


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
