"""The status report as Markdown for an issue or pull-request comment, kept under a size limit.

A summary line and a table by wave always show; the stuck, overdue and failure sections list at most
``SECTION_CAP`` migrations each; if the whole still exceeds the limit (GitHub: 65,536 characters), the
lists are cut further from the end with a note saying so. Service text is escaped: it cannot open HTML
tags, end a table cell or break out of inline code.
"""

from __future__ import annotations

import html
import re

from reconciler.report.model import STATUS_ORDER, Row, StatusReport
from reconciler.report.render_text import clean, duration, stamp

SECTION_CAP = 50
LIMIT = 65000


def _md(text: str) -> str:
    # Escapes HTML and the characters that would end a table cell or start emphasis or a link.
    escaped = html.escape(clean(text), quote=False)
    return re.sub(r"([|*_\[\]`\\])", r"\\\1", escaped)


def _code(text: str) -> str:
    text = clean(text)
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _where(row: Row) -> str:
    return f" at {_code(row.location)}" if row.location else ""


def _section(title: str, items: list[str], hint: str) -> str:
    if not items:
        return ""
    text = f"\n#### {title} ({len(items)})\n\n" + "".join(items[:SECTION_CAP])
    if len(items) > SECTION_CAP:
        text += f"\n> {SECTION_CAP} of {len(items)} shown. {hint}\n"
    return text


def render_markdown(report: StatusReport, *, limit: int = LIMIT, hint: str = "") -> str:
    """The report as a comment of fewer than ``limit`` characters."""
    hint = hint or "Every migration is in `reconciler status --format csv`."
    if not report.rows:
        return "### Migration status\n\nThis workspace manages no migrations yet.\n"
    by_status = report.by_status()
    statuses = [s for s in STATUS_ORDER if by_status.get(s)] + sorted(set(by_status) - set(STATUS_ORDER))
    summary = ", ".join(f"{by_status[s]} {s}" for s in statuses)
    out = f"### Migration status\n\n**{len(report.rows)} migrations:** {summary} (as of {stamp(report.now)})\n"
    flags = [f"{len(report.flagged(f))} {f}" for f in ("failed", "stuck", "overdue") if report.flagged(f)]
    if flags:
        out += f"\n> [!WARNING]\n> {', '.join(flags)}.\n"
    out += "\n| Wave | " + " | ".join(statuses) + " | Total |\n|---|" + "---:|" * (len(statuses) + 1) + "\n"
    for wave in report.waves():
        cells = " | ".join(str(wave.counts.get(s, 0)) for s in statuses)
        out += f"| {_md(wave.name)} | {cells} | {wave.total} |\n"
    stuck = [
        f"- {_code(r.address)}{_where(r)}: last updated {stamp(r.last_updated or r.started)}"
        f" ({duration(report.now - (r.last_updated or r.started or report.now))} ago)\n"
        for r in report.flagged("stuck")
    ]
    out += _section(f"Stuck: no update for more than {duration(report.stuck_after)}", stuck, hint)
    overdue = [
        f"- {_code(r.address)}{_where(r)}: latest start {stamp(r.latest_start)}\n" for r in report.flagged("overdue")
    ]
    out += _section("Overdue: not started after their latest start", overdue, hint)
    for group in report.failure_groups():
        items = [
            f"- {_code(r.address)}{_where(r)}: {_md(r.error or 'no message from the service')}\n" for r in group.rows
        ]
        out += _section(f"Failed: {_md(group.title)}", items, hint)
        out += f"\n**What to do:** {html.escape(group.advice, quote=False)}\n"
    if len(out) < limit:
        return out
    note = f"\n> Output truncated at {limit:,} characters. {hint}\n"
    cut = out[: max(0, limit - 1 - len(note))]
    return cut[: cut.rfind("\n") + 1] + note
