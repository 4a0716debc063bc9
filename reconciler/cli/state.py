"""``reconciler state …``: inspect, repair and move the state, whichever backend holds it.

``state list`` takes address globs (``*``, ``?``, case-insensitive, as ``plan --target``) and prints, with
``--format json``, ``{"resources": [{"address": ..., <as state show>}, ...]}``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from reconciler.cli.common import (
    LOCK_TIMEOUT_OPTION,
    WORKSPACE_OPTION,
    backend_of,
    echo_json,
    format_option,
    open_workspace,
    read_state,
    selection,
)


@click.group()
def state() -> None:
    """Inspect, repair and move the state: what this workspace manages."""


@state.command("list")
@click.argument("patterns", nargs=-1, metavar="[ADDRESS_GLOB]...")
@WORKSPACE_OPTION
@format_option("text", "json")
def state_list(patterns: tuple[str, ...], workspace: str, output: str) -> None:
    """Every managed address, or those matching any of the globs."""
    resources = read_state(open_workspace(workspace)).resources
    chosen = selection(patterns, ())
    addresses = [address for address in sorted(resources) if chosen(address)]
    if output == "json":
        echo_json({"resources": [{"address": a, **resources[a].to_json()} for a in addresses]})
        return
    for address in addresses:
        click.echo(address)


@state.command("show")
@click.argument("address")
@WORKSPACE_OPTION
def state_show(address: str, workspace: str) -> None:
    """One managed address, as JSON."""
    from reconciler.spec.desired import canonical_address

    address = canonical_address(address)
    resource = read_state(open_workspace(workspace)).resources.get(address)
    if resource is None:
        raise click.ClickException(f"{address} is not in the state")
    click.echo(json.dumps({"address": address, **resource.to_json()}, indent=2))


@state.command("rm")
@click.argument("addresses", nargs=-1, required=True)
@WORKSPACE_OPTION
@LOCK_TIMEOUT_OPTION
def state_rm(addresses: tuple[str, ...], workspace: str, lock_timeout: float) -> None:
    """Stop managing addresses (no API call): forget them."""
    from reconciler.state.edit import forget

    removed = forget(backend_of(open_workspace(workspace)), addresses, lock_timeout)
    click.echo(f"Removed {len(removed)} address(es) from the state.")


@state.command("mv")
@click.argument("old", metavar="OLD_ADDRESS")
@click.argument("new", metavar="NEW_ADDRESS")
@WORKSPACE_OPTION
@LOCK_TIMEOUT_OPTION
def state_mv(old: str, new: str, workspace: str, lock_timeout: float) -> None:
    """Move a managed resource to a new address of the same kind (a key that changed, e.g. a renamed source
    user), keeping its task id and last applied values (no API call)."""
    from reconciler.state.edit import move

    source, target = move(backend_of(open_workspace(workspace)), old, new, lock_timeout)
    click.echo(f"Moved {source} to {target}.")


def _unlock(lock_id: str, workspace: str) -> None:
    backend_of(open_workspace(workspace)).unlock(lock_id)
    click.echo(f"Lock {lock_id} released.")


@state.command("unlock")
@click.argument("lock_id")
@WORKSPACE_OPTION
def state_unlock(lock_id: str, workspace: str) -> None:
    """Break a lock left by a run that is gone (LOCK_ID as the lock error printed it)."""
    _unlock(lock_id, workspace)


@click.command("force-unlock")
@click.argument("lock_id")
@WORKSPACE_OPTION
def force_unlock(lock_id: str, workspace: str) -> None:
    """Break a lock left by a run that is gone: the same as `reconciler state unlock` (Terraform's name)."""
    _unlock(lock_id, workspace)


@state.command("pull")
@WORKSPACE_OPTION
def state_pull(workspace: str) -> None:
    """Print the stored state as JSON (to back it up, or to push it to another backend)."""
    from reconciler.state.transfer import pull

    click.echo(pull(backend_of(open_workspace(workspace))), nl=False)


@state.command("push")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@WORKSPACE_OPTION
@LOCK_TIMEOUT_OPTION
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite even another lineage, a newer serial or a different state of the same serial.",
)
def state_push(path: Path, workspace: str, lock_timeout: float, force: bool) -> None:
    """Write a state file (from `state pull`) to this workspace's backend, under its lock, with lineage checks."""
    from reconciler.state.transfer import push, read_state_file

    backend = backend_of(open_workspace(workspace))
    result = push(backend, read_state_file(path), str(path), force, lock_timeout)
    if result.unchanged:
        click.echo(f"The state at {backend.location} is already identical to {path}; nothing was written.")
        return
    verb = "Replaced the state at" if result.replaced else "Wrote the state to"
    click.echo(
        f"{verb} {backend.location}: {result.resources} address(es), lineage {result.lineage}, serial {result.serial}."
    )
