"""What every run shares: Graph opened for a workspace, the state held under its lock, the progress meter.

``connect`` resolves the workspace's credential references and builds the ``GraphClient`` for both
tenants; ``locked_state`` takes the backend's lock, reads the state (compacting an interrupted apply's
journal into it first), and (when the body says it changed it) bumps the serial and writes it back
before releasing the lock, so no run writes a state it did not read under the lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from reconciler.graph.client import GraphClient
from reconciler.graph.config import GraphSettings
from reconciler.graph.refresh import RefreshRequest, refresh
from reconciler.observed import Observed
from reconciler.state.backend import StateBackend, compact_pending
from reconciler.state.model import State
from reconciler.workspace.connection import Connection, resolve_connection
from reconciler.workspace.loader import Workspace


class Meter(Protocol):
    """Progress display for long work (the CLI's is a rich bar); the library only reports counts."""

    def start(self, description: str, total: int) -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def finish(self) -> None: ...


class NoMeter:
    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


def connect(workspace: Workspace, settings: GraphSettings | None = None) -> tuple[Connection, GraphClient]:
    """Both tenants' connections and a client for them; use the client as ``async with``.

    Raises ``CredentialError`` when a credential reference cannot be followed.
    """
    connection = resolve_connection(workspace)
    return connection, GraphClient(connection.source, connection.target, settings)


async def refresh_with_meter(graph: GraphClient, request: RefreshRequest, meter: Meter) -> Observed:
    meter.start("Refreshing", len(request))
    try:
        return await refresh(graph, request, meter.advance)
    finally:
        meter.finish()


@dataclass
class Held:
    """The state read under the lock; set ``changed`` for ``locked_state`` to write it back."""

    state: State
    changed: bool = False


@contextmanager
def locked_state(backend: StateBackend, operation: str, timeout: float = 0.0) -> Iterator[Held]:
    """Lock, read, let the body change the state, then (if it did) serial += 1 and write; always release.

    A body that raises writes nothing. A body that writes through the backend itself (the applier
    saves after every change) leaves ``changed`` unset.
    """
    lock = backend.lock(operation, timeout)
    try:
        held = Held(backend.read())
        compact_pending(backend, held.state)  # an interrupted apply's journal goes into the state first
        yield held
        if held.changed:
            held.state.serial += 1
            backend.write(held.state)
    finally:
        backend.release(lock)
