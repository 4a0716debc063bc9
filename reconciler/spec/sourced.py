"""A validated spec item together with where it was written, for the checks that span items.

YAML items point into their location tree; CSV rows keep their line and find a column only when a
diagnostic needs it (100,000 rows should not pay for column arithmetic they never use).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from reconciler.spec.diagnostics import Position, SourceRange
from reconciler.spec.yamlsource import Loc

S = TypeVar("S")  # a spec model, or a CSV row's fields checked without one (csvfiles.UserMappingRow)


class ItemLocator(Protocol):
    @property
    def item(self) -> SourceRange: ...

    def field(self, name: str) -> SourceRange: ...


@dataclass(frozen=True, slots=True)
class YamlItemLocator:
    filename: str
    loc: Loc

    @property
    def item(self) -> SourceRange:
        return self.loc.range(self.filename)

    def field(self, name: str) -> SourceRange:
        child = self.loc.value_of(name)
        return (child or self.loc).range(self.filename)


@dataclass(slots=True)  # not frozen: its __init__ would set each field through object.__setattr__, 100,000 rows
class CsvRowLocator:
    filename: str
    line: int
    text: str
    columns: Mapping[str, int]  # field name -> 0-based CSV column

    @property
    def item(self) -> SourceRange:
        end = len(self.text.rstrip("\r\n")) + 1
        return SourceRange(self.filename, Position(self.line, 1), Position(self.line, end))

    def field(self, name: str) -> SourceRange:
        index = self.columns.get(name)
        if index is None:
            return self.item
        return self.cell(index)

    def cell(self, index: int) -> SourceRange:
        spans = cell_spans(self.text.rstrip("\r\n"))
        if index >= len(spans):
            return self.item
        start, end = spans[index]
        return SourceRange(self.filename, Position(self.line, start), Position(self.line, end))


def cell_spans(line: str) -> list[tuple[int, int]]:
    """1-based (start, end) columns of each comma-separated cell, honouring double quotes."""
    spans: list[tuple[int, int]] = []
    start, quoted, i = 0, False, 0
    while i < len(line):
        char = line[i]
        if quoted:
            if char == '"':
                if i + 1 < len(line) and line[i + 1] == '"':
                    i += 1
                else:
                    quoted = False
        elif char == '"':
            quoted = True
        elif char == ",":
            spans.append((start + 1, i + 1))
            start = i + 1
        i += 1
    spans.append((start + 1, len(line) + 1))
    return spans


@dataclass(slots=True)
class Sourced(Generic[S]):
    """A spec item, where it was written, and the defaults of the CSV file it came from (if any)."""

    spec: S
    where: ItemLocator
    file_protect: bool | None = None
    file_wave: str | None = None
