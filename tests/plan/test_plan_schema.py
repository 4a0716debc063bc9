"""The plan JSON document agrees with specs/plan/plan.schema.json, and the schema can tell a bad one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from reconciler.plan.model import Action, Plan
from tests.plan import render_fixtures

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "specs" / "plan" / "plan.schema.json").read_text())
VALIDATOR = jsonschema_rs.Draft202012Validator(SCHEMA)


def _errors(document: Any) -> list[str]:
    return [str(e) for e in VALIDATOR.iter_errors(document)]


@pytest.mark.parametrize("name", ["empty", "converged", "mixed", "big", "guarded", "stalled", "waves", "waiting"])
def test_every_fixture_plan_matches_the_schema(name: str) -> None:
    plan: Plan = getattr(render_fixtures, f"{name}_plan")()
    assert _errors(json.loads(json.dumps(plan.to_json()))) == []


def test_the_schema_knows_every_action() -> None:
    assert set(SCHEMA["$defs"]["domain_action"]["enum"]) == {a.value for a in Action}


def test_the_schema_rejects_a_malformed_plan() -> None:
    doc = json.loads(json.dumps(render_fixtures.mixed_plan().to_json()))
    doc["resource_changes"][0]["domain_action"] = "explode"
    del doc["resource_drift"]
    assert len(_errors(doc)) == 2


def test_the_schema_checks_impossible_edits_and_held_changes() -> None:
    doc = json.loads(json.dumps(render_fixtures.guarded_plan().to_json()))
    assert doc["impossible_edits"]
    assert any(c["held"] for c in doc["resource_changes"])
    del doc["impossible_edits"][0]["fix"]
    doc["resource_changes"][0]["held"] = "yes"
    assert len(_errors(doc)) == 2


def test_the_schema_checks_waiting_starts_and_limited_plans() -> None:
    doc = json.loads(json.dumps(render_fixtures.waves_plan().to_json()))
    assert {c.get("waiting") for c in doc["resource_changes"]} == {None, "gate", "capacity"}
    assert doc["options"] == {"only_start": True}
    doc["resource_changes"][1]["waiting"] = "later"
    doc["options"]["only_start"] = "yes"
    assert len(_errors(doc)) == 2
