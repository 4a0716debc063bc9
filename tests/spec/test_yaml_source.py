"""YAML reading: locations of every value and key, and problems that become diagnostics, not exceptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.spec import yamlsource
from reconciler.spec.diagnostics import Diagnostics
from reconciler.spec.yamlsource import C_LOADER, load_yaml, read_text


def _load(text: str, *, pure: bool = False) -> tuple[object, list[str], Diagnostics]:
    diags = Diagnostics()
    doc = load_yaml(text, "f.yaml", diags, pure=pure)
    return (doc.value if doc else None), [d.render() for d in diags.sorted()], diags


def test_the_c_parser_is_in_use() -> None:
    assert C_LOADER  # ruamel.yaml.clib is a dependency: loading is several times faster with it


@pytest.mark.parametrize("pure", [False, True])
def test_values_and_locations(pure: bool) -> None:
    diags = Diagnostics()
    doc = load_yaml("a: 1\nb:\n  - x: 'q'\n    y: 2026-01-10T20:00:00Z\n  - true\nc: ~\n", "f.yaml", diags, pure=pure)
    assert doc is not None
    assert not diags.items
    assert doc.value == {"a": 1, "b": [{"x": "q", "y": "2026-01-10T20:00:00Z"}, True], "c": None}
    b = doc.loc.value_of("b")
    assert b is not None
    first = b.value_of(0)
    assert first is not None
    assert str(first.range("f.yaml")) == "f.yaml:3:5"
    y = first.value_of("y")
    assert y is not None
    assert (y.line, y.column, y.end_line, y.end_column) == (4, 8, 4, 28)
    key = first.key_of("y")
    assert key is not None
    assert (key.line, key.column) == (4, 5)


def test_quoted_scalars_stay_strings() -> None:
    value, errors, _ = _load("a: '12'\nb: \"true\"\nc: 12\nd: 0x10\ne: 1_000\nf: .inf\ng: 1.5\n")
    assert not errors
    assert value == {"a": "12", "b": "true", "c": 12, "d": 16, "e": 1000, "f": float("inf"), "g": 1.5}


def test_problems_become_diagnostics() -> None:
    value, errors, _ = _load("a: 1\na: 2\n<<: {b: 1}\n1: x\nc: !secret z\n")
    assert value == {"a": 1, "c": "z"}
    assert errors == [
        'f.yaml:2:1: error: duplicate key "a"; first given at line 1',
        "f.yaml:3:1: error: merge keys (<<) are not supported; use a wave or the workspace defaults for shared values",
        "f.yaml:4:1: error: keys must be strings; found integer",
        "f.yaml:5:4: error: unsupported YAML tag !secret",
    ]


def test_only_the_core_schema_tags_are_read() -> None:
    value, errors, _ = _load("a: !!python/object/apply:os.system [id]\nb: !!binary aGk=\nc: !!str 12\nd: !!int '7'\n")
    assert value == {"a": ["id"], "b": "aGk=", "c": "12", "d": "7"}
    assert errors == [
        "f.yaml:1:4: error: unsupported YAML tag !!python/object/apply:os.system",
        "f.yaml:2:4: error: unsupported YAML tag !!binary",
    ]


def test_recursive_alias_is_an_error() -> None:
    value, errors, _ = _load("a: &x [1, *x]\n")
    assert value == {"a": [1, None]}
    assert errors == ["f.yaml:1:4: error: recursive alias: a value contains itself"]


def test_alias_bomb_is_stopped() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    value, errors, _ = _load("\n".join(lines) + "\n")
    assert value is None
    assert errors == [
        "f.yaml:1:1: error: too many alias expansions in this document; "
        "aliases expand into more values than the file has characters"
    ]


def test_syntax_errors_name_the_place() -> None:
    _, errors, _ = _load("a: [1, 2\nb: 3\n")
    assert errors == [
        "f.yaml:2:2: error: YAML syntax error: did not find expected ',' or ']'; "
        "while parsing a flow sequence that starts at line 1, column 4"
    ]
    _, errors, _ = _load("a: 'open\n")
    assert errors == [
        "f.yaml:2:1: error: YAML syntax error: found unexpected end of stream; "
        "while scanning a quoted scalar that starts at line 1, column 4"
    ]


def test_empty_and_comment_only_documents() -> None:
    assert _load("")[0:2] == (None, [])
    assert _load("# nothing\n")[0:2] == (None, [])


def test_read_text_reports_bad_utf8_and_drops_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    diags = Diagnostics()
    assert read_text(path, "f.yaml", diags) == "a: 1\n"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    assert read_text(path, "f.yaml", diags) is None
    assert [d.render() for d in diags] == ["f.yaml:2:7: error: file is not valid UTF-8; byte 0xe9"]
    assert read_text(tmp_path / "missing.yaml", "missing.yaml", diags) is None
    assert diags.items[-1].render() == "missing.yaml:1:1: error: cannot read file: No such file or directory"


_TAGGED = """\
%TAG !e! tag:example.com,2000:app/
---
plain: text
quoted: "1"
number: 12
flag: yes
nothing: ~
when: 2026-01-01T00:00:00Z
explicit: !!str 5
custom: !e!thing x
escaped: !<tag:example.com,2000:a%21b> y
twice: !<tag:example.com,2000:a%2541b> y
local: !local z
bare: ! w
list: !!seq [1, !!int "2"]
map: !!map {a: 1}
<<: {b: 2}
"""


@pytest.mark.parametrize("pure", [False, True])
def test_the_fast_tag_read_is_ruamel_s_tag(pure: bool) -> None:
    """``_tag`` reads the composer's tag objects directly; it must give what ruamel's ``tag`` property gives."""
    root = yamlsource.compose(_TAGGED, pure=pure)
    assert root is not None
    nodes, seen = [root], 0
    while nodes:
        node = nodes.pop()
        seen += 1
        assert yamlsource._tag(node) == (node.tag or ""), node
        if isinstance(node.value, list):
            for child in node.value:
                nodes.extend(child if isinstance(child, tuple) else (child,))
    assert seen > 30
