"""The HTML status report in a real headless browser (Debian's chromium, driven by playwright): it loads with
no console errors and no outside requests, its charts hold the numbers the emulator's tasks give, a hostile
service message stays text, and a screenshot is kept (``RECONCILER_TEST_ARTIFACTS=1``: in test-artifacts/)."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import Emulator, run_cli

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOSTILE = "<script>document.title='pwned'</script><img src=https://evil.example/p.png>"


def _clock(emu: Emulator) -> datetime:
    return datetime.fromisoformat(emu.control("GET", "/clock")["now"].replace("Z", "+00:00"))


def _report_of_a_mixed_run(emu: Emulator, ws: Path, out: Path) -> tuple[datetime, datetime]:
    """Quickstart's 8 migrations over two days: 3 completed, 2 failed, 2 stuck, 1 queued. (day 1, day 2)."""
    emu.control("PUT", "/clock", {"speed": 0})
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 0, "duration_seconds": 864000, "duration_jitter": 0})
    assert run_cli("apply", str(ws), "--auto-approve").returncode == 0
    ids = {t["source"]: t["id"] for t in emu.control("GET", "/tasks")["tasks"]}
    src, sites = emu.source["domain"], "https://contoso.sharepoint.com/sites/"

    def force(key: str, body: dict[str, Any]) -> None:
        emu.control("POST", f"/tasks/{ids[key]}/force", body)

    first = _clock(emu)
    force(f"user001@{src}", {"status": "completed"})
    force(f"user003@{src}", {"status": "failed", "failure": "size-limit"})
    force(f"{sites}site01", {"status": "failed", "error": {"code": "hostile", "message": HOSTILE}})
    force("group02", {"status": "notStarted"})
    emu.control("POST", "/clock/advance", {"seconds": 25 * 3600})
    force(f"{sites}site02", {"status": "completed"})
    force("group01", {"status": "completed"})
    written = run_cli("status", str(ws), "--format", "html", "-o", str(out))
    assert written.returncode == 0, written.stdout + written.stderr
    return first, _clock(emu)


def test_the_html_report_in_a_headless_browser(quickstart_workspace: Path, emu: Emulator, tmp_path: Path) -> None:
    from playwright.sync_api import Request, sync_playwright

    page_file = tmp_path / "status.html"
    day1, day2 = _report_of_a_mixed_run(emu, quickstart_workspace, page_file)
    requests: list[str] = []
    problems: list[str] = []

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=ARGS, headless=True
        )
        try:

            def refuse(route: Any, request: Request) -> None:
                requests.append(request.url)
                if request.url.startswith("file://"):
                    route.continue_()
                else:
                    route.abort()

            context.route("**/*", refuse)
            page = context.new_page()
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"requestfailed: {r.url}"))
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")
            waves = page.eval_on_selector_all(
                "#waves g.wave",
                """gs => Object.fromEntries(gs.map(g => [g.dataset.wave, Object.fromEntries(
                    [...g.querySelectorAll('rect')].map(r => [r.dataset.status, Number(r.dataset.count)]))]))""",
            )
            days = page.eval_on_selector_all(
                "#throughput g.day",
                """gs => Object.fromEntries(gs.map(g => [g.dataset.day,
                    [Number(g.dataset.started), Number(g.dataset.completed), Number(g.dataset.failed)]]))""",
            )
            timeline = page.eval_on_selector("#timeline", "s => [s.dataset.started, s.dataset.finished]")
            stuck_rows = page.eval_on_selector("#stuck", "t => t.querySelectorAll('tr').length - 1")
            groups = page.eval_on_selector_all(
                "section.failure-group", "ss => Object.fromEntries(ss.map(s => [s.dataset.group, s.dataset.count]))"
            )
            title = page.title()
            body_text = page.inner_text("body")
            shot = tmp_path / "status-report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()

    assert problems == []
    assert [u for u in requests if not u.startswith("file://")] == [], "the page fetched nothing from outside"
    assert waves == {
        "pilot": {"completed": 1, "inProgress": 1, "failed": 1},
        "sites": {"completed": 2, "inProgress": 1, "notStarted": 1, "failed": 1},
    }
    assert days[day1.date().isoformat()] == [7, 1, 2]
    assert days[day2.date().isoformat()] == [0, 2, 0]
    assert sum(v[0] for v in days.values()) == 7
    assert len(days) == (day2.date() - day1.date()).days + 1
    assert timeline == ["7", "5"]
    assert stuck_rows == 2
    assert groups == {"size-limit": "1", "other": "1"}
    assert title == "Migration status", "the hostile message did not run"
    assert HOSTILE in body_text, "it is shown as text"
    assert shot.stat().st_size > 10_000
    if os.environ.get("RECONCILER_TEST_ARTIFACTS") == "1":
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(shot, ARTIFACTS / shot.name)
        shutil.copy(page_file, ARTIFACTS / page_file.name)
    assert timedelta(hours=25) <= day2 - day1 < timedelta(hours=26)
