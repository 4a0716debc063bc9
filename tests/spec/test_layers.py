"""Layer rules for the spec and workspace packages (docs/architecture.md): spec is the bottom, pure and offline."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "reconciler"
NETWORK = ("httpx", "msal", "socket", "urllib.request", "http.client", "requests", "uvicorn", "starlette")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _offenders(folder: str, forbidden: tuple[str, ...]) -> set[str]:
    return {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in (PACKAGE / folder).rglob("*.py")
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    }


def test_spec_imports_only_itself_and_no_network() -> None:
    layers_above = ("reconciler.workspace", "reconciler.cli", "reconciler.graph", "reconciler.plan", "reconciler.apply")
    assert not _offenders("spec", (*layers_above, "reconciler.emulator", *NETWORK))


def test_workspace_never_touches_the_network_or_the_cli() -> None:
    assert not _offenders("workspace", ("reconciler.cli", "reconciler.emulator", *NETWORK))


def test_desired_state_is_plain_data() -> None:
    assert {name for name in _imports(PACKAGE / "jsonindent.py") if name != "__future__"} <= {
        "json",
        "json.encoder",
        "collections.abc",
        "typing",
    }
    # The planner imports desired.py; it must not drag in loaders, pydantic or ruamel.
    imports = _imports(PACKAGE / "spec" / "desired.py")
    assert {name for name in imports if name.startswith(("pydantic", "ruamel", "reconciler"))} == {
        "reconciler.jsonindent",  # the digest's encoder; it imports nothing but json
        "reconciler.kinds",
        "reconciler.spec.diagnostics",
        "reconciler.spec.enums",
    }
