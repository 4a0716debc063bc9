"""Changes to the state that call no API: ``forget`` (``reconciler state rm``) drops managed addresses.

Under the backend's lock: read, check that every address is there (all or nothing), delete, bump the serial,
write, release. The addresses are canonicalized first, so a key typed in another case names the same address.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.spec.desired import canonical_address
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
