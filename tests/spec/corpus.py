"""Shared helpers for the bad-workspace corpus: copy a case into a workspace and load it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from reconciler.workspace.loader import Workspace, load_workspace

CASES = Path(__file__).parent / "cases"
BASE_CONFIG = CASES / "base-reconciler.yaml"
EXPECTED = "expected.txt"
NO_CONFIG = ".keep-no-config"  # a case that must be loaded without any reconciler.yaml


def case_names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if p.is_dir())


def materialize(name: str, into: Path) -> Path:
    """The case as a workspace folder (with the base reconciler.yaml unless the case has its own)."""
    workspace = into / "ws"
    shutil.copytree(CASES / name, workspace, ignore=shutil.ignore_patterns(EXPECTED, "expected.json"))
    if not (workspace / "reconciler.yaml").exists() and not (workspace / NO_CONFIG).exists():
        shutil.copy(BASE_CONFIG, workspace / "reconciler.yaml")
    return workspace


def load_case(name: str, into: Path) -> Workspace:
    workspace = materialize(name, into)
    cwd = os.getcwd()
    os.chdir(workspace)
    try:
        return load_workspace(".")
    finally:
        os.chdir(cwd)


def rendered(ws: Workspace) -> list[str]:
    return [d.render() for d in ws.diagnostics.sorted()]
