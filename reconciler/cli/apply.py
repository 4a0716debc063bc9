"""``reconciler apply``, ``status``, ``import`` and ``export``: thin commands over the modules that do the work."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from reconciler.apply.executor import ApplyReport
from reconciler.applying import ApplyOptions, ApplyRefused, event_line, run_apply
from reconciler.cli.plan_cmds import OVERRIDE_HOLDS_OPTION, render, use_color
from reconciler.cli.progress import Meter
from reconciler.cli.state_cmds import WORKSPACE_OPTION, read_state
from reconciler.cli.state_cmds import failure as state_failure
from reconciler.graph.errors import GraphError
from reconciler.plan import planfile
from reconciler.plan.model import Plan
from reconciler.plan.planner import Selection
from reconciler.plan.render_text import NO_CHANGES
from reconciler.state.model import StateError
from reconciler.workspace.connection import CredentialError
from reconciler.workspace.loader import load_workspace


def _load_ok(root: str, refused: str = "nothing was applied") -> Any:
    ws = load_workspace(root)
    if not ws.ok:
        for diagnostic in ws.diagnostics.sorted():
            click.echo(diagnostic.render(), err=True)
        raise click.ClickException(f"the workspace has errors; {refused}")
    return ws


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
@click.option(
    "--lock-timeout",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for another run's state lock.",
)
@click.option("--parallelism", default=10, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--allow-destroy",
    is_flag=True,
    help="Allow a plan that deletes or cancels more than 10% of what this workspace manages.",
)
@click.option("--target", "targets", multiple=True, metavar="ADDR", help="Only these addresses (globs).")
@click.option("--exclude", "excludes", multiple=True, metavar="ADDR", help="Leave these addresses out (globs).")
@OVERRIDE_HOLDS_OPTION
@click.option("--json", "as_json", is_flag=True, help="Stream NDJSON events instead of text.")
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
    as_json: bool,
    workspace: str | None,
) -> None:
    """Carry out the plan: mapping writes, then task starts and cancels; state saved as work completes."""
    saved = None
    if target.is_file():
        if targets or excludes or override_mapping_holds:
            raise click.UsageError(
                "--target, --exclude and --override-mapping-holds choose what to plan; a saved plan is applied "
                "whole (plan again with them)"
            )
        try:
            saved = planfile.load(target)
        except planfile.PlanFileError as exc:
            raise click.ClickException(str(exc)) from exc
        ws = _load_ok(_plan_workspace(saved.workspace, workspace))
    else:
        if workspace is not None:
            raise click.UsageError("--workspace goes with a plan file; a workspace is the argument itself")
        ws = _load_ok(str(target))

    def emit(event: dict[str, Any]) -> None:
        if as_json:
            event = {"@timestamp": datetime.now(UTC).isoformat(), **event}
            click.echo(json.dumps(event))
        elif (line := event_line(event)) is not None:
            click.echo(line)

    def confirm(result: Plan) -> bool:
        click.echo(render(result, "text", color=use_color(False), compact=False, artifact=None).rstrip("\n"))
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
        selection=Selection(targets, excludes),
        override_mapping_holds=override_mapping_holds,
    )
    live = ApplyReport()
    try:
        outcome = asyncio.run(run_apply(ws, options, confirm, emit, saved, Meter(enabled=not as_json), live))
    except (ApplyRefused, StateError, CredentialError, GraphError) as exc:
        raise state_failure(exc, ws) from exc
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
            click.echo(render(outcome.plan, "text", color=use_color(False), compact=False, artifact=None).rstrip())
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


@click.command()
@click.argument("workspace", default=".", type=click.Path(file_okay=False, path_type=str))
@click.option("--watch", is_flag=True, help="Refresh in place until every migration has finished.")
@click.option(
    "--interval",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between refreshes with --watch.",
)
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(workspace: str, watch: bool, interval: float, output: str) -> None:
    """How the migrations this workspace manages are progressing, by status and wave."""
    import time

    from reconciler.status import read_status

    ws = _load_ok(workspace, "no status was read")
    state_now = read_state(ws)
    tty = sys.stdout.isatty()
    while True:
        try:
            current = asyncio.run(read_status(ws, state_now))
        except (CredentialError, GraphError) as exc:
            raise click.ClickException(str(exc)) from exc
        text = json.dumps(current.to_json()) if output == "json" else current.render()
        if watch and tty and output == "text":
            click.echo("\x1b[H\x1b[2J", nl=False)  # redraw in place
        click.echo(text)
        if not watch or current.done:
            return
        time.sleep(interval)


@click.command("import")
@click.argument("addresses", nargs=-1, required=True)
@WORKSPACE_OPTION
@click.option("--lock-timeout", default=0.0, show_default=True, type=click.FloatRange(min=0))
def import_(addresses: tuple[str, ...], workspace: str, lock_timeout: float) -> None:
    """Adopt objects that already exist: record them in state without changing them."""
    from reconciler.importing import run_import

    ws = _load_ok(workspace, "nothing was imported")
    try:
        result = asyncio.run(run_import(ws, list(addresses), lock_timeout, Meter()))
    except (StateError, CredentialError, GraphError) as exc:
        raise state_failure(exc, ws) from exc
    for address in result.imported:
        click.echo(f"{address}: imported")
    for problem in result.problems:
        click.echo(f"Error: {problem}", err=True)
    click.echo(f"Import complete! {len(result.imported)} imported, {len(result.problems)} not imported.")
    if result.problems:
        sys.exit(1)


@click.command()
@click.argument("workspace", default=".", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of keys, one per row (UPNs, group ids, site URLs, mail nicknames); default: the workspace's.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write exported.yaml and exported-identity-map.csv (default: the workspace).",
)
@click.option("--force", is_flag=True, help="Overwrite earlier export files.")
def export(workspace: str, keys_file: Path | None, out_dir: Path | None, force: bool) -> None:
    """Write spec files from the live mappings and tasks of the given keys, for adoption."""
    from reconciler.exporting import KeysFileError, read_keys, run_export, workspace_keys

    ws = _load_ok(workspace, "nothing was exported")
    try:
        keys = read_keys(keys_file) if keys_file else workspace_keys(ws, read_state(ws))
    except KeysFileError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        result = asyncio.run(run_export(ws, keys, out_dir or ws.root, force=force, meter=Meter()))
    except (FileExistsError, CredentialError, GraphError) as exc:
        raise click.ClickException(str(exc)) from exc
    for path in result.files:
        click.echo(f"wrote {path}")
    click.echo(
        f"Export complete! {result.mappings} mappings, {result.migrations} migrations; "
        f"{result.absent} key{'' if result.absent == 1 else 's'} had nothing to export."
    )
    if result.incomplete:
        click.echo(
            f"Note: {result.incomplete} mapping(s) in the tenant have no userType/groupType or "
            "sourceOrganizationId; the exported files give them the defaults (regularUser or m365Group, the "
            "source tenant id), so adopting them writes those values: the plan shows them as updates."
        )
