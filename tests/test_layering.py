"""Layer rules of docs/architecture.md that a refactor could silently break."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "reconciler"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_emulator_imports_nothing_else_from_reconciler() -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in (PACKAGE / "emulator").rglob("*.py")
        for name in _imports(path)
        if name.startswith("reconciler") and not name.startswith("reconciler.emulator")
    }
    assert not offenders


def test_the_library_never_imports_the_cli() -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in PACKAGE.rglob("*.py")
        if "cli" not in path.relative_to(PACKAGE).parts and path.name != "__main__.py"
        for name in _imports(path)
        if name.startswith("reconciler.cli")
    }
    assert not offenders


def test_nothing_below_the_operations_imports_them() -> None:
    """Operations may import every floor below; no floor below imports an operation (nor the CLI above it)."""
    above = ("operations", "cli")
    offenders = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in PACKAGE.rglob("*.py")
        if not set(path.relative_to(PACKAGE).parts) & set(above) and path.name != "__main__.py"
        for name in _imports(path)
        if name.startswith(("reconciler.operations", "reconciler.cli"))
    }
    assert not offenders


def test_the_operations_never_import_the_cli() -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in (PACKAGE / "operations").rglob("*.py")
        for name in _imports(path)
        if name.startswith("reconciler.cli")
    }
    assert not offenders


def test_the_kinds_registry_imports_nothing_of_the_project() -> None:
    imported = _imports(PACKAGE / "kinds.py")
    assert imported, "the registry was not parsed"
    assert {name for name in imported if name.startswith("reconciler")} == set()
    assert imported <= {"__future__", "dataclasses", "typing"}


def test_planning_is_pure() -> None:
    """Importing the planner and the plan model loads no HTTP, auth, YAML, terminal, CLI or Graph code."""
    import subprocess
    import sys

    code = "import sys, reconciler.plan.planner, reconciler.plan.model; print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    roots = {name.split(".")[0] for name in loaded}
    assert not roots & {"httpx", "msal", "ruamel", "rich", "click", "uvicorn", "pydantic"}
    assert not [
        name for name in loaded if name.startswith(("reconciler.cli", "reconciler.graph", "reconciler.emulator"))
    ]
