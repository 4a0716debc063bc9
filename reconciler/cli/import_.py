"""``reconciler import``: adopt objects that already exist by recording them in the state, changing nothing.

``--format json`` prints one document instead of the lines: ``{"imported": [ADDRESS, ...], "problems":
[MESSAGE, ...]}``; the exit code is 1 when any address was not imported, either way.
"""

from __future__ import annotations

import sys

import click

from reconciler.cli.common import LOCK_TIMEOUT_OPTION, WORKSPACE_OPTION, echo_json, format_option, load_ok, run_async
from reconciler.cli.progress import Meter


@click.command("import")
@click.argument("addresses", nargs=-1, required=True)
@WORKSPACE_OPTION
@LOCK_TIMEOUT_OPTION
@format_option("text", "json")
def import_(addresses: tuple[str, ...], workspace: str, lock_timeout: float, output: str) -> None:
    """Adopt objects that already exist: record them in state without changing them."""
    from reconciler.operations.importing import run_import

    ws = load_ok(workspace, "nothing was imported")
    result = run_async(run_import(ws, list(addresses), lock_timeout, Meter(enabled=output == "text")))
    if output == "json":
        echo_json({"imported": result.imported, "problems": result.problems})
    else:
        for address in result.imported:
            click.echo(f"{address}: imported")
        for problem in result.problems:
            click.echo(f"Error: {problem}", err=True)
        click.echo(f"Import complete! {len(result.imported)} imported, {len(result.problems)} not imported.")
    if result.problems:
        sys.exit(1)
