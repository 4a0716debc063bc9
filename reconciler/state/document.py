"""The stored state document's shape as strict pydantic models, and the one-line message for the first fault.

Strict: ``"protect": "false"`` is text, not a boolean, and ``"attempt": 2.0`` is not an integer. The
first fault, in the order of the document's fields, becomes ``resources["ADDR"].protect must be true
or false, got a string`` (or ``… is missing``, ``… must be 1 or more, got 0``); ``State.from_json``
adds the file. Kept apart from ``state/model.py`` so that the planner, which uses ``State``, loads no
pydantic.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.strict import first_fault

_KEYED = frozenset({"resources", "probes"})


class Damaged(Exception):
    """One field of a state document is missing or of the wrong type; the message names it (not the file)."""


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True)


class ResourceDocument(_Strict):
    # Fields in the order a fault is reported.
    attempt: int = Field(1, ge=1)
    kind: str
    key: str
    last_applied: dict[str, Any] | None = None
    task_id: str | None = None
    protect: bool = False
    validated: str | None = None


class JournalEntry(_Strict):
    """An intent of apply's journal: the fields a rerun needs to resolve it (others are kept as written)."""

    model_config = ConfigDict(extra="allow")
    id: str
    kind: str
    key: str
    address: str
    attempt: int | None = Field(None, ge=1)
    after: dict[str, Any] | None = None


class ProbeDocument(_Strict):
    """A tenant's remembered answer to the collection-read probe."""

    collection_reads: bool
    probed_at: str


class StateDocument(_Strict):
    """Everything but ``format_version``, which is checked first (a newer tool's state is not damaged)."""

    reconciler_version: str | None = None  # absent in format 1
    lineage: str
    serial: int = Field(ge=0)
    resources: dict[str, ResourceDocument] | None = None
    journal: list[JournalEntry] | None = None
    probes: dict[str, ProbeDocument] | None = None  # later than the first states: optional
    journal_compacted: str | None = None


def validate_state(data: dict[str, Any]) -> StateDocument:
    """Raises ``Damaged`` naming the first faulty field."""
    try:
        return StateDocument.model_validate(data)
    except ValidationError as exc:
        raise Damaged(first_fault(exc, keyed=_KEYED)) from None


def validate_journal_entry(data: Any) -> JournalEntry:
    """One intent as apply's journal file records it."""
    try:
        return JournalEntry.model_validate(data)
    except ValidationError as exc:
        raise Damaged(first_fault(exc, "intent.")) from None


def validate_resource(data: Any, where: str = "") -> ResourceDocument:
    """One resource entry; ``where`` (``resources["ADDR"].``) prefixes the field in the message."""
    try:
        return ResourceDocument.model_validate(data)
    except ValidationError as exc:
        raise Damaged(first_fault(exc, where)) from None
