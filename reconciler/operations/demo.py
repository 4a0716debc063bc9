"""``reconciler demo``: the main job against the bundled emulator, for a user who installed the package.

It starts the emulator in a child process, writes the quickstart workspace (package data: the same
files as ``examples/quickstart``) into a work folder wired to it, and runs the real CLI there step by
step, each command in its own process exactly as a user would type it: validate, ``plan -out``, apply
that plan file, plan again (which must say "No changes."), status. A step that exits otherwise stops
the demo with one line naming it. The emulator is stopped however the run ends (success, failure,
Ctrl-C). A temporary work folder is removed on success and on Ctrl-C and kept, and named, on failure;
a folder given with ``--dir`` is always kept, with the emulator's state, so the user can go on.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from reconciler import extras
from reconciler.emulator.process import start_emulator, stop_emulator
from reconciler.errors import ReconcilerError
from reconciler.workspace.schema import schema_files

WORKSPACE = "quickstart"
EMULATOR_DIR = "emulator"
CONNECTION = ".reconciler/emulator.json"  # where the quickstart's reconciler.yaml looks for it
SCHEMA_DIR = ".schema"
# The repository's copy points editors at the schemas in specs/; the demo's copy gets its own.
_REPO_SCHEMA_PREFIX = "$schema=../../specs/workspace/"


class DemoFailed(ReconcilerError):
    """A step of the demo failed; the message names it."""


@dataclass(frozen=True)
class Step:
    title: str
    args: tuple[str, ...]
    expected_exit: int = 0


STEPS = (
    Step(
        "the emulator answers: tokens for both tenants, a mapping write and read, a pre-flight",
        ("emulator", "probe", "--connection-file", f"{WORKSPACE}/{CONNECTION}"),
    ),
    Step("the workspace validates without touching the network", ("validate", WORKSPACE)),
    Step(
        "what the workspace would change in the emulated tenants, saved",
        ("plan", WORKSPACE, "--compact", "-out", "plan.json"),
    ),
    Step("carry out exactly the reviewed plan", ("apply", "plan.json")),
    Step(
        "plan again: nothing left to do (exit code 0 with --detailed-exitcode)",
        ("plan", WORKSPACE, "--detailed-exitcode"),
    ),
    Step("the migrations by status and wave", ("status", WORKSPACE)),
)


def write_quickstart(root: Path) -> None:
    """The quickstart workspace, its JSON Schemas beside it for editors."""
    root.mkdir(parents=True)
    for item in sorted(resources.files("reconciler").joinpath(WORKSPACE).iterdir(), key=lambda i: i.name):
        if item.is_file() and not item.name.startswith(("_", ".")):
            text = item.read_text(encoding="utf-8").replace(_REPO_SCHEMA_PREFIX, f"$schema={SCHEMA_DIR}/")
            (root / item.name).write_text(text, encoding="utf-8")
    (root / SCHEMA_DIR).mkdir()
    for name, text in schema_files().items():
        (root / SCHEMA_DIR / name).write_text(text, encoding="utf-8")


def run_step(step: Step, cwd: Path) -> int:
    """One command of the demo in its own process; its output goes straight to this one's."""
    command = [sys.executable, "-m", "reconciler", *step.args]
    return subprocess.run(command, cwd=cwd, stdin=subprocess.DEVNULL, check=False).returncode


def _work_folder(directory: Path | None) -> Path:
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="reconciler-demo-"))
    try:
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise DemoFailed(f"{directory}: not an empty folder; give a new or empty one to --dir")
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoFailed(f"{directory}: cannot use it for --dir: {exc.strerror or type(exc).__name__}") from None
    return directory.resolve()  # the emulator runs in another folder: its paths must not be relative


def run_demo(directory: Path | None, say: Callable[[str], None]) -> None:
    """The whole demo; raises ``DemoFailed`` (or ``MissingExtra``) with one line, ``KeyboardInterrupt`` on Ctrl-C."""
    extras.check("emulator")
    work = _work_folder(directory)
    keep = directory is not None
    proc: subprocess.Popen[bytes] | None = None
    try:
        emulator_dir = work / EMULATOR_DIR
        emulator_dir.mkdir()
        state = emulator_dir / "emulator-state.json"
        try:
            proc, _ = start_emulator(emulator_dir, "--state", str(state))
        except RuntimeError as exc:
            keep = True
            raise DemoFailed(
                f"the emulator did not start ({str(exc).splitlines()[0]}); its log is {emulator_dir / 'emulator.log'}"
            ) from None
        write_quickstart(work / WORKSPACE)
        (work / WORKSPACE / CONNECTION).parent.mkdir()
        shutil.copyfile(emulator_dir / "connection.json", work / WORKSPACE / CONNECTION)
        say(f"The emulator is running ({_authority(work / WORKSPACE / CONNECTION)}); the workspace: {work / WORKSPACE}")
        for step in STEPS:
            say(f"\n== {step.title}\n$ reconciler {shlex.join(step.args)}")
            code = run_step(step, work)
            if code != step.expected_exit:
                keep = True
                raise DemoFailed(
                    f"`reconciler {shlex.join(step.args)}` exited with {code} (expected {step.expected_exit}); "
                    f"the demo's files are kept in {work}"
                )
    except KeyboardInterrupt:
        keep = directory is not None
        raise
    except OSError as exc:  # the work folder could not be written (disk full, permissions)
        keep = True
        where = exc.filename or work
        reason = exc.strerror or type(exc).__name__
        raise DemoFailed(f"{where}: {reason}; the demo's files are kept in {work}") from None
    finally:
        if proc is not None:
            stop_emulator(proc)
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    say("\nDemo complete: the plan was applied exactly as reviewed, and planning again finds no changes.")
    if directory is not None:
        say(
            f"The files are in {work}. To go on with the emulator where the demo left it:\n"
            f"  reconciler emulator serve --state {shlex.quote(str(state))} "
            f"--connection-file {shlex.quote(str(work / WORKSPACE / CONNECTION))}\n"
            f"then, in another terminal: reconciler plan {shlex.quote(str(work / WORKSPACE))}"
        )


def _authority(connection: Path) -> str:
    return str(json.loads(connection.read_text(encoding="utf-8")).get("authority_base_url", "?"))
