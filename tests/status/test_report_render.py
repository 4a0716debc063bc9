"""The report model and its renderers without a network: triage by code and by message, flags at their
thresholds, CSV and Markdown goldens of a report full of hostile strings, and the Markdown size cap.

``UPDATE_GOLDEN=1 pytest tests/status/test_report_render.py`` rewrites ``golden/`` after an intended change.
"""

from __future__ import annotations

import csv
import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.report.model import Row, StatusReport, build_report
from reconciler.report.render import RENDERERS
from reconciler.report.render_markdown import render_markdown
from reconciler.report.triage import classify

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _row(address: str, status: str, **kw: object) -> Row:
    task_id = f"00000000-0000-4000-8000-{sum(map(ord, address)):012d}"
    base: dict[str, object] = {"kind": "user", "wave": "pilot", "task_id": task_id, "location": None}
    return Row(address=address, status=status, **{**base, **kw})  # type: ignore[arg-type]


def _report() -> StatusReport:
    evil = '=cmd|"/c calc"!A1 <script>alert(1)</script> | `tick` [link](https://evil.example)'
    rows = [
        _row('user_migration["a@x.com"]', "completed", started=T0, finished=T0 + timedelta(hours=2)),
        _row(
            'user_migration["b@x.com"]',
            "inProgress",
            started=T0,
            last_updated=T0 + timedelta(hours=1),
            location="specs/users.yaml:4",
        ),
        _row('user_migration["c@x.com"]', "notStarted", latest_start=T0, location="specs/users.yaml:6"),
        _row(
            'site_migration["https://x.sharepoint.com/sites/s1"]',
            "failed",
            kind="site",
            wave="<b>sites</b>",
            started=T0,
            finished=T0 + timedelta(days=1),
            error="The target site https://y.sharepoint.com/sites/s1 already exists.",
            error_code="migrationFailed",
            location="specs/sites.yaml:2",
        ),
        _row(
            'site_migration["https://x.sharepoint.com/sites/\\"q\\""]',
            "failed",
            kind="site",
            wave="<b>sites</b>",
            started=T0,
            finished=T0 + timedelta(days=1),
            error=evil,
            error_code="@weird",
            location="specs/sites.yaml:5",
        ),
        _row('user_migration["d@x.com"]', "inProgress", started=NOW - timedelta(hours=3), last_updated=None),
    ]
    return build_report(rows, NOW, timedelta(hours=24), ["pilot", "<b>sites</b>"])


@pytest.mark.parametrize(
    ("code", "message", "group"),
    [
        (None, "Identity map entry for source UPN a@x.com does not exist on the target tenant.", "missing-mapping"),
        ("migrationFailed", "The target OneDrive already exists.", "target-exists"),
        ("generalException", "The site is 2.4 TB, larger than the 2 TB limit.", "size-limit"),
        (None, "Too many items: over 1,000,000 items.", "size-limit"),
        ("unprocessableEntity", "There is no Cross-Tenant relationship established for partner h.", "no-trust"),
        (None, "The feature is not enabled for tenant t.", "feature-disabled"),
        (None, "The site is on hold by an eDiscovery case.", "source-locked"),
        ("sourceReadOnly", "anything at all", "source-locked"),
        ("boom", "Something else broke.", "other"),
        (None, None, "other"),
    ],
)
def test_triage_by_code_then_message_pattern(code: str | None, message: str | None, group: str) -> None:
    assert classify(code, message) == group


def test_flags_follow_the_thresholds() -> None:
    report = _report()
    flags = {r.address: r.flags for r in report.rows}
    assert flags['user_migration["b@x.com"]'] == ("stuck",), "47 h since its last update"
    assert flags['user_migration["c@x.com"]'] == ("overdue",)
    assert flags['user_migration["d@x.com"]'] == (), "started 3 h ago, no update yet: not stuck"
    assert report.failing(("failed", "stuck", "overdue")) == {"failed": 2, "stuck": 1, "overdue": 1}


@pytest.mark.parametrize("fmt", ["csv", "markdown", "text"])
def test_golden(fmt: str) -> None:
    text = RENDERERS[fmt](_report())
    path = GOLDEN / f"report.{'md' if fmt == 'markdown' else 'csv' if fmt == 'csv' else 'txt'}"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_csv_defuses_formulas_and_round_trips() -> None:
    table = list(csv.DictReader(io.StringIO(RENDERERS["csv"](_report()))))
    hostile = next(r for r in table if r["error_code"] == "'@weird")
    assert hostile["error"].startswith("'=cmd|")
    assert hostile["address"] == 'site_migration["https://x.sharepoint.com/sites/\\"q\\""]'
    assert [r["flags"] for r in table].count("stuck") == 1


def test_markdown_stays_under_its_limit_with_a_note() -> None:
    rows = [
        _row(f'user_migration["u{i:05d}@x.com"]', "failed", error=f"Broken number {i} " + "x" * 200)
        for i in range(2000)
    ]
    text = render_markdown(build_report(rows, NOW), limit=20_000)
    assert len(text) < 20_000
    assert "50 of 2000 shown" in text or "Output truncated" in text
    assert "Other: no code: Broken number … xxx" in text, "one group for one message shape"


def test_the_report_is_pure() -> None:
    """Importing the report model and every renderer loads no HTTP, auth, YAML, terminal, CLI or Graph code."""
    import subprocess
    import sys

    code = "import sys, reconciler.report.render; print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "reconciler.report.render_html" in loaded, "the probe imported the renderers"
    forbidden = ("httpx", "msal", "ruamel", "click", "rich", "pydantic", "reconciler.graph", "reconciler.cli")
    assert [m for m in loaded if m.startswith(forbidden)] == []
