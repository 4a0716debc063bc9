"""Text and Markdown plan rendering: golden files, plus the properties reviewers rely on.

``UPDATE_GOLDEN=1 pytest tests/plan/test_render.py`` rewrites the files in ``golden/`` after an intended change.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.plan import render_markdown as render_markdown_module
from reconciler.plan import render_text as render_text_module
from reconciler.plan.model import Action, Change, Plan
from reconciler.plan.render_markdown import render_markdown
from reconciler.plan.render_text import render_text
from tests.plan.render_fixtures import PLANS, mixed_plan

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

Renderer = Callable[[Plan], str]
FORMATS: dict[str, tuple[str, Renderer]] = {
    "text": ("txt", render_text),
    "text-color": ("color.txt", lambda p: render_text(p, color=True)),
    "text-compact": ("compact.txt", lambda p: render_text(p, compact=True)),
    "markdown": ("md", render_markdown),
    "markdown-1500": ("1500.md", lambda p: render_markdown(p, limit=1500, artifact_hint="the job summary")),
}
# The 10,000-change plan's full text is megabytes: its bounded outputs are pinned, the rest checked by property.
GOLDEN_CASES = [
    ("empty", "text"),
    ("empty", "markdown"),
    ("converged", "text"),
    ("converged", "markdown"),
    ("mixed", "text"),
    ("mixed", "text-color"),
    ("mixed", "text-compact"),
    ("mixed", "markdown"),
    ("mixed", "markdown-1500"),
    ("big", "text-compact"),
    ("big", "markdown"),
    ("guarded", "text"),
    ("guarded", "text-compact"),
    ("guarded", "markdown"),
    ("stalled", "text"),
    ("stalled", "markdown"),
    ("waves", "text"),
    ("waves", "markdown"),
    ("waiting", "text"),
    ("waiting", "markdown"),
]
SUMMARY = re.compile(
    r"^Plan: (\d+) to create, (\d+) to update, (\d+) to delete, (\d+) to start, (\d+) to cancel, (\d+) to forget"
    r"(?:, (\d+) to validate)?(?:, (\d+) to adopt)?\.$",
    re.MULTILINE,
)


@functools.cache
def plan(name: str) -> Plan:
    return PLANS[name]()


@functools.cache
def round_tripped(name: str) -> Plan:
    return Plan.from_json(json.loads(json.dumps(plan(name).to_json())))


@pytest.mark.parametrize(("name", "fmt"), GOLDEN_CASES)
def test_golden(name: str, fmt: str) -> None:
    suffix, render = FORMATS[fmt]
    path = GOLDEN / f"{name}.{suffix}"
    out = render(plan(name))
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(out.encode())
    assert out == path.read_bytes().decode()


@pytest.mark.parametrize("name", list(PLANS))
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_saved_plan_renders_identically(name: str, fmt: str) -> None:
    render = FORMATS[fmt][1]
    assert render(round_tripped(name)) == render(plan(name))


@pytest.mark.parametrize("name", list(PLANS))
def test_the_summary_line_counts_what_the_plan_counts(name: str) -> None:
    counts = plan(name).counts()
    text, md = render_text(plan(name)), render_markdown(plan(name))
    if not plan(name).converged and not plan(name).has_changes:
        # Held deletions or impossible edits: never "match", never a Plan: line either.
        for out in (text, render_text(plan(name), compact=True), md):
            assert "match the configuration" not in out
            assert "No changes to apply now." in out
            assert not SUMMARY.search(out)
        return
    if not plan(name).has_changes:
        assert "No changes. Your tenants match the configuration." in text
        assert md.startswith("No changes. Your tenants match the configuration.\n")
        assert not SUMMARY.search(text)
        return
    expected = [
        counts["create"],
        counts["update"],
        counts["delete"],
        counts["start"] + counts["restart"] + counts["replace"],
        counts["cancel"] + counts["replace"],
        counts["forget"],
    ]
    for out in (text, render_text(plan(name), compact=True), md):
        found = SUMMARY.findall(out)
        assert len(found) == 1
        numbers = [int(n) if n else 0 for n in found[0]]
        assert numbers == [*expected, counts["validate"], counts["adopt"]]
        assert (found[0][6] != "") == (counts["validate"] > 0)
        assert (found[0][7] != "") == (counts["adopt"] > 0)
    assert md.splitlines()[0] == SUMMARY.search(md).group(0)  # type: ignore[union-attr]


@pytest.mark.parametrize("name", list(PLANS))
def test_no_ansi_escapes_without_color(name: str) -> None:
    for out in (render_text(plan(name)), render_text(plan(name), compact=True), render_markdown(plan(name))):
        assert "\x1b" not in out


def test_color_paints_symbols_by_action() -> None:
    out = render_text(plan("mixed"), color=True)
    assert '\x1b[32m+\x1b[0m user_mapping "alice@contoso.com" {' in out  # create: green
    assert '\x1b[33m~\x1b[0m user_mapping "bob@contoso.com" {' in out  # update: yellow
    assert '\x1b[31mx\x1b[0m user_migration "grace@contoso.com" {' in out  # cancel: red
    assert '\x1b[36m=\x1b[0m user_migration "mallory@contoso.com" {' in out  # adopt: cyan
    assert re.sub(r"\x1b\[[0-9;]*m", "", out) == render_text(plan("mixed"))


def test_the_big_plan_fits_a_pr_comment_and_says_it_was_cut() -> None:
    md = render_markdown(plan("big"), artifact_hint="the `plan` job artifact")
    assert len(md) < 65_000
    shown = len(re.findall(r"^# .* will be ", md, re.MULTILINE))
    changing = sum(c.changing for c in plan("big").changes)
    assert (
        f"> Output truncated: {shown} of {changing} changes shown. The full plan is in the `plan` job artifact." in md
    )
    # Every irreversible or destructive address is still listed, and every kind and wave shows some detail.
    noticed = [c for c in plan("big").changes if c.action in (Action.START, Action.CANCEL, Action.DELETE)]
    assert all(f"- `{c.address}` will be" in md for c in noticed)
    assert md.count("<details>") == 11


@pytest.mark.parametrize("limit", [900, 1200, 1500, 2500, 4000, 6000, 7000, 20_000])
def test_markdown_stays_under_any_reasonable_limit(limit: int) -> None:
    full = render_markdown(plan("mixed"), limit=10**9)
    md = render_markdown(plan("mixed"), limit=limit)
    assert len(md) < limit
    if len(full) < limit:
        assert md == full
    else:
        assert "> Output truncated: " in md
    assert md.startswith(full.splitlines()[0] + "\n")


def test_a_list_too_long_for_the_limit_is_cut_with_the_same_note() -> None:
    md = render_markdown(plan("big"), limit=10_000)
    assert len(md) < 10_000
    assert "<details>" not in md
    listed = md.count("\n- `")
    assert 0 < listed < 380
    assert md.endswith(
        f"\n> Output truncated: {listed} of 6680 changes shown. The full plan is in the plan artifact.\n"
    )


def test_waits_and_no_ops_are_counted_not_listed() -> None:
    out = render_text(plan("mixed"))
    assert "u0@contoso.com" not in out
    assert 'dave@contoso.com"] will' not in out
    assert "  # 3 migrations in progress, 2 completed\n" in out
    assert "  # 1 mapping unchanged\n" in out


def test_drift_comes_before_the_legend_and_the_actions() -> None:
    out = render_text(plan("mixed"))
    assert out.startswith("Note: Objects have changed outside of reconciler\n")
    assert out.index("has been deleted") < out.index("Actions are indicated") < out.index("will be created")


def test_the_legend_lists_only_symbols_in_use() -> None:
    only_creates = Plan([c for c in mixed_plan().changes if c.action is Action.CREATE])
    out = render_text(only_creates)
    legend = out[out.index("Actions are indicated") : out.index("reconciler will perform")]
    assert legend == "Actions are indicated with the following symbols:\n  + create\n\n"


def test_values_render_json_style_and_backticks_get_a_longer_fence() -> None:
    change = Change(
        'user_mapping["x@contoso.com"]',
        "user_mapping",
        "x@contoso.com",
        Action.UPDATE,
        "```odd``` reason\nover two lines",
        before={"target_upn": "x@fabrikam.com", "note": None, "n": 1},
        after={"target_upn": "x```y@fabrikam.com", "note": None, "n": 2},
    )
    text = render_text(Plan([change]))
    assert '      ~ target_upn = "x@fabrikam.com" -> "x```y@fabrikam.com"\n' in text
    assert "      ~ n          = 1 -> 2\n" in text
    assert "# (1 unchanged attribute hidden)" in text
    assert "(```odd``` reason over two lines)" in text
    md = render_markdown(Plan([change]))
    assert "\n````diff\n" in md
    assert "\n````\n\n</details>\n" in md
    assert "!     target_upn = " in md


@pytest.mark.parametrize("module", [render_text_module, render_markdown_module])
def test_renderers_are_pure(module: object) -> None:
    source = Path(str(getattr(module, "__file__", ""))).read_text(encoding="utf-8")
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert not imported & {"click", "rich", "os", "sys", "io", "pathlib", "subprocess"}


def _new_objects() -> list[Change]:
    """Changes drawn by change_text's own path (nothing before), including the awkward ones."""
    values = {"target": "t@fabrikam.com", "validate_only": False, "preferred_start": None, "n": 3, "tags": ["a"]}
    out = []
    for i, action in enumerate([Action.CREATE, Action.START, Action.RESTART, Action.REPLACE]):
        for task_id in (None, "task-1"):
            for after in (
                values,
                {"n": 3, "tags": ["a"]},
                {},
                None,
                {"task_id": "x", "a_very_long_attribute_name": "v"},
            ):
                key = f"u{i}@contoso.com"
                out.append(
                    Change(
                        f'k["{key}"]', "user_migration", key, action, "a\n reason ", None, after, "w1", None, task_id
                    )
                )
    return out


@pytest.mark.parametrize("color", [False, True])
def test_change_text_draws_every_change_as_its_block_does(color: bool) -> None:
    paint = render_text_module._ansi if color else render_text_module._plain
    changes = [c for p in PLANS.values() for c in p().changes if c.changing] + _new_objects()
    for change in changes:
        expected = render_text_module.block_lines(render_text_module.change_block(change), paint)
        assert render_text_module.change_text(change, paint) == "\n".join(expected) + "\n", change
