"""reconciler.jsonindent writes exactly what json.dumps(indent=N) writes (saved plans and --format json)."""

from __future__ import annotations

import enum
import json
import random
from typing import Any

import pytest

from reconciler.jsonindent import dumps_indented, iter_indented, one_line_encoder

_LEAVES: list[Any] = ["a", 'é\n"\\', "\u2028x", "", 1, -3, 10**30, 2.5, float("inf"), True, False, None]


class _Colour(enum.StrEnum):
    RED = "red"


def _random_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.5:
        return rng.choice(_LEAVES)
    if roll < 0.75:
        return {
            rng.choice(["k", "é", 'a"', "z"]) + str(i): _random_value(rng, depth + 1) for i in range(rng.randint(0, 4))
        }
    members = [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return members if rng.random() < 0.8 else tuple(members)


@pytest.mark.parametrize("seed", range(5))
def test_random_documents_match_json_dumps(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(500):
        doc = _random_value(rng, 0)
        for indent in (1, 2):
            for ensure_ascii in (True, False):
                expected = json.dumps(doc, indent=indent, ensure_ascii=ensure_ascii)
                assert dumps_indented(doc, indent=indent, ensure_ascii=ensure_ascii) == expected


@pytest.mark.parametrize(
    "doc",
    [
        {1: [1, 2], "a": {"b": [None]}},  # a non-string key above the flat level
        {"colour": _Colour.RED, "nested": {"c": [_Colour.RED, {"d": 1}]}},  # str subclasses
        {"x": {None: {"y": 1.5}}, "z": {2.0: True}},
        [[], {}, [[]], {"e": {}}],
    ],
)
def test_unusual_values_are_written_as_json_dumps_writes_them(doc: Any) -> None:
    assert dumps_indented(doc, indent=2, ensure_ascii=False) == json.dumps(doc, indent=2, ensure_ascii=False)


def test_values_json_cannot_write_raise_the_same_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps_indented({"a": {"b": [{1, 2}]}}, indent=1)


def _random_document(rng: random.Random) -> dict[str, Any]:
    """A plan-shaped document: a top object whose members include long lists of nested objects."""
    doc: dict[str, Any] = {}
    for i in range(rng.randint(1, 6)):
        roll = rng.random()
        if roll < 0.4:
            doc[f"list{i}"] = [_random_value(rng, 2) for _ in range(rng.randint(0, 6))]
        elif roll < 0.5:
            doc[f"tuple{i}"] = tuple(_random_value(rng, 2) for _ in range(rng.randint(0, 3)))
        else:
            doc[f"value{i}"] = _random_value(rng, 1)
    return doc


@pytest.mark.parametrize("seed", range(5))
def test_pieces_join_to_what_json_dumps_writes(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        doc = _random_document(rng) if rng.random() < 0.7 else _random_value(rng, 0)
        for indent in (1, 2):
            for ensure_ascii in (True, False):
                pieces = list(iter_indented(doc, indent=indent, ensure_ascii=ensure_ascii))
                assert "".join(pieces) == json.dumps(doc, indent=indent, ensure_ascii=ensure_ascii)


def test_a_long_list_goes_out_one_member_at_a_time() -> None:
    doc = {"format_version": 1, "resource_changes": [{"address": f"a{i}", "before": None} for i in range(1000)]}
    pieces = list(iter_indented(doc, indent=1))
    assert len(pieces) > 1000
    assert max(len(p) for p in pieces) < 100


@pytest.mark.parametrize(
    "doc",
    [
        {"a": [{"b": {1: [2]}}, {"c": _Colour.RED}], "d": {None: {"e": [1.5, {"f": {}}]}}},  # unusual members
        {1: {"a": [{}]}},  # a non-string key at the top
        [{"a": [1]}, (2, {"b": _Colour.RED})],
        {"a": 1, "b": "x"},
        {},
    ],
)
def test_unusual_members_are_written_as_json_dumps_writes_them(doc: Any) -> None:
    for indent in (1, 2):
        assert "".join(iter_indented(doc, indent=indent)) == json.dumps(doc, indent=indent)


def test_pieces_raise_the_same_error_for_values_json_cannot_write() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        "".join(iter_indented({"a": [{"b": {1, 2}}]}, indent=1))


@pytest.mark.parametrize("seed", range(3))
def test_one_line_encoder_writes_what_encode_writes(seed: int) -> None:
    rng = random.Random(seed)
    encoders = [
        json.JSONEncoder(sort_keys=True, default=str),
        json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str),
        json.JSONEncoder(separators=(",", ":")),
    ]
    for _ in range(300):
        doc = _random_value(rng, 0)
        for encoder in encoders:
            assert one_line_encoder(encoder)(doc) == encoder.encode(doc)
    encode = one_line_encoder(json.JSONEncoder(default=str))
    odd = {"when": enum.Enum, "values": {3, 4}}
    assert encode(odd) == json.dumps(odd, default=str)
    with pytest.raises(TypeError, match="not JSON serializable"):
        one_line_encoder(json.JSONEncoder())({"a": {1}})
