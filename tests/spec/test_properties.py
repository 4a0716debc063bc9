"""Property: whatever the YAML or CSV, loading and formatting never raise; problems only become diagnostics."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.spec.models import ITEM_MODELS
from reconciler.workspace.fmt import format_workspace
from reconciler.workspace.loader import load_workspace
from tests.spec.corpus import BASE_CONFIG

FIELDS = sorted({name for model in ITEM_MODELS.values() for name in model.model_fields} | {"type", "bogus"})
ATOMS = [
    "alice@contoso.com",
    "ALICE@contoso.com",
    "bob@fabrikam.com",
    "54cf901d-34e3-5a82-9200-09f75df0d2db",
    "https://contoso.sharepoint.com/sites/IT",
    "https://fabrikam.sharepoint.com/sites/IT",
    "2026-03-01T18:00:00Z",
    "2026-03-01T19:00:00+02:00",
    "2026-03-01",
    "w1",
    "identity_map",
    "user_migrations",
    "x.csv",
    "cancelled",
    "regularUser",
    "",
]
SCALAR = st.one_of(st.sampled_from(ATOMS), st.booleans(), st.integers(-3, 2000), st.none(), st.text(max_size=8))
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=3),
    max_leaves=6,
)
ITEM = st.dictionaries(st.sampled_from(FIELDS), VALUE, max_size=6)
DOCUMENT = st.dictionaries(
    st.sampled_from([*ITEM_MODELS, "waves ", "extra"]), st.lists(ITEM, max_size=4) | VALUE, max_size=4
)
NOISE = [*list(":-[]{}#&*!|>'\"%@`,?\n\t "), "\x00", "\ufeff", "\u2028", "<<: ", "&a ", "*a", "!!binary ", "---\n"]


def _dump(document: dict[str, Any], style: str) -> str:
    if style == "json":
        return json.dumps(document)
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = style == "flow"
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


@st.composite
def yaml_texts(draw: st.DrawFn) -> str:
    text = _dump(draw(DOCUMENT), draw(st.sampled_from(["block", "flow", "json"])))
    for _ in range(draw(st.integers(0, 3))):  # break it a little: insert, delete or replace a character
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["", *NOISE])) + text[at + draw(st.integers(0, 2)) :]
    return text


CELL = st.one_of(
    st.sampled_from(["User", "Group", "user", "SourceTenantCompanyID", "79d49731-4eec-55d9-bcd4-6d55505b7f2c", *ATOMS]),
    st.text(alphabet=st.sampled_from(list('ab,"\n\r @-')), max_size=6),
)
CSV_TEXT = st.lists(st.lists(CELL, max_size=8).map(",".join), max_size=8).map("\n".join) | st.text(max_size=60)


def _check(files: dict[str, str], csv_text: str | None = None, *, config: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "reconciler.yaml").write_text(
            config if config is not None else BASE_CONFIG.read_text(), encoding="utf-8"
        )
        for name, text in files.items():
            (root / name).write_text(text, encoding="utf-8", errors="surrogatepass")
        if csv_text is not None:
            (root / "x.csv").write_text(csv_text, encoding="utf-8")
            (root / "refs.yaml").write_text(
                "csv_files:\n  - {path: x.csv, format: identity_map}\n  - {path: y.csv, format: user_migrations}\n"
            )
            (root / "y.csv").write_text("source_upn,wave,validate_only\n" + csv_text, encoding="utf-8")
        ws = load_workspace(root)
        for diagnostic in ws.diagnostics:
            assert diagnostic.render()
            assert json.dumps(diagnostic.to_json())
        report = format_workspace(root, write=True)
        assert all(d.render() for d in report.diagnostics)
        if not report.diagnostics.has_errors:
            assert not format_workspace(root, write=False).changed  # fmt is idempotent


PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(text=yaml_texts())
def test_random_spec_yaml_never_raises(text: str) -> None:
    _check({"spec.yaml": text})


@PROPERTY
@given(text=st.text(max_size=120))
def test_random_text_never_raises(text: str) -> None:
    _check({"spec.yaml": text})


@PROPERTY
@given(text=yaml_texts())
def test_random_config_never_raises(text: str) -> None:
    _check({}, config=text)


@PROPERTY
@given(csv_text=CSV_TEXT)
def test_random_csv_never_raises(csv_text: str) -> None:
    _check({}, csv_text)
