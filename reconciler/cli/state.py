"""``reconciler state …``: inspect, repair and move the state, whichever backend holds it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from reconciler.spec.desired import canonical_address
from reconciler.state.backend import StateBackend, StateLocked
from reconciler.state.model import State, StateError
from reconciler.state.select import open_backend
from reconciler.state.transfer import pull, push, read_state_file
from reconciler.workspace.loader import Workspace, load_workspace

WORKSPACE_OPTION = click.option(
    "--workspace", "-w", default=".", type=click.Path(file_okay=False, path_type=str), help="The workspace folder."
)
_LOCK_TIMEOUT = click.option(
    "--lock-timeout",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for another run's state lock.",
)


def backend_of(ws: Workspace) -> StateBackend:
    """The workspace's backend; a broken reconciler.yaml is an error, never a silent local default."""
    if ws.config is None:
        for diagnostic in ws.diagnostics.sorted():
            click.echo(diagnostic.render(), err=True)
        raise click.ClickException(f"no usable reconciler.yaml in {ws.display_root}; cannot tell where the state is")
    try:
        return open_backend(ws)
    except StateError as exc:
        raise click.ClickException(str(exc)) from exc


def failure(exc: Exception, ws: Workspace) -> click.ClickException:
    """One line for the user; a lock held elsewhere names the unlock command as typed from here."""
    if isinstance(exc, StateLocked):
        return click.ClickException(exc.for_workspace(ws.display_root))
    return click.ClickException(str(exc))


def read_state(ws: Workspace) -> State:
    try:
        return backend_of(ws).read()
    except StateError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def state() -> None:
    """Inspect, repair and move the state: what this workspace manages."""


@state.command("list")
@WORKSPACE_OPTION
def state_list(workspace: str) -> None:
    """Every managed address."""
    for address in sorted(read_state(load_workspace(workspace)).resources):
        click.echo(address)


@state.command("show")
@click.argument("address")
@WORKSPACE_OPTION
def state_show(address: str, workspace: str) -> None:
    """One managed address, as JSON."""
    address = canonical_address(address)
    resource = read_state(load_workspace(workspace)).resources.get(address)
    if resource is None:
        raise click.ClickException(f"{address} is not in the state")
    click.echo(json.dumps({"address": address, **resource.to_json()}, indent=2))


@state.command("rm")
@click.argument("addresses", nargs=-1, required=True)
@WORKSPACE_OPTION
@_LOCK_TIMEOUT
def state_rm(addresses: tuple[str, ...], workspace: str, lock_timeout: float) -> None:
    """Stop managing addresses (no API call): forget them."""
    addresses = tuple(dict.fromkeys(canonical_address(a) for a in addresses))
    ws = load_workspace(workspace)
    backend = backend_of(ws)
    try:
        lock = backend.lock("state rm", lock_timeout)
        try:
            current = backend.read()
            missing = [a for a in addresses if a not in current.resources]
            if missing:
                raise click.ClickException(f"not in the state: {', '.join(missing)}")
            for address in addresses:
                del current.resources[address]
            current.serial += 1
            backend.write(current)
        finally:
            backend.release(lock)
    except StateError as exc:
        raise failure(exc, ws) from exc
    click.echo(f"Removed {len(addresses)} address(es) from the state.")


@state.command("unlock")
@click.argument("lock_id")
@WORKSPACE_OPTION
def state_unlock(lock_id: str, workspace: str) -> None:
    """Break a lock left by a run that is gone (LOCK_ID as the lock error printed it)."""
    backend = backend_of(load_workspace(workspace))
    try:
        backend.unlock(lock_id)
    except StateError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Lock {lock_id} released.")


@state.command("pull")
@WORKSPACE_OPTION
def state_pull(workspace: str) -> None:
    """Print the stored state as JSON (to back it up, or to push it to another backend)."""
    backend = backend_of(load_workspace(workspace))
    try:
        click.echo(pull(backend), nl=False)
    except StateError as exc:
        raise click.ClickException(str(exc)) from exc


@state.command("push")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@WORKSPACE_OPTION
@_LOCK_TIMEOUT
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite even another lineage, a newer serial or a different state of the same serial.",
)
def state_push(path: Path, workspace: str, lock_timeout: float, force: bool) -> None:
    """Write a state file (from `state pull`) to this workspace's backend, under its lock, with lineage checks."""
    ws = load_workspace(workspace)
    backend = backend_of(ws)
    try:
        incoming = read_state_file(path)
        result = push(backend, incoming, str(path), force, lock_timeout)
    except StateError as exc:
        raise failure(exc, ws) from exc
    if result.unchanged:
        click.echo(f"The state at {backend.location} is already identical to {path}; nothing was written.")
        return
    verb = "Replaced the state at" if result.replaced else "Wrote the state to"
    click.echo(
        f"{verb} {backend.location}: {result.resources} address(es), lineage {result.lineage}, serial {result.serial}."
    )
