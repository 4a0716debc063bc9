"""The workspace commands through the real CLI: exact output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.main import main
from tests.spec.corpus import materialize

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(cwd)


def test_validate_a_clean_workspace() -> None:
    code, out = _run("validate", str(ROOT / "examples" / "quickstart"))
    assert (code, out) == (0, "Success! The workspace is valid: 22 resources in 4 files.\n")


def test_validate_reports_every_problem_and_exits_1(in_tmp: Path) -> None:
    materialize("migration-without-mapping", in_tmp)
    code, out = _run("validate", "ws")
    assert code == 1
    assert out == (
        "ws/spec.yaml:6:17: error: target_upn alice.smith@fabrikam.com differs from the user mapping's target "
        "alice@fabrikam.com; the mapping is at ws/spec.yaml:2:5\n"
        'ws/spec.yaml:7:17: error: user_migration["bob@contoso.com"] has no user mapping; add a user_mapping with '
        "source_upn bob@contoso.com; the move fails without one\n"
        "Invalid: 2 errors, 0 warnings.\n"
    )


def test_warnings_alone_exit_0(in_tmp: Path) -> None:
    materialize("group-connected-site", in_tmp)
    code, out = _run("validate", "ws")
    assert code == 0
    assert out.splitlines()[-1] == "Success! The workspace is valid (2 warnings): 5 resources in 1 file."


def test_validate_json(in_tmp: Path) -> None:
    materialize("not-one-to-one", in_tmp)
    code, out = _run("validate", "ws", "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert {k: doc[k] for k in ("format_version", "valid", "error_count", "warning_count", "resources", "files")} == {
        "format_version": "1.0",
        "valid": False,
        "error_count": 3,
        "warning_count": 0,
        "resources": 4,
        "files": ["ws/users.yaml"],
    }
    assert doc["diagnostics"][0] == {
        "severity": "error",
        "summary": 'target user "NEW.USER@fabrikam.com" is also the target of user_mapping["admin@contoso.com"]',
        "detail": "identity mappings must be one-to-one; the other is at ws/users.yaml:2:5",
        "address": 'user_mapping["alice@contoso.com"]',
        "range": {"filename": "ws/users.yaml", "start": {"line": 5, "column": 17}, "end": {"line": 5, "column": 38}},
    }


def test_validate_a_missing_directory(in_tmp: Path) -> None:
    assert _run("validate", "nowhere") == (
        1,
        'error: workspace "nowhere" is not a directory\nInvalid: 1 error, 0 warnings.\n',
    )


def test_fmt_check_then_fmt(in_tmp: Path) -> None:
    ws = materialize("declared-twice", in_tmp)
    (ws / "c.yaml").write_text("user_mappings:\n- {target_upn: z@fabrikam.com, source_upn: z@contoso.com}\n")
    assert _run("fmt", "--check", "ws") == (1, "ws/c.yaml\n")
    code, out = _run("fmt", "--check", "--diff", "ws")
    assert code == 1
    assert out.splitlines()[0:3] == ["ws/c.yaml", "--- a/ws/c.yaml", "+++ b/ws/c.yaml"]
    assert _run("fmt", "ws") == (0, "ws/c.yaml\n")
    assert (
        ws / "c.yaml"
    ).read_text() == "user_mappings:\n  - {source_upn: z@contoso.com, target_upn: z@fabrikam.com}\n"
    assert _run("fmt", "--check", "ws") == (0, "")


def test_fmt_reports_syntax_errors(in_tmp: Path) -> None:
    materialize("yaml-syntax-error", in_tmp)
    code, out = _run("fmt", "ws")
    assert code == 1
    assert out.splitlines()[0].startswith("ws/more.yaml:3:1: error: YAML syntax error:")


def test_init_writes_a_valid_workspace_and_refuses_to_overwrite(in_tmp: Path) -> None:
    code, out = _run("init", "new")
    assert code == 0
    assert out.splitlines() == [
        "wrote new/reconciler.yaml",
        "wrote new/mappings.yaml",
        "wrote new/migrations.yaml",
        "wrote new/.gitignore",
        "wrote new/.schema/reconciler.schema.json",
        "wrote new/.schema/spec.schema.json",
        "Next: reconciler validate new",
    ]
    assert _run("validate", "new") == (0, "Success! The workspace is valid: 7 resources in 2 files.\n")
    assert _run("fmt", "--check", "new") == (0, "")
    code, out = _run("init", "new")
    assert code == 1
    assert "new/reconciler.yaml: already exists" in out
    assert out.splitlines()[-1] == "Error: nothing written; use --force to overwrite"
    assert _run("init", "new", "--force")[0] == 0


def test_validate_runs_as_a_program_without_network() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PROXY") and not k.endswith("_proxy")}
    env["HTTPS_PROXY"] = env["HTTP_PROXY"] = "http://127.0.0.1:9"  # any network use would fail loudly
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "examples/quickstart"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        0,
        "Success! The workspace is valid: 22 resources in 4 files.\n",
        "",
    )
