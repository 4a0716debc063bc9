"""Optional parts of the distribution, and the one error for a part that is not installed.

The base install is what a user of real tenants needs. The emulator (``reconciler emulator serve``,
``reconciler demo``) needs the ``emulator`` extra and the ``azure_blob`` state backend the ``azure``
extra. Imports made inside ``with needs(extra):`` that fail for a module that extra provides raise
``MissingExtra``, whose message is the ``pip install`` line that fixes it; any other import error (a
bug of ours) is left alone.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager

from reconciler import DISTRIBUTION
from reconciler.errors import ReconcilerError

# The top-level modules each extra installs, and what needs it (for the message).
EXTRAS: dict[str, tuple[frozenset[str], str]] = {
    "emulator": (frozenset({"uvicorn", "httptools", "jwt"}), "the emulator"),
    "azure": (frozenset({"azure"}), "the azure_blob state backend"),
}


class MissingExtra(ReconcilerError):
    """A command needs an extra of the distribution that is not installed."""

    def __init__(self, extra: str, missing: str) -> None:
        self.extra = extra
        what = EXTRAS[extra][1]
        super().__init__(
            f"{what} needs the '{extra}' extra (module {missing!r} is not installed): "
            f"pip install '{DISTRIBUTION}[{extra}]'"
        )


@contextmanager
def needs(extra: str) -> Iterator[None]:
    """Imports inside the block need ``extra``: a missing module it provides becomes ``MissingExtra``."""
    try:
        yield
    except ModuleNotFoundError as exc:
        root = (exc.name or "").partition(".")[0]
        if root in EXTRAS[extra][0]:
            raise MissingExtra(extra, root) from None
        raise


def check(extra: str) -> None:
    """``MissingExtra`` unless every module ``extra`` provides can be found (without importing them)."""
    for module in sorted(EXTRAS[extra][0]):
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(extra, module)
