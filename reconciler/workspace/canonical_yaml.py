"""Canonical YAML for reconciler.yaml and spec files, comments kept (what `reconciler fmt` writes).

Canonical means: keys in the models' order (the natural key first), resources sorted by their natural
key (case-insensitively, numbers in numeric order), ruamel's quoting (plain unless a string would read
as something else), two-space indentation with list dashes indented under their key, no line wrapping.
Waves keep the order they were written in (it is usually their chronology). CSV files are left alone.

ruamel attaches a comment to the value *before* it, so a comment written above an item lives at the
end of the previous item. Before reordering, those comments are taken off and re-attached above the
item they were written for, so comments travel with their items.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarstring import SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from reconciler.errors import ReconcilerError
from reconciler.kinds import KINDS
from reconciler.spec.desired import KEY_FUNCTIONS
from reconciler.spec.diagnostics import Diagnostics
from reconciler.spec.models import ITEM_MODELS, MigrationSpec, SpecFile
from reconciler.spec.yamlsource import load_yaml
from reconciler.workspace.config import (
    CertificateCredential,
    ClientSecretCredential,
    DeviceCodeCredential,
    EmulatorCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
    WorkspaceConfig,
)

# A spec file's sections are named as ``Desired``'s attributes; each sorts by its key, made canonical.
_SORT_KEYS: dict[str, tuple[str, Callable[[str], str]]] = {"csv_files": ("path", lambda p: p)} | {
    kind.desired: (kind.key_field, KEY_FUNCTIONS[kind.key_function]) for kind in KINDS
}
_CREDENTIALS: dict[str, type[BaseModel]] = {
    "client_secret": ClientSecretCredential,
    "certificate": CertificateCredential,
    "managed_identity": ManagedIdentityCredential,
    "workload_identity": WorkloadIdentityCredential,
    "device_code": DeviceCodeCredential,
    "emulator": EmulatorCredential,
}


class FormatError(ReconcilerError):
    """The file is not YAML that fmt can rewrite (a syntax error); ``validate`` says exactly where."""


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    yaml.preserve_quotes = False
    return yaml


def format_spec(text: str) -> str:
    return _format(text, _spec)


def format_config(text: str) -> str:
    return _format(text, _config)


def _format(text: str, canonicalize: Callable[[Any], None]) -> str:
    """One canonical rewrite, repeated until it no longer changes anything (a few inputs, e.g. with
    Unicode line separators, settle only on the second pass); ``fmt`` must be idempotent."""
    current = text
    for _ in range(3):
        formatted = _format_once(current, canonicalize)
        if formatted == current:
            return formatted
        current = formatted
    raise FormatError("formatting does not settle on one canonical form for this file")


def _format_once(text: str, canonicalize: Callable[[Any], None]) -> str:
    yaml = _yaml()
    try:
        data = yaml.load(text)
    except YAMLError as exc:
        raise FormatError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    except (TypeError, ValueError, AttributeError, KeyError, RecursionError) as exc:
        # ruamel's round-trip constructor rejects some valid YAML (e.g. a mapping as a key) with plain errors.
        raise FormatError(f"ruamel cannot round-trip this file ({type(exc).__name__})") from exc
    if data is None:
        return text
    canonicalize(data)
    _quote_ambiguous(data)
    out = io.StringIO()
    yaml.dump(data, out)
    formatted = out.getvalue()
    if _meaning(formatted) != _meaning(text):
        # A safety net under ruamel's emitter: never write a file that would read differently.
        raise FormatError("formatting would change what this file means; it was left as it is")
    return formatted


def _quote_ambiguous(node: Any) -> None:
    """Quote strings ruamel would emit plain although they read back as something else (``?x`` in a flow)."""
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            if _ambiguous(value):
                node[key] = SingleQuotedScalarString(value)
            else:
                _quote_ambiguous(value)
    elif isinstance(node, CommentedSeq):
        for index, value in enumerate(node):
            if _ambiguous(value):
                node[index] = SingleQuotedScalarString(value)
            else:
                _quote_ambiguous(value)


def _ambiguous(value: Any) -> bool:
    return type(value) is str and value[:1] in ("?", ":", "-") and value[1:2] not in ("", " ")


def _meaning(text: str) -> Any:
    """The file's data with mapping order and list order ignored (fmt reorders both)."""
    doc = load_yaml(text, "", Diagnostics())
    return _unordered(doc.value) if doc is not None else None


