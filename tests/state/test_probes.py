"""The collection-read probe's answers in the state: optional for older states, checked like every
field; a plan file carries the answers its plan asked for, and apply records only newer ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler import __version__
from reconciler.operations.probing import newer
from reconciler.plan import planfile
from reconciler.plan.model import Plan
from reconciler.state.model import Probe, State, StateError

TENANT = "79d49731-4eec-55d9-bcd4-6d55505b7f2c"
OLD = {"format_version": 1, "lineage": "5d0b", "serial": 3, "resources": {}, "journal": []}


def test_a_state_from_before_probes_reads_and_writes_as_it_was() -> None:
    state = State.parse(json.dumps(OLD).encode(), "s.json")
    assert state.probes == {}
    assert state.to_json() == {**OLD, "format_version": 2, "reconciler_version": __version__}, "no probes key"


def test_probes_round_trip_by_lower_cased_tenant_id() -> None:
    doc = {**OLD, "probes": {TENANT.upper(): {"collection_reads": True, "probed_at": "2026-12-01T12:00:00Z"}}}
    state = State.parse(json.dumps(doc).encode(), "s.json")
    assert state.probes == {TENANT: Probe(True, "2026-12-01T12:00:00Z")}
    assert state.to_json()["probes"] == {TENANT: {"collection_reads": True, "probed_at": "2026-12-01T12:00:00Z"}}


def test_a_damaged_probe_is_named() -> None:
    doc = {**OLD, "probes": {TENANT: {"collection_reads": "yes", "probed_at": "2026-12-01T12:00:00Z"}}}
    with pytest.raises(StateError) as refused:
        State.parse(json.dumps(doc).encode(), "s.json")
    assert str(refused.value) == (
        f's.json: the state is damaged: probes["{TENANT}"].collection_reads must be true or false, got a string; '
        "it was left as it is"
    )


FRESH = {TENANT: Probe(False, "2026-12-01T12:00:00Z")}


def test_apply_records_only_what_the_state_lacks_or_holds_older() -> None:
    older = {TENANT: Probe(True, "2026-11-01T00:00:00Z")}
    assert newer({}, FRESH) == FRESH
    assert newer(older, FRESH) == FRESH, "a later answer replaces an earlier one"
    assert newer(FRESH, older) == {}, "an older answer a plan carries does not undo a newer one"
    assert newer(FRESH, FRESH) == {}


def test_a_plan_file_carries_its_fresh_answers_and_a_damaged_one_is_named(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    planfile.save(path, Plan(changes=[]), TENANT, TENANT, probes=FRESH)
    assert planfile.load(path).probes == FRESH
    doc = json.loads(path.read_text())
    doc["planfile"]["probes"][TENANT]["collection_reads"] = "no"
    path.write_text(json.dumps(doc))
    with pytest.raises(planfile.PlanFileError, match=r"planfile.probes\[.*\] needs collection_reads"):
        planfile.load(path)
