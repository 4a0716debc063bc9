"""Copying a state between backends (``state push`` / ``state pull``) with Terraform's lineage rules.

A push is refused when the destination holds another workspace's history (another lineage), a newer
serial of the same history, or a different state under the same serial, or when the incoming state
records writes still in flight; ``force`` overrides the first three, never the check that the file
is a state at all. An empty destination keeps the incoming serial, so plan files made before the move
stay valid after it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from reconciler.state.backend import StateBackend, compact_pending
from reconciler.state.model import State, StateError


@dataclass(frozen=True)
class PushResult:
    lineage: str
    serial: int
    resources: int
    replaced: bool  # the destination held a state before
    unchanged: bool = False  # the destination already held exactly this state: nothing was written


def read_state_file(path: Path) -> State:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise StateError(f"{path}: no such file") from None
    except OSError as exc:
        raise StateError(f"{path}: not a state file: {exc.strerror or type(exc).__name__}") from None
    try:
        state = State.parse(data, str(path))
    except StateError as exc:
        raise StateError(f"{path}: not a state file: {str(exc).removeprefix(f'{path}: ')}") from None
    if not state.lineage:
        raise StateError(f"{path}: this state was never written (no lineage); there is nothing to push")
    return state


def push_refusals(incoming: State, current: State, source: str, destination: str) -> list[str]:
    """Why pushing ``incoming`` over ``current`` would lose or mix history ([] when it is safe)."""
    reasons = []
    if incoming.journal:
        reasons.append(
            f"{source} records {len(incoming.journal)} write(s) still in flight from an interrupted apply; "
            "let `reconciler apply` resolve them on its own backend first (it records their outcome before it "
            "asks for approval; answer no)"
        )
    if not current.lineage:
        return reasons
    if current.lineage != incoming.lineage:
        reasons.append(
            f"{destination} holds another workspace's history (lineage {current.lineage}; {source} has "
            f"{incoming.lineage})"
        )
    elif current.serial > incoming.serial:
        reasons.append(f"{destination} is newer (serial {current.serial}) than {source} (serial {incoming.serial})")
    elif current.serial == incoming.serial and current.to_json() != incoming.to_json():
        reasons.append(f"{destination} and {source} differ under the same serial {current.serial}")
    return reasons


def push(backend: StateBackend, incoming: State, source: str, force: bool, lock_timeout: float = 0.0) -> PushResult:
    lock = backend.lock("state push", lock_timeout)
    try:
        current = backend.read()
        compact_pending(backend, current)  # what an interrupted apply recorded is part of the history compared
        reasons = push_refusals(incoming, current, source, backend.location)
        blocking = [r for r in reasons if "in flight" in r] if force else reasons
        if blocking:
            raise StateError("refusing to push: " + "; ".join(blocking) + ("" if force else " (--force overrides)"))
        replaced = bool(current.lineage)
        if replaced and current.to_json() == incoming.to_json():
            return PushResult(incoming.lineage, incoming.serial, len(incoming.resources), False, unchanged=True)
        pushed = State(
            incoming.lineage,
            incoming.serial,
            dict(incoming.resources),
            list(incoming.journal),
            probes=dict(incoming.probes),
        )
        if replaced:
            pushed.serial = max(incoming.serial, current.serial + 1)
        backend.write(pushed)
        return PushResult(pushed.lineage, pushed.serial, len(pushed.resources), replaced)
    finally:
        backend.release(lock)


def pull(backend: StateBackend) -> str:
    """The stored state as the JSON a state file holds (what ``push`` reads)."""
    return json.dumps(backend.read().to_json(), indent=1) + "\n"