def _unordered(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unordered(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_unordered(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True, default=repr))
    return value


# -- spec files and config --------------------------------------------------------------------------


def _spec(data: Any) -> None:
    if not isinstance(data, CommentedMap):
        return
    for kind, value in data.items():
        model = ITEM_MODELS.get(kind)
        if model is None or not isinstance(value, CommentedSeq):
            continue
        for item in value:
            if isinstance(item, CommentedMap):
                _nested_order(item, model)
                reorder_keys(item, item_key_order(model))
        sort_key = _SORT_KEYS.get(kind)
        if sort_key is not None:
            field, canonical = sort_key
            sort_items(value, lambda item, f=field, c=canonical: _item_key(item, f, c), head=(data, kind))  # type: ignore[misc]
    reorder_keys(data, list(SpecFile.model_fields), head=data)


def item_key_order(model: type[BaseModel]) -> list[str]:
    """A migration's own fields (source, target) first, then what all migrations share."""
    fields = list(model.model_fields)
    if issubclass(model, MigrationSpec):
        shared = set(MigrationSpec.model_fields)
        return [f for f in fields if f not in shared] + [f for f in fields if f in shared]
    return fields


def _item_key(item: Any, field: str, canonical: Callable[[str], str]) -> tuple[int, list[str | int], str]:
    """Natural order of the canonical key (user2 before user10); items without a usable key go last."""
    value = item.get(field) if isinstance(item, dict) else None
    if not isinstance(value, str):
        return (1, [], "")
    key = canonical(value)
    return (0, natural_parts(key), key)


def natural_parts(key: str) -> list[str | int]:
    """``user2`` before ``user10``: digit runs compare as numbers."""
    return [int(p) if i % 2 else p for i, p in enumerate(re.split(r"(\d+)", key))]


def _config(data: Any) -> None:
    if isinstance(data, CommentedMap):
        _model_order(data, WorkspaceConfig, data)


def _nested_order(item: CommentedMap, model: type[BaseModel]) -> None:
    """The keys of an item's nested mappings (a wave's ``gate``) in their model's field order."""
    for name, info in model.model_fields.items():
        value = item.get(name)
        nested = _nested_model(info.annotation)
        if nested is not None and isinstance(value, CommentedMap):
            _model_order(value, nested, (item, name))


def _model_order(data: CommentedMap, model: type[BaseModel], head: Head) -> None:
    """Order ``data``'s keys as ``model``'s fields, recursing into nested models (and the credential union)."""
    for name, info in model.model_fields.items():
        value = data.get(name)
        if not isinstance(value, CommentedMap):
            continue
        if name == "credentials":
            inner = _CREDENTIALS.get(str(value.get("type")))
            if inner is not None:
                _model_order(value, inner, (data, name))
            continue
        nested = _nested_model(info.annotation)
        if nested is not None:
            _model_order(value, nested, (data, name))
    reorder_keys(data, list(model.model_fields), head)


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _nested_model(arg)
        if found is not None:
            return found
    meta = getattr(annotation, "__origin__", None)
    return _nested_model(meta) if meta is not None and meta is not annotation else None


# -- reordering with comments -----------------------------------------------------------------------


@dataclass
class _Tail:
    """The comment after one entry: an end-of-line comment and whole lines that follow it."""

    eol: str | None
    lines: list[str]
    column: int


# What precedes a container's first entry: the comment after its parent's key (parent mapping, key), the
# document itself (its header comments stay put; comments moved to the top go after them), or nothing.
Head = tuple[CommentedMap, Any] | CommentedMap | None


def reorder_keys(mapping: CommentedMap, order: Sequence[str], head: Head = None) -> None:
    """Put known keys in ``order``, unknown ones after them in their original order."""
    keys = list(mapping.keys())
    rank = {name: index for index, name in enumerate(order)}
    wanted = sorted(keys, key=lambda k: (rank.get(k, len(rank)), keys.index(k)))
    if wanted != keys:
        _permute(mapping, keys, wanted, head)


def sort_items(seq: CommentedSeq, key: Callable[[Any], Any], head: Head = None) -> None:
    indices = list(range(len(seq)))
    wanted = sorted(indices, key=lambda i: key(seq[i]))
    if wanted != indices:
        _permute(seq, indices, wanted, head)


def _permute(container: CommentedMap | CommentedSeq, old: list[Any], new: list[Any], head: Head) -> None:
    column = _column(container)
    tails = [_take(*_tail_slot(container, k)) for k in old]
    first = _take(head[0].ca.items, head[1], 2) if isinstance(head, tuple) else _Tail(None, [], 0)
    # Lines after entry i indented deeper than the entries still belong to it; the others were written
    # above entry i+1. Lines after the last entry stay at the end.
    kept = {k: _split(tails[i].lines, column) for i, k in enumerate(old)}
    above = {old[i + 1]: kept[old[i]][1] for i in range(len(old) - 1)}
    above[old[0]] = first.lines
    after_all = kept[old[-1]][1]
    eols = dict(zip(old, tails, strict=True))
    if isinstance(container, CommentedMap):
        for k in new:
            container.move_to_end(k)
        positions = list(new)
    else:
        values = [container[i] for i in new]
        comments = {j: container.ca.items[i] for j, i in enumerate(new) if i in container.ca.items}
        container.ca.items.clear()
        container.ca.items.update(comments)
        for j, value in enumerate(values):
            container[j] = value
        positions = list(range(len(new)))
    lead = above[new[0]]
    for j, pos in enumerate(positions):
        following = above[new[j + 1]] if j + 1 < len(new) else after_all
        if j == 0 and head is None:
            following = lead + following  # nowhere above the first entry: keep the lines right after it
        tail = eols[new[j]]
        _put(*_tail_slot(container, pos), tail.eol, kept[new[j]][0] + following, tail.column)
    if isinstance(head, tuple):
        _put(head[0].ca.items, head[1], 2, first.eol, lead, first.column)
    elif head is not None and lead:
        if head.ca.comment is None:
            head.ca.comment = [None, []]
        while len(head.ca.comment) < 2:
            head.ca.comment.append([])
        if head.ca.comment[1] is None:
            head.ca.comment[1] = []
        head.ca.comment[1].append(CommentToken("".join(lead), CommentMark(0), None))


def _column(container: CommentedMap | CommentedSeq) -> int:
    try:
        return int(container.lc.col or 0)
    except (AttributeError, TypeError):  # pragma: no cover - containers built in code have no position
        return 0


def _split(lines: list[str], column: int) -> tuple[list[str], list[str]]:
    """(lines indented deeper than ``column``, the rest from the first blank or shallower line on)."""
    for index, line in enumerate(lines):
        stripped = line.lstrip(" ")
        if not stripped.strip() or len(line) - len(stripped) <= column:
            return lines[:index], lines[index:]
    return lines, []


def _tail_slot(container: CommentedMap | CommentedSeq, key: Any) -> tuple[Any, Any, int]:
    """(ca.items dict, key, index) where ruamel keeps the comment that follows ``container[key]``."""
    value = container[key]
    if isinstance(value, CommentedMap | CommentedSeq) and len(value) and not value.fa.flow_style():
        last = list(value.keys())[-1] if isinstance(value, CommentedMap) else len(value) - 1
        return _tail_slot(value, last)
    return container.ca.items, key, 2 if isinstance(container, CommentedMap) else 0


def _take(items: Any, slot_key: Any, index: int) -> _Tail:
    """Remove and split the comment in a slot."""
    entry = items.get(slot_key)
    token = entry[index] if entry is not None and len(entry) > index else None
    if not isinstance(token, CommentToken):
        return _Tail(None, [], 0)
    entry[index] = None
    text: str = token.value
    column = token.start_mark.column if token.start_mark is not None else 0
    if text.startswith("#"):
        end = text.find("\n")
        eol, rest = (text, "") if end < 0 else (text[: end + 1], text[end + 1 :])
    else:
        eol, rest = None, text[1:] if text.startswith("\n") else text
    return _Tail(eol, rest.splitlines(keepends=True), column)


def _put(items: Any, slot_key: Any, index: int, eol: str | None, lines: list[str], column: int) -> None:
    if eol is None and not lines:
        return
    text = (eol or "\n") + "".join(lines)
    entry = items.setdefault(slot_key, [None, None, None, None])
    while len(entry) <= index:
        entry.append(None)
    entry[index] = CommentToken(text, CommentMark(column), None)
