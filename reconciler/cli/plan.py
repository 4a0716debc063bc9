"""``reconciler plan`` and ``reconciler show``: thin commands over the plan run and the saved plan file.

Exit codes (Terraform's): 0 success; 1 error; with ``--detailed-exitcode``, 2 when changes are present
or the spec asks for edits the service cannot carry out (``Plan.pending``).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.common import (
    COMPACT_OPTION,
    NO_COLOR_OPTION,
    OVERRIDE_HOLDS_OPTION,
    PARALLELISM_OPTION,
    PLAN_RENDERERS,
    REPROBE_OPTION,
    WORKSPACE_ARGUMENT,
    WORKSPACE_OPTION,
    echo_json,
    echo_plan,
    format_option,
    load_ok,
    open_workspace,
    read_state,
    render_plan,
    run_async,
    selection,
    selection_options,
    use_color,
)
from reconciler.cli.progress import Meter
from reconciler.provenance import commit_of, in_pull_request

# What --only accepts: the actions that change something (kept in step with plan.model.CHANGING by a test).
ONLY_ACTIONS = ("create", "update", "delete", "start", "restart", "replace", "validate", "cancel", "adopt", "forget")

if TYPE_CHECKING:
    from reconciler.plan.model import Plan
    from reconciler.plan.projections import PlanContext
    from reconciler.plan.render_markdown import Heading
    from reconciler.state.model import Probe


@click.command()
@WORKSPACE_ARGUMENT
@click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="Read live state from Graph first; --no-refresh plans from state alone.",
)
@selection_options
@OVERRIDE_HOLDS_OPTION
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(ONLY_ACTIONS),
    metavar="ACTION",
    help="Keep only changes of this action (repeatable; e.g. --only start for a scheduled job that starts what "
    "gates and capacity allow). The plan records it; waits, drift and errors are still shown.",
)
@PARALLELISM_OPTION
@format_option(*PLAN_RENDERERS)
@COMPACT_OPTION
@click.option(
    "-out",
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan here for `reconciler apply FILE` and `reconciler show FILE`.",
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none, 1 on error.")
@REPROBE_OPTION
@NO_COLOR_OPTION
def plan(
    workspace: str,
    refresh: bool,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    override_mapping_holds: bool,
    only: tuple[str, ...],
    parallelism: int,
    output: str,
    compact: bool,
    out: Path | None,
    detailed_exitcode: bool,
    reprobe: bool,
    no_color: bool,
) -> None:
    """Show what apply would change: refresh live state, compare with the spec and the state."""
    from reconciler.gcpause import gc_paused
    from reconciler.operations.plan import PlanOptions, plan_from_state, run_plan
    from reconciler.plan import planfile

    ws = load_ok(workspace, "nothing was planned")
    state = read_state(ws)
    options = PlanOptions(
        refresh=refresh,
        selection=selection(targets, excludes),
        parallelism=parallelism,
        override_mapping_holds=override_mapping_holds,
        only=frozenset(only),
        reprobe=reprobe,
    )
    fresh_probes: dict[str, Probe] = {}  # what this plan had to ask; a saved plan carries it to apply
    if refresh:
        # The coroutine keeps its result; handing asyncio.run a 120,000-change plan cost a second at exit
        # (CPython builds a repr of the finished coroutine), so the result leaves through a holder instead.
        held: list[tuple[Plan, PlanContext]] = []

        async def planned() -> None:
            meter = Meter(enabled=output == "text")
            held.append(await run_plan(ws, state, options, meter, fresh_probes))

        run_async(planned())
        result, ctx = held[0]
    else:
        result, ctx = plan_from_state(ws, state, options)
    artifact = str(out) if out else None
    created = planfile.now()
    commit = commit_of(ws.root) if out is not None or output == "markdown" else None
    heading = None
    if output == "markdown":
        heading = _heading(
            ws.root.resolve().name, ctx.source_tenant_id, ctx.target_tenant_id, created, commit, artifact
        )
    with gc_paused():  # loading and planning pause it too: rendering 120,000 changes need not walk them again
        if out is not None:
            planfile.save(
                out,
                result,
                ctx.source_tenant_id,
                ctx.target_tenant_id,
                ws.root,
                created=created,
                commit=commit,
                probes=fresh_probes,
            )
        echo_plan(result, output, color=use_color(no_color), compact=compact, artifact=artifact, heading=heading)
    if output == "text" and out is None and result.has_changes:
        click.echo(
            "\nNote: you didn't use -out to save this plan, so `reconciler apply` cannot guarantee to take "
            "exactly these actions."
        )
    elif out is not None and output == "text":
        click.echo(
            f"\nSaved the plan to: {out}\nTo apply exactly this plan: reconciler apply {out}\n"
            f"To render it again: reconciler show {out}"
        )
    if result.errored:
        sys.exit(1)
    if detailed_exitcode and result.pending:
        sys.exit(2)


def _heading(
    workspace: str, source: str, target: str, created: str, commit: str | None, saved_as: str | None
) -> Heading:
    from reconciler.plan.render_markdown import Heading

    command = f"reconciler apply {shlex.quote(saved_as)}" if saved_as else None
    return Heading(
        workspace, source, target, created, commit, command, on_merge=command is not None and in_pull_request()
    )


@click.command()
@click.argument(
    "planfile_path", metavar="[PLANFILE]", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@format_option(*PLAN_RENDERERS)
@COMPACT_OPTION
@NO_COLOR_OPTION
@WORKSPACE_OPTION
def show(planfile_path: Path | None, output: str, compact: bool, no_color: bool, workspace: str) -> None:
    """Render a saved plan (text, Markdown for a PR comment, or JSON); without PLANFILE, the state's resources."""
    from reconciler.plan import planfile

    if planfile_path is None:
        if output == "markdown":
            raise click.UsageError("--format markdown renders a saved plan; without PLANFILE use text or json")
        _show_state(workspace, output)
        return
    saved = planfile.load(planfile_path)
    heading = None
    if output == "markdown":
        where = Path(saved.workspace).name if saved.workspace else planfile_path.resolve().parent.name
        heading = _heading(
            where, saved.source_tenant_id, saved.target_tenant_id, saved.created, saved.commit, str(planfile_path)
        )
    coloured = use_color(no_color)
    rendered = render_plan(
        saved.plan, output, color=coloured, compact=compact, artifact=str(planfile_path), heading=heading
    )
    click.echo(rendered, color=coloured)


def _show_state(workspace: str, output: str) -> None:
    """Every managed address with its task id and last applied values, as ``terraform show`` prints the state."""
    from reconciler.plan.render_text import format_value

    state = read_state(open_workspace(workspace))
    resources = sorted(state.resources.items())
    if output == "json":
        echo_json(
            {
                "lineage": state.lineage,
                "serial": state.serial,
                "resources": [{"address": a, **r.to_json()} for a, r in resources],
            }
        )
        return
    if not resources:
        click.echo("The state is empty: this workspace manages nothing yet.")
        return
    for address, r in resources:
        values = dict(r.last_applied)
        extra = {"task_id": r.task_id, "attempt": r.attempt if r.attempt != 1 else None, "protect": r.protect or None}
        values.update({k: v for k, v in extra.items() if v is not None})
        width = max((len(k) for k in values), default=0)
        click.echo(f"# {address}:\n{r.kind} {format_value(r.key)} {{")
        for name, value in values.items():
            click.echo(f"    {name.ljust(width)} = {format_value(value)}")
        click.echo("}\n")
