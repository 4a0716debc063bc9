"""OData URL conventions, checked directly on the parser (no server needed)."""

from __future__ import annotations

import pytest

from reconciler.emulator.errors import GraphError
from reconciler.emulator.odata import decode_path, parse_literal, parse_query, parse_segment, split_path


def test_split_keeps_slashes_inside_quotes() -> None:
    path = "/beta/x/getBySourceSiteUrl(sourceSiteUrl='https://contoso.sharepoint.com/sites/IT')"
    assert split_path(path) == [
        "beta",
        "x",
        "getBySourceSiteUrl(sourceSiteUrl='https://contoso.sharepoint.com/sites/IT')",
    ]


def test_percent_encoded_and_raw_forms_decode_alike() -> None:
    raw = decode_path(b"/f(sourceSiteUrl='https://contoso.sharepoint.com/sites/IT')")
    encoded = decode_path(b"/f(sourceSiteUrl='https%3A%2F%2Fcontoso.sharepoint.com%2Fsites%2FIT')")
    assert raw == encoded


@pytest.mark.parametrize(
    ("text", "value"),
    [("'plain'", "plain"), ("'O''Brien'", "O'Brien"), ("''", ""), ("'a''''b'", "a''b")],
)
def test_literals_unescape_doubled_quotes(text: str, value: str) -> None:
    assert parse_literal(text, "p") == value


@pytest.mark.parametrize("text", ["plain", "'open", "'a'b'", "x'"])
def test_bad_literals_are_400(text: str) -> None:
    with pytest.raises(GraphError) as info:
        parse_literal(text, "p")
    assert info.value.status == 400


def test_function_parameters_are_case_insensitive_and_aliases_resolve() -> None:
    seg = parse_segment("getBySourceUserPrincipalName(SourcePrincipalName=@upn)", {"@upn": "'o''hara@contoso.com'"})
    assert seg.lname == "getbysourceuserprincipalname"
    assert seg.params == {"sourceprincipalname": "o'hara@contoso.com"}


def test_missing_alias_is_400() -> None:
    with pytest.raises(GraphError) as info:
        parse_segment("f(p=@a)", {})
    assert info.value.status == 400
    assert "@a" in info.value.message


def test_key_segment_and_bare_segment() -> None:
    assert parse_segment("coll('abc')", {}).key == "abc"
    bare = parse_segment("coll", {})
    assert bare.key is None
    assert not bare.has_parens


def test_comma_inside_a_literal_is_not_a_separator() -> None:
    seg = parse_segment("f(a='x,y',b='z')", {})
    assert seg.params == {"a": "x,y", "b": "z"}


def test_query_splits_system_options_and_aliases() -> None:
    q = parse_query("$select=id,status&@upn='x'&custom=1")
    assert q.system == {"$select": "id,status"}
    assert q.aliases == {"@upn": "'x'"}
    with pytest.raises(GraphError):
        parse_query("$select=id&$SELECT=status")
