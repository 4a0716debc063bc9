"""Read YAML into plain Python values plus a parallel tree of source locations, in one pass.

Composition uses ruamel.yaml's C-backed parser when ``ruamel.yaml.clib`` is installed (about five
times faster than the pure-Python one) and falls back to the pure parser otherwise.
Scalars are constructed here, not by ruamel's constructor, so that duplicate keys, unsupported tags,
recursive aliases and alias bombs become diagnostics instead of exceptions, and so that date-times
stay strings until the models parse them (a date-time without a time zone must be an error, not a
silently naive value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.tag import Tag

from reconciler.spec.diagnostics import Diagnostics, Position, SourceRange, excerpt

try:  # pragma: no branch - which one depends on the installation
    from ruamel.yaml.cyaml import CSafeLoader

    C_LOADER = True
except ImportError:  # pragma: no cover - the pure parser is the fallback when no compiled clib is installed
    C_LOADER = False


class NestingTooDeep(YAMLError):
    """The document nests deeper than ``MAX_DEPTH``; ``line`` and ``column`` (1-based) say where."""

    def __init__(self, line: int, column: int) -> None:
        super().__init__("too deep")
        self.line, self.column = line, column


# Deeper documents are refused before anything recurses over them: Python's stack holds ~1,000 frames,
# and the compiled composer recurses in C, where some 20,000 levels crash the process.
MAX_DEPTH = 100
# Below this bound on the nesting (flow brackets plus twice the longest line) composing is safe as is.
_SURELY_SHALLOW = 2000


def compose(text: str, *, pure: bool = False) -> Node | None:
    """The node tree of the single YAML document in ``text`` (None if empty); raises ``YAMLError``."""
    if C_LOADER and not pure:
        _check_depth(text)
        loader = CSafeLoader(text)
        try:
            node: Node | None = loader.get_single_node()
        finally:
            loader.dispose()
        return node
    yaml = YAML(typ="safe", pure=True)
    return yaml.compose(text)  # type: ignore[no-any-return]


def _check_depth(text: str) -> None:
    """Raise ``NestingTooDeep`` before the compiled composer could overflow the C stack.

    Each nesting level needs a flow bracket, a deeper indent or an indicator on the line, so a cheap
    bound clears ordinary files; only the others pay for a pass over the parser's events.
    """
    bound = text.count("[") + text.count("{")
    if bound < _SURELY_SHALLOW:
        bound += 2 * (max(map(len, text.split("\n"))) + 1)
    if bound < _SURELY_SHALLOW:
        return
    parser = CSafeLoader(text)  # its parser part: events only, no composing
    depth = 0
    try:
        while (event := parser.get_event()) is not None:
            name = type(event).__name__
            if name in ("MappingStartEvent", "SequenceStartEvent"):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    raise NestingTooDeep(mark.line + 1, mark.column + 1)
            elif name in ("MappingEndEvent", "SequenceEndEvent"):
                depth -= 1
            elif name == "StreamEndEvent":
                return
    except NestingTooDeep:
        raise
    except YAMLError:
        return  # a syntax error: composing reports it, at a depth the scan has shown to be safe
    finally:
        parser.dispose()


_TAG = "tag:yaml.org,2002:"
# What a spec can mean; tag:yaml.org,2002:python/..., binary, set, omap and the like are not among them.
_CORE_TAGS = frozenset({"str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge"})
_MERGE = _TAG + "merge"
_STR = _TAG + "str"
_READ_TAGS = frozenset({"", "!"} | {_TAG + name for name in _CORE_TAGS})  # untagged, "!" and the core schema


@dataclass(slots=True)
class Loc:
    """Where one YAML value sits (1-based, end just past it); mappings and sequences keep their children's."""

    line: int
    column: int
    end_line: int
    end_column: int
    keys: dict[str, tuple[Loc, Loc]] | None = None
    items: list[Loc] | None = None

    def range(self, filename: str) -> SourceRange:
        return SourceRange(filename, Position(self.line, self.column), Position(self.end_line, self.end_column))

    def value_of(self, key: str | int) -> Loc | None:
        if isinstance(key, str) and self.keys is not None:
            pair = self.keys.get(key)
            return pair[1] if pair is not None else None
        if isinstance(key, int) and self.items is not None and 0 <= key < len(self.items):
            return self.items[key]
        return None

    def key_of(self, key: str) -> Loc | None:
        pair = self.keys.get(key) if self.keys is not None else None
        return pair[0] if pair is not None else None


