"""A large generated workspace plans to the same bytes as before the speed work (issue 13).

examples/large/generate.py writes the same workspace every time (3,000 user mappings in CSV, 1,000
migrations in YAML). The digests below are of the CLI's output from the commit before the planner, the
loader and the digest were made faster: plan JSON (which carries the spec digest saved plans are
checked against), text and Markdown, and ``validate``. Any change a user could see changes a digest.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    ("plan", "json"): "974bff3f88c84f4567f0e917c0bc9cc083d4aea18baf617dff2643a3671c426c",
    ("plan", "text"): "63bc642d82a876b63a0f6385d3d8af9c2df63ac89e995faf458b07642b5a6bc0",
    ("plan", "markdown"): "f8142363f7fbd7cc0dffb730b487f9ed1c067abaff770093b4ea27a0951f55a0",
    ("validate", ""): "f69fcad890332ec442b7f66eb701a65dedf14127192b6f11b99755b6ab713ccb",
}


@pytest.fixture(scope="module")
def large_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("large_generate", ROOT / "examples" / "large" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    parent = tmp_path_factory.mktemp("golden")
    module.generate(
        parent / "ws", users=3_000, sites=150, groups=50, yaml_user_migrations=800, csv_user_migrations=False
    )
    return parent


def _output(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        env={
            **{k: v for k, v in os.environ.items() if k not in ("GITHUB_SHA", "BUILD_SOURCEVERSION")},
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "SOURCE_DATE_EPOCH": "1767225600",  # the Markdown heading's time (2026-01-01); no commit outside git
        },
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(("command", "fmt"), list(EXPECTED))
def test_large_workspace_output_is_byte_identical(large_workspace: Path, command: str, fmt: str) -> None:
    args = ("plan", "ws", "--no-refresh", "--format", fmt) if command == "plan" else ("validate", "ws")
    out = _output(large_workspace, *args)
    assert hashlib.sha256(out.encode()).hexdigest() == EXPECTED[(command, fmt)], out[-400:]
