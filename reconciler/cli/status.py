"""``reconciler status``: how the managed migrations are progressing, once or refreshed in place (``--watch``),
in any report format, with ``--fail-on`` for alerting from a scheduled job."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path

import click

from reconciler.cli.common import WORKSPACE_ARGUMENT, format_option, load_ok, read_state, run_async

FAIL_ON_EXIT = 2  # the status was read and shows what --fail-on names; 1 stays "could not read it"
FLAGS = ("failed", "stuck", "overdue")


def _stuck_after(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    from reconciler.workspace.config import duration_problem, parse_duration

    if value is None:
        return None
    problem = duration_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return parse_duration(value)


def _fail_on(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    unknown = [n for n in names if n not in FLAGS]
    if unknown or not names:
        raise click.BadParameter(f"{unknown[0] if unknown else value!r} is not one of {', '.join(FLAGS)}")
    return names


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
@click.option(
    "--stuck-after",
    metavar="DURATION",
    callback=_stuck_after,
    help="In progress with no update for longer than this is stuck (24h, 2d, 90m); default: reconciler.yaml's "
    "status.stuck_after, else 24h.",
)
@click.option(
    "--fail-on",
    metavar="LIST",
    callback=_fail_on,
    help=f"Exit {FAIL_ON_EXIT} when any migration is one of these (comma-separated): failed, stuck, overdue.",
)
@click.option(
    "--output",
    "-o",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this file (replaced whole) instead of standard output.",
)
@format_option("text", "json", "markdown", "csv", "html", help="Report format.")
def status(
    workspace: str,
    watch: bool,
    interval: float,
    stuck_after: timedelta | None,
    fail_on: tuple[str, ...],
    out_file: Path | None,
    output: str,
) -> None:
    """How the migrations this workspace manages are progressing: by status and wave, stuck, overdue, failed."""
    from reconciler.operations.status import read_status, write_report
    from reconciler.report.render import render

    ws = load_ok(workspace, "no status was read")
    state_now = read_state(ws)
    tty = sys.stdout.isatty()
    while True:
        report = run_async(read_status(ws, state_now, stuck_after))
        text = render(report, output)
        if out_file is not None:
            write_report(out_file, text)
        else:
            if watch and tty and output == "text":
                click.echo("\x1b[H\x1b[2J", nl=False)  # redraw in place
            click.echo(text.rstrip("\n"))
        if not watch or report.done:
            break
        time.sleep(interval)
    failing = report.failing(fail_on)
    if failing:
        found = ", ".join(f"{n} {flag}" for flag, n in failing.items())
        click.echo(f"Error: --fail-on {','.join(fail_on)}: {found}", err=True)
        sys.exit(FAIL_ON_EXIT)
