"""``reconciler demo``: the main job against the bundled emulator (the run is ``reconciler.operations.demo``)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

import click


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the workspace, the plan and the emulator's state into this new or empty folder and keep them "
    "(default: a temporary folder, removed afterwards).",
)
def demo(directory: Path | None) -> None:
    """Try the main job against the bundled emulator: start it, write the quickstart workspace, validate, plan,
    apply exactly that plan, plan again (No changes.), show status, stop the emulator."""
    from reconciler.operations.demo import run_demo

    # A CI job's timeout sends SIGTERM: end as on Ctrl-C, so the emulator is stopped and nothing is left behind.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        run_demo(directory, click.echo)
    except KeyboardInterrupt:
        click.echo("Interrupted: the demo stopped, and the emulator with it.", err=True)
        sys.exit(130)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
