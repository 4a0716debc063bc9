"""End to end against the emulator and its clock: wave gates and max_in_flight through the real CLI.

A pilot that completes opens the next wave's gate on the next plan; a failure over the threshold keeps
it shut; a small max_in_flight holds the third start until a task finishes. Waiting is not drift
(``--detailed-exitcode`` exits 0), and ``plan --only start`` saves a plan an unattended job can apply.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.plan import ONLY_ACTIONS
from reconciler.plan.model import CHANGING
from tests.conftest import Emulator, run_cli

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


def _site(n: int) -> str:
    return f'site_migration["https://contoso.sharepoint.com/sites/site{n:02d}"]'


def _workspace(emu: Emulator, tmp_path: Path, waves: str, sites: dict[int, str | None], config: str = "") -> Path:
    """The quickstart's tenants and mappings, with these waves and site migrations (site number -> wave)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    for name in ("reconciler.yaml", "users.yaml", "identity-map.csv"):
        shutil.copy(QUICKSTART / name, ws / name)
    if config:
        with (ws / "reconciler.yaml").open("a") as f:
            f.write(config)
    (ws / ".reconciler").mkdir()
    (ws / ".reconciler" / "emulator.json").write_text(json.dumps(emu.conn))
    (ws / "waves.yaml").write_text(waves)
    lines = ["site_migrations:"]
    for n, wave in sites.items():
        lines += [
            f"  - source_url: https://contoso.sharepoint.com/sites/site{n:02d}",
            f"    target_url: https://fabrikam.sharepoint.com/sites/site{n:02d}",
        ]
        if wave:
            lines.append(f"    wave: {wave}")
    (ws / "migrations.yaml").write_text("\n".join(lines) + "\n")
    return ws


def _plan(ws: Path, *extra: str) -> dict[str, dict[str, Any]]:
    out = run_cli("plan", str(ws), "--format", "json", *extra)
    assert out.returncode == 0, out.stdout + out.stderr
    return {c["address"]: c for c in json.loads(out.stdout)["resource_changes"]}


def _apply(ws: Path) -> None:
    out = run_cli("apply", str(ws), "--auto-approve")
    assert out.returncode == 0, out.stdout + out.stderr


def _task_id(ws: Path, address: str) -> str:
    state = json.loads((ws / ".reconciler" / "state.json").read_text())
    task_id: str = state["resources"][address]["task_id"]
    return task_id


def _force(emu: Emulator, ws: Path, address: str, status: str, error: dict[str, str] | None = None) -> None:
    emu.control("POST", f"/tasks/{_task_id(ws, address)}/force", {"status": status, "error": error})


PILOT_AND_WAVE2 = """\
waves:
  - name: pilot
  - name: wave2
    after: [pilot]
    gate:
      min_completed: 50%
      max_failed: 0
"""


@pytest.fixture
def frozen(emu: Emulator) -> Emulator:
    emu.control("PUT", "/clock", {"speed": 0})  # tasks stay queued until the test moves the clock
    return emu


def test_a_pilot_that_completes_opens_the_next_waves_gate_on_the_next_plan(frozen: Emulator, tmp_path: Path) -> None:
    ws = _workspace(frozen, tmp_path, PILOT_AND_WAVE2, {1: "pilot", 2: "pilot", 3: "wave2"})
    _apply(ws)  # starts the pilot; wave2 waits
    waiting = _plan(ws)[_site(3)]
    assert (waiting["domain_action"], waiting["waiting"]) == ("wait", "gate")
    assert waiting["reason"] == "wave2 waits: pilot 0/2 completed (0% < 50%)"
    text = run_cli("plan", str(ws), "--no-color", "--detailed-exitcode")
    assert text.returncode == 0, text.stdout + text.stderr  # waiting is not drift
    assert "  * 1 start in wave wave2: wave2 waits: pilot 0/2 completed (0% < 50%)" in text.stdout
    assert "1 migration waits to start (wave gate or max_in_flight); a later plan starts it." in text.stdout
    assert "match the configuration" not in text.stdout
    markdown = run_cli("plan", str(ws), "--format", "markdown")
    assert "- 1 start in wave wave2: wave2 waits: pilot 0/2 completed (0% &lt; 50%)" in markdown.stdout

    frozen.control("POST", "/clock/advance", {"seconds": 3600})  # the pilot's moves finish
    opened = _plan(ws)[_site(3)]
    assert opened["domain_action"] == "start"
    assert "waiting" not in opened
    # The hands-off job: a plan limited to starts, saved, then applied as it is.
    saved = tmp_path / "starts.tfplan"
    out = run_cli("plan", str(ws), "--only", "start", "-out", str(saved), "--detailed-exitcode", "--no-color")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Limited with --only start" in out.stdout
    assert json.loads(run_cli("show", str(saved), "--format", "json").stdout)["options"] == {"only_start": True}
    applied = run_cli("apply", str(saved))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert _plan(ws)[_site(3)]["domain_action"] == "wait"  # queued now: in flight, not waiting to start
    assert "waiting" not in _plan(ws)[_site(3)]


def test_a_failure_over_the_threshold_keeps_the_gate_shut(frozen: Emulator, tmp_path: Path) -> None:
    ws = _workspace(frozen, tmp_path, PILOT_AND_WAVE2, {1: "pilot", 2: "pilot", 3: "wave2"})
    _apply(ws)
    _force(frozen, ws, _site(1), "completed")
    _force(frozen, ws, _site(2), "failed", {"code": "siteAlreadyExists", "message": "The target site already exists."})
    waiting = _plan(ws)[_site(3)]
    assert (waiting["domain_action"], waiting["waiting"]) == ("wait", "gate")
    assert waiting["reason"] == "wave2 waits: pilot 1 failed (> 0)"  # 1/2 completed meets 50%
    _apply(ws)  # an apply plans again: nothing of wave2 starts
    assert _plan(ws)[_site(3)]["domain_action"] == "wait"


def test_max_in_flight_holds_the_third_start_until_one_finishes(frozen: Emulator, tmp_path: Path) -> None:
    ws = _workspace(frozen, tmp_path, "waves: []\n", {1: None, 2: None, 3: None}, config="max_in_flight: 2\n")
    _apply(ws)
    held = _plan(ws)[_site(3)]
    assert (held["domain_action"], held["waiting"]) == ("wait", "capacity")
    assert held["reason"] == "capacity: 2 in flight (max_in_flight 2); a later plan starts it as tasks finish"
    _force(frozen, ws, _site(1), "completed")
    assert _plan(ws)[_site(3)]["domain_action"] == "start"


def test_only_accepts_exactly_the_actions_that_change_something() -> None:
    assert set(ONLY_ACTIONS) == {a.value for a in CHANGING}
