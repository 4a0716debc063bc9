"""The CLI's shared core: one error base turned into `Error: …` in one place, command modules that do not import
each other, and the state commands' globs, `--format json` and library-side `state rm` (no network)."""

from __future__ import annotations

import ast
import importlib
import json
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from reconciler.cli.main import main
from reconciler.errors import ReconcilerError
from reconciler.state.edit import forget
from reconciler.state.local import LocalBackend
from reconciler.state.model import ResourceState, State, StateError

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "reconciler" / "cli"
SHARED = {"reconciler.cli.common", "reconciler.cli.progress", "reconciler.cli.logs"}
ADDRESSES = [
    'group_migration["group01"]',
    'user_mapping["user001@contoso.onmicrosoft.com"]',
    'user_mapping["user002@contoso.onmicrosoft.com"]',
    'user_migration["user001@contoso.onmicrosoft.com"]',
]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(ROOT / "examples" / "quickstart" / "reconciler.yaml", ws / "reconciler.yaml")
    state = State(lineage="6b1f0c1e-0000-4000-8000-000000000001", serial=3)
    for address in ADDRESSES:
        kind, _, rest = address.partition("[")
        state.resources[address] = ResourceState(kind=kind, key=json.loads(rest[:-1]))
    backend = LocalBackend(ws / ".reconciler" / "state.json")
    lock = backend.lock("test")
    backend.write(state)
    backend.release(lock)
    return ws


def _run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args))


def _backend(ws: Path) -> LocalBackend:
    return LocalBackend(ws / ".reconciler" / "state.json")


# --- structure ----------------------------------------------------------------------------------------


def test_command_modules_import_no_other_command_module() -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in CLI.glob("*.py")
        if path.name not in ("main.py", "__init__.py")
        for name in _imports(path)
        if name.startswith("reconciler.cli") and name not in SHARED
    }
    assert not offenders


def test_the_cli_catches_no_library_errors_itself() -> None:
    """Only main turns library errors into `Error:`; the emulator's own errors (it imports nothing of the
    project, so they cannot derive from ReconcilerError) are the one exception."""
    catching = {
        path.name
        for path in CLI.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ExceptHandler) and node.type is not None
        for name in ast.walk(node.type)
        if isinstance(name, ast.Name | ast.Attribute) and ast.unparse(name).endswith(("Error", "Refused"))
    }
    assert catching == {"main.py", "emulator.py"}


def test_the_error_base_imports_nothing_of_the_project() -> None:
    assert not {name for name in _imports(ROOT / "reconciler" / "errors.py") if name.startswith("reconciler")}


@pytest.mark.parametrize(
    "where",
    [
        "reconciler.graph.errors:GraphError",
        "reconciler.graph.config:ConfigError",
        "reconciler.state.model:StateError",
        "reconciler.state.backend:StateLocked",
        "reconciler.workspace.connection:CredentialError",
        "reconciler.plan.planfile:PlanFileError",
        "reconciler.workspace.canonical_yaml:FormatError",
        "reconciler.operations.apply:ApplyRefused",
        "reconciler.operations.exporting:KeysFileError",
        "reconciler.operations.exporting:ExportFilesExist",
    ],
)
def test_library_errors_derive_from_the_one_base(where: str) -> None:
    module, _, name = where.partition(":")
    assert issubclass(getattr(importlib.import_module(module), name), ReconcilerError)


def test_any_library_error_becomes_one_error_line_and_exit_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(path: Path) -> None:
        raise StateError(f"{path}: line 1: not JSON")

    monkeypatch.setattr("reconciler.state.transfer.read_state_file", broken)
    (tmp_path / "reconciler.yaml").write_text((ROOT / "examples/quickstart/reconciler.yaml").read_text())
    result = _run("state", "push", "x.json", "-w", str(tmp_path))
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "Error: x.json: line 1: not JSON\n")


def test_a_lock_held_elsewhere_names_the_unlock_command_with_the_workspace(workspace: Path) -> None:
    held = _backend(workspace).lock("apply")
    result = _run("state", "rm", ADDRESSES[0], "-w", str(workspace))
    assert result.exit_code == 1
    assert f"run `reconciler state unlock -w {workspace} {held.id}`" in result.stderr
    assert result.stderr.startswith("Error: the state ")
    assert result.stderr.count("\n") == 1


