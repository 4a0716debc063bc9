"""Every example workspace validates clean, is already formatted, and its YAML names its JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest

from reconciler.emulator.world import build_world, default_seed
from reconciler.spec.diagnostics import Diagnostics
from reconciler.spec.yamlsource import load_yaml
from reconciler.workspace.fmt import format_workspace
from reconciler.workspace.loader import discover_spec_files, load_workspace

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/reconciler.yaml"))


def test_examples_exist() -> None:
    assert [p.name for p in EXAMPLES] == ["large", "quickstart"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_clean(example: Path) -> None:
    ws = load_workspace(example)
    assert [d.render() for d in ws.diagnostics] == []
    assert len(ws.desired) > 0


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_is_formatted(example: Path) -> None:
    report = format_workspace(example, write=False)
    assert (report.changed, list(report.diagnostics)) == ([], [])


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_files_match_their_schema(example: Path) -> None:
    ws = load_workspace(example)
    files = [example / "reconciler.yaml", *(spec.path for spec in discover_spec_files(example, ".", ws.config))]
    for path in files:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        schema_path = (path.parent / first.split("=", 1)[1]).resolve()
        assert schema_path.parent == ROOT / "specs" / "workspace", path
        doc = load_yaml(path.read_text(encoding="utf-8"), str(path), Diagnostics())
        assert doc is not None
        validator = jsonschema_rs.validator_for(json.loads(schema_path.read_text()), validate_formats=True)
        assert [e.message for e in validator.iter_errors(doc.value)] == [], path


def test_quickstart_points_at_the_emulator_default_world() -> None:
    ws = load_workspace(ROOT / "examples" / "quickstart")
    assert ws.config is not None
    assert ws.config.emulator is not None
    assert ws.source is not None
    assert ws.target is not None
    world = build_world(default_seed())
    contoso, fabrikam = world.by_name("contoso"), world.by_name("fabrikam")
    assert contoso is not None
    assert fabrikam is not None
    assert (ws.source.tenant_id, ws.source.domain) == (contoso.tenant_id, contoso.domain)
    assert (ws.target.tenant_id, ws.target.domain) == (fabrikam.tenant_id, fabrikam.domain)
    for mapping in ws.desired.user_mappings.values():
        assert mapping.source_upn.lower() in contoso.users_by_upn
        assert mapping.target_upn.lower() in fabrikam.users_by_upn
    for group in ws.desired.group_mappings.values():
        assert (
            contoso.groups_by_id[group.source_group_id].mail_nickname
            == fabrikam.groups_by_id[group.target_group_id].mail_nickname
        )
    for site in ws.desired.site_migrations.values():
        assert site.key in contoso.sites
    for move in ws.desired.group_migrations.values():
        assert move.key in contoso.groups_by_nick
