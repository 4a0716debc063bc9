"""``reconciler export``: write spec files from the live mappings and tasks of some keys, for adoption.

``--format json`` prints one document instead of the lines: ``{"files": [PATH, ...], "mappings": N,
"migrations": N, "absent": N, "incomplete": N}`` (``absent``: keys with nothing to export; ``incomplete``:
mappings written with default ``userType``/``groupType`` or source tenant).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from reconciler.cli.common import WORKSPACE_ARGUMENT, echo_json, format_option, load_ok, read_state
from reconciler.cli.progress import Meter


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
@format_option("text", "json")
def export(workspace: str, keys_file: Path | None, out_dir: Path | None, force: bool, output: str) -> None:
    """Write spec files from the live mappings and tasks of the given keys, for adoption."""
    from reconciler.operations.exporting import read_keys, run_export, workspace_keys

    ws = load_ok(workspace, "nothing was exported")
    keys = read_keys(keys_file) if keys_file else workspace_keys(ws, read_state(ws))
    meter = Meter(enabled=output == "text")
    result = asyncio.run(run_export(ws, keys, out_dir or ws.root, force=force, meter=meter))
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
