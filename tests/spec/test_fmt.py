"""``reconciler fmt``: canonical order and sorting, comments kept, idempotent, atomic, semantics unchanged."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from reconciler.workspace.canonical_yaml import FormatError, format_config, format_spec
from reconciler.workspace.fmt import format_workspace
from reconciler.workspace.loader import load_workspace
from tests.spec.corpus import BASE_CONFIG

MESSY = """\
# yaml-language-server: $schema=spec.schema.json
# The users of the pilot.

user_migrations:
- {wave: pilot, source_upn: bob@contoso.com}
user_mappings:  # people
  # Carol first, although she sorts last
  - target_upn: carol@fabrikam.com  # new name
    source_upn: Carol@contoso.com
  # Alice
  - protect: true
    source_upn: alice@contoso.com
    target_upn: "alice@fabrikam.com"
      # (indented: still about Alice)
  - {target_upn: bob@fabrikam.com, source_upn: bob@contoso.com}  # Bob
  # end of the mappings
waves:
  - name: pilot
"""

CANONICAL = """\
# yaml-language-server: $schema=spec.schema.json
# The users of the pilot.

waves:
  - name: pilot
user_mappings:  # people
  # Alice
  - source_upn: alice@contoso.com
    target_upn: alice@fabrikam.com
      # (indented: still about Alice)
    protect: true
  - {source_upn: bob@contoso.com, target_upn: bob@fabrikam.com}  # Bob
  # Carol first, although she sorts last
  - source_upn: Carol@contoso.com
    target_upn: carol@fabrikam.com  # new name
  # end of the mappings
user_migrations:
  - {source_upn: bob@contoso.com, wave: pilot}
"""


def test_spec_file_becomes_canonical_with_comments_kept() -> None:
    assert format_spec(MESSY) == CANONICAL


def test_formatting_is_idempotent() -> None:
    assert format_spec(CANONICAL) == CANONICAL


def test_natural_order_of_numbers() -> None:
    text = "site_migrations:\n" + "".join(
        f"  - {{source_url: https://contoso.sharepoint.com/sites/s{n}, target_url: https://fabrikam.sharepoint.com/sites/s{n}}}\n"
        for n in (10, 2, 1)
    )
    out = format_spec(text)
    assert [line.split("/sites/")[1].split(",")[0] for line in out.splitlines()[1:]] == ["s1", "s2", "s10"]


def test_a_waves_gate_keys_follow_the_model() -> None:
    text = (
        "waves:\n  - name: pilot\n  - max_in_flight: 2\n    gate:\n      max_failed: 1\n"
        "      min_completed: 95%  # most\n    after: [pilot]\n    name: wave2\n"
    )
    assert format_spec(text) == (
        "waves:\n  - name: pilot\n  - name: wave2\n    after: [pilot]\n    gate:\n"
        "      min_completed: 95%  # most\n      max_failed: 1\n    max_in_flight: 2\n"
    )


def test_config_keys_follow_the_model() -> None:
    text = (
        "target:\n  domain: fabrikam.com  # t\n  tenant_id: 209a1d2e-6cb2-5501-a039-58b1392b7c3d\n"
        "source:\n  credentials:\n    client_secret_env: X\n    client_id: 0c9f2b1e-7a4d-4c36-9d0e-2b8f5a1c7e30\n"
        "    type: client_secret\n  tenant_id: 79d49731-4eec-55d9-bcd4-6d55505b7f2c\nversion: 1\n"
    )
    assert format_config(text) == (
        "version: 1\n"
        "source:\n  tenant_id: 79d49731-4eec-55d9-bcd4-6d55505b7f2c\n  credentials:\n    type: client_secret\n"
        "    client_id: 0c9f2b1e-7a4d-4c36-9d0e-2b8f5a1c7e30\n    client_secret_env: X\n"
        "target:\n  tenant_id: 209a1d2e-6cb2-5501-a039-58b1392b7c3d\n  domain: fabrikam.com  # t\n"
    )


def test_syntax_errors_are_refused() -> None:
    with pytest.raises(FormatError):
        format_spec("a: [\n")


def _workspace(tmp_path: Path) -> Path:
    (tmp_path / "reconciler.yaml").write_text(BASE_CONFIG.read_text())
    (tmp_path / "users.yaml").write_text(MESSY)
    (tmp_path / "good.yaml").write_text(CANONICAL.replace("pilot", "p2"))
    return tmp_path


def test_check_lists_without_writing(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    before = {p.name: p.read_text() for p in ws.iterdir()}
    report = format_workspace(ws, write=False)
    assert report.changed == [f"{ws}/users.yaml"]
    assert report.diffs[f"{ws}/users.yaml"].startswith(f"--- a/{ws}/users.yaml\n+++ b/{ws}/users.yaml\n")
    assert {p.name: p.read_text() for p in ws.iterdir()} == before


def test_write_is_atomic_keeps_mode_and_meaning(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    os.chmod(ws / "users.yaml", 0o640)
    desired_before = load_workspace(ws).desired
    report = format_workspace(ws)
    assert report.changed == [f"{ws}/users.yaml"]
    assert (ws / "users.yaml").read_text() == CANONICAL
    assert stat.S_IMODE((ws / "users.yaml").stat().st_mode) == 0o640
    assert sorted(p.name for p in ws.iterdir()) == ["good.yaml", "reconciler.yaml", "users.yaml"]  # no temp files
    after = load_workspace(ws)
    assert after.desired.digest() == desired_before.digest()
    assert not format_workspace(ws, write=False).changed


def test_broken_files_are_reported_and_left_alone(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    (ws / "broken.yaml").write_text("user_mappings: [\n")
    report = format_workspace(ws)
    assert [d.render() for d in report.diagnostics] == [
        f"{ws}/broken.yaml:2:1: error: YAML syntax error: did not find expected node content; while parsing a flow node"
    ]
    assert (ws / "broken.yaml").read_text() == "user_mappings: [\n"