@dataclass(slots=True)
class YamlDocument:
    filename: str
    value: Any
    loc: Loc


def read_text(path: Path, filename: str, diags: Diagnostics, *, named_at: SourceRange | None = None) -> str | None:
    """The file as text (UTF-8, an optional BOM dropped), or None with a diagnostic.

    A file that cannot be opened is reported at ``named_at`` (the value that named it) when given.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        diags.error(f"cannot read file: {exc.strerror or exc}", named_at or SourceRange.at(filename, 1))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        diags.error(
            "file is not valid UTF-8", SourceRange.at(filename, line, column), detail=f"byte 0x{data[exc.start]:02x}"
        )
        return None


def load_yaml(text: str, filename: str, diags: Diagnostics, *, pure: bool = False) -> YamlDocument | None:
    """Parse one YAML document; None (with diagnostics) when it cannot be read at all.

    An empty document gives ``None`` as its value. Problems inside an otherwise readable document
    (duplicate keys, unsupported tags) are reported and the offending part dropped. ``pure`` forces
    ruamel's pure-Python parser (benchmarks compare the two).
    """
    try:
        node = compose(text, pure=pure)
    except NestingTooDeep as deep:
        diags.error("YAML nests too deeply", SourceRange.at(filename, deep.line, deep.column), detail=_TOO_DEEP)
        return None
    except YAMLError as exc:
        summary, where, detail = _syntax_error(exc, text, filename)
        diags.error(summary, where, detail=detail)
        return None
    except RecursionError:  # the pure parser's composer (the compiled one is guarded by _check_depth)
        diags.error("YAML nests too deeply", SourceRange.at(filename, 1), detail=_TOO_DEEP)
        return None
    if node is None:
        return YamlDocument(filename, None, Loc(1, 1, 1, 1))
    builder = _Builder(filename, diags, budget=2 * len(text) + 1000)
    try:
        value, loc = builder.build(node)
    except _TooDeep as deep:
        diags.error("YAML nests too deeply", deep.loc.range(filename), detail=_TOO_DEEP)
        return None
    except _AliasBomb:
        diags.error(
            "too many alias expansions in this document",
            _mark_range(filename, node),
            detail="aliases expand into more values than the file has characters",
        )
        return None
    return YamlDocument(filename, value, loc)


class _AliasBomb(Exception):
    pass


_TOO_DEEP = f"more than {MAX_DEPTH} levels of mappings and lists; a workspace file needs a handful"


class _TooDeep(Exception):
    def __init__(self, loc: Loc) -> None:
        super().__init__("too deep")
        self.loc = loc


class _Builder:
    def __init__(self, filename: str, diags: Diagnostics, budget: int) -> None:
        self.filename = filename
        self.diags = diags
        self.budget = budget
        self.active: set[int] = set()
        self.depth = 0

    def build(self, node: Node) -> tuple[Any, Loc]:
        self.budget -= 1
        if self.budget < 0:
            raise _AliasBomb
        loc = _loc(node)
        if self.depth >= MAX_DEPTH:
            raise _TooDeep(loc)
        tag = _tag(node)
        if tag not in _READ_TAGS:
            # Report it, then read the value as if untagged so the rest of the item is still checked.
            shown = "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag
            self.diags.error(f"unsupported YAML tag {excerpt(shown)}", loc.range(self.filename))
        if isinstance(node, ScalarNode):
            return _scalar(node, tag), loc
        if id(node) in self.active:
            self.diags.error("recursive alias: a value contains itself", loc.range(self.filename))
            return None, loc
        self.active.add(id(node))
        self.depth += 1
        try:
            if isinstance(node, SequenceNode):
                return self._sequence(node, loc)
            if isinstance(node, MappingNode):
                return self._mapping(node, loc)
        finally:
            self.depth -= 1
            self.active.discard(id(node))
        return None, loc  # pragma: no cover - ruamel has no other node kinds

    def _sequence(self, node: SequenceNode, loc: Loc) -> tuple[list[Any], Loc]:
        values: list[Any] = []
        locs: list[Loc] = []
        for child in node.value:
            value, child_loc = self.build(child)
            values.append(value)
            locs.append(child_loc)
        loc.items = locs
        return values, loc

    def _mapping(self, node: MappingNode, loc: Loc) -> tuple[dict[str, Any], Loc]:
        values: dict[str, Any] = {}
        keys: dict[str, tuple[Loc, Loc]] = {}
        for key_node, value_node in node.value:
            key_loc = _loc(key_node)
            if _tag(key_node) == _MERGE:
                self.diags.error(
                    "merge keys (<<) are not supported",
                    key_loc.range(self.filename),
                    detail="use a wave or the workspace defaults for shared values",
                )
                continue
            key = _scalar(key_node) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                self.diags.error(
                    "keys must be strings",
                    key_loc.range(self.filename),
                    detail=f"found {yaml_type(key) if isinstance(key_node, ScalarNode) else 'a ' + _kind(key_node)}",
                )
                continue
            if key in keys:
                first = keys[key][0]
                self.diags.error(
                    f'duplicate key "{excerpt(key, quote=True)}"',
                    key_loc.range(self.filename),
                    detail=f"first given at line {first.line}",
                )
                continue
            value, value_loc = self.build(value_node)
            values[key] = value
            keys[key] = (key_loc, value_loc)
        loc.keys = keys
        return values, loc


def _tag(node: Node) -> str:
    """``node.tag or ""``, read without the three calls ruamel's property makes (twice for each of 100,000
    values of a large spec): a tag the composer resolved or was given is a ``Tag`` holding the whole tag text
    as its suffix; one with a handle or an escape goes through the property."""
    ctag: Tag | None = node.ctag  # None only if a tag was assigned None after composing
    if ctag is None:
        return ""
    suffix = ctag.suffix
    if ctag.handle is None and type(suffix) is str and "%" not in suffix:
        return suffix
    return node.tag or ""


def _loc(node: Node) -> Loc:
    start, end = node.start_mark, node.end_mark
    return Loc(start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def _mark_range(filename: str, node: Node) -> SourceRange:
    return _loc(node).range(filename)


def _kind(node: Node) -> str:
    return "mapping" if isinstance(node, MappingNode) else "sequence" if isinstance(node, SequenceNode) else "scalar"


_SPECIAL_FLOATS = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}


def _scalar(node: ScalarNode, tag: str | None = None) -> Any:
    """The scalar's value; ``tag`` is ``_tag(node)`` when the caller has it already."""
    raw = node.value
    if tag is None:
        tag = _tag(node)
    if tag == _STR:
        return raw  # most values of a spec: UPNs, URLs, names
    if node.style not in (None, "", "?") or not tag.startswith(_TAG):
        # Quoted or block scalars are strings whatever they look like; so are plain scalars with a non-standard tag.
        return raw
    kind = tag[len(_TAG) :]
    if kind == "null":
        return None
    if kind == "bool":
        return raw.lower() in ("true", "yes", "on", "y")
    if kind == "int":
        text = raw.replace("_", "")
        try:
            return int(text, 0)
        except ValueError:
            try:
                return int(text, 10)
            except ValueError:
                return raw
    if kind == "float":
        special = _SPECIAL_FLOATS.get(raw.lower())
        if special is not None:
            return special
        try:
            return float(raw.replace("_", ""))
        except ValueError:
            return raw
    return raw  # str, timestamp (parsed by the models) and anything else stay text


