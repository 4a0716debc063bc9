"""The status report as text for a terminal: counts by status and wave, then stuck, overdue and failed
migrations (failures by triage group, each with what to do)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.report.model import Row, StatusReport


def stamp(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z" if value else "-"


def duration(delta: timedelta) -> str:
    """``3d 4h``, ``5h 12m``, ``12m``: how long ago, to the minute."""
    minutes = max(0, round(delta.total_seconds() / 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    return f"{hours}h {mins}m" if hours else f"{mins}m"


def counts(values: dict[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(values.items()))


def clean(text: str) -> str:
    """Service text on one line, without control characters (no terminal escapes from a hostile message)."""
    return "".join(c if c.isprintable() else " " for c in text).strip()


def where(row: Row) -> str:
    return f" ({row.location})" if row.location else ""


def render_text(report: StatusReport) -> str:
    if not report.rows:
        return "This workspace manages no migrations yet."
    lines = [f"{len(report.rows)} migrations: {counts(dict(report.by_status()))}"]
    for wave in report.waves():
        times = ""
        if wave.first_started:
            times += f"; first started {stamp(wave.first_started)}"
        if wave.last_finished:
            times += f"; last finished {stamp(wave.last_finished)}"
        lines.append(f"  wave {clean(wave.name)}: {counts(wave.counts)}{times}")
    stuck = report.flagged("stuck")
    if stuck:
        lines.append(f"Stuck: {len(stuck)} in progress with no update for more than {duration(report.stuck_after)}")
        for row in stuck:
            seen = row.last_updated or row.started
            ago = f" ({duration(report.now - seen)} ago)" if seen else ""
            lines.append(f"  {row.address}: last updated {stamp(seen)}{ago}{where(row)}")
    overdue = report.flagged("overdue")
    if overdue:
        lines.append(f"Overdue: {len(overdue)} not started after their latest start")
        for row in overdue:
            lines.append(f"  {row.address}: latest start {stamp(row.latest_start)}{where(row)}")
    groups = report.failure_groups()
    if groups:
        failed = sum(len(g.rows) for g in groups)
        lines.append(f"Failed: {failed} in {len(groups)} group{'s' if len(groups) != 1 else ''}")
        for group in groups:
            lines.append(f"  {clean(group.title)} ({len(group.rows)}):")
            for row in group.rows:
                lines.append(f"    {row.address}: {clean(row.error or 'no message from the service')}{where(row)}")
            lines.append(f"    What to do: {group.advice}")
    return "\n".join(lines)
