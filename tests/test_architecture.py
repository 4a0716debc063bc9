"""The new-kind recipe of docs/architecture.md, walked against the kinds registry so the page cannot drift.

Every module of ``reconciler/`` (the emulator apart: it models Graph on its own) whose code names a
migration kind by one of its names (address kind, its constant, its ``Desired`` section, its spec model
or dataclass, its Graph parameters model or lookup path) must be listed in the recipe; the modules the
recipe requires are at most eight; and the address kind -> task kind map is written once, in the registry.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from reconciler.kinds import BY_NAME, MIGRATION_KINDS, TASK_KINDS, USER_MIGRATION, Kind

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "reconciler"
DOC = ROOT / "docs" / "architecture.md"
MAX_REQUIRED = 8


def _recipe() -> tuple[list[str], list[str]]:
    """(required modules, optional modules) from the bullet list of the "A new resource kind" section."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### A new resource kind", 1)[1].split("\n### ", 1)[0]
    required: list[str] = []
    optional: list[str] = []
    for line in section.splitlines():
        found = re.match(r"- `(reconciler/[\w/]+\.py)`( \(optional\))?:", line)
        if found:
            (optional if found.group(2) else required).append(found.group(1))
    return required, optional


def _names(path: Path) -> set[str]:
    """Identifiers and string constants in the code (comments do not count)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.add(node.value)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(node.name)
        elif isinstance(node, ast.alias):
            out.add(node.name.rsplit(".", 1)[-1])
    return out


def _kind_names(kind: Kind) -> set[str]:
    # The bare task kind ("group", "site") is left out: "group" is also a click group and a mapping.
    task = kind.task or ""
    return {
        kind.name,
        kind.name.upper(),
        kind.desired,
        kind.spec_model,
        kind.spec_model.removesuffix("Spec"),
        f"{task.capitalize()}TaskParameters",
        f"task_by_{task}",
    }


def _mentioning(kinds: tuple[Kind, ...]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "emulator" in path.relative_to(PACKAGE).parts:
            continue
        names = _names(path)
        for kind in kinds:
            hits = _kind_names(kind) & names
            if hits:
                found.setdefault(path.relative_to(ROOT).as_posix(), set()).update(hits)
    return found


# A deleted user mapping may be held by that user's own OneDrive migration: that rule is about users
# (operations/plan.py, plan/planner.py), not about kinds, so the user migration is not a probe.
PROBES = tuple(kind for kind in MIGRATION_KINDS if kind.name != USER_MIGRATION)


def test_the_recipe_lists_every_module_that_names_a_kind() -> None:
    required, optional = _recipe()
    listed = set(required) | set(optional)
    unlisted = {module: sorted(hits) for module, hits in _mentioning(PROBES).items() if module not in listed}
    assert not unlisted, f"modules that name a kind but are not in the recipe of {DOC.name}: {unlisted}"


def test_the_recipe_lists_only_modules_that_exist_and_name_a_kind() -> None:
    required, optional = _recipe()
    assert "reconciler/kinds.py" in required
    assert [m for m in required + optional if not (ROOT / m).is_file()] == []
    mentioning = _mentioning(PROBES)
    assert [m for m in required + optional if m not in mentioning] == []


def test_a_new_kind_touches_at_most_eight_modules() -> None:
    required, _ = _recipe()
    assert 0 < len(required) <= MAX_REQUIRED, required


def test_the_address_kind_to_task_kind_map_is_written_once() -> None:
    """No module but the registry pairs an address kind with its task kind in a dict literal."""
    pairs: set[tuple[object, object]] = set(TASK_KINDS.items()) | {(t, n) for n, t in TASK_KINDS.items()}
    offenders: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "kinds.py" or "emulator" in path.relative_to(PACKAGE).parts:
            continue
        offenders.extend(f"{path.relative_to(ROOT)}:{line}" for line in _kind_maps(path.read_text(), pairs))
    assert not offenders


def _kind_maps(source: str, pairs: set[tuple[object, object]]) -> list[int]:
    """Lines of dict literals pairing an address kind (as a string or its constant) with its task kind."""
    constants = {name.upper(): name for name in TASK_KINDS}

    def value(node: ast.expr | None) -> object:
        if isinstance(node, ast.Constant):
            return node.value
        return constants.get(node.id) if isinstance(node, ast.Name) else None

    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Dict)
        and {(value(k), value(v)) for k, v in zip(node.keys, node.values, strict=True)} & pairs
    ]


def test_the_walks_see_a_kind_where_it_is_named(tmp_path: Path) -> None:
    """Both walks must be able to fail: a module naming a kind, and the map written again, are found."""
    module = tmp_path / "m.py"
    module.write_text("def f(d):\n    return d.site_migrations, SiteMigration\n", encoding="utf-8")
    assert {"site_migrations", "SiteMigration"} <= _kind_names(BY_NAME["site_migration"]) & _names(module)
    pairs: set[tuple[object, object]] = set(TASK_KINDS.items())
    assert _kind_maps('TASKS = {SITE_MIGRATION: "site"}\nX = {"a": "b"}\n', pairs) == [1]
    assert _kind_maps('ADDRESS = {"x": 1, "group_migration": "group"}\n', pairs) == [1]
