"""``json.dumps(obj, indent=N)`` with the same bytes, several times faster for large documents.

CPython's C encoder cannot indent, so an indented dump of a 120,000-change plan runs the pure-Python
encoder over millions of values (about 2.5 s). Here every container whose members are all scalars (most
of a plan: each change's ``before``/``after``/``actions``) is written by the C encoder, whose item
separator is given the newline and indentation of its depth; only the containers above those are
walked in Python. Anything unusual (a non-string key above the flat level, a value json would hand to
``default``) falls back to ``json.dumps`` itself, so the output is always what ``json.dumps`` writes.
``iter_indented`` yields the same text in pieces (the members of the top object, and of its lists, one by
one), so a saved plan or ``--format json`` goes out without one 80 MB string and the list of its parts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

# CPython's C encoder (what JSONEncoder.encode itself uses when it does not indent); None elsewhere.
_C_MAKE_ENCODER: Callable[..., Callable[[Any, int], list[str]]] | None = getattr(json.encoder, "c_make_encoder", None)

_SCALARS = frozenset({str, int, float, bool, type(None)})
_STRINGS = frozenset({str})


def _all_scalars(members: Any) -> bool:
    # In C (no generator frame per member): 1.8 million members in a large plan.
    return _SCALARS.issuperset(map(type, members))


class _Unusual(Exception):
    """A value this module does not write itself; json.dumps writes the whole document instead."""


def one_line_encoder(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """``encoder.encode`` (which must not indent) without building a new C encoder on every call: the digest
    and the text plan encode one small value per item, 120,000 times."""
    indent: object = encoder.indent  # typeshed declares no None, which is the default
    if _C_MAKE_ENCODER is None or indent is not None:  # pragma: no cover - CPython has the C encoder
        return encoder.encode
    markers: dict[int, Any] | None = {} if encoder.check_circular else None
    c_encode = _C_MAKE_ENCODER(
        markers,
        encoder.default,
        encode_basestring_ascii if encoder.ensure_ascii else encode_basestring,
        None,
        encoder.key_separator,
        encoder.item_separator,
        encoder.sort_keys,
        encoder.skipkeys,
        encoder.allow_nan,
    )

    def encode(obj: Any) -> str:
        return "".join(c_encode(obj, 0))

    return encode


def dumps_indented(obj: Any, *, indent: int, ensure_ascii: bool = True) -> str:
    try:
        return _Writer(indent, ensure_ascii).write(obj, 0)
    except _Unusual:
        return json.dumps(obj, indent=indent, ensure_ascii=ensure_ascii)


def iter_indented(obj: Any, *, indent: int, ensure_ascii: bool = True) -> Iterator[str]:
    """``dumps_indented(obj, ...)`` in pieces whose concatenation is exactly that text."""
    writer = _Writer(indent, ensure_ascii)
    if type(obj) is not dict or not obj or not _STRINGS.issuperset(map(type, obj)):
        yield writer.member(obj, 0)
        return
    if _all_scalars(obj.values()):
        yield writer.member(obj, 0)
        return
    inner = " " * indent
    first = True
    for k, v in obj.items():
        yield f"{{\n{inner}" if first else f",\n{inner}"
        first = False
        yield f"{writer.key(k)}: "
        if (type(v) is list or type(v) is tuple) and v and not _all_scalars(v):
            # A long list (a plan's resource_changes): one piece per member.
            pad = " " * (indent * 2)
            for index, member in enumerate(v):
                yield f"[\n{pad}" if index == 0 else f",\n{pad}"
                yield writer.member(member, 2)
            yield f"\n{inner}]"
        else:
            yield writer.member(v, 1)
    yield "\n}"


class _Writer:
    def __init__(self, indent: int, ensure_ascii: bool) -> None:
        self.indent = indent
        self.ensure_ascii = ensure_ascii
        self.key = encode_basestring_ascii if ensure_ascii else encode_basestring
        # One encoder per depth, built once (JSONEncoder.encode builds a new C encoder on every call).
        self.flat: dict[int, Callable[[Any], str]] = {}
        self.scalar = json.JSONEncoder(ensure_ascii=ensure_ascii)

    def _flat(self, depth: int) -> Callable[[Any], str]:
        encode = self.flat.get(depth)
        if encode is None:
            pad = "\n" + " " * (self.indent * (depth + 1))
            encoder = json.JSONEncoder(ensure_ascii=self.ensure_ascii, separators=("," + pad, ": "))
            encode = self.flat[depth] = one_line_encoder(encoder)
        return encode

    def member(self, obj: Any, depth: int) -> str:
        """``obj`` written at ``depth``; an unusual value is written by json.dumps and indented to its depth
        (json.dumps writes a newline only between tokens, never inside a string, so the shift is exact)."""
        try:
            return self.write(obj, depth)
        except _Unusual:
            text = json.dumps(obj, indent=self.indent, ensure_ascii=self.ensure_ascii)
            return text.replace("\n", "\n" + " " * (self.indent * depth)) if depth else text

    def write(self, obj: Any, depth: int) -> str:
        kind = type(obj)
        if kind is str:
            return self.key(obj)
        if obj is None:
            return "null"
        if obj is True:
            return "true"
        if obj is False:
            return "false"
        if kind is int:
            return int.__repr__(obj)
        if kind is float:
            return self.scalar.encode(obj)
        if kind is dict:
            members = obj.values()
        elif kind is list or kind is tuple:
            members = obj
        else:
            raise _Unusual
        if not members:
            return "{}" if kind is dict else "[]"
        inner = " " * (self.indent * (depth + 1))
        outer = " " * (self.indent * depth)
        sep = ",\n" + inner
        if _all_scalars(members):
            text = self._flat(depth)(obj)
            return f"{text[0]}\n{inner}{text[1:-1]}\n{outer}{text[-1]}"
        if kind is dict:
            if not _STRINGS.issuperset(map(type, obj)):
                raise _Unusual
            key = self.key
            parts = []
            for k, v in obj.items():
                # The common scalars inline: a call per value is most of the cost at 1.8 million values.
                if type(v) is str:
                    parts.append(f"{key(k)}: {key(v)}")
                elif v is None:
                    parts.append(f"{key(k)}: null")
                elif v is True or v is False:
                    parts.append(f"{key(k)}: {'true' if v else 'false'}")
                else:
                    parts.append(f"{key(k)}: {self.write(v, depth + 1)}")
            return f"{{\n{inner}{sep.join(parts)}\n{outer}}}"
        return f"[\n{inner}{sep.join([self.write(m, depth + 1) for m in obj])}\n{outer}]"
