"""Path-level explanations (DeepDiff) of drifted and updated objects: what they say, where they show, what they cost.

``UPDATE_GOLDEN=1 pytest tests/plan/test_explain.py`` rewrites ``golden/explained.*`` after an intended change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema_rs
import pytest

from reconciler.jsonindent import dumps_indented
from reconciler.plan import explain as explain_module
from reconciler.plan.model import Plan
from reconciler.plan.planner import Selection, plan
from reconciler.plan.render_markdown import Heading, render_markdown
from reconciler.plan.render_text import render_text
from reconciler.spec.desired import Desired, UserMapping
from reconciler.spec.diagnostics import SourceRange
from reconciler.spec.enums import UserType
from reconciler.state.model import ResourceState, State
from tests.plan import cases

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
ALICE = 'user_mapping["alice@contoso.com"]'
BOB = 'user_mapping["bob@contoso.com"]'
GROUP = 'group_mapping["aaaaaaaa-0000-0000-0000-000000000001"]'
HEADING = Heading(
    "migration", cases.SOURCE, cases.TARGET, "2026-01-01T09:30:00Z", "0123456789abcdef", "reconciler apply plan.json"
)


def _explained() -> Plan:
    case = cases.load("mapping_explained")
    return plan(
        cases.desired(case["desired"]),
        cases.observed(case["observed"]),
        cases.state(case["state"]),
        cases.CONTEXT,
        Selection(),
    )


def test_drift_names_every_member_that_changed_at_graph_paths_declared_or_not() -> None:
    drift = {d.address: d for d in _explained().drift}
    # target_email is not in the spec nor in state: the drift's reason leaves it out, the explanation does not.
    assert drift[ALICE].reason == "target_upn changed outside reconciler"
    assert drift[ALICE].explanation == [
        {
            "path": "targetUserIdentity.userPrincipalName",
            "change": "changed",
            "before": "alice@fabrikam.com",
            "after": "mallory@fabrikam.com",
        },
        {"path": "targetUserMigrationData.email", "change": "added", "before": None, "after": "mallory@fabrikam.com"},
    ]
    assert drift[GROUP].explanation == [
        {"path": "targetGroupMigrationData.mailNickname", "change": "changed", "before": "sales", "after": "sales-old"}
    ]


def test_an_update_explains_what_apply_changes_and_nothing_else_is_explained() -> None:
    changes = {c.address: c for c in _explained().changes}
    assert changes[BOB].explanation == [
        {
            "path": "targetUserIdentity.userPrincipalName",
            "change": "changed",
            "before": "bob@fabrikam.com",
            "after": "robert@fabrikam.com",
        },
        {
            "path": "targetUserMigrationData.email",
            "change": "changed",
            "before": "bob@fabrikam.com",
            "after": "robert@fabrikam.com",
        },
    ]
    assert changes['user_mapping["carol@contoso.com"]'].explanation is None  # unchanged: no explanation


def test_unchanged_objects_make_no_deepdiff_call() -> None:
    desired, state, observed = Desired(), State(lineage="l", serial=1), cases.observed({})
    for i in range(500):
        upn = f"user{i}@contoso.com"
        item = UserMapping(
            source_upn=upn,
            target_upn=f"user{i}@fabrikam.com",
            target_email=None,
            user_type=UserType("regularUser"),
            source_organization_id=None,
            protect=False,
            range=SourceRange.at("s", 1),
        )
        desired.user_mappings[item.key] = item
        values = {
            "target_upn": f"user{i}@fabrikam.com",
            "user_type": "regularUser",
            "source_organization_id": cases.SOURCE,
        }
        state.resources[f'user_mapping["{upn}"]'] = ResourceState("user_mapping", upn, dict(values))
        observed.user_mappings[upn] = cases.observed({"user_mappings": [{"key": upn, **values}]}).user_mappings[upn]
    before = explain_module.calls
    result = plan(desired, observed, state, cases.CONTEXT, Selection())
    assert not result.has_changes
    assert not result.drift
    assert explain_module.calls == before
    _explained()
    assert explain_module.calls == before + 5  # 2 drifted objects, 3 updates


def test_past_the_limit_objects_go_unexplained_and_the_plan_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.plan import planner

    monkeypatch.setattr(planner, "EXPLAIN_LIMIT", 3)
    result = _explained()
    explained = [c.explanation for c in result.changes] + [d.explanation for d in result.drift]
    assert sum(e is not None for e in explained) == 3
    [warning] = [d for d in result.diagnostics if "path-level explanation" in d.summary]
    assert warning.severity == "warning"
    assert warning.summary == "2 drifted or updated objects shown without a path-level explanation"


def test_planning_an_unchanged_workspace_does_not_import_deepdiff() -> None:
    code = (
        "import sys; from reconciler.plan import planner; "
        "from reconciler.plan.explain import explain; print('deepdiff' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("suffix", "render"),
    [
        ("txt", render_text),
        ("md", lambda p: render_markdown(p, heading=HEADING)),
        ("json", lambda p: dumps_indented(p.to_json(), indent=2, ensure_ascii=False) + "\n"),
    ],
)
def test_golden(suffix: str, render: object) -> None:
    assert callable(render)
    path = GOLDEN / f"explained.{suffix}"
    out = render(_explained())
    if UPDATE:
        path.write_bytes(out.encode())
    assert out == path.read_bytes().decode()


def test_explanations_survive_a_saved_plan_and_match_the_schema() -> None:
    doc = json.loads(json.dumps(_explained().to_json()))
    assert Plan.from_json(doc).to_json() == doc
    schema = json.loads((ROOT / "specs" / "plan" / "plan.schema.json").read_text())
    validator = jsonschema_rs.Draft202012Validator(schema)
    assert [str(e) for e in validator.iter_errors(doc)] == []
    doc["resource_drift"][0]["explanation"][0]["change"] = "moved"
    assert len(list(validator.iter_errors(doc))) == 1


def test_a_damaged_explanation_in_a_saved_plan_is_one_error(tmp_path: Path) -> None:
    from reconciler.plan import planfile

    path = tmp_path / "plan.json"
    planfile.save(path, _explained(), cases.SOURCE, cases.TARGET)
    doc = json.loads(path.read_text())
    doc["resource_drift"][0]["explanation"] = "targetUserIdentity changed"
    path.write_text(json.dumps(doc))
    with pytest.raises(planfile.PlanFileError) as caught:
        planfile.load(path)
    assert str(caught.value) == (
        f"{path}: the plan file is damaged: resource_drift[0].explanation must be a list, got a string"
    )
