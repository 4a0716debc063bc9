"""The ``reconciler`` command group."""

from __future__ import annotations

import os
from typing import Any

import click

from reconciler import __version__
from reconciler.cli import logs
from reconciler.cli.apply_cmds import apply, export, import_, status
from reconciler.cli.emulator import emulator
from reconciler.cli.plan_cmds import plan, show
from reconciler.cli.state_cmds import state
from reconciler.cli.workspace_cmds import fmt, init, validate


class _Cli(click.Group):
    """Usage errors exit 1, not click's 2: 2 means "changes present" under `plan --detailed-exitcode`."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            setattr(exc, "exit_code", 1)  # noqa: B010 (click declares it a class constant)
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            setattr(exc, "exit_code", 1)  # noqa: B010 (click declares it a class constant)
            raise


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reconciler")
@click.option(
    "--debug",
    is_flag=True,
    help="Log every Graph and token request to stderr (method, URL, status, request-id, ms; never a token or "
    "secret). Same as RECONCILER_LOG=debug.",
)
def main(debug: bool) -> None:
    """Declarative plan/apply reconciler for SharePoint cross-tenant migrations (Microsoft Graph beta)."""
    try:
        logs.configure(logs.level_of(debug, os.environ.get(logs.ENV)))
    except logs.LogLevelError as exc:
        raise click.UsageError(str(exc)) from None


main.add_command(emulator)
main.add_command(validate)
main.add_command(fmt)
main.add_command(init)
main.add_command(plan)
main.add_command(show)
main.add_command(apply)
main.add_command(state)
main.add_command(status)
main.add_command(import_)
main.add_command(export)
