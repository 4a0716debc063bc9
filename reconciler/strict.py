"""Strict pydantic documents (state, saved plans): the one-line message for the first fault pydantic finds.

``FIELD is missing``, ``FIELD must be an integer, got a string``, ``FIELD must be 1 or more, got 0`` or
``FIELD: what a validator said``, with FIELD written as in the file (``journal[0].kind``,
``resources["ADDR"].protect``). The caller adds the file. Documents are read in strict mode, so text is
never taken for a boolean or a number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

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


def first_fault(
    exc: ValidationError,
    where: str = "",
    *,
    keyed: frozenset[str] = frozenset(),
    null_is_missing: bool = False,
    describe: Callable[[Any], str] = json_type,
) -> str:
    """The first error pydantic found. ``keyed``: maps whose keys are written ``NAME["KEY"]``;
    ``null_is_missing``: a required field that is null reads as missing (saved plans)."""
    error = exc.errors(include_url=False)[0]
    field = _path(error["loc"], where, keyed) or "the document"
    kind = error["type"]
    named = bool(error["loc"]) and isinstance(error["loc"][-1], str)  # a field, not an item of a list
    if kind == "missing" or (null_is_missing and named and error.get("input", 0) is None and kind in _EXPECTED):
        return f"{field} is missing"
    if kind in _EXPECTED:
        return f"{field} must be {_EXPECTED[kind]}, got {describe(error['input'])}"
    if kind == "greater_than_equal":
        return f"{field} must be {error['ctx']['ge']} or more, got {error['input']}"
    if kind == "value_error":
        return f"{field}: {error['ctx']['error']}"
    return f"{field}: {excerpt(error['msg'])}"


def _path(loc: tuple[int | str, ...], where: str, keyed: frozenset[str]) -> str:
    text = where
    for index, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        elif index == 1 and loc[0] in keyed:
            text += f'["{excerpt(part, quote=True)}"]'
        else:
            text += f".{part}" if text and not text.endswith(".") else part
    return text.rstrip(".")
