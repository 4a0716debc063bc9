"""What `export` writes for a live estate: the order fmt gives, and the defaults it has to fill in."""

from __future__ import annotations

from reconciler.observed import Observed, ObservedTask, ObservedUserMapping
from reconciler.operations.exporting import render
from reconciler.workspace.canonical_yaml import format_spec

SOURCE = "3d7f8c44-0a4f-5c0c-9a79-5f1f3b1b0a11"


def _task(n: int) -> ObservedTask:
    return ObservedTask(
        kind="user",
        key=f"user{n}@contoso.onmicrosoft.com",
        id=f"t{n}",
        status="queued",
        raw_status=None,
        target=f"user{n}@fabrikam.onmicrosoft.com",
        target_organization_id=None,
        target_organization_host=None,
        target_data_location=None,
        preferred_start=None,
        latest_start=None,
        validate_only=False,
        started=None,
        finished=None,
        last_updated=None,
        error=None,
    )


def test_migrations_come_out_in_natural_order_already_canonical() -> None:
    observed = Observed(tasks={("user", _task(n).key): _task(n) for n in (10, 9, 100, 1)})
    _, spec = render(observed, SOURCE)
    order = [line.split(": ")[1] for line in spec.splitlines() if "source_upn" in line]
    assert order == [f"user{n}@contoso.onmicrosoft.com" for n in (1, 9, 10, 100)]
    assert format_spec(spec) == spec


def test_a_partial_live_mapping_is_exported_with_the_defaults() -> None:
    partial = ObservedUserMapping(
        key="a@contoso.onmicrosoft.com",
        target_upn="a@fabrikam.onmicrosoft.com",
        target_email=None,
        user_type=None,
        source_organization_id=None,
    )
    csv_text, _ = render(Observed(user_mappings={partial.key: partial}), SOURCE)
    assert csv_text.strip() == f"User,{SOURCE},a@contoso.onmicrosoft.com,a@fabrikam.onmicrosoft.com,,regularUser"


def test_live_values_that_yaml_would_read_as_something_else_stay_strings() -> None:
    from dataclasses import replace

    from reconciler.spec.diagnostics import Diagnostics
    from reconciler.spec.yamlsource import load_yaml

    base = replace(_task(1), kind="group", target=None)
    odd = ["yes", "123", "null", "off", "#team", "a: b", "-x"]
    tasks = {("group", name): replace(base, key=name, target=name) for name in odd}
    _, spec = render(Observed(tasks=tasks), SOURCE)
    doc = load_yaml(spec, "exported.yaml", Diagnostics())
    assert doc is not None
    read = [(m["source_mail_nickname"], m["target_mail_nickname"]) for m in doc.value["group_migrations"]]
    assert sorted(read) == sorted((name, name) for name in odd)
    assert format_spec(spec) == spec
