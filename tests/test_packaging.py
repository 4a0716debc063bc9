"""The distribution: one version, an SPDX licence with its file, dependencies that cover what each part imports
(the base install for real tenants, the emulator and azure extras), the quickstart shipped as package data, no
run-time text pointing at a file only the repository has, and one clear error when an extra is missing."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from reconciler import DISTRIBUTION, DOCS_URL, __version__
from reconciler.extras import MissingExtra, needs

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "reconciler"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# Distributions whose import name is not their own name (lower-cased, - as _).
IMPORT_NAMES = {"pyjwt": "jwt", "ruamel.yaml": "ruamel", "ruamel.yaml.clib": "ruamel", "azure-storage-blob": "azure"}
IMPORT_NAMES |= {"azure-identity": "azure"}
BROUGHT_BY = {"pydantic_core": "pydantic"}  # modules a declared distribution installs as its own part


def _modules(requirements: list[str]) -> set[str]:
    names = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in requirements}  # type: ignore[union-attr]
    return {IMPORT_NAMES.get(name, name.replace("-", "_")) for name in names}


def _third_party_imports(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    roots = {BROUGHT_BY.get(r, r) for r in roots}
    return {r for r in roots if r not in sys.stdlib_module_names and r not in ("reconciler", "__future__")}


def test_the_version_and_the_name_are_written_once() -> None:
    project = PROJECT["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]
    assert PROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "reconciler.__version__"}
    assert project["name"] == DISTRIBUTION
    assert project["scripts"] == {"reconciler": "reconciler.cli.main:run"}
    assert f"/v{__version__}" in DOCS_URL


def test_the_licence_is_an_spdx_expression_with_its_file() -> None:
    assert PROJECT["project"]["license"] == "MIT"
    assert PROJECT["project"]["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_each_part_imports_only_what_its_install_brings() -> None:
    base = _modules(PROJECT["project"]["dependencies"])
    extras = {name: _modules(reqs) for name, reqs in PROJECT["project"]["optional-dependencies"].items()}
    allowed = {"emulator": base | extras["emulator"], "azure": base | extras["azure"]}
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = "emulator" if "emulator" in path.relative_to(PACKAGE).parts else None
        part = "azure" if path.name == "azure_blob.py" else part
        extra = _third_party_imports(path) - allowed.get(part or "", base)
        offenders += [f"{path.relative_to(ROOT)}: {name}" for name in sorted(extra)]
    assert not offenders
    assert "uvicorn[standard]" not in " ".join(PROJECT["project"]["optional-dependencies"]["emulator"])
    assert not base & {"uvicorn", "jwt", "azure"}


def test_the_quickstart_ships_as_package_data_identical_to_the_example() -> None:
    example = {p.name: p.read_bytes() for p in (ROOT / "examples" / "quickstart").iterdir() if p.is_file()}
    shipped = {p.name: p.read_bytes() for p in (PACKAGE / "quickstart").iterdir() if p.is_file()}
    assert shipped == example
    assert "quickstart/*" in PROJECT["tool"]["setuptools"]["package-data"]["reconciler"]


def _run_time_strings(path: Path) -> list[str]:
    """String constants a user can see (not docstrings, not f-string parts that follow DOCS_URL)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    under_url = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr) and "DOCS_URL" in ast.unparse(node)
        for part in node.values
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings and id(node) not in under_url
    ]


def test_no_run_time_text_points_at_a_file_only_the_repository_has() -> None:
    pattern = re.compile(r"\b(specs|examples|scripts|bench|tests|docs)/[\w.-]+\.(md|yaml|json|py|sh)\b")
    offenders = [
        f"{path.relative_to(ROOT)}: {text!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for text in _run_time_strings(path)
        if pattern.search(text)
    ]
    assert not offenders


def _cli_without(modules: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a process where ``modules`` cannot be imported, as if their extra were not installed."""
    hide = "".join(f"sys.modules[{m!r}] = None; " for m in modules)
    code = f"import sys; {hide}from reconciler.cli.main import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


@pytest.mark.parametrize(
    ("hidden", "args"),
    [
        (["uvicorn"], ["emulator", "serve", "--port", "0"]),
        (["jwt"], ["emulator", "serve", "--port", "0"]),
        (["httptools"], ["demo"]),
    ],
)
def test_the_emulator_without_its_extra_is_one_line_with_the_install_command(
    hidden: list[str], args: list[str]
) -> None:
    result = _cli_without(hidden, *args)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: the emulator needs the 'emulator' extra (module '{hidden[0]}' is not installed): "
        f"pip install '{DISTRIBUTION}[emulator]'\n"
    )


def test_the_blob_backend_without_its_extra_is_one_line_with_the_install_command(tmp_path: Path) -> None:
    config = (ROOT / "examples" / "quickstart" / "reconciler.yaml").read_text()
    config = config.replace(
        "state:\n  backend: local\n  path: .reconciler/state.json\n",
        "state:\n  backend: azure_blob\n  account_url: https://example.blob.core.windows.net\n  container: state\n",
    )
    assert "azure_blob" in config
    (tmp_path / "reconciler.yaml").write_text(config)
    result = _cli_without(["azure"], "state", "list", "-w", str(tmp_path))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "Error: the azure_blob state backend needs the 'azure' extra (module 'azure' is not installed): "
        f"pip install '{DISTRIBUTION}[azure]'\n"
    )


def test_an_import_error_that_is_not_a_missing_extra_is_not_disguised_as_one() -> None:
    with pytest.raises(ModuleNotFoundError, match="no_such_module"), needs("emulator"):
        import no_such_module  # type: ignore[import-not-found]  # noqa: F401
    with pytest.raises(MissingExtra), needs("azure"):
        raise ModuleNotFoundError("No module named 'azure.storage'", name="azure.storage")
