"""``reconciler status``: how the managed migrations are progressing, once or refreshed in place (``--watch``)."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import click

from reconciler.cli.common import WORKSPACE_ARGUMENT, format_option, load_ok, read_state


@click.command()
@WORKSPACE_ARGUMENT
@click.option("--watch", is_flag=True, help="Refresh in place until every migration has finished.")
@click.option(
    "--interval",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between refreshes with --watch.",
)
@format_option("text", "json")
def status(workspace: str, watch: bool, interval: float, output: str) -> None:
    """How the migrations this workspace manages are progressing, by status and wave."""
    from reconciler.operations.status import read_status

    ws = load_ok(workspace, "no status was read")
    state_now = read_state(ws)
    tty = sys.stdout.isatty()
    while True:
        current = asyncio.run(read_status(ws, state_now))
        text = json.dumps(current.to_json()) if output == "json" else current.render()
        if watch and tty and output == "text":
            click.echo("\x1b[H\x1b[2J", nl=False)  # redraw in place
        click.echo(text)
        if not watch or current.done:
            return
        time.sleep(interval)
