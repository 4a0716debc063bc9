"""The status report as one self-contained HTML page: inline CSS and SVG charts we draw, no script, no fetch.

Charts: per-wave progress bars by status, a timeline of cumulative starts and finishes, and finishes per
day; then the stuck, overdue and failed tables (failures by triage group, with what to do). Every number
a chart shows is also in a ``data-*`` attribute, so a test (or a person with the inspector) can read it.
Every string from the spec or the service goes through ``html.escape``, and a Content-Security-Policy
forbids scripts and every fetch, so a hostile name can neither run nor call out.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime
from html import escape

from reconciler.report.model import STATUS_ORDER, TERMINAL, Row, StatusReport
from reconciler.report.render_text import duration, stamp

TABLE_CAP = 1000  # rows per table; the CSV has every migration
COLOURS = {
    "completed": "#2e7d32",
    "inProgress": "#1565c0",
    "notStarted": "#9e9e9e",
    "failed": "#c62828",
    "cancelled": "#ef8f00",
}
OTHER_COLOUR = "#6a1b9a"
WIDTH = 760
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 4px}.muted{color:#666}.chip{display:inline-block;padding:1px 8px;
border-radius:10px;color:#fff;margin-right:6px;font-size:13px}table{border-collapse:collapse;width:100%;
font-size:13px}td,th{border-bottom:1px solid #eee;padding:3px 6px;text-align:left;vertical-align:top}
code{font-size:12px;word-break:break-all}.advice{background:#fff8e1;padding:6px 10px;border-left:3px solid
#ef8f00}.warn{background:#ffebee;padding:6px 10px;border-left:3px solid #c62828}svg text{font-size:11px}
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _colour(status: str) -> str:
    return COLOURS.get(status, OTHER_COLOUR)


def _statuses(report: StatusReport) -> list[str]:
    seen = report.by_status()
    return [s for s in STATUS_ORDER if seen.get(s)] + sorted(set(seen) - set(STATUS_ORDER))


def wave_bars(report: StatusReport) -> str:
    waves = report.waves()
    statuses = _statuses(report)
    row_h, label_w, bar_w = 26, 170, WIDTH - 170 - 110
    height = row_h * len(waves) + 8
    parts = [f'<svg id="waves" role="img" aria-label="Progress by wave" width="{WIDTH}" height="{height}">']
    for i, wave in enumerate(waves):
        y = 4 + i * row_h
        parts.append(f'<g class="wave" data-wave="{_e(wave.name)}" data-total="{wave.total}">')
        parts.append(f'<text x="0" y="{y + 15}">{_e(wave.name[:28])}</text>')
        x = float(label_w)
        for status in statuses:
            n = wave.counts.get(status, 0)
            if not n:
                continue
            w = bar_w * n / wave.total
            parts.append(
                f'<rect data-status="{_e(status)}" data-count="{n}" x="{x:.1f}" y="{y}" width="{w:.1f}" '
                f'height="{row_h - 8}" fill="{_colour(status)}"><title>{_e(wave.name)}: {n} {_e(status)}</title></rect>'
            )
            x += w
        done = wave.counts.get("completed", 0)
        parts.append(f'<text class="done" x="{label_w + bar_w + 8}" y="{y + 15}">{done}/{wave.total} completed</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _fmt_day(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def timeline(report: StatusReport, samples: int = 200) -> str:
    starts = sorted(r.started for r in report.rows if r.started)
    ends = sorted(r.finished for r in report.rows if r.finished)
    if not starts:
        return '<p class="muted" id="timeline">No migration has started yet.</p>'
    first = starts[0]
    last = max(report.now, ends[-1] if ends else first, starts[-1])
    span = max((last - first).total_seconds(), 1.0)
    total = len(report.rows)
    h, left, right, top, bottom = 180, 44, 12, 10, 24
    plot_w, plot_h = WIDTH - left - right, h - top - bottom

    def points(events: list[datetime]) -> str:
        stamps = [e.timestamp() for e in events]
        out = []
        for i in range(samples + 1):
            n = bisect_right(stamps, first.timestamp() + span * i / samples)
            out.append(f"{left + plot_w * i / samples:.1f},{top + plot_h - plot_h * n / total:.1f}")
        return " ".join(out)

    return (
        f'<svg id="timeline" role="img" aria-label="Cumulative starts and finishes" width="{WIDTH}" height="{h}" '
        f'data-started="{len(starts)}" data-finished="{len(ends)}" data-total="{total}">'
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>'
        f'<text x="{left - 6}" y="{top + 8}" text-anchor="end">{total}</text>'
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>'
        f'<text x="{left}" y="{h - 6}">{_fmt_day(first)}Z</text>'
        f'<text x="{left + plot_w}" y="{h - 6}" text-anchor="end">{_fmt_day(last)}Z</text>'
        f'<polyline class="started" fill="none" stroke="{COLOURS["inProgress"]}" stroke-width="2" '
        f'points="{points(starts)}"><title>started: {len(starts)}</title></polyline>'
        f'<polyline class="finished" fill="none" stroke="{COLOURS["completed"]}" stroke-width="2" '
        f'points="{points(ends)}"><title>finished: {len(ends)}</title></polyline>'
        "</svg>"
        f'<p class="legend"><span class="chip" style="background:{COLOURS["inProgress"]}">started {len(starts)}</span>'
        f'<span class="chip" style="background:{COLOURS["completed"]}">finished {len(ends)}</span></p>'
    )


def throughput(report: StatusReport) -> str:
    days = report.days()
    if not days:
        return '<p class="muted" id="throughput">Nothing has started or finished yet.</p>'
    h, left, top, bottom = 170, 44, 10, 22
    plot_w, plot_h = WIDTH - left - 12, h - top - bottom
    peak = max(d.completed + d.failed + d.cancelled for d in days) or 1
    slot = plot_w / len(days)
    bar = min(40.0, max(1.0, slot * 0.7))
    parts = [
        f'<svg id="throughput" role="img" aria-label="Finished per day" width="{WIDTH}" height="{h}" '
        f'data-days="{len(days)}" data-peak="{peak}">',
        f'<text x="{left - 6}" y="{top + 8}" text-anchor="end">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    label_every = max(1, len(days) // 8)
    for i, d in enumerate(days):
        x = left + i * slot
        y = float(top + plot_h)
        parts.append(
            f'<g class="day" data-day="{d.day.isoformat()}" data-started="{d.started}" data-completed="{d.completed}" '
            f'data-failed="{d.failed}" data-cancelled="{d.cancelled}"><title>{d.day.isoformat()}: {d.started} '
            f"started, {d.completed} completed, {d.failed} failed, {d.cancelled} cancelled</title>"
        )
        for status, n in (("completed", d.completed), ("failed", d.failed), ("cancelled", d.cancelled)):
            if n:
                bh = plot_h * n / peak
                y -= bh
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{bh:.1f}" fill="{_colour(status)}"/>'
                )
        if i % label_every == 0:
            parts.append(f'<text x="{x:.1f}" y="{h - 6}">{d.day:%m-%d}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    parts.append(
        '<p class="legend">'
        + "".join(f'<span class="chip" style="background:{COLOURS[s]}">{s}</span>' for s in TERMINAL)
        + "</p>"
    )
    return "".join(parts)


def _table(rows: list[Row], head: tuple[str, ...], cells: list[list[str]], table_id: str) -> str:
    shown = cells[:TABLE_CAP]
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in shown)
    note = ""
    if len(cells) > TABLE_CAP:
        note = f'<p class="muted">{TABLE_CAP} of {len(cells)} shown; every migration is in the CSV report.</p>'
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f'<table id="{table_id}" data-rows="{len(rows)}"><tr>{header}</tr>{body}</table>{note}'


def _loc(row: Row) -> str:
    return f"<code>{_e(row.location)}</code>" if row.location else ""


def render_html(report: StatusReport, *, title: str = "Migration status") -> str:
    by_status = report.by_status()
    chips = "".join(
        f'<span class="chip" data-status="{_e(s)}" data-count="{by_status[s]}" style="background:{_colour(s)}">'
        f"{by_status[s]} {_e(s)}</span>"
        for s in _statuses(report)
    )
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">As of {_e(stamp(report.now))}; stuck means no update for more than '
        f"{_e(duration(report.stuck_after))}.</p>",
        f'<p id="summary" data-total="{len(report.rows)}"><strong>{len(report.rows)} migrations</strong> {chips}</p>',
    ]
    if not report.rows:
        out.append("<p>This workspace manages no migrations yet.</p></body></html>")
        return "\n".join(out) + "\n"
    alerts = [f"{len(report.flagged(f))} {f}" for f in ("failed", "stuck", "overdue") if report.flagged(f)]
    if alerts:
        out.append(f'<p class="warn">{_e(", ".join(alerts))}.</p>')
    out += ["<h2>Progress by wave</h2>", wave_bars(report)]
    out += ["<h2>Timeline: cumulative starts and finishes</h2>", timeline(report)]
    out += ["<h2>Throughput: finished per day</h2>", throughput(report)]
    stuck = report.flagged("stuck")
    out.append(f"<h2>Stuck ({len(stuck)})</h2>")
    if stuck:
        cells = [
            [
                f"<code>{_e(r.address)}</code>",
                _loc(r),
                _e(stamp(r.last_updated or r.started)),
                _e(duration(report.now - (r.last_updated or r.started or report.now))),
            ]
            for r in stuck
        ]
        out.append(_table(stuck, ("Migration", "Spec", "Last updated", "Silent for"), cells, "stuck"))
    else:
        out.append('<p class="muted">None.</p>')
    overdue = report.flagged("overdue")
    out.append(f"<h2>Overdue ({len(overdue)})</h2>")
    if overdue:
        cells = [[f"<code>{_e(r.address)}</code>", _loc(r), _e(stamp(r.latest_start))] for r in overdue]
        out.append(_table(overdue, ("Migration", "Spec", "Latest start"), cells, "overdue"))
    else:
        out.append('<p class="muted">None.</p>')
    groups = report.failure_groups()
    out.append(f"<h2>Failed ({sum(len(g.rows) for g in groups)})</h2>")
    if not groups:
        out.append('<p class="muted">None.</p>')
    for i, group in enumerate(groups):
        out.append(
            f'<section class="failure-group" data-group="{_e(group.group)}" data-count="{len(group.rows)}">'
            f"<h3>{_e(group.title)} ({len(group.rows)})</h3>"
            f'<p class="advice"><strong>What to do:</strong> {_e(group.advice)}</p>'
        )
        cells = [
            [f"<code>{_e(r.address)}</code>", _loc(r), _e(r.error_code or ""), _e(r.error or "")] for r in group.rows
        ]
        out.append(_table(list(group.rows), ("Migration", "Spec", "Code", "Message"), cells, f"failed-{i}"))
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
