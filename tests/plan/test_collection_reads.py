"""End to end: the collection-read probe with the emulator's lists off and on — remembered in the state,
``export --all``, and the plan's warnings about unmanaged objects that conflict with the spec."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from reconciler.kinds import SITE_MIGRATION, USER_MAPPING
from reconciler.spec.desired import address
from tests.conftest import SITE_PARAMS, TASKS, USER_MAPPINGS, Emulator, run_cli

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
SPEC = """\
user_mappings:
  - source_upn: user001@contoso.onmicrosoft.com
    target_upn: user001@fabrikam.onmicrosoft.com
  - source_upn: user003@contoso.onmicrosoft.com
    target_upn: user003@fabrikam.onmicrosoft.com
site_migrations:
  - source_url: https://contoso.sharepoint.com/sites/site01
    target_url: https://fabrikam.sharepoint.com/sites/site01
"""


@pytest.fixture
def ws(emu: Emulator, tmp_path: Path) -> Path:
    """A small workspace: two user mappings and one site migration, wired to the shared emulator."""
    root = tmp_path / "ws"
    (root / ".reconciler").mkdir(parents=True)
    shutil.copy(QUICKSTART / "reconciler.yaml", root / "reconciler.yaml")
    (root / ".reconciler" / "emulator.json").write_text(json.dumps(emu.conn))
    (root / "spec.yaml").write_text(SPEC)
    emu.control("PUT", "/clock", {"speed": 0})  # tasks stay queued: the test decides when they move
    return root


def _state(ws: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ws / ".reconciler" / "state.json").read_text())
    return data


def _list_reads(emu: Emulator) -> dict[str, dict[str, int]]:
    counters = emu.control("GET", "/counters")
    return {name: counters[name] for name in ("tasks.list", "userMappings.list") if name in counters}


def _outside_this_tool(emu: Emulator) -> None:
    """What a CSV upload and a PowerShell move would leave: objects no state tracks."""
    item = {
        "sourceUserIdentity": {"userPrincipalName": "user002@contoso.onmicrosoft.com"},
        "targetUserIdentity": {"userPrincipalName": "user001@fabrikam.onmicrosoft.com"},  # the spec's user001 target
        "userType": "regularUser",
    }
    other = {
        "sourceUserIdentity": {"userPrincipalName": "user003@contoso.onmicrosoft.com"},
        "targetUserIdentity": {"userPrincipalName": "user009@fabrikam.onmicrosoft.com"},  # the spec says user003
        "userType": "regularUser",
    }
    r = emu.graph("PATCH", USER_MAPPINGS, "target", json={"@context": "#$delta", "value": [item, other]})
    assert r.status_code == 200, r.text
    task = {
        "parameters": {
            "@odata.type": SITE_PARAMS,
            "targetOrganizationId": emu.target["tenant_id"],
            "sourceSiteUrl": "https://contoso.sharepoint.com/sites/site02",
            "targetSiteUrl": "https://fabrikam.sharepoint.com/sites/site01",  # the spec's site01 target
        }
    }
    assert emu.graph("POST", TASKS, json=task).status_code == 200


def test_lists_off_the_answer_is_remembered_and_export_all_says_why_it_cannot(emu: Emulator, ws: Path) -> None:
    applied = run_cli("apply", str(ws), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    probes = _state(ws)["probes"]
    assert {p["collection_reads"] for p in probes.values()} == {False}
    assert set(probes) == {emu.source["tenant_id"].lower(), emu.target["tenant_id"].lower()}
    assert all(p["probed_at"].endswith("Z") for p in probes.values())
    emu.control("DELETE", "/counters")
    for _ in range(2):
        planned = run_cli("plan", str(ws))
        assert planned.returncode == 0, planned.stderr
    assert _list_reads(emu) == {}, "a remembered answer is not asked again"
    reprobed = run_cli("plan", str(ws), "--reprobe")
    assert reprobed.returncode == 0, reprobed.stderr
    assert _list_reads(emu) == {"tasks.list": {"501": 1}, "userMappings.list": {"501": 1}}
    exported = run_cli("export", str(ws), "--all", "--out", str(ws / "out"))
    assert exported.returncode == 3, exported.stderr
    assert exported.stderr.startswith(
        f"Error: the source tenant ({emu.source['tenant_id']}) does not answer collection reads; the target tenant"
    ), exported.stderr
    assert "Traceback" not in exported.stderr
    assert not (ws / "out").exists()


def test_lists_on_plan_warns_of_unmanaged_conflicts_in_every_format(emu: Emulator, ws: Path) -> None:
    emu.control("PATCH", "/behaviour", {"list_endpoints": True})
    _outside_this_tool(emu)
    text = run_cli("plan", str(ws), "--no-color")
    assert text.returncode == 0, text.stderr
    expected = [
        "An unmanaged mapping for user002@contoso.onmicrosoft.com names the same target, "
        "user001@fabrikam.onmicrosoft.com",
        "An unmanaged mapping in the target tenant maps this source to user009@fabrikam.onmicrosoft.com, "
        "not to user003@fabrikam.onmicrosoft.com",
        "task ({}) for https://contoso.sharepoint.com/sites/site02 moves to the same target, "
        "https://fabrikam.sharepoint.com/sites/site01",
    ]
    task_id = next(t["id"] for t in emu.control("GET", "/tasks")["tasks"])
    expected[2] = expected[2].format(task_id)
    for line in expected:
        assert line in text.stdout, text.stdout
    document = json.loads(run_cli("plan", str(ws), "--format", "json").stdout)
    warned = {(d["address"], d["summary"].split(", ")[0]) for d in document["diagnostics"]}
    assert (address(USER_MAPPING, "user001@contoso.onmicrosoft.com"), expected[0].split(", ")[0]) in warned
    assert (address(USER_MAPPING, "user003@contoso.onmicrosoft.com"), expected[1].split(", ")[0]) in warned
    site = address(SITE_MIGRATION, "https://contoso.sharepoint.com/sites/site01")
    assert any(addr == site and summary.startswith("An unmanaged notStarted task") for addr, summary in warned)
    markdown = run_cli("plan", str(ws), "--format", "markdown").stdout
    assert all(line in markdown for line in expected), markdown
    emu.control("PATCH", "/behaviour", {"list_endpoints": False})
    quiet = run_cli("plan", str(ws), "--reprobe", "--no-color")  # a fresh workspace keeps no answer: asked again
    assert quiet.returncode == 0, quiet.stderr
    assert "unmanaged" not in quiet.stdout


def test_lists_on_export_all_includes_what_a_csv_uploaded(emu: Emulator, ws: Path, tmp_path: Path) -> None:
    emu.control("PATCH", "/behaviour", {"list_endpoints": True})
    _outside_this_tool(emu)
    out = tmp_path / "out"
    exported = run_cli("export", str(ws), "--all", "--out", str(out), "--format", "json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout) | {"files": []} == {
        "files": [],
        "mappings": 2,
        "migrations": 1,
        "absent": 0,
        "incomplete": 2,  # uploaded without sourceOrganizationId
    }
    rows = list(csv.reader((out / "exported-identity-map.csv").read_text().splitlines()))
    assert [r[2] for r in rows] == ["user002@contoso.onmicrosoft.com", "user003@contoso.onmicrosoft.com"]
    assert rows[0][3] == "user001@fabrikam.onmicrosoft.com"
    assert "source_url: https://contoso.sharepoint.com/sites/site02" in (out / "exported.yaml").read_text()
    both = run_cli("export", str(ws), "--all", "--keys", str(out / "exported-identity-map.csv"))
    assert both.returncode == 1
    assert "--all and --keys exclude each other" in both.stderr


def test_remembered_support_lists_once_per_plan_without_probing(emu: Emulator, ws: Path) -> None:
    emu.control("PATCH", "/behaviour", {"list_endpoints": True})
    applied = run_cli("apply", str(ws), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert {p["collection_reads"] for p in _state(ws)["probes"].values()} == {True}
    serial = _state(ws)["serial"]
    emu.control("DELETE", "/counters")
    planned = run_cli("plan", str(ws))
    assert planned.returncode == 0, planned.stderr
    # One page each: the listing, and no `$top=1` probe before it.
    assert _list_reads(emu) == {"tasks.list": {"200": 1}, "userMappings.list": {"200": 1}}
    assert _state(ws)["serial"] == serial, "a plan with nothing new to remember writes nothing"
    emu.control("PATCH", "/behaviour", {"list_endpoints": False})
    saved = ws / "reprobed.json"
    reprobed = run_cli("plan", str(ws), "--reprobe", "-out", str(saved))
    assert reprobed.returncode == 0, reprobed.stderr
    assert _state(ws)["serial"] == serial, "planning writes no state: the plan file carries the new answers"
    assert {p["collection_reads"] for p in _state(ws)["probes"].values()} == {True}
    applied = run_cli("apply", str(saved))
    assert applied.returncode == 0, applied.stderr
    assert {p["collection_reads"] for p in _state(ws)["probes"].values()} == {False}, "apply records them"
    assert _state(ws)["serial"] == serial + 1
