"""The ``reconciler`` command group, and the one place a library error becomes ``Error: …`` and exit code 1.

Each command lives in its own module (``plan`` holds ``plan`` and ``show``, ``workspace`` holds ``validate``,
``fmt`` and ``init``); what they share is in ``common``. Commands let every ``ReconcilerError`` through;
``_Cli.invoke`` turns it into a ``click.ClickException`` with the error's message.
"""

from __future__ import annotations

import os
from typing import Any

import click

from reconciler import __version__
from reconciler.cli import logs
from reconciler.cli.apply import apply
from reconciler.cli.common import WORKSPACE_META
from reconciler.cli.completion import completion
from reconciler.cli.demo import demo
from reconciler.cli.doctor import doctor
from reconciler.cli.emulator import emulator
from reconciler.cli.export import export
from reconciler.cli.import_ import import_
from reconciler.cli.plan import plan, show
from reconciler.cli.state import force_unlock, state
from reconciler.cli.status import status
from reconciler.cli.workspace import fmt, init, validate
from reconciler.errors import ReconcilerError


def message_of(exc: ReconcilerError, ctx: click.Context) -> str:
    """The error's own message; a state lock held elsewhere names the unlock command as typed from here."""
    for_workspace = getattr(exc, "for_workspace", None)
    workspace = ctx.meta.get(WORKSPACE_META)
    if callable(for_workspace) and workspace is not None:
        return str(for_workspace(workspace))
    return str(exc)


class _Cli(click.Group):
    """Usage errors exit 1, not click's 2: 2 means "changes present" under `plan --detailed-exitcode`.

    Any ``ReconcilerError`` a command lets through is printed as ``Error: <message>`` with exit code 1.
    """

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
        except ReconcilerError as exc:
            raise click.ClickException(message_of(exc, ctx)) from exc


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
main.add_command(demo)
main.add_command(doctor)
main.add_command(force_unlock)
main.add_command(completion)


def run() -> None:
    """The ``reconciler`` command (console script and ``python -m reconciler``): one command per process."""
    from reconciler.gcpause import freeze_when_resumed

    freeze_when_resumed()
    main()
