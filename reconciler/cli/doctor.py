"""``reconciler doctor``: check a workspace's configuration, credentials, roles, Graph, clock and state backend."""

from __future__ import annotations

import click

from reconciler.cli.common import WORKSPACE_ARGUMENT, WORKSPACE_META, echo_json, format_option

LABELS = {"pass": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


@click.command()
@WORKSPACE_ARGUMENT
@click.option(
    "--for",
    "purpose",
    type=click.Choice(["apply", "plan"]),
    default="apply",
    show_default=True,
    help="What the credentials must be able to do: apply needs Read.All and Manage.All, plan (a pull-request "
    "job) Read.All.",
)
@format_option("text", "json", help="text: one line per check and its fix; json: {workspace, ok, counts, checks}.")
def doctor(workspace: str, purpose: str, output: str) -> None:
    """Check that a workspace can plan and apply: reconciler.yaml, credentials, sign-in, roles, Graph, clock, state.

    Writes nothing to Graph or the state (the state lock is taken and released). Exit code 0 when no check
    failed (warnings allowed), 1 otherwise.
    """
    from reconciler.operations.doctor import run_doctor

    click.get_current_context().meta[WORKSPACE_META] = workspace
    report = run_doctor(workspace, purpose)
    if output == "json":
        echo_json(report.to_json())
    else:
        width = max(len(check.name) for check in report.checks)
        for check in report.checks:
            click.echo(f"{LABELS[check.status]}  {check.name:<{width}}  {check.detail}")
            if check.fix and check.status in ("fail", "warn"):
                click.echo(f"      {'':<{width}}  fix: {check.fix}")
        counts = report.counts()
        click.echo(
            f"\n{'No problems found' if report.ok else 'Problems found'}: {counts['pass']} passed, "
            f"{counts['warn']} warnings, {counts['fail']} failed, {counts['skip']} skipped (for {purpose})."
        )
    raise SystemExit(0 if report.ok else 1)
