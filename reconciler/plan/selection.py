"""Address selection: ``--target`` and ``--exclude`` globs over resource addresses.

``*`` and ``?`` are the only wildcards; brackets and quotes are literal, as addresses are full of
them, and matching ignores case like the keys do. Used by the planner, by refresh (what to read) and
by import (what to record).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


def address_glob(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` are wildcards; brackets and quotes are literal, as addresses are full of them."""
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts) + r"\Z", re.IGNORECASE)


@dataclass(frozen=True)
class Selection:
    """``--target`` / ``--exclude``: address globs. Empty targets mean everything."""

    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    _targets: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False, default=())
    _excludes: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_targets", tuple(address_glob(t) for t in self.targets))
        object.__setattr__(self, "_excludes", tuple(address_glob(e) for e in self.excludes))

    @property
    def everything(self) -> bool:
        """No ``--target`` or ``--exclude``: every address is selected (callers can skip building them)."""
        return not self._targets and not self._excludes

    def __call__(self, addr: str) -> bool:
        if self._targets and not any(t.match(addr) for t in self._targets):
            return False
        return not any(e.match(addr) for e in self._excludes)
