"""Diagnostics: one model for every problem the tool reports, with its file range and resource address.

Text form is ``path:line:col: error|warning: summary[; detail]`` (the gcc/ruff shape editors link to);
JSON form is Terraform's ``validate -json`` object ``{severity, summary, detail, address, range}``.
Lines and columns are 1-based; ``end`` is the position just past the item.

Diagnostics are printed into CI logs of pull requests that may name any file, so no diagnostic quotes
more than a short excerpt of a value: messages quote values through ``excerpt`` (at most 60 characters,
control and other non-printable characters escaped), and ``Diagnostics`` escapes and bounds every
summary and detail again as a safety net for messages built elsewhere.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

EXCERPT_LIMIT = 60
# The safety net's bounds: longer than any message the loaders build, far shorter than a leaked file.
SUMMARY_LIMIT = 240
DETAIL_LIMIT = 400
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Unicode categories shown as escapes: controls, format (zero-width, bidi), unassigned, private, separators.
_UNPRINTABLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"}


def excerpt(value: object, limit: int = EXCERPT_LIMIT, *, quote: bool = False) -> str:
    """At most ``limit`` characters (escapes included), then "..." if ``value`` was longer; control and
    non-printable characters escaped (``\\n``, ``\\x00``, ``\\u200b``) so a message stays one line and
    shows no hidden text. ``quote`` also escapes backslashes and double quotes, for values in quotes."""
    text = value if isinstance(value, str) else str(value)
    out: list[str] = []
    size = 0
    for index, char in enumerate(text):
        piece = _escaped(char, quote)
        if size + len(piece) > limit:
            return "".join(out) + "..."
        out.append(piece)
        size += len(piece)
        if size == limit and index + 1 < len(text):
            return "".join(out) + "..."
    return "".join(out)


def _escaped(char: str, quote: bool) -> str:
    if quote and char in '\\"':
        return "\\" + char
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char != " " and unicodedata.category(char) in _UNPRINTABLE:
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return char


def _bounded(message: str, limit: int) -> str:
    if len(message) <= limit and message.isprintable():
        return message
    return excerpt(message, limit)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


# Not frozen: a frozen __init__ sets each field through object.__setattr__ (two per item of a large spec).
# Nothing assigns to it; it hashes and compares as it did.
@dataclass(slots=True, order=True, unsafe_hash=True)
class Position:
    line: int
    column: int

    def to_json(self) -> dict[str, int]:
        return {"line": self.line, "column": self.column}


# Not frozen: a frozen __init__ sets each field through object.__setattr__ (one per item of a large spec).
# Nothing assigns to it; it hashes and compares as it did.
@dataclass(slots=True, unsafe_hash=True)
class SourceRange:
    """Where something was written: a file and a start and end position in it."""

    filename: str
    start: Position
    end: Position

    @classmethod
    def at(
        cls, filename: str, line: int, column: int = 1, end_line: int | None = None, end_column: int | None = None
    ) -> SourceRange:
        start = Position(line, column)
        end = Position(end_line if end_line is not None else line, end_column if end_column is not None else column)
        return cls(filename, start, end)

    def __str__(self) -> str:
        return f"{self.filename}:{self.start.line}:{self.start.column}"

    def to_json(self) -> dict[str, Any]:
        return {"filename": self.filename, "start": self.start.to_json(), "end": self.end.to_json()}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    summary: str
    detail: str = ""
    address: str | None = None
    range: SourceRange | None = None

    @property
    def message(self) -> str:
        return f"{self.summary}; {self.detail}" if self.detail else self.summary

    def render(self) -> str:
        where = f"{self.range}: " if self.range is not None else ""
        return f"{where}{self.severity.value}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "summary": self.summary,
            "detail": self.detail,
            "address": self.address,
            "range": self.range.to_json() if self.range is not None else None,
        }

    def sort_key(self) -> tuple[str, int, int, int, str]:
        if self.range is None:
            return ("", 0, 0, 0, self.summary)
        return (self.range.filename, self.range.start.line, self.range.start.column, 0, self.summary)


@dataclass
class Diagnostics:
    """A growing list of diagnostics; loaders append to it and carry on, so every problem is reported at once."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, summary: str, where: SourceRange | None, *, detail: str = "", address: str | None = None) -> None:
        self.add(Diagnostic(Severity.ERROR, summary, detail, address, where))

    def warning(self, summary: str, where: SourceRange | None, *, detail: str = "", address: str | None = None) -> None:
        self.add(Diagnostic(Severity.WARNING, summary, detail, address, where))

    def add(self, diagnostic: Diagnostic) -> None:
        summary, detail = _bounded(diagnostic.summary, SUMMARY_LIMIT), _bounded(diagnostic.detail, DETAIL_LIMIT)
        if (summary, detail) != (diagnostic.summary, diagnostic.detail):
            diagnostic = Diagnostic(diagnostic.severity, summary, detail, diagnostic.address, diagnostic.range)
        self.items.append(diagnostic)

    def extend(self, more: Iterable[Diagnostic]) -> None:
        for diagnostic in more:
            self.add(diagnostic)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def count(self, severity: Severity) -> int:
        return sum(1 for d in self.items if d.severity is severity)

    def sorted(self) -> list[Diagnostic]:
        """File order, then position: stable output for people, golden files and CI logs."""
        return sorted(self.items, key=Diagnostic.sort_key)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def summary_line(diagnostics: Diagnostics) -> str:
    errors, warnings = diagnostics.count(Severity.ERROR), diagnostics.count(Severity.WARNING)
    return f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
