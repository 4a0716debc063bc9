"""Pause the cyclic garbage collector while a bulk of long-lived objects is built.

Loading and planning 100,000 items allocate millions of objects that all stay alive until the command
ends; each automatic collection walks them again, which cost about 40% of a large workspace's load.
Nothing built there relies on cycle collection, and reference counting still frees everything else, so
the collector is simply paused for the duration and restored afterwards (nesting keeps the outer state).

Restored, it would walk all of them at its first collection (they are all still in its youngest generation),
and again as they age: about a tenth of a large plan. A one-shot process (the CLI, ``freeze_when_resumed``)
keeps what it built until it exits, so there the objects alive at the end of a pause are frozen instead:
moved out of the collector's reach, still freed by reference counting. A long-running caller (tests, a
library user) keeps the default, where everything stays collectable.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_freeze = False


def freeze_when_resumed() -> None:
    """From now on, freeze what is alive when a pause ends (for a process that ends after one command)."""
    global _freeze
    _freeze = True


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if _freeze:
                gc.freeze()
            gc.enable()
