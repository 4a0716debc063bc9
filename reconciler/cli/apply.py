"""``reconciler apply``: carry out a saved plan, or plan and ask, over the apply run.

``--format json`` (alias ``--json``) streams one NDJSON event a line instead of text; exit 130 on Ctrl-C after
the run saved its state on the way out.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.common import (
    LOCK_TIMEOUT_OPTION,
    OVERRIDE_HOLDS_OPTION,
    PARALLELISM_OPTION,
    format_option,
    load_ok,
    render_plan,
    run_async,
    selection,
    selection_options,
    use_color,
)
from reconciler.cli.progress import Meter

if TYPE_CHECKING:
    from reconciler.plan.model import Plan


def _plan_workspace(recorded: str | None, given: str | None) -> str:
    """Where to apply a saved plan. CI often applies in another checkout than it planned in: the
    recorded folder is a default, not a requirement; the plan's evidence decides if it fits."""
    if given is not None:
        return given
    if recorded and (Path(recorded) / "reconciler.yaml").is_file():
        return recorded
    if Path("reconciler.yaml").is_file():
        return "."
    raise click.ClickException(
        f"the plan was made in the workspace {recorded}, which is not here, and the current folder is not a "
        "workspace; pass --workspace"
    )


@click.command()
@click.argument("target", default=".", type=click.Path(exists=True, path_type=Path), metavar="[WORKSPACE|PLANFILE]")
@click.option(
    "--auto-approve", is_flag=True, help="Apply without asking (a saved plan never asks: it is the approval)."
)
@LOCK_TIMEOUT_OPTION
@PARALLELISM_OPTION
@click.option(
    "--allow-destroy",
    is_flag=True,
    help="Allow a plan that deletes or cancels more than 10% of what this workspace manages.",
)
@selection_options
@OVERRIDE_HOLDS_OPTION
@format_option("text", "json", help="json: stream NDJSON events (one JSON object a line) instead of text.")
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@click.option(
    "--workspace",
    "-w",
    "workspace",
    type=click.Path(file_okay=False, path_type=str),
    help="With a plan file: the workspace to apply it in (default: where it was planned, if that folder is "
    "here, else the current folder). The plan is refused unless its spec and state match.",
)
def apply(
    target: Path,
    auto_approve: bool,
    lock_timeout: float,
    parallelism: int,
    allow_destroy: bool,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    override_mapping_holds: bool,
    output: str,
    as_json: bool,
    workspace: str | None,
) -> None:
    """Carry out the plan: mapping writes, then task starts and cancels; state saved as work completes."""
    from reconciler.apply.executor import ApplyReport
    from reconciler.operations.apply import ApplyOptions, ApplyRefused, event_line, run_apply
    from reconciler.plan import planfile
    from reconciler.plan.render_text import NO_CHANGES

    as_json = as_json or output == "json"
    saved = None
    if target.is_file():
        if targets or excludes or override_mapping_holds:
            raise click.UsageError(
                "--target, --exclude and --override-mapping-holds choose what to plan; a saved plan is applied "
                "whole (plan again with them)"
            )
        saved = planfile.load(target)
        if (problem := planfile.version_problem(saved, target)) is not None:
            raise planfile.PlanFileError(problem)
        ws = load_ok(_plan_workspace(saved.workspace, workspace), "nothing was applied")
    else:
        if workspace is not None:
            raise click.UsageError("--workspace goes with a plan file; a workspace is the argument itself")
        ws = load_ok(str(target), "nothing was applied")

    def emit(event: dict[str, Any]) -> None:
        if as_json:
            event = {"@timestamp": datetime.now(UTC).isoformat(), **event}
            click.echo(json.dumps(event))
        elif (line := event_line(event)) is not None:
            click.echo(line)

    def confirm(result: Plan) -> bool:
        coloured = use_color(False)
        click.echo(render_plan(result, "text", color=coloured).rstrip("\n"), color=coloured)
        if not sys.stdin.isatty():
            raise ApplyRefused("no terminal to ask for approval: pass --auto-approve, or apply a saved plan file")
        answer = click.prompt(
            "\nDo you want to perform these actions? Only 'yes' will be accepted", default="", show_default=False
        )
        return str(answer).strip() == "yes"

    options = ApplyOptions(
        auto_approve=auto_approve,
        lock_timeout=lock_timeout,
        parallelism=parallelism,
        allow_destroy=allow_destroy,
        selection=selection(targets, excludes),
        override_mapping_holds=override_mapping_holds,
    )
    live = ApplyReport()
    try:
        outcome = run_async(run_apply(ws, options, confirm, emit, saved, Meter(enabled=not as_json), live))
    except KeyboardInterrupt:
        # The run saved its state on the way out (intents of POSTs in flight included); one line, no trace.
        click.echo(live.interrupted_line(), err=True)
        sys.exit(130)
    for note in outcome.notes:
        click.echo(f"Note: {note}")
    if outcome.report is None:
        if outcome.plan.has_changes:
            click.echo("Apply cancelled.")
            sys.exit(1)  # as Terraform: a script must not mistake a declined apply for a done one
        elif outcome.plan.converged:
            click.echo(NO_CHANGES)
        else:
            # Nothing to apply, but held deletions or impossible edits: never claim the tenants match.
            coloured = use_color(False)
            click.echo(render_plan(outcome.plan, "text", color=coloured).rstrip(), color=coloured)
        return
    report = outcome.report
    if as_json:
        emit(
            {
                "type": "change_summary",
                "done": dict(report.done),
                "failures": [f.__dict__ for f in report.failures],
                "@message": report.summary_line(),
            }
        )
    else:
        for failure in report.failures:
            where = f"{failure.location}: " if failure.location else ""
            click.echo(f"Error: {where}{failure.address}: {failure.message}", err=True)
        if report.stopped:
            click.echo(f"Error: {report.stopped_line()}", err=True)
        click.echo(f"\n{report.summary_line()}")
    if not report.ok:
        sys.exit(1)
