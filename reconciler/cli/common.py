"""What the commands share: the common options, workspace and state loading, colour and the output table.

Command modules import from here (and from ``progress``/``logs``), never from one another. Loading a workspace
prints its diagnostics and fails with one ``Error:`` line when it has errors; it also records the workspace on
the click context so that the one error handler (``reconciler.cli.main``) can phrase a state-lock error with
the ``-w`` the user must type. Library errors are not caught here: they reach that handler as they are.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from reconciler.plan.model import Plan
    from reconciler.plan.render_markdown import Heading
    from reconciler.plan.selection import Selection
    from reconciler.spec.diagnostics import Diagnostics
    from reconciler.state.backend import StateBackend
    from reconciler.state.model import State
    from reconciler.workspace.loader import Workspace

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

WORKSPACE_META = "reconciler.workspace"  # ctx.meta key: the display root of the workspace this run loaded

# --- options -----------------------------------------------------------------------------------------

WORKSPACE_ARGUMENT = click.argument("workspace", default=".", type=click.Path(file_okay=False, path_type=str))
WORKSPACE_OPTION = click.option(
    "--workspace", "-w", default=".", type=click.Path(file_okay=False, path_type=str), help="The workspace folder."
)
LOCK_TIMEOUT_OPTION = click.option(
    "--lock-timeout",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for another run's state lock.",
)
OVERRIDE_HOLDS_OPTION = click.option(
    "--override-mapping-holds",
    is_flag=True,
    help="Delete identity mappings removed from the spec even while migrations that may use them are queued "
    "or in progress (held otherwise). The plan records it; review with care.",
)
NO_COLOR_OPTION = click.option(
    "--no-color",
    is_flag=True,
    help="Never colour the output (also: NO_COLOR set and not empty, or not a terminal unless FORCE_COLOR is set "
    "and not empty).",
)
COMPACT_OPTION = click.option(
    "--compact", is_flag=True, help="Only counts and the irreversible and destructive actions."
)
REPROBE_OPTION = click.option(
    "--reprobe",
    is_flag=True,
    help="Ask both tenants again whether they answer collection reads (the state's answers otherwise).",
)
PARALLELISM_OPTION = click.option(
    "--parallelism", default=10, show_default=True, type=click.IntRange(1, 64), help="Requests in flight at once."
)


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, with asyncio imported only by the commands that talk to Graph: importing it costs
    every other command (``validate``, ``plan --no-refresh``, ``--version``) some 30 ms."""
    import asyncio

    return asyncio.run(coroutine)


def selection_options(func: F) -> F:
    """``--target`` and ``--exclude``: address globs (``*``, ``?``, case-insensitive), repeatable."""
    func = click.option(
        "--exclude", "excludes", multiple=True, metavar="ADDR", help="Leave these addresses out (globs)."
    )(func)
    return click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="ADDR",
        help="Only these addresses (globs, repeatable), e.g. 'user_migration[*]'.",
    )(func)


def format_option(*formats: str, help: str | None = None) -> Callable[[F], F]:
    """``--format`` with the given choices, ``text`` first and the default."""
    return click.option(
        "--format", "output", type=click.Choice(list(formats)), default=formats[0], show_default=True, help=help
    )


def selection(targets: tuple[str, ...], excludes: tuple[str, ...]) -> Selection:
    from reconciler.plan.selection import Selection

    return Selection(targets, excludes)


# --- colour and output -------------------------------------------------------------------------------


def use_color(no_color: bool) -> bool:
    """``--no-color`` wins; then a non-empty ``NO_COLOR`` (no-color.org: an empty one is ignored); then a
    non-empty ``FORCE_COLOR`` colours even a pipe (CI logs); otherwise colour only on a terminal."""
    if no_color or os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or sys.stdout.isatty()


def _plan_text(plan: Plan, *, color: bool, compact: bool, artifact: str | None, heading: Heading | None) -> str:
    from reconciler.plan.render_text import render_text

    return render_text(plan, color=color, compact=compact)


def _plan_markdown(plan: Plan, *, color: bool, compact: bool, artifact: str | None, heading: Heading | None) -> str:
    from reconciler.plan.render_markdown import render_markdown

    return render_markdown(plan, artifact_hint=artifact or "the saved plan file", heading=heading)


