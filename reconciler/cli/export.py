"""``reconciler export``: write spec files from the live mappings and tasks of some keys, for adoption.

``--format json`` prints one document instead of the lines: ``{"files": [PATH, ...], "mappings": N,
"migrations": N, "absent": N, "incomplete": N}`` (``absent``: keys with nothing to export; ``incomplete``:
mappings written with default ``userType``/``groupType`` or source tenant). ``--all`` lists the tenants
instead of reading keys; where a tenant does not answer collection reads it exits with code 3.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli.common import (
    REPROBE_OPTION,
    WORKSPACE_ARGUMENT,
    echo_json,
    format_option,
    load_ok,
    read_state,
    run_async,
)
from reconciler.cli.progress import Meter

UNSUPPORTED_EXIT = 3  # export --all: a tenant does not answer collection reads


@click.command()
@WORKSPACE_ARGUMENT
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
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Every mapping and task the tenants hold (CSV uploads included), where they answer collection reads; "
    "exit code 3 where they do not.",
)
@REPROBE_OPTION
@format_option("text", "json")
def export(
    workspace: str,
    keys_file: Path | None,
    out_dir: Path | None,
    force: bool,
    every: bool,
    reprobe: bool,
    output: str,
) -> None:
    """Write spec files from the live mappings and tasks of the given keys, for adoption."""
    from reconciler.operations.exporting import CollectionReadsUnsupported, read_keys, run_export, workspace_keys

    if every and keys_file:
        raise click.UsageError("--all and --keys exclude each other: --all exports everything the tenants hold")
    ws = load_ok(workspace, "nothing was exported")
    state = read_state(ws)
    keys = None if every else read_keys(keys_file) if keys_file else workspace_keys(ws, state)
    meter = Meter(enabled=output == "text")
    try:
        result = run_async(
            run_export(ws, keys, out_dir or ws.root, force=force, meter=meter, state=state, reprobe=reprobe)
        )
    except CollectionReadsUnsupported as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(UNSUPPORTED_EXIT)
    if output == "json":
        echo_json(
            {
                "files": [str(path) for path in result.files],
                "mappings": result.mappings,
                "migrations": result.migrations,
                "absent": result.absent,
                "incomplete": result.incomplete,
            }
        )
        return
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