def yaml_type(value: Any) -> str:
    """The YAML name of a constructed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "sequence"
    return type(value).__name__


_PARSER_WORDS = 100


def _syntax_error(exc: YAMLError, text: str, filename: str) -> tuple[str, SourceRange, str]:
    """(summary, range, detail) for an error raised while parsing."""
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = (
            SourceRange.at(filename, mark.line + 1, mark.column + 1)
            if mark is not None
            else SourceRange.at(filename, 1)
        )
        # The parser's words can quote the document (an alias name, a tag): bounded like any value.
        problem = excerpt((exc.problem or "").strip(), _PARSER_WORDS)
        context = excerpt((exc.context or "").strip(), _PARSER_WORDS)
        if problem == "but found another document":
            return "YAML syntax error: a file holds one YAML document, found a second one", where, ""
        detail = ""
        cm = exc.context_mark
        if context and cm is not None and mark is not None and (cm.line, cm.column) != (mark.line, mark.column):
            detail = f"{context} that starts at line {cm.line + 1}, column {cm.column + 1}"
        elif context:
            detail = context
        return f"YAML syntax error: {problem or context}", where, detail
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        where = SourceRange.at(filename, line, column)
    else:
        where = SourceRange.at(filename, 1)
    reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
    return f"YAML syntax error: {excerpt(reason, _PARSER_WORDS)}", where, ""
