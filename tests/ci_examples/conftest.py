"""A user's repository as the example pipelines see it, wired to the session's emulator.

The repository holds the quickstart workspace in ``migration/`` (signing in with client secrets named by
``client_secret_env``, as a real CI workspace does) and the comment script where the examples expect it. Every
job gets a fresh checkout at the same path, as a CI runner does; the state lives outside the checkout, as the
Azure Blob backend keeps it, and so does the emulator's connection file (standing in for the tenants).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ci_examples.pipelines import COMMENT_SCRIPT, COMMENT_SCRIPT_IN_REPO, ROOT, Runner
from tests.conftest import USER_MAPPINGS, Emulator

WORKSPACE = "migration"
SECRET_ENV = {"source": "RECONCILER_SOURCE_CLIENT_SECRET", "target": "RECONCILER_TARGET_CLIENT_SECRET"}


@dataclass
class CiRepo:
    emu: Emulator
    tree: Path  # the branch's files, as Git has them
    checkout: Path  # where each job checks the branch out
    artifacts: Path  # what a run uploads and a later run downloads
    bin_dir: Path  # reconciler and python, as the pipeline installs them

    @property
    def secrets(self) -> dict[str, str]:
        return {name: self.emu.conn["tenants"][role]["client_secret"] for role, name in SECRET_ENV.items()}

    def fresh_checkout(self) -> Path:
        if self.checkout.exists():
            shutil.rmtree(self.checkout)
        shutil.copytree(self.tree, self.checkout)
        return self.checkout

    def commit(self, name: str, text: str) -> None:
        """Change a spec file of the branch (the next fresh checkout has it)."""
        (self.tree / WORKSPACE / name).write_text(text, encoding="utf-8")

    def revert(self, name: str) -> None:
        (self.tree / WORKSPACE / name).unlink()

    def upload(self, relative: str) -> Path:
        kept = self.artifacts / Path(relative).name
        shutil.copy2(self.checkout / relative, kept)
        return kept

    def download(self, artifact: Path, relative: str) -> None:
        shutil.copy2(artifact, self.checkout / relative)

    def target_upn(self, n: int) -> str | None:
        """The target UPN of user NNN's mapping in the target tenant; None when there is no mapping."""
        key = f"sourceUserPrincipalName='user{n:03d}@contoso.onmicrosoft.com'"
        response = self.emu.graph("GET", f"{USER_MAPPINGS}({key})", "target")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return str(body["targetUserIdentity"]["userPrincipalName"]).lower()


def mapping_file(*numbers: int) -> str:
    """A spec file with user mappings, in the canonical form `fmt --check` wants."""
    lines = ["user_mappings:"]
    for n in numbers:
        lines += [
            f"  - source_upn: user{n:03d}@contoso.onmicrosoft.com",
            f"    target_upn: user{n:03d}@fabrikam.onmicrosoft.com",
        ]
    return "\n".join(lines) + "\n"


def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.fixture
def ci_repo(emu: Emulator, tmp_path: Path) -> CiRepo:
    outside = tmp_path / "outside"  # the tenants' endpoints and the remote state: no checkout holds them
    outside.mkdir()
    connection = outside / "emulator.json"
    connection.write_text(json.dumps(emu.conn))
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "examples" / "quickstart", tree / WORKSPACE)
    config = tree / WORKSPACE / "reconciler.yaml"
    text = config.read_text(encoding="utf-8")
    for role, after in (
        ("source", "  data_location: NAM\ntarget:"),
        ("target", "fabrikam-my.sharepoint.com\nemulator:"),
    ):
        block = (
            "  credentials:\n"
            "    type: client_secret\n"
            f"    client_id: {emu.conn['tenants'][role]['client_id']}\n"
            f"    client_secret_env: {SECRET_ENV[role]}\n"
        )
        head, tail = after.split("\n")
        text = _replace(text, after, f"{head}\n{block}{tail}")
    text = _replace(text, "connection_file: .reconciler/emulator.json", f"connection_file: {connection}")
    text = _replace(text, "path: .reconciler/state.json", f"path: {outside / 'state' / 'state.json'}")
    config.write_text(text, encoding="utf-8")
    (tree / COMMENT_SCRIPT_IN_REPO).parent.mkdir(parents=True)
    shutil.copy2(COMMENT_SCRIPT, tree / COMMENT_SCRIPT_IN_REPO)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    return CiRepo(emu, tree, tmp_path / "runner" / "work" / "repo", artifacts, Runner.make_bin(tmp_path / "bin"))
