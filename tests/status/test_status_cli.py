"""End to end: ``reconciler status`` against the emulator and its clock — stuck and overdue migrations,
``--fail-on`` exit codes, triage of every failure kind the emulator knows, and the report formats."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import Emulator, run_cli

FAIL_ON_EXIT = 2


def _tasks(emu: Emulator) -> dict[str, str]:
    """Task id by source key."""
    return {t["source"]: t["id"] for t in emu.control("GET", "/tasks")["tasks"]}


def _status(workspace: Path, *args: str) -> dict[str, Any]:
    out = run_cli("status", str(workspace), "--format", "json", *args)
    assert out.returncode == 0, out.stdout + out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def test_stuck_and_overdue_migrations_show_and_fail_on_exits_non_zero(
    quickstart_workspace: Path, emu: Emulator
) -> None:
    ws = quickstart_workspace
    emu.control("PUT", "/clock", {"speed": 0})
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 0, "duration_seconds": 3600, "duration_jitter": 0})
    now = datetime.fromisoformat(emu.control("GET", "/clock")["now"].replace("Z", "+00:00"))
    latest = (now + timedelta(hours=2)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    waves = ws / "waves.yaml"
    waves.write_text(waves.read_text().replace("  - name: sites\n", f"  - name: sites\n    latest_start: {latest}\n"))
    applied = run_cli("apply", str(ws), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    ids = _tasks(emu)
    src = emu.source["domain"]
    stuck_key, late_key = f"user002@{src}", "https://contoso.sharepoint.com/sites/site02"
    emu.control("POST", f"/tasks/{ids[stuck_key]}/force", {"status": "stuck"})
    emu.control("POST", f"/tasks/{ids[late_key]}/force", {"status": "notStarted"})

    early = _status(ws, "--fail-on", "failed,stuck,overdue")
    assert (early["stuck"], early["overdue"]) == ([], []), "nothing is late one second in"

    emu.control("POST", "/clock/advance", {"seconds": 25 * 3600})
    stuck_address, late_address = f'user_migration["{stuck_key}"]', f'site_migration["{late_key}"]'
    doc = _status(ws)
    assert doc["stuck"] == [stuck_address]
    assert doc["overdue"] == [late_address]
    assert doc["by_status"] == {"completed": 6, "inProgress": 1, "notStarted": 1}
    rows = {r["address"]: r for r in doc["migrations"]}
    assert rows[stuck_address]["flags"] == ["stuck"]
    assert rows[late_address]["latest_start"] == latest
    location = rows[stuck_address]["location"]
    path, line = location.rsplit(":", 1)
    assert stuck_key in (ws / path).read_text().splitlines()[int(line) - 1]

    alert = run_cli("status", str(ws), "--fail-on", "failed,stuck,overdue")
    assert alert.returncode == FAIL_ON_EXIT, alert.stdout + alert.stderr
    assert alert.stderr.strip() == "Error: --fail-on failed,stuck,overdue: 1 stuck, 1 overdue"
    assert "Stuck: 1 in progress with no update for more than 1d" in alert.stdout
    assert f"  {stuck_address}: last updated" in alert.stdout
    assert "(1d 1h ago)" in alert.stdout
    assert f"  {late_address}: latest start {latest[:10]}" in alert.stdout

    assert run_cli("status", str(ws), "--fail-on", "failed").returncode == 0, "no migration failed"
    patient = run_cli("status", str(ws), "--fail-on", "stuck", "--stuck-after", "2d")
    assert patient.returncode == 0, patient.stdout + patient.stderr
    config = ws / "reconciler.yaml"
    config.write_text(config.read_text() + "status:\n  stuck_after: 30h\n")
    assert _status(ws)["stuck"] == [], "reconciler.yaml's threshold applies"
    assert _status(ws, "--stuck-after", "1h")["stuck"] == [stuck_address], "the option overrides the file"


def test_status_options_are_checked(quickstart_workspace: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unwritable = run_cli("status", str(quickstart_workspace), "--format", "html", "-o", str(blocker / "r.html"))
    assert unwritable.returncode == 1
    assert unwritable.stderr.startswith(f"Error: cannot write the report to {blocker / 'r.html'}: "), unwritable.stderr
    assert "Traceback" not in unwritable.stderr
    bad = run_cli("status", str(quickstart_workspace), "--fail-on", "failed,late")
    assert bad.returncode == 1
    assert "'late' is not one of failed, stuck, overdue" in bad.stderr
    bad = run_cli("status", str(quickstart_workspace), "--stuck-after", "soon")
    assert bad.returncode == 1
    assert "'soon' is not a duration such as 24h, 2d, 90m or 1h30m" in bad.stderr
    config = quickstart_workspace / "reconciler.yaml"
    config.write_text(config.read_text() + "status:\n  stuck_after: tomorrow\n")
    out = run_cli("status", str(quickstart_workspace))
    assert out.returncode == 1
    assert "reconciler.yaml" in out.stdout + out.stderr
    assert "stuck_after" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


HOSTILE = '=HYPERLINK("https://evil.example/x","<script>fetch(1)</script>") | `x` </details>'
KINDS = {  # source object -> the emulator's failure kind -> the triage group status must put it in
    "user001": ("target-exists", "target-exists"),
    "user002": ("size-limit", "size-limit"),
    "user003": ("item-limit", "size-limit"),
    "site01": ("no-trust", "no-trust"),
    "site02": ("read-only", "source-locked"),
    "site03": ("on-hold", "source-locked"),
    "group01": ("feature-disabled", "feature-disabled"),
    "group02": ("missing-mapping", "missing-mapping"),
    "user004": (HOSTILE, "other"),
}


def _seed_failures(emu: Emulator, ws: Path) -> dict[str, str]:
    """Every quickstart migration (and user004's, added) fails with one kind; address -> expected group."""
    src = emu.source["domain"]
    migrations = ws / "migrations.yaml"
    migrations.write_text(
        migrations.read_text().replace(
            "site_migrations:\n", f"  - source_upn: user004@{src}\n    wave: pilot\nsite_migrations:\n"
        )
    )
    expected = {}
    for name, (kind, group) in KINDS.items():
        if name.startswith("user"):
            emu.control("PUT", f"/tenants/contoso/users/{name}@{src}", {"migration_error": kind})
            expected[f'user_migration["{name}@{src}"]'] = group
        elif name.startswith("site"):
            url = f"https://contoso.sharepoint.com/sites/{name}"
            emu.control("POST", "/tenants/contoso/sites", {"url": url, "migration_error": kind})
            expected[f'site_migration["{url}"]'] = group
        else:
            emu.control("PUT", f"/tenants/contoso/groups/{name}", {"migration_error": kind})
            expected[f'group_migration["{name}"]'] = group
    return expected


def test_triage_groups_every_failure_kind_of_the_emulator_with_locations_and_advice(
    quickstart_workspace: Path, emu: Emulator, tmp_path: Path
) -> None:
    ws = quickstart_workspace
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 0, "duration_seconds": 0, "duration_jitter": 0})
    expected = _seed_failures(emu, ws)
    applied = run_cli("apply", str(ws), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr

    doc = _status(ws)
    groups = {g["group"]: g for g in doc["failures"]}
    assert set(groups) == set(expected.values())
    for address, group in expected.items():
        assert address in [m["address"] for m in groups[group]["migrations"]], (address, group)
    assert groups["source-locked"]["count"] == 2
    assert groups["size-limit"]["count"] == 2
    assert all("raise `attempt`" in g["advice"] for g in groups.values())
    for group in groups.values():
        for item in group["migrations"]:
            path, line = item["location"].rsplit(":", 1)
            key = item["address"].split('"')[1].rsplit("/", 1)[-1].split("@")[0]
            assert key in Path(path).read_text().splitlines()[int(line) - 1], item
    rows = {r["address"]: r for r in doc["migrations"]}
    assert rows[f'user_migration["user001@{emu.source["domain"]}"]']["error_code"] == "targetAlreadyExists"

    text = run_cli("status", str(ws), "--fail-on", "failed")
    assert text.returncode == FAIL_ON_EXIT
    assert text.stderr.strip() == "Error: --fail-on failed: 9 failed"
    assert "Failed: 9 in 7 groups" in text.stdout
    assert "  Size or item limit (2 TB / 1,000,000 items) (2):" in text.stdout
    assert "What to do: The target OneDrive or site already exists" in text.stdout

    files = {fmt: tmp_path / f"report.{fmt}" for fmt in ("csv", "markdown", "html")}
    for fmt, path in files.items():
        out = run_cli("status", str(ws), "--format", fmt, "-o", str(path))
        assert (out.returncode, out.stdout) == (0, ""), out.stderr
    table = list(csv.DictReader(io.StringIO(files["csv"].read_text())))
    assert len(table) == 9
    hostile_row = next(r for r in table if r["triage"] == "other")
    assert hostile_row["error"] == "'" + HOSTILE, "a formula-looking cell is defused"
    assert {r["flags"] for r in table} == {"failed"}
    markdown = files["markdown"].read_text()
    assert "<script>" not in markdown
    assert "</details>" not in markdown
    assert "&lt;script&gt;" in markdown
    page = files["html"].read_text()
    assert "<script" not in page
    assert "&lt;script&gt;" in page
