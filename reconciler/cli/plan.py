"""``reconciler plan`` and ``reconciler show``: thin commands over the plan run and the saved plan file.

Exit codes (Terraform's): 0 success; 1 error; with ``--detailed-exitcode``, 2 when changes are present
or the spec asks for edits the service cannot carry out (``Plan.pending``).
"""

from __future__ import annotations

import asyncio
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
    WORKSPACE_ARGUMENT,
    echo_plan,
    format_option,
    load_ok,
    read_state,
    render_plan,
    selection,
    selection_options,
    use_color,
)
from reconciler.cli.progress import Meter

if TYPE_CHECKING:
    from reconciler.plan.model import Plan
    from reconciler.plan.projections import PlanContext


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
@NO_COLOR_OPTION
def plan(
    workspace: str,
    refresh: bool,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    override_mapping_holds: bool,
    parallelism: int,
    output: str,
    compact: bool,
    out: Path | None,
    detailed_exitcode: bool,
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
    )
    if refresh:
        # The coroutine keeps its result; handing asyncio.run a 120,000-change plan cost a second at exit
        # (CPython builds a repr of the finished coroutine), so the result leaves through a holder instead.
        held: list[tuple[Plan, PlanContext]] = []

        async def planned() -> None:
            held.append(await run_plan(ws, state, options, Meter(enabled=output == "text")))

        asyncio.run(planned())
        result, ctx = held[0]
    else:
        result, ctx = plan_from_state(ws, state, options)
    artifact = str(out) if out else None
    with gc_paused():  # loading and planning pause it too: rendering 120,000 changes need not walk them again
        if out is not None:
            planfile.save(out, result, ctx.source_tenant_id, ctx.target_tenant_id, ws.root)
        echo_plan(result, output, color=use_color(no_color), compact=compact, artifact=artifact)
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


@click.command()
@click.argument("planfile_path", metavar="PLANFILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@format_option(*PLAN_RENDERERS)
@COMPACT_OPTION
@NO_COLOR_OPTION
def show(planfile_path: Path, output: str, compact: bool, no_color: bool) -> None:
    """Render a saved plan (text, Markdown for a PR comment, or JSON)."""
    from reconciler.plan import planfile

    saved = planfile.load(planfile_path)
    click.echo(render_plan(saved.plan, output, color=use_color(no_color), compact=compact, artifact=str(planfile_path)))
