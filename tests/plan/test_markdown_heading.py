"""The Markdown plan's heading (workspace, tenants, commit, time) and last line (how it will be applied).

The renderer takes the values; the commands find them (CI variables, git, the saved plan file).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.plan.render_markdown import Heading, render_markdown
from tests.plan.render_fixtures import big_plan, converged_plan

ROOT = Path(__file__).resolve().parents[2]
SRC, DST = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"


def test_the_heading_names_workspace_tenants_commit_and_time() -> None:
    out = render_markdown(converged_plan(), heading=Heading("migration", SRC, DST, "2026-01-01T00:00:00Z", "abc123"))
    assert out.startswith(
        "### reconciler plan for `migration`\n\n"
        f"source tenant `{SRC}` · target tenant `{DST}` · commit `abc123` · made `2026-01-01T00:00:00Z`\n\n"
        "No changes."
    )
    without = render_markdown(converged_plan(), heading=Heading("migration", SRC, DST, "2026-01-01T00:00:00Z"))
    assert "commit" not in without


@pytest.mark.parametrize(
    ("command", "on_merge", "last"),
    [
        (
            "reconciler apply plan.json",
            True,
            "Merging this pull request applies exactly this plan with `reconciler apply plan.json`.",
        ),
        ("reconciler apply plan.json", False, "To apply exactly this plan: `reconciler apply plan.json`."),
        (
            None,
            False,
            "This plan was not saved: `reconciler apply` plans again and asks before it changes "
            "anything; `reconciler plan -out FILE` saves a plan that `reconciler apply FILE` carries out exactly.",
        ),
    ],
)
def test_the_last_line_says_how_the_plan_will_be_applied(command: str | None, on_merge: bool, last: str) -> None:
    heading = Heading("migration", SRC, DST, "2026-01-01T00:00:00Z", None, command, on_merge)
    assert render_markdown(converged_plan(), heading=heading).endswith(f"\n---\n\n{last}\n")


def test_heading_and_footer_fit_under_the_limit_of_a_cut_plan() -> None:
    heading = Heading("migration", SRC, DST, "2026-01-01T00:00:00Z", "a" * 40, "reconciler apply plan.json", True)
    out = render_markdown(big_plan(), heading=heading, limit=20_000)
    assert len(out) < 20_000
    assert "Output truncated" in out
    assert out.endswith("`reconciler apply plan.json`.\n")


def _cli(ws: Path, *args: str, **env: str) -> str:
    keep = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GITHUB_SHA", "BUILD_SOURCEVERSION", "GITHUB_EVENT_NAME", "BUILD_REASON")
    }
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        cwd=ws.parent,
        env={**keep, "SOURCE_DATE_EPOCH": "1767225600", **env},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_plan_and_show_fill_the_heading_from_ci_and_the_saved_plan(tmp_path: Path) -> None:
    ws = tmp_path / "migration"
    shutil.copytree(ROOT / "examples" / "quickstart", ws)
    out = _cli(
        ws,
        "plan",
        "migration",
        "--no-refresh",
        "--format",
        "markdown",
        "-out",
        "plan.json",
        GITHUB_SHA="feedc0de",
        GITHUB_EVENT_NAME="pull_request",
    )
    first = out.splitlines()[:3]
    assert first[0] == "### reconciler plan for `migration`"
    assert first[2].endswith("· commit `feedc0de` · made `2026-01-01T00:00:00Z`")
    assert out.endswith("Merging this pull request applies exactly this plan with `reconciler apply plan.json`.\n")
    # Later, outside CI: the commit and the time come from the plan file.
    shown = _cli(ws, "show", "plan.json", "--format", "markdown")
    assert shown.splitlines()[:3] == first
    assert shown.endswith("To apply exactly this plan: `reconciler apply plan.json`.\n\n")
