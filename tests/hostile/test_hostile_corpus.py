"""The hostile-input corpus: workspaces a careless or hostile pull request could bring, each refused offline.

Each folder under ``cases/`` is a workspace (the emulator-connected ``base-reconciler.yaml`` unless it has
its own) and its ``expected.txt``: the exact diagnostics, in order. The real CLI runs ``validate`` and
``plan`` in subprocesses against the shared emulator; both must exit 1 with exactly those lines, print no
traceback, and send the emulator no request at all (its counters stay empty), not even for a token.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Emulator

HERE = Path(__file__).parent
CASES = HERE / "cases"
BASE_CONFIG = HERE / "base-reconciler.yaml"
EXPECTED = "expected.txt"
REPO = HERE.parent.parent
PLAN_REFUSED = "Error: the workspace has errors; nothing was planned"
_SEVERITY = re.compile(r"(?:^|: )(error|warning): ")


def case_names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if p.is_dir())


def materialize(name: str, into: Path, conn: dict[str, object]) -> Path:
    """The case as a workspace wired to the running emulator through its connection file."""
    ws = into / "ws"
    shutil.copytree(CASES / name, ws, ignore=shutil.ignore_patterns(EXPECTED))
    if not (ws / "reconciler.yaml").exists():
        shutil.copy(BASE_CONFIG, ws / "reconciler.yaml")
    (ws / ".reconciler").mkdir(exist_ok=True)
    (ws / ".reconciler" / "emulator.json").write_text(json.dumps(conn))
    return ws


def start(ws: Path, *args: str) -> subprocess.Popen[str]:
    """``reconciler ARGS .`` started inside the workspace, so diagnostics name files relative to it."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args, "."],
        cwd=ws,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": path},
    )


def finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return finish(start(ws, *args))


def summary(lines: list[str]) -> str:
    found = [m.group(1) for line in lines if (m := _SEVERITY.search(line))]
    errors, warnings = found.count("error"), found.count("warning")
    return f"Invalid: {errors} error{'' if errors == 1 else 's'}, {warnings} warning{'' if warnings == 1 else 's'}."


@pytest.mark.parametrize("name", case_names())
def test_hostile_input_is_refused_offline_with_its_located_diagnostics(
    name: str, emulator_session: Emulator, tmp_path: Path
) -> None:
    expected = (CASES / name / EXPECTED).read_text(encoding="utf-8").splitlines()
    ws = materialize(name, tmp_path, emulator_session.conn)
    emulator_session.control("DELETE", "/counters")

    running = start(ws, "validate"), start(ws, "plan")  # side by side: the corpus is CLI start-up bound
    validate, plan = (finish(p) for p in running)

    assert emulator_session.control("GET", "/counters") == {}
    for run in (validate, plan):
        assert run.returncode == 1, run.stdout + run.stderr
        assert "Traceback" not in run.stdout + run.stderr
    assert validate.stdout.splitlines() == [*expected, summary(expected)]
    assert validate.stderr == ""
    assert plan.stdout == ""
    assert plan.stderr.splitlines() == [*expected, PLAN_REFUSED]


def test_the_corpus_is_large_and_every_case_names_where_the_problem_is() -> None:
    names = case_names()
    assert len(names) >= 40
    for name in names:
        lines = (CASES / name / EXPECTED).read_text(encoding="utf-8").splitlines()
        assert any(" error: " in line for line in lines), name
        # every diagnostic is located: file:line:col first
        assert all(re.match(r"^[^:\s]+:\d+:\d+: (error|warning): ", line) for line in lines), name


def test_a_valid_workspace_does_reach_the_emulator(emulator_session: Emulator, tmp_path: Path) -> None:
    """The counter check above can fail: the same harness on a sound workspace plans against the emulator."""
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(BASE_CONFIG, ws / "reconciler.yaml")
    (ws / "users.yaml").write_text(
        "user_mappings:\n"
        "  - {source_upn: user001@contoso.onmicrosoft.com, target_upn: user001@fabrikam.onmicrosoft.com}\n"
    )
    (ws / ".reconciler").mkdir()
    (ws / ".reconciler" / "emulator.json").write_text(json.dumps(emulator_session.conn))
    emulator_session.control("DELETE", "/counters")
    assert cli(ws, "validate").returncode == 0
    plan = cli(ws, "plan")
    assert plan.returncode == 0, plan.stderr
    assert emulator_session.control("GET", "/counters") != {}
