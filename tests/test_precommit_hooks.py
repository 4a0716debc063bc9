"""The pre-commit hooks this repository exposes run the commands they declare: clean on the quickstart, failing
on a workspace with the problem each hook exists to catch."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart"


def _broken(tmp_path: Path, hook_id: str) -> Path:
    ws = tmp_path / hook_id
    shutil.copytree(QUICKSTART, ws)
    if hook_id == "reconciler-validate":
        (ws / "bad.yaml").write_text("user_mappings:\n  - source_upn: not-an-upn\n    target_upn: x@fabrikam.com\n")
    else:  # out of canonical order: fmt --check must notice
        (ws / "unsorted.yaml").write_text(
            "user_mappings:\n"
            "  - {source_upn: user020@contoso.onmicrosoft.com, target_upn: user020@fabrikam.onmicrosoft.com}\n"
            "  - {source_upn: user019@contoso.onmicrosoft.com, target_upn: user019@fabrikam.onmicrosoft.com}\n"
        )
    return ws


def test_every_hook_runs_clean_on_the_quickstart_and_catches_its_problem(tmp_path: Path) -> None:
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"reconciler-validate", "reconciler-fmt-check"}
    for hook in hooks:
        command = shlex.split(hook["entry"])
        assert command[0] == "reconciler"
        args = [sys.executable, "-m", "reconciler", *command[1:]]
        ok = subprocess.run([*args, str(QUICKSTART)], capture_output=True, text=True)
        assert ok.returncode == 0, (hook["id"], ok.stdout, ok.stderr)
        bad = subprocess.run([*args, str(_broken(tmp_path, hook["id"]))], capture_output=True, text=True)
        assert bad.returncode == 1, (hook["id"], bad.stdout, bad.stderr)
