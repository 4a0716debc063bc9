"""``reconciler validate``, ``reconciler fmt`` and ``reconciler init``: workspace commands, no network."""

from __future__ import annotations

import json
from pathlib import Path

import click

from reconciler.cli.common import WORKSPACE_ARGUMENT, echo_diagnostics, format_option, open_workspace
from reconciler.spec.diagnostics import Diagnostics, Severity, summary_line

DIAGNOSTICS_FORMAT_VERSION = "1.0"


def diagnostics_json(diags: Diagnostics, **extra: object) -> str:
    """Terraform's ``validate -json`` shape: validity, counts and ``{severity, summary, detail, address, range}``."""
    document = {
        "format_version": DIAGNOSTICS_FORMAT_VERSION,
        "valid": not diags.has_errors,
        "error_count": diags.count(Severity.ERROR),
        "warning_count": diags.count(Severity.WARNING),
        **extra,
        "diagnostics": [d.to_json() for d in diags.sorted()],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@click.command()
@WORKSPACE_ARGUMENT
@format_option(
    "text", "json", help="text: one `path:line:col: severity: message` line each; json: Terraform-style diagnostics."
)
def validate(workspace: str, output: str) -> None:
    """Check a workspace: reconciler.yaml and every spec and CSV file, all problems at once.

    Reads local files only. Exit code 0 when there is no error (warnings allowed), 1 otherwise.
    """
    ws = open_workspace(workspace)
    diags = ws.diagnostics
    if output == "json":
        click.echo(diagnostics_json(diags, resources=len(ws.desired), files=ws.spec_files))
    else:
        echo_diagnostics(diags, err=False)
        if diags.has_errors:
            click.echo(f"Invalid: {summary_line(diags)}.")
        else:
            warnings = diags.count(Severity.WARNING)
            warned = f" ({_plural(warnings, 'warning')})" if warnings else ""
            counts = f"{_plural(len(ws.desired), 'resource')} in {_plural(len(ws.spec_files), 'file')}"
            click.echo(f"Success! The workspace is valid{warned}: {counts}.")
    raise SystemExit(1 if diags.has_errors else 0)


@click.command()
@WORKSPACE_ARGUMENT
@click.option("--check", is_flag=True, help="Change nothing; list the files fmt would change and exit 1 if any.")
@click.option("--diff", "show_diff", is_flag=True, help="Also print a unified diff of each change.")
def fmt(workspace: str, check: bool, show_diff: bool) -> None:
    """Rewrite reconciler.yaml and the spec files in canonical form, keeping comments.

    Keys in a fixed order, resources sorted by their natural key, uniform quoting and indentation.
    CSV files are left as they are. Each file is replaced atomically.
    """
    from reconciler.workspace.fmt import format_workspace

    report = format_workspace(workspace, write=not check)
    echo_diagnostics(report.diagnostics)
    for name in report.changed:
        click.echo(name)
        if show_diff:
            click.echo(report.diffs[name], nl=False)
    failed = report.diagnostics.has_errors or (check and bool(report.changed))
    raise SystemExit(1 if failed else 0)


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite starter files that already exist.")
def init(directory: Path, force: bool) -> None:
    """Write a commented starter workspace (reconciler.yaml, spec files, JSON Schemas) into DIRECTORY.

    As written it moves a few users, a site and a group in the emulator's default world; the comments
    say what to change for real tenants.
    """
    from reconciler.workspace.scaffold import init_workspace

    result = init_workspace(directory, force=force)
    if result.existing:
        for name in result.existing:
            click.echo(f"{directory / name}: already exists", err=True)
        raise click.ClickException("nothing written; use --force to overwrite")
    for name in result.written:
        click.echo(f"wrote {directory / name}")
    click.echo(f"Next: reconciler validate {directory}")