def _plan_json(plan: Plan, *, color: bool, compact: bool, artifact: str | None, heading: Heading | None) -> str:
    from reconciler.jsonindent import dumps_indented

    return dumps_indented(plan.to_json(), indent=2, ensure_ascii=False)


PLAN_RENDERERS: dict[str, Callable[..., str]] = {"text": _plan_text, "markdown": _plan_markdown, "json": _plan_json}
"""How a plan is printed, by ``--format``: the one table ``plan``, ``show`` and ``apply`` choose from."""


def render_plan(
    plan: Plan,
    output: str,
    *,
    color: bool,
    compact: bool = False,
    artifact: str | None = None,
    heading: Heading | None = None,
) -> str:
    return PLAN_RENDERERS[output](plan, color=color, compact=compact, artifact=artifact, heading=heading)


def echo_plan(
    plan: Plan, output: str, *, color: bool, compact: bool = False, artifact: str | None = None, **options: Any
) -> None:
    """Print ``render_plan``'s text as ``click.echo(text.rstrip("\\n"))`` would, but text and JSON go out in
    pieces as they are rendered: a plan of 120,000 changes is never one 60-80 MB string in memory."""
    pieces: Iterable[str]
    if output == "text":
        from reconciler.plan.render_text import iter_text

        pieces = iter_text(plan, color=color, compact=compact)
    elif output == "json":
        from reconciler.jsonindent import iter_indented

        pieces = iter_indented(plan.to_json(), indent=2, ensure_ascii=False)
    else:
        pieces = (render_plan(plan, output, color=color, compact=compact, artifact=artifact, **options),)
    echo_pieces(pieces, color=color)


def echo_pieces(pieces: Iterable[str], *, color: bool | None = None, batch_size: int = 1 << 20) -> None:
    """``click.echo("".join(pieces).rstrip("\\n"), color=color)``, written about ``batch_size`` characters at a
    time (``color``: click strips escapes on a pipe unless told)."""
    batch: list[str] = []
    size = 0
    held = 0  # newlines at the end of what came so far: printed only if more text follows
    for piece in pieces:
        body = piece.rstrip("\n")
        if not body:
            held += len(piece)
            continue
        if held:
            batch.append("\n" * held)
        batch.append(body)
        held = len(piece) - len(body)
        size += len(body)
        if size >= batch_size:
            click.echo("".join(batch), nl=False, color=color)
            batch, size = [], 0
    batch.append("\n")
    click.echo("".join(batch), nl=False, color=color)


def echo_json(document: Any) -> None:
    """One JSON document on stdout, as ``--format json`` prints it."""
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


# --- workspace and state -----------------------------------------------------------------------------


def echo_diagnostics(diags: Diagnostics, *, err: bool = True) -> None:
    for diagnostic in diags.sorted():
        click.echo(diagnostic.render(), err=err)


def fail_with(diags: Diagnostics, message: str) -> NoReturn:
    """Print the diagnostics that explain a refusal, then the refusal as the run's one ``Error:`` line."""
    echo_diagnostics(diags)
    raise click.ClickException(message)


def open_workspace(root: str) -> Workspace:
    """The workspace as it is (diagnostics and all), remembered for the error handler."""
    from reconciler.workspace.loader import load_workspace

    ws = load_workspace(root)
    context = click.get_current_context(silent=True)
    if context is not None:
        context.meta[WORKSPACE_META] = ws.display_root
    return ws


def load_ok(root: str, refused: str) -> Workspace:
    """A workspace without errors; otherwise its diagnostics and ``the workspace has errors; <refused>``."""
    ws = open_workspace(root)
    if not ws.ok:
        fail_with(ws.diagnostics, f"the workspace has errors; {refused}")
    return ws


def backend_of(ws: Workspace) -> StateBackend:
    """The workspace's backend; a broken reconciler.yaml is an error, never a silent local default."""
    from reconciler.state.select import open_backend

    if ws.config is None:
        fail_with(ws.diagnostics, f"no usable reconciler.yaml in {ws.display_root}; cannot tell where the state is")
    return open_backend(ws)


def read_state(ws: Workspace) -> State:
    return backend_of(ws).read()
