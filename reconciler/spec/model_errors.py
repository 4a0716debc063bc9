"""Turn pydantic validation errors into diagnostics: plain words, the exact source range, a did-you-mean.

A ``Locator`` maps a pydantic error location (``("source", "credentials", "client_id")``) to where it
was written; YAML documents and CSV rows each provide one.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from reconciler.spec.diagnostics import Diagnostics, SourceRange, excerpt
from reconciler.spec.fields import PATTERN_MESSAGES
from reconciler.spec.yamlsource import Loc, yaml_type

_M = TypeVar("_M", bound=BaseModel)


class Locator(Protocol):
    def __call__(self, parts: tuple[str | int, ...], *, key: bool) -> SourceRange: ...


def yaml_locator(loc: Loc, filename: str) -> Locator:
    """Finds a value (or, with ``key=True``, its key) in a YAML location tree; the nearest parent if absent."""

    def locate(parts: tuple[str | int, ...], *, key: bool) -> SourceRange:
        current = loc
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if last and key and isinstance(part, str):
                found = current.key_of(part)
                if found is not None:
                    return found.range(filename)
            child = current.value_of(part)
            if child is None:
                continue  # a discriminated union's tag, or a missing field: stay on the parent
            current = child
        return current.range(filename)

    return locate


_TYPE_WORDS = {
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "datetime_type": "a date-time such as 2026-03-01T18:00:00Z",
    "datetime_parsing": "a date-time such as 2026-03-01T18:00:00Z",
    "datetime_from_date_parsing": "a date-time such as 2026-03-01T18:00:00Z",
}


def report_validation_error(
    exc: ValidationError,
    model: type[BaseModel],
    locate: Locator,
    diags: Diagnostics,
    *,
    address: str | None = None,
    prefix: tuple[str | int, ...] = (),
    redact: bool = False,
    hints: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
) -> None:
    """Append one diagnostic per pydantic error.

    ``prefix`` is prepended to each error's location (for models validated as part of a larger
    document); ``redact`` keeps input values out of messages (files that hold secrets); ``hints``
    gives a fixed explanation for some unknown field names; ``names`` renames fields in messages
    (a CSV column says ``TargetUserUpn`` where the model says ``target_upn``).
    """
    for error in exc.errors(include_url=False):
        path, candidates, clean = _resolve(model, tuple(error["loc"]))
        parts = prefix + clean
        if names and path:
            path[0] = names.get(path[0], path[0])
        where = locate(parts, key=error["type"] == "extra_forbidden")
        summary, detail = _describe(error, path, candidates, redact=redact, hints=hints or {})
        diags.error(summary, where, detail=detail, address=address)


def _describe(
    error: ErrorDetails, path: list[str], candidates: list[type[BaseModel]], *, redact: bool, hints: Mapping[str, str]
) -> tuple[str, str]:
    kind = error["type"]
    value = error.get("input")
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    name = ".".join(path) if path else "value"
    shown = "" if redact else f" {show(value)}"
    if kind == "extra_forbidden":
        field = str(error["loc"][-1]) if error["loc"] else ""
        allowed = sorted({f for model in candidates for f in model.model_fields})
        return f'unknown field "{excerpt(field, quote=True)}"', hints.get(field) or did_you_mean(field, allowed)
    if kind == "missing":
        return f'missing required field "{name}"', ""
    if kind == "union_tag_not_found":
        tag = ctx.get("discriminator", "type").strip("'")
        return f'missing required field "{".".join([*path, tag])}"', f"expected one of: {ctx.get('expected_tags', '')}"
    if kind == "union_tag_invalid":
        tag = ctx.get("discriminator", "type").strip("'")
        expected = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
        got = str(ctx.get("tag", ""))
        return f"{'.'.join([*path, tag])}: unknown value{shown_tag(got, redact)}", did_you_mean(got, expected)
    if kind in _TYPE_WORDS:
        scalar = isinstance(value, str | int | float) and not isinstance(value, bool)
        return f"{name}: expected {_TYPE_WORDS[kind]}, got {yaml_type(value)}{shown if scalar else ''}", ""
    if kind == "string_pattern_mismatch":
        words = PATTERN_MESSAGES.get(str(ctx.get("pattern", "")))
        subject = name if redact else f"{name}:{shown}"
        if words is not None:
            return f"{subject} {words[0]}", words[1]
        return f"{subject} has the wrong form", ""
    if kind in ("enum", "literal_error"):
        expected = [e.strip().strip("'") for e in str(ctx.get("expected", "")).replace(" or ", ", ").split(",")]
        hint = did_you_mean(str(value), expected) if isinstance(value, str) else ""
        subject = name if redact else f"{name}:{shown}"
        return f"{subject} is not one of {', '.join(expected)}", hint if "did you mean" in hint and not redact else ""
    if kind == "timezone_aware":
        return f"{name}: date-time has no time zone", "add Z for UTC or an offset such as +02:00"
    if kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
        return f"{name}: {message if not redact else 'invalid value'}", ""
    message = error["msg"].replace("Input should be", "must be").replace("String should", "must")
    return f"{name}: {message}", ""


def shown_tag(value: str, redact: bool) -> str:
    return "" if redact else " " + show(value)


def show(value: Any) -> str:
    """A value as it would appear in YAML, quoted if text and shortened (``excerpt``) if long."""
    if isinstance(value, str):
        return '"' + excerpt(value, quote=True) + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    return yaml_type(value)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    options = list(choices)
    folded = {c.lower(): c for c in options}
    match = folded.get(word.lower())
    if match is None:
        close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
        match = close[0] if close else None
    if match is not None and match != word:
        return f'did you mean "{excerpt(match, quote=True)}"?'
    return f"expected one of: {', '.join(options)}" if options else ""


def _resolve(
    model: type[BaseModel], loc: tuple[str | int, ...]
) -> tuple[list[str], list[type[BaseModel]], tuple[str | int, ...]]:
    """The human field path of an error location, the models that could hold its last part, and the
    location without the discriminator values pydantic inserts for tagged unions."""
    path: list[str] = []
    clean: list[str | int] = []
    current: list[type[BaseModel]] = [model]
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(part, int):
            clean.append(part)
            if path:
                path[-1] += f"[{part}]"
            continue
        holders = [m for m in current if part in m.model_fields]
        tagged = [m for m in current if _tag_of(m) == part]
        if tagged and not last:
            current = tagged  # the discriminator value: not written in the file
            continue
        clean.append(part)
        if not holders:
            continue  # an unknown field: its parent models are the candidates
        path.append(part)
        if last:
            break
        inner = [sub for holder in holders for sub in _models_in(holder.model_fields[part].annotation)]
        current = inner or current
    return path, current, tuple(clean)


def _tag_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return str(args[0]) if typing.get_origin(field.annotation) is Literal and args else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    if origin is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            found.extend(_models_in(arg))
    return found


def validate_model(
    model: type[_M],
    value: Any,
    locate: Locator,
    diags: Diagnostics,
    *,
    strict: bool | None = None,
    address: str | None = None,
    prefix: tuple[str | int, ...] = (),
    redact: bool = False,
    hints: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
) -> _M | None:
    """``model.model_validate(value)``, or None with every problem reported."""
    try:
        return model.model_validate(value, strict=strict)
    except ValidationError as exc:
        report_validation_error(exc, model, locate, diags, address=address, prefix=prefix, redact=redact, hints=hints)
        return None
