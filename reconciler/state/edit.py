"""Changes to the state that call no API: ``forget`` (``reconciler state rm``) drops managed addresses, ``move``
(``reconciler state mv``) gives one a new address of the same kind.

Under the backend's lock: read, check (all or nothing), change, bump the serial, write, release. The addresses
are canonicalized first, so a key typed in another case names the same address.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from reconciler.kinds import BY_NAME
from reconciler.spec.desired import address, canonical_address, canonical_key
from reconciler.state.backend import StateBackend, compact_pending
from reconciler.state.model import StateError


def forget(backend: StateBackend, addresses: Iterable[str], lock_timeout: float = 0.0) -> tuple[str, ...]:
    """Remove ``addresses`` from the state and return them (canonical, without repeats); none if any is absent."""
    wanted = tuple(dict.fromkeys(canonical_address(a) for a in addresses))
    lock = backend.lock("state rm", lock_timeout)
    try:
        current = backend.read()
        compact_pending(backend, current)
        missing = [a for a in wanted if a not in current.resources]
        if missing:
            raise StateError(f"not in the state: {', '.join(missing)}")
        for address in wanted:
            del current.resources[address]
        current.serial += 1
        backend.write(current)
    finally:
        backend.release(lock)
    return wanted


def _parse(text: str) -> tuple[str, str]:
    """``kind["key"]`` as (kind, canonical key); a StateError naming the text otherwise."""
    kind, bracket, rest = text.strip().partition("[")
    key = None
    if bracket and rest.endswith("]"):
        try:
            key = json.loads(rest[:-1])
        except ValueError:
            key = None
    if not isinstance(key, str) or not key.strip():
        raise StateError(f'{text!r} is not an address: expected kind["key"], e.g. user_mapping["alice@contoso.com"]')
    if kind not in BY_NAME:
        raise StateError(f"{text!r}: unknown kind {kind!r} (one of {', '.join(BY_NAME)})")
    return kind, canonical_key(kind, key)


def move(backend: StateBackend, old: str, new: str, lock_timeout: float = 0.0) -> tuple[str, str]:
    """Give the resource at ``old`` the address ``new`` (same kind), keeping its task id and last applied values.

    For a key that changed outside the tool (a source user renamed in the source tenant): the next plan then
    finds the resource under its new key instead of planning to forget the old one and create the new one.
    Returns the two canonical addresses."""
    old_kind, old_key = _parse(old)
    new_kind, new_key = _parse(new)
    source, target = address(old_kind, old_key), address(new_kind, new_key)
    if old_kind != new_kind:
        raise StateError(f"cannot move {source} to {target}: the kind changes ({old_kind} to {new_kind})")
    if source == target:
        raise StateError(f"{source} and {new} are the same address")
    lock = backend.lock("state mv", lock_timeout)
    try:
        current = backend.read()
        resource = current.resources.get(source)
        if resource is None:
            raise StateError(f"not in the state: {source}")
        if current.journal:
            raise StateError(
                f"the state records {len(current.journal)} write(s) still in flight from an interrupted apply; run "
                "`reconciler apply` to resolve them first (it records their outcome before it asks; answer no)"
            )
        if target in current.resources:
            raise StateError(f"{target} is already in the state; remove it first (`reconciler state rm`) to replace it")
        del current.resources[source]
        resource.key = new_key
        current.resources[target] = resource
        current.serial += 1
        backend.write(current)
    finally:
        backend.release(lock)
    return source, target
