"""Where a plan comes from, for the Markdown heading: the commit planned and whether CI runs for a pull request.

The commit is the CI's own variable (``GITHUB_SHA`` in GitHub Actions, ``BUILD_SOURCEVERSION`` in Azure
Pipelines), else ``git rev-parse HEAD`` in the workspace when git answers within a second, else unknown (the
heading leaves it out). The commands read it; the Markdown renderer only receives the values.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

COMMIT_VARIABLES = ("GITHUB_SHA", "BUILD_SOURCEVERSION")


def commit_of(workspace: Path) -> str | None:
    for name in COMMIT_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=workspace, capture_output=True, text=True, timeout=1, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None  # no git, or it hung: the heading goes without
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def in_pull_request() -> bool:
    """A CI run for a pull request (GitHub Actions or Azure Pipelines): merging it applies the reviewed plan."""
    return os.environ.get("GITHUB_EVENT_NAME") in ("pull_request", "pull_request_target") or (
        os.environ.get("BUILD_REASON") == "PullRequest"
    )
