"""The status report as CSV for spreadsheets: one row per migration, with a header.

Cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return) get a leading ``'``: service messages and spec names are not trusted to be inert.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from reconciler.report.model import StatusReport

COLUMNS = (
    "address",
    "kind",
    "wave",
    "status",
    "task_id",
    "started",
    "finished",
    "last_updated",
    "latest_start",
    "flags",
    "error_code",
    "error",
    "triage",
    "location",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: str | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def render_csv(report: StatusReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in report.rows:
        writer.writerow(
            [
                cell(r.address),
                cell(r.kind),
                cell(r.wave),
                cell(r.status),
                cell(r.task_id),
                cell(r.started),
                cell(r.finished),
                cell(r.last_updated),
                cell(r.latest_start),
                cell(" ".join(r.marks)),
                cell(r.error_code),
                cell(r.error),
                cell(r.triage),
                cell(r.location),
            ]
        )
    return buffer.getvalue().rstrip("\n")
