"""`reconciler demo`: one real run end to end through the CLI, and the ways it ends early (a busy --dir, a
failing step, Ctrl-C), each of which stops the emulator it started."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator.process import start_emulator
from reconciler.operations import demo
from tests.conftest import run_cli


def _accepts(url: str) -> bool:
    host, _, port = url.removeprefix("https://").partition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def test_demo_runs_the_main_job_and_stops_the_emulator(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    # A relative --dir: the emulator runs from another folder, so the demo must hand it absolute paths.
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo", "--dir", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    milestones = [
        "emulator OK",
        "Success! The workspace is valid",
        "Saved the plan to: plan.json",
        "$ reconciler apply plan.json",
        "Apply complete!",
        "No changes. Your tenants match the configuration.",
        "8 migrations:",
        "Demo complete",
    ]
    positions = [result.stdout.find(m) for m in milestones]
    assert -1 not in positions, dict(zip(milestones, positions, strict=True))
    assert positions == sorted(positions)
    workspace = folder / "quickstart"
    assert (
        (workspace / "reconciler.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=.schema/reconciler.schema.json\n")
    )
    assert sorted(p.name for p in (workspace / ".schema").iterdir()) == ["reconciler.schema.json", "spec.schema.json"]
    assert json.loads((workspace / ".reconciler" / "state.json").read_text())["serial"] > 0
    conn = json.loads((workspace / ".reconciler" / "emulator.json").read_text())
    assert not _accepts(conn["authority_base_url"])


def test_a_dir_that_is_not_empty_is_refused_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = run_cli("demo", "--dir", str(tmp_path))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"Error: {tmp_path}: not an empty folder; give a new or empty one to --dir\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_dir_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = run_cli("demo", "--dir", str(tmp_path / "file" / "sub"))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"Error: {tmp_path / 'file' / 'sub'}: cannot use it for --dir: Not a directory\n"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """The emulator processes the demo starts (real ones), to check they were stopped."""
    procs: list[subprocess.Popen[bytes]] = []
    start = start_emulator

    def recording(workdir: Path, *args: str, **kw: Any) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
        proc, conn = start(workdir, *args, **kw)
        procs.append(proc)
        return proc, conn

    monkeypatch.setattr(demo, "start_emulator", recording)
    return procs


def test_a_failing_step_stops_the_demo_and_the_emulator_and_keeps_the_files(
    started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "STEPS", (demo.Step("a step that fails", ("validate", "no-such-workspace")),))
    lines: list[str] = []
    with pytest.raises(demo.DemoFailed) as failed:
        demo.run_demo(None, lines.append)
    work = Path(lines[0].rpartition("the workspace: ")[2]).parent
    assert str(failed.value) == (
        f"`reconciler validate no-such-workspace` exited with 1 (expected 0); the demo's files are kept in {work}"
    )
    assert (work / "quickstart" / "reconciler.yaml").is_file()
    assert [proc.poll() is not None for proc in started] == [True]
    shutil.rmtree(work)


def test_ctrl_c_stops_the_emulator_and_removes_the_temporary_folder(
    started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(step: demo.Step, cwd: Path) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "run_step", interrupted)
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        demo.run_demo(None, lines.append)
    work = Path(lines[0].rpartition("the workspace: ")[2]).parent
    assert not work.exists()
    assert [proc.poll() is not None for proc in started] == [True]


def test_a_folder_that_cannot_be_written_is_one_line_and_stops_the_emulator(
    started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def disk_full(root: Path) -> None:
        raise OSError(28, "No space left on device", str(root / "users.yaml"))

    monkeypatch.setattr(demo, "write_quickstart", disk_full)
    folder = tmp_path / "demo"
    lines: list[str] = []
    with pytest.raises(demo.DemoFailed) as failed:
        demo.run_demo(folder, lines.append)
    assert str(failed.value) == (
        f"{folder / 'quickstart' / 'users.yaml'}: No space left on device; the demo's files are kept in {folder}"
    )
    assert [proc.poll() is not None for proc in started] == [True]
