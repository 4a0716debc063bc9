"""``reconciler plan`` and ``reconciler show``: thin commands over ``reconciler.planning``.

Exit codes (Terraform's): 0 success; 1 error; with ``--detailed-exitcode``, 2 when changes are present
or the spec asks for edits the service cannot carry out (``Plan.pending``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import click

from reconciler.cli.progress import Meter
from reconciler.cli.state_cmds import read_state
from reconciler.graph.errors import GraphError
from reconciler.plan import planfile
from reconciler.plan.model import Plan
from reconciler.plan.planner import Selection
from reconciler.plan.render_markdown import render_markdown
from reconciler.plan.render_text import render_text
from reconciler.planning import PlanOptions, run_plan
from reconciler.workspace.connection import CredentialError
from reconciler.workspace.loader import load_workspace

FORMATS = click.Choice(["text", "markdown", "json"])
OVERRIDE_HOLDS_OPTION = click.option(
    "--override-mapping-holds",
    is_flag=True,
    help="Delete identity mappings removed from the spec even while migrations that may use them are queued "
    "or in progress (held otherwise). The plan records it; review with care.",
)


def use_color(no_color: bool) -> bool:
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def render(plan: Plan, output: str, *, color: bool, compact: bool, artifact: str | None) -> str:
    if output == "json":
        return json.dumps(plan.to_json(), indent=2, ensure_ascii=False)
    if output == "markdown":
        return render_markdown(plan, artifact_hint=artifact or "the saved plan file")
    return render_text(plan, color=color, compact=compact)


@click.command()
@click.argument("workspace", default=".", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="Read live state from Graph first; --no-refresh plans from state alone.",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="ADDR",
    help="Plan only these addresses (globs, repeatable), e.g. 'user_migration[*]'.",
)
@click.option("--exclude", "excludes", multiple=True, metavar="ADDR", help="Leave these addresses out (globs).")
@OVERRIDE_HOLDS_OPTION
@click.option(
    "--parallelism", default=10, show_default=True, type=click.IntRange(1, 64), help="Requests in flight at once."
)
@click.option("--format", "output", type=FORMATS, default="text", show_default=True)
@click.option("--compact", is_flag=True, help="Only counts and the irreversible and destructive actions.")
@click.option(
    "-out",
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan here for `reconciler apply FILE` and `reconciler show FILE`.",
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none, 1 on error.")
@click.option("--no-color", is_flag=True, help="Never colour the output (also: NO_COLOR set, or not a terminal).")
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
    ws = load_workspace(workspace)
    if not ws.ok:
        for diagnostic in ws.diagnostics.sorted():
            click.echo(diagnostic.render(), err=True)
        raise click.ClickException("the workspace has errors; nothing was planned")
    state = read_state(ws)
    options = PlanOptions(
        refresh=refresh,
        selection=Selection(targets, excludes),
        parallelism=parallelism,
        override_mapping_holds=override_mapping_holds,
    )
    try:
        result, ctx = asyncio.run(run_plan(ws, state, options, Meter(enabled=output == "text")))
    except (CredentialError, GraphError) as exc:
        raise click.ClickException(str(exc)) from exc
    if out is not None:
        planfile.save(out, result, ctx.source_tenant_id, ctx.target_tenant_id, ws.root)
    artifact = str(out) if out else None
    click.echo(render(result, output, color=use_color(no_color), compact=compact, artifact=artifact).rstrip("\n"))
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
@click.option("--format", "output", type=FORMATS, default="text", show_default=True)
@click.option("--compact", is_flag=True, help="Only counts and the irreversible and destructive actions.")
@click.option("--no-color", is_flag=True)
def show(planfile_path: Path, output: str, compact: bool, no_color: bool) -> None:
    """Render a saved plan (text, Markdown for a PR comment, or JSON)."""
    try:
        saved = planfile.load(planfile_path)
    except planfile.PlanFileError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(render(saved.plan, output, color=use_color(no_color), compact=compact, artifact=str(planfile_path)))
