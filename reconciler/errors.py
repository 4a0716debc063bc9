"""The project's one error base: every failure the user can cause or meet derives from ``ReconcilerError``.

Library layers raise subclasses (``GraphError``, ``StateError``, ``CredentialError``, ``PlanFileError``, …) whose
message is a complete sentence for the user; the CLI turns any of them into ``Error: <message>`` and exit code 1
in one place (``reconciler.cli.main``). This module is the bottom layer: it imports nothing of the project.
"""

from __future__ import annotations


class ReconcilerError(Exception):
    """A failure with a message fit for the user as it is (it names the file, field or request concerned)."""