# --- state list: globs and --format json ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        ((), ADDRESSES),
        (("user_mapping[*]",), ADDRESSES[1:3]),
        (("USER_MAPPING[*USER002*]",), ADDRESSES[2:3]),  # case-insensitive
        (('*["user00?@*"]',), ADDRESSES[1:]),
        (("group_*", "user_migration*"), [ADDRESSES[0], ADDRESSES[3]]),
        (("site_migration[*]",), []),
        (("user_mapping",), []),  # a glob matches the whole address
    ],
)
def test_state_list_takes_address_globs(workspace: Path, patterns: tuple[str, ...], expected: list[str]) -> None:
    result = _run("state", "list", *patterns, "-w", str(workspace))
    assert (result.exit_code, result.stdout) == (0, "".join(f"{a}\n" for a in expected))


def test_state_list_as_json_holds_each_resource_as_state_show_prints_it(workspace: Path) -> None:
    listed = _run("state", "list", "user_*", "-w", str(workspace), "--format", "json")
    assert listed.exit_code == 0, listed.output
    document = json.loads(listed.stdout)
    assert [r["address"] for r in document["resources"]] == ADDRESSES[1:]
    shown = _run("state", "show", ADDRESSES[1], "-w", str(workspace))
    assert document["resources"][0] == json.loads(shown.stdout)
    empty = _run("state", "list", "nothing*", "-w", str(workspace), "--format", "json")
    assert json.loads(empty.stdout) == {"resources": []}


# --- state rm: the change lives in the library ---------------------------------------------------------


def test_forget_removes_canonical_addresses_once_and_bumps_the_serial(workspace: Path) -> None:
    backend = _backend(workspace)
    typed = 'user_mapping["USER001@Contoso.onmicrosoft.com"]'
    assert forget(backend, [typed, ADDRESSES[1]]) == (ADDRESSES[1],)
    after = backend.read()
    assert sorted(after.resources) == [a for a in ADDRESSES if a != ADDRESSES[1]]
    assert after.serial == 4
    assert not (workspace / ".reconciler" / "state.json.lock").exists()


def test_forget_is_all_or_nothing(workspace: Path) -> None:
    backend = _backend(workspace)
    with pytest.raises(StateError, match=r'^not in the state: site_migration\["x"\]$'):
        forget(backend, [ADDRESSES[0], 'site_migration["x"]'])
    assert sorted(backend.read().resources) == ADDRESSES
    assert backend.read().serial == 3
    assert not (workspace / ".reconciler" / "state.json.lock").exists(), "the lock is released on refusal"


def test_state_rm_through_the_cli(workspace: Path) -> None:
    missing = _run("state", "rm", ADDRESSES[0], 'wave["w"]', "-w", str(workspace))
    assert (missing.exit_code, missing.stderr) == (1, 'Error: not in the state: wave["w"]\n')
    removed = _run("state", "rm", ADDRESSES[0], ADDRESSES[0], "-w", str(workspace))
    assert (removed.exit_code, removed.stdout) == (0, "Removed 1 address(es) from the state.\n")
    assert ADDRESSES[0] not in _backend(workspace).read().resources


def test_starting_the_cli_loads_no_network_yaml_or_terminal_library() -> None:
    """Commands import what they run when they run: `reconciler --help` stays fast."""
    import subprocess
    import sys

    code = "import sys, reconciler.cli.main; print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert not {name.split(".")[0] for name in loaded} & {"httpx", "msal", "uvicorn", "rich", "pydantic", "ruamel"}
    assert not [name for name in loaded if name.startswith(("reconciler.emulator", "reconciler.graph"))]


def test_plan_without_refresh_loads_no_graph_client(workspace: Path) -> None:
    """`plan --no-refresh` reads no tenant: it plans and prints without loading httpx, msal or the Graph client."""
    import subprocess
    import sys

    code = (
        "import sys; from reconciler.cli.main import main\n"
        "try:\n"
        f"    main(['plan', {str(workspace)!r}, '--no-refresh'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('MODULES', ' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "reconciler will perform the following actions" in done.stdout or "No changes." in done.stdout
    loaded = done.stderr.rpartition("MODULES ")[2].split()
    assert "reconciler.plan.planner" in loaded  # it did plan
    assert not {name.split(".")[0] for name in loaded} & {"httpx", "msal", "uvicorn"}
    assert not [name for name in loaded if name.startswith(("reconciler.emulator", "reconciler.graph.client"))]
