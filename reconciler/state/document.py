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

from reconciler.spec.diagnostics import excerpt

_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "a list",
}


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


class StateDocument(_Strict):
    """Everything but ``format_version``, which is checked first (a newer tool's state is not damaged)."""

    lineage: str
    serial: int = Field(ge=0)
    resources: dict[str, ResourceDocument] | None = None
    journal: list[JournalEntry] | None = None


def validate_state(data: dict[str, Any]) -> StateDocument:
    """Raises ``Damaged`` naming the first faulty field."""
    try:
        return StateDocument.model_validate(data)
    except ValidationError as exc:
        raise Damaged(first_fault(exc)) from None


def validate_resource(data: Any, where: str = "") -> ResourceDocument:
    """One resource entry; ``where`` (``resources["ADDR"].``) prefixes the field in the message."""
    try:
        return ResourceDocument.model_validate(data)
    except ValidationError as exc:
        raise Damaged(first_fault(exc, where)) from None


def first_fault(exc: ValidationError, where: str = "") -> str:
    """The first error pydantic found, as ``FIELD must be …, got …``."""
    error = exc.errors(include_url=False)[0]
    field = _path(error["loc"], where) or "the document"
    kind = error["type"]
    if kind == "missing":
        return f"{field} is missing"
    if kind in _EXPECTED:
        return f"{field} must be {_EXPECTED[kind]}, got {json_type(error['input'])}"
    if kind == "greater_than_equal":
        return f"{field} must be {error['ctx']['ge']} or more, got {error['input']}"
    return f"{field}: {excerpt(error['msg'])}"


def _path(loc: tuple[int | str, ...], where: str) -> str:
    text = where
    for index, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        elif index > 0 and loc[index - 1] == "resources" and index == 1:
            text += f'["{excerpt(part, quote=True)}"]'
        else:
            text += f".{part}" if text and not text.endswith(".") else part
    return text.rstrip(".")


def json_type(value: Any) -> str:
    """What a JSON value is, in the words of the messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__
