"""A large plan goes out in pieces (terminal text, ``--format json``, ``-out``), with the bytes of the whole render."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from reconciler.atomic import atomic_write_chunks
from reconciler.cli.common import echo_pieces
from reconciler.plan import planfile, render_text
from reconciler.plan.render_text import iter_text
from tests.plan.render_fixtures import PLANS

GOLDEN = Path(__file__).parent / "golden"
TEXT_GOLDENS = [
    ("mixed", "txt", {}),
    ("mixed", "color.txt", {"color": True}),
    ("mixed", "compact.txt", {"compact": True}),
    ("guarded", "txt", {}),
    ("stalled", "txt", {}),
    ("converged", "txt", {}),
    ("empty", "txt", {}),
    ("big", "compact.txt", {"compact": True}),
]


@pytest.mark.parametrize(("name", "suffix", "options"), TEXT_GOLDENS)
def test_text_pieces_join_to_the_golden_render(name: str, suffix: str, options: dict[str, bool]) -> None:
    pieces = list(iter_text(PLANS[name](), **options))
    assert all(piece.endswith("\n") for piece in pieces)
    assert "".join(pieces) == (GOLDEN / f"{name}.{suffix}").read_bytes().decode()


def test_a_plan_of_thousands_of_changes_goes_out_in_several_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    big = PLANS["big"]()
    pieces = list(iter_text(big))
    monkeypatch.setattr(render_text, "_PIECE_ENTRIES", 10**9)
    (whole,) = iter_text(big)  # one piece: the text as it was rendered before it was streamed
    assert "".join(pieces) == whole
    assert len(pieces) > 5
    assert all(piece.endswith("\n") for piece in pieces)
    text = "".join(pieces)
    headers = [line for line in text.splitlines() if line.startswith("  # ")]  # one per change listed
    assert len(headers) >= len([c for c in big.changes if c.changing]) > 4096
    assert text.rstrip("\n").endswith(pieces[-1].rstrip("\n"))
    assert "Plan: " in pieces[-1]


@pytest.mark.parametrize(
    "pieces",
    [
        ["a\n", "b\n"],
        ["a\n\n", "\n"],
        ["", "x"],
        ["x\n\n\n"],
        [],
        ["\n", "a"],
        ["a", "\n", "\n", "b\n\n"],
        ["\x1b[1mbold\x1b[0m\n", "tail"],
        ["one\ntwo", "\nthree\n"],
    ],
)
@pytest.mark.parametrize("batch_size", [1, 4, 1 << 20])
@pytest.mark.parametrize("color", [None, False, True])
def test_pieces_print_as_click_echo_prints_their_text(
    pieces: list[str], batch_size: int, color: bool | None, capsys: pytest.CaptureFixture[str]
) -> None:
    click.echo("".join(pieces).rstrip("\n"), color=color)
    expected = capsys.readouterr().out
    echo_pieces(iter(pieces), color=color, batch_size=batch_size)
    assert capsys.readouterr().out == expected


def test_a_saved_plan_is_written_as_json_dumps_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    big = PLANS["big"]()
    planfile.save(path, big, "source-id", "target-id", tmp_path)
    data = path.read_bytes().decode()
    assert data == json.dumps(json.loads(data), indent=1) + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = planfile.load(path)
    assert saved.plan.to_json() == big.to_json()
    assert (saved.source_tenant_id, saved.workspace) == ("source-id", str(tmp_path.resolve()))


def test_a_failing_piece_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("old\n", encoding="utf-8")

    def pieces() -> Iterator[str]:
        yield "new, half"
        raise TypeError("Object of type set is not JSON serializable")

    with pytest.raises(TypeError, match="not JSON serializable"):
        atomic_write_chunks(path, pieces(), mode=0o600)
    assert path.read_text(encoding="utf-8") == "old\n"
    assert os.listdir(tmp_path) == ["plan.json"]
