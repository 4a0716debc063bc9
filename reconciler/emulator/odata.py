"""OData URL conventions: quote-aware path splitting, function/key segments, literals, aliases, $select."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from reconciler.emulator.errors import GraphError, bad_request


@dataclass(frozen=True)
class Segment:
    """One path segment: ``name``, ``name('key')`` or ``name(p1='v',p2=@alias)``."""

    name: str
    key: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    has_parens: bool = False

    @property
    def lname(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Query:
    """Parsed query string: OData system options (``$x``), parameter aliases (``@x``) and the rest."""

    system: dict[str, str]
    aliases: dict[str, str]


def parse_query(raw: str) -> Query:
    system: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        if name.startswith("$"):
            lname = name.lower()
            if lname in system:
                raise bad_request(f"Query option '{name}' was specified more than once.")
            system[lname] = value
        elif name.startswith("@"):
            aliases[name] = value
        # Graph ignores custom query parameters it does not know.
    return Query(system, aliases)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    """``text`` split on ``sep`` where it is outside single-quoted literals (a doubled quote closes and reopens).

    Works on the pieces between quotes (str.split, in C) rather than character by character: every
    request's path goes through here."""
    items = [""]
    for i, piece in enumerate(text.split("'")):
        if i:
            items[-1] += "'"
        if i % 2:  # inside a literal
            items[-1] += piece
        else:
            first, *rest = piece.split(sep)
            items[-1] += first
            items.extend(rest)
    return items


def split_path(path: str) -> list[str]:
    """Split a percent-decoded path on ``/`` outside single-quoted literals (site URLs contain ``/``)."""
    if path.count("'") % 2:
        raise bad_request("Unterminated string literal in the request URI.")
    return [p for p in _split_outside_quotes(path, "/") if p != ""]


def decode_path(raw_path: bytes) -> str:
    try:
        return unquote(raw_path.decode("utf-8"), errors="strict")
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        raise bad_request("The request URI is not valid: it is not percent-encoded UTF-8.") from exc


def parse_literal(text: str, what: str) -> str:
    """An OData string literal: single-quoted, embedded quotes doubled."""
    text = text.strip()
    if len(text) < 2 or not (text.startswith("'") and text.endswith("'")):
        raise bad_request(
            f"The value of {what} must be a single-quoted string literal, e.g. {what}='value' "
            "(double any single quote inside the value)."
        )
    body = text[1:-1]
    # Quotes pair up left to right, as a scan would: one left over after removing the pairs is a lone quote.
    if "'" in body.replace("''", ""):
        raise bad_request(f"Syntax error in the string literal of {what}: a single quote must be doubled.")
    return body.replace("''", "'")


def _split_params(inner: str) -> list[str]:
    return _split_outside_quotes(inner, ",")


def _resolve(value: str, what: str, aliases: dict[str, str]) -> str:
    value = value.strip()
    if value.startswith("@"):
        if value not in aliases:
            raise bad_request(f"The parameter alias {value} used for {what} is not given in the query string.")
        return parse_literal(aliases[value], what)
    return parse_literal(value, what)


def parse_segment(seg: str, aliases: dict[str, str]) -> Segment:
    paren = seg.find("(")
    if paren < 0:
        return Segment(seg)
    if not seg.endswith(")"):
        raise bad_request(f"Resource not found for the segment '{seg}'.")
    name = seg[:paren]
    inner = seg[paren + 1 : -1]
    if inner.strip() == "":
        return Segment(name, has_parens=True)
    items = _split_params(inner)
    if len(items) == 1 and "=" not in items[0].split("'", 1)[0]:
        return Segment(name, key=_resolve(items[0], name, aliases), has_parens=True)
    params: dict[str, str] = {}
    for item in items:
        pname, sep, pvalue = item.partition("=")
        pname = pname.strip()
        if not sep or not pname:
            raise bad_request(f"Syntax error in the parameters of '{name}': expected name='value'.")
        if pname.lower() in params:
            raise bad_request(f"The parameter '{pname}' is given more than once in '{name}'.")
        params[pname.lower()] = _resolve(pvalue, pname, aliases)
    return Segment(name, params=params, has_parens=True)


def parse_select(value: str | None, allowed: frozenset[str], type_name: str) -> list[str] | None:
    if value is None:
        return None
    props = [p.strip() for p in value.split(",") if p.strip()]
    if not props:
        raise bad_request("The $select query option must name at least one property.")
    lower = {a.lower(): a for a in allowed}
    out: list[str] = []
    for p in props:
        if p == "*":
            return None
        if p.lower() not in lower:
            raise GraphError(
                400,
                "BadRequest",
                f"Could not find a property named '{p}' on type 'microsoft.graph.{type_name}'.",
            )
        out.append(lower[p.lower()])
    return out
