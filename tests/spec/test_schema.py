"""JSON Schemas: generated from the models, fresh in specs/workspace/, and in agreement with the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from reconciler.spec.models import ITEM_MODELS, SpecFile
from reconciler.spec.schema import spec_file_schema
from reconciler.workspace.config import WorkspaceConfig
from reconciler.workspace.schema import DEFAULT_DIR, config_schema, main, stale

ROOT = Path(__file__).resolve().parents[2]


def test_schema_files_are_fresh() -> None:
    assert DEFAULT_DIR == ROOT / "specs" / "workspace"
    assert stale(DEFAULT_DIR) == [], "run: python -m reconciler.workspace.schema"


def test_check_mode_notices_a_stale_file(tmp_path: Path, capsys: Any) -> None:
    assert main(["--dir", str(tmp_path), "--check"]) == 1
    assert main(["--dir", str(tmp_path)]) == 0
    assert main(["--dir", str(tmp_path), "--check"]) == 0
    (tmp_path / "spec.schema.json").write_text("{}\n")
    assert main(["--dir", str(tmp_path), "--check"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == f"stale: {tmp_path / 'spec.schema.json'}"


def test_schemas_forbid_unknown_fields_everywhere() -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, node.get("title")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec_file_schema())
    walk(config_schema())


def _validator(schema: dict[str, Any]) -> Any:
    return jsonschema_rs.validator_for(json.loads(json.dumps(schema)), validate_formats=True)


SPEC = _validator(spec_file_schema())
CONFIG = _validator(config_schema())

UPNS = ["alice@contoso.com", "Guest_x.com#EXT#@contoso.onmicrosoft.com", "alice", "a b@c.com", "", "x@y"]
GUIDS = ["54cf901d-34e3-5a82-9200-09f75df0d2db", "54CF901D-34E3-5A82-9200-09F75DF0D2DB", "54cf901d", "{54cf901d}"]
URLS = ["https://contoso.sharepoint.com/sites/IT", "http://contoso.sharepoint.com/sites/IT", "https://x/y?q=1", "x"]
DATES = ["2026-03-01T18:00:00Z", "2026-03-01T18:00:00.5+02:00", "2026-03-01T18:00:00", "2026-03-01", "soon"]
SCALARS: list[Any] = [None, True, False, 0, 1, 3, -1, 1001, "text", "none", "regularUser", "m365Group", "present"]
SCALARS += ["cancelled", "NAM", "nam", "identity_map", "user_migrations", "w1", "a b", [], {}, ["x"]]
VALUES = st.sampled_from(UPNS + GUIDS + URLS + DATES + SCALARS)


@st.composite
def items(draw: st.DrawFn, model: type[BaseModel]) -> dict[str, Any]:
    names = list(model.model_fields)
    chosen = draw(st.lists(st.sampled_from([*names, "unknown_field"]), unique=True, max_size=len(names) + 1))
    return {name: draw(VALUES) for name in chosen}


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(ITEM_MODELS)), data=st.data())
def test_models_and_schema_agree_on_items(kind: str, data: st.DataObject) -> None:
    item = data.draw(items(ITEM_MODELS[kind]))
    try:
        SpecFile.model_validate({kind: [item]})
        model_ok = True
    except ValidationError:
        model_ok = False
    assert SPEC.is_valid({kind: [item]}) == model_ok, item


@settings(max_examples=150, deadline=None)
@given(
    source=st.fixed_dictionaries(
        {},
        optional={
            "tenant_id": st.sampled_from(GUIDS),
            "domain": st.sampled_from(["contoso.onmicrosoft.com", "contoso", "x y.com"]),
            "hosts": st.lists(st.sampled_from(URLS), max_size=2),
            "credentials": st.sampled_from(
                [
                    {"type": "client_secret", "client_id": GUIDS[0], "client_secret_env": "S"},
                    {"type": "client_secret", "client_id": GUIDS[0], "client_secret": "x"},
                    {"type": "certificate", "client_id": GUIDS[0], "certificate_path": "c.pem"},
                    {"type": "managed_identity"},
                    {"type": "device_code"},
                    {"type": "emulator"},
                    {"type": "magic"},
                    {"client_id": GUIDS[0]},
                ]
            ),
            "data_location": st.sampled_from(["NAM", "nam", 3]),
            "other": st.just(1),
        },
    ),
    extra=st.fixed_dictionaries(
        {},
        optional={
            "version": st.sampled_from([1, 2, "1"]),
            "state": st.sampled_from([{"backend": "local"}, {"backend": "s3"}, {"path": "s.json"}, {}]),
            "defaults": st.sampled_from([{"user_type": "guestUser"}, {"user_type": "guest"}, {"protect": "no"}]),
            "spec_files": st.sampled_from([["*.yaml"], "*.yaml", [""]]),
            "graph": st.sampled_from([{"graph_base_url": "https://g/beta"}, {"graph_base_url": "g"}]),
        },
    ),
)
def test_models_and_schema_agree_on_config(source: dict[str, Any], extra: dict[str, Any]) -> None:
    document = {"source": source, "target": {}, **extra}
    try:
        WorkspaceConfig.model_validate(document)
        model_ok = True
    except ValidationError:
        model_ok = False
    assert CONFIG.is_valid(document) == model_ok, document
