"""``status --format``: the one table of report renderers, as ``PLAN_RENDERERS`` is for plans."""

from __future__ import annotations

import json
from collections.abc import Callable

from reconciler.report.model import StatusReport
from reconciler.report.render_csv import render_csv
from reconciler.report.render_html import render_html
from reconciler.report.render_markdown import render_markdown
from reconciler.report.render_text import render_text


def _json(report: StatusReport) -> str:
    # One line per document: --watch prints one after another, readable as JSON lines.
    return json.dumps(report.to_json(), ensure_ascii=False)


RENDERERS: dict[str, Callable[[StatusReport], str]] = {
    "text": render_text,
    "json": _json,
    "markdown": render_markdown,
    "csv": render_csv,
    "html": render_html,
}
FORMATS = tuple(RENDERERS)


def render(report: StatusReport, output: str) -> str:
    return RENDERERS[output](report)
