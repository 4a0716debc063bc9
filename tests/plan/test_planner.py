"""Planner cases from data files: desired + observed + state -> the exact changes, drift and diagnostics."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.plan.planner import Selection, plan
from reconciler.plan.render_text import render_text
from reconciler.spec.desired import Desired
from tests.plan import cases


@pytest.mark.parametrize("name", cases.names())
def test_case(name: str) -> None:
    case = cases.load(name)
    selection = Selection(tuple(case.get("targets", [])), tuple(case.get("excludes", [])))
    result = plan(
        cases.desired(case.get("desired", {})),
        cases.observed(case.get("observed", {})),
        cases.state(case.get("state", {})),
        dataclasses.replace(
            cases.CONTEXT,
            override_mapping_holds=case.get("override_mapping_holds", False),
            max_in_flight=case.get("max_in_flight", cases.CONTEXT.max_in_flight),
            only=frozenset(case.get("only", [])),
        ),
        selection,
    )
    expect = case["expect"]
    got = [[c.address, c.action.value] for c in result.changes]
    assert got == expect["changes"]
    for wanted, change in zip(expect.get("reasons", []), result.changes, strict=False):
        assert wanted in change.reason, (change.address, change.reason)
    assert [d.address for d in result.drift] == expect.get("drift", [])
    assert [[d.severity, d.address] for d in result.diagnostics] == expect.get("diagnostics", [])
    assert result.has_changes is expect["has_changes"]
    # Spec edits the service cannot carry out: by address, with the attributes (spec names) at fault.
    assert [[e.address, [a.name for a in e.attributes]] for e in result.impossible] == expect.get("impossible", [])
    for wanted, edit in zip(expect.get("impossible_reasons", []), result.impossible, strict=True):
        assert wanted in edit.reason + " " + edit.fix, (edit.address, edit.reason, edit.fix)
    assert [c.address for c in result.changes if c.held] == expect.get("held", [])
    assert [[c.address, c.waiting] for c in result.changes if c.waiting] == expect.get("waiting", [])
    assert result.options == expect.get("options", {})
    if "after" in expect:
        assert result.changes[0].after == expect["after"]


def test_spec_digest_is_computed_only_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The text plan shows no digest, so planning does not hash the spec; the JSON still carries it, the same."""
    case = cases.load(cases.names()[0])
    desired = cases.desired(case.get("desired", {}))
    expected = desired.digest()
    calls: list[str] = []
    real = Desired.digest

    def counted(self: Desired) -> str:
        calls.append("digest")
        return real(self)

    monkeypatch.setattr(Desired, "digest", counted)
    result = plan(desired, cases.observed(case.get("observed", {})), cases.state({}), cases.CONTEXT, Selection())
    render_text(result, color=False)
    assert calls == []
    assert result.to_json()["evidence"]["spec_digest"] == expected
    assert result.to_json()["evidence"]["spec_digest"] == expected
    assert calls == ["digest"]  # once, then kept


@pytest.mark.parametrize(
    ("targets", "excludes", "everything"),
    [((), (), True), (("user_mapping[*]",), (), False), ((), ("site_migration[*]",), False)],
)
def test_a_selection_without_targets_or_excludes_selects_everything(
    targets: tuple[str, ...], excludes: tuple[str, ...], everything: bool
) -> None:
    selection = Selection(targets, excludes)
    assert selection.everything is everything
    addresses = ['user_mapping["a@contoso.com"]', 'site_migration["https://contoso.sharepoint.com/sites/x"]']
    assert all(selection(a) for a in addresses) is everything
