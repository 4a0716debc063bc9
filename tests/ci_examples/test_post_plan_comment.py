"""examples/ci/scripts/post_plan_comment.py against fake GitHub and Azure DevOps APIs: one comment per workspace,
created once and edited in place after that, other comments untouched, long plans cut to the platform's limit
with a note, and errors that name the problem without printing the token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci_examples.fake_apis import FakeAzureDevOps, FakeGitHub
from tests.ci_examples.pipelines import COMMENT_SCRIPT

GITHUB_TOKEN = "ghs_0123456789abcdef"
ADO_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi.ado-job-token"


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    base["NO_PROXY"] = base["no_proxy"] = "127.0.0.1,localhost"
    return subprocess.run(
        [sys.executable, str(COMMENT_SCRIPT), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _github_env(api: FakeGitHub, token: str = GITHUB_TOKEN) -> dict[str, str]:
    return {"GITHUB_API_URL": api.url, "GITHUB_REPOSITORY": api.repo, "GITHUB_TOKEN": token}


def _ado_env(api: FakeAzureDevOps, pr: int, token: str = ADO_TOKEN) -> dict[str, str]:
    return {
        "SYSTEM_COLLECTIONURI": f"{api.url}/acme/",
        "SYSTEM_TEAMPROJECT": "Tenant Migration",
        "BUILD_REPOSITORY_ID": "repo-1",
        "SYSTEM_PULLREQUEST_PULLREQUESTID": str(pr),
        "SYSTEM_ACCESSTOKEN": token,
    }


def _plan(tmp_path: Path, text: str, name: str = "plan.md") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _long_plan(size: int) -> str:
    """A plan-shaped Markdown document of about ``size`` characters: collapsed sections of diff fences."""
    parts = ["Plan: 5000 to create, 0 to update, 0 to delete, 0 to start, 0 to cancel, 0 to forget.\n"]
    n = 0
    while sum(map(len, parts)) < size:
        parts.append("<details><summary>user mappings</summary>\n\n```diff\n")
        for _ in range(50):
            n += 1
            parts.append(f'+ user_mapping "user{n:05d}@contoso.onmicrosoft.com" {{\n+     target_upn = "x"\n  }}\n')
        parts.append("```\n\n</details>\n")
    return "".join(parts)


def test_github_first_run_creates_the_comment_and_later_runs_edit_it(tmp_path: Path) -> None:
    with FakeGitHub(GITHUB_TOKEN, "acme/migrations") as api:
        human = api.seed(12, "Please check the finance group first.")
        elsewhere = api.seed(13, "<!-- reconciler-plan:default -->\nthe plan of another pull request")
        first = _run(["github", _plan(tmp_path, "Plan: 1 to create."), "--pr", "12"], _github_env(api))
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("created comment")
        second = _run(
            ["github", _plan(tmp_path, "Plan: 2 to create."), "--pr", "12", "--footer", "For commit abc"],
            _github_env(api),
        )
        assert second.returncode == 0, second.stderr
        assert second.stdout.startswith("updated comment")
        ours = [c for c in api.on(12) if c["id"] != human]
        assert len(ours) == 1
        assert (
            ours[0]["body"]
            == "<!-- reconciler-plan:default -->\n### reconciler plan\n\nPlan: 2 to create.\n\nFor commit abc\n"
        )
        assert api.comments[human]["body"] == "Please check the finance group first."
        assert api.comments[elsewhere]["body"].endswith("the plan of another pull request")
        assert api.writes() == ["POST", "PATCH"]


def test_github_each_workspace_keeps_its_own_comment(tmp_path: Path) -> None:
    with FakeGitHub(GITHUB_TOKEN, "acme/migrations") as api:
        for marker in ("wave-1", "wave-2", "wave-1", "wave-2"):
            result = _run(
                ["github", _plan(tmp_path, f"plan of {marker}"), "--pr", "3", "--marker", marker], _github_env(api)
            )
            assert result.returncode == 0, result.stderr
        bodies = sorted(c["body"] for c in api.on(3))
        assert len(bodies) == 2
        assert bodies[0].startswith("<!-- reconciler-plan:wave-1 -->")
        assert "plan of wave-1" in bodies[0]
        assert bodies[1].startswith("<!-- reconciler-plan:wave-2 -->")
        assert "plan of wave-2" in bodies[1]


def test_github_finds_its_comment_past_the_first_page(tmp_path: Path) -> None:
    with FakeGitHub(GITHUB_TOKEN, "acme/migrations") as api:
        for i in range(150):
            api.seed(5, f"review comment {i}")
        assert _run(["github", _plan(tmp_path, "first"), "--pr", "5"], _github_env(api)).returncode == 0
        for i in range(60):
            api.seed(5, f"later comment {i}")
        again = _run(["github", _plan(tmp_path, "second"), "--pr", "5"], _github_env(api))
        assert again.returncode == 0, again.stderr
        ours = [c["body"] for c in api.on(5) if c["body"].startswith("<!--")]
        assert len(ours) == 1
        assert "second" in ours[0]
        assert len(api.on(5)) == 211


def test_github_pull_request_number_comes_from_the_event_file(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"action": "synchronize", "pull_request": {"number": 41}}')
    with FakeGitHub(GITHUB_TOKEN, "acme/migrations") as api:
        result = _run(["github", _plan(tmp_path, "x")], {**_github_env(api), "GITHUB_EVENT_PATH": str(event)})
        assert result.returncode == 0, result.stderr
        assert len(api.on(41)) == 1


def test_azure_devops_first_run_creates_a_thread_and_later_runs_edit_its_comment(tmp_path: Path) -> None:
    with FakeAzureDevOps(ADO_TOKEN, "acme", "Tenant Migration", "repo-1") as api:
        review = api.seed(9, "Is wave 2 scheduled?")
        removed = api.seed(9, "<!-- reconciler-plan:default -->\nan old plan someone deleted", deleted=True)
        first = _run(["azure-devops", _plan(tmp_path, "Plan: 1 to create.")], _ado_env(api, 9))
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("created thread")
        second = _run(["azure-devops", _plan(tmp_path, "Plan: 3 to create.")], _ado_env(api, 9))
        assert second.returncode == 0, second.stderr
        assert second.stdout.startswith("updated thread")
        ours = [t for t in api.on(9) if t["id"] not in (review, removed)]
        assert len(ours) == 1
        assert ours[0]["status"] == "closed"
        assert ours[0]["comments"][0]["content"].startswith("<!-- reconciler-plan:default -->\n")
        assert "Plan: 3 to create." in ours[0]["comments"][0]["content"]
        assert api.threads[review]["comments"][0]["content"] == "Is wave 2 scheduled?"
        assert api.threads[removed]["comments"][0]["content"].endswith("an old plan someone deleted")
        assert api.writes() == ["POST", "PATCH"]


@pytest.mark.parametrize(("platform", "limit"), [("github", FakeGitHub.LIMIT), ("azure-devops", FakeAzureDevOps.LIMIT)])
def test_a_plan_too_long_for_one_comment_is_cut_with_a_note(tmp_path: Path, platform: str, limit: int) -> None:
    plan = _long_plan(limit + 40_000)
    if platform == "github":
        with FakeGitHub(GITHUB_TOKEN, "acme/migrations") as gh:
            result = _run([platform, _plan(tmp_path, plan), "--pr", "1"], _github_env(gh))
            [body] = [c["body"] for c in gh.on(1)]
    else:
        with FakeAzureDevOps(ADO_TOKEN, "acme", "Tenant Migration", "repo-1") as ado:
            result = _run([platform, _plan(tmp_path, plan)], _ado_env(ado, 1))
            [body] = [t["comments"][0]["content"] for t in ado.on(1)]
    assert result.returncode == 0, result.stderr
    assert limit - 1000 < len(body) <= limit
    assert "Comment truncated" in body
    assert f"of {len(plan.strip()):,} characters" in body
    assert body.count("```") % 2 == 0  # the cut diff fence is closed
    assert body.count("<details>") == body.count("</details>")
    shown = body.split("### reconciler plan\n\n", 1)[1].split("\n\n> **Comment truncated", 1)[0]
    while shown.endswith(("\n```", "\n</details>")):  # what the cut closed
        shown = shown.rsplit("\n", 1)[0]
    assert plan.startswith(shown)
    assert len(shown) > limit - 2000


def test_a_plan_that_fits_is_posted_whole(tmp_path: Path) -> None:
    plan = _long_plan(60_000)
    with FakeGitHub(GITHUB_TOKEN, "acme/migrations") as api:
        assert _run(["github", _plan(tmp_path, plan), "--pr", "1", "--title", ""], _github_env(api)).returncode == 0
        [comment] = api.on(1)
    assert comment["body"] == "<!-- reconciler-plan:default -->\n" + plan.strip("\n") + "\n"


def test_a_refused_token_fails_with_the_status_and_never_prints_the_token(tmp_path: Path) -> None:
    with FakeGitHub(GITHUB_TOKEN, "acme/migrations") as gh:
        result = _run(["github", _plan(tmp_path, "x"), "--pr", "1"], _github_env(gh, token="ghs_wrong_token_value"))
    assert result.returncode == 1
    assert "HTTP 401" in result.stderr
    assert "ghs_wrong_token_value" not in result.stderr + result.stdout
    with FakeAzureDevOps(ADO_TOKEN, "acme", "Tenant Migration", "repo-1") as ado:
        result = _run(["azure-devops", _plan(tmp_path, "x")], _ado_env(ado, 1, token="ado-wrong-token-value"))
        assert ado.threads == {}
    assert result.returncode == 1
    assert "HTTP 401" in result.stderr
    assert "ado-wrong-token-value" not in result.stderr + result.stdout


def test_missing_settings_are_named(tmp_path: Path) -> None:
    result = _run(["github", _plan(tmp_path, "x"), "--pr", "1"], {"GITHUB_REPOSITORY": "acme/migrations"})
    assert result.returncode == 1
    assert "GITHUB_TOKEN is not set" in result.stderr
    result = _run(["github", _plan(tmp_path, "x")], {"GITHUB_REPOSITORY": "a/b", "GITHUB_TOKEN": "t"})
    assert result.returncode == 1
    assert "no pull request number" in result.stderr
    result = _run(["azure-devops", _plan(tmp_path, "x")], {"SYSTEM_COLLECTIONURI": "https://dev.azure.com/acme/"})
    assert result.returncode == 1
    assert "SYSTEM_TEAMPROJECT is not set" in result.stderr
    unknown = _run(["gitlab", _plan(tmp_path, "x")], {})
    assert unknown.returncode == 2


# --- --failed: the same comment says the push could not be planned ----------------------------------------


def test_a_failure_replaces_the_plan_in_the_same_comment_with_the_end_of_the_log(tmp_path: Path) -> None:
    log = "\x1b[1mRefreshing: 22 objects...\x1b[0m\n" + "".join(f"line {n}\n" for n in range(20_000))
    log += (
        "users.yaml:7:5: error: target_upn: missing (required)\nError: the workspace has errors; nothing was planned\n"
    )
    env = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "4242"}
    with FakeGitHub(GITHUB_TOKEN, "acme/migrations") as api:
        planned = _run(["github", _plan(tmp_path, "Plan: 1 to create."), "--pr", "3"], {**_github_env(api), **env})
        assert planned.returncode == 0, planned.stderr
        failed = _run(
            ["github", "--failed", _plan(tmp_path, log, "reconciler.log"), "--pr", "3", "--footer", "Commit abc."],
            {**_github_env(api), **env},
        )
        assert failed.returncode == 0, failed.stderr
        assert failed.stdout.startswith("updated comment")
        [body] = [c["body"] for c in api.on(3)]
        assert api.writes() == ["POST", "PATCH"]
    assert body.startswith("<!-- reconciler-plan:default -->\n### reconciler plan: failed\n\n**This push could not be")
    assert "Plan: 1 to create." not in body
    assert len(body) <= 65_536
    # The end of the log (the errors), not its start; ANSI escapes removed; a note says what was left out.
    assert body.count("```") == 2
    assert "users.yaml:7:5: error: target_upn: missing (required)\nError: the workspace has errors" in body
    assert "line 0\n" not in body
    assert "earlier lines left out" in body
    assert "\x1b" not in body
    assert "The full log is in [the run](https://github.com/acme/migrations/actions/runs/4242)." in body
    assert body.endswith("\n\nCommit abc.\n")


def test_a_failure_before_reconciler_ran_says_so(tmp_path: Path) -> None:
    with FakeAzureDevOps(ADO_TOKEN, "acme", "Tenant Migration", "repo-1") as ado:
        env = {**_ado_env(ado, 5), "BUILD_BUILDID": "77"}
        result = _run(["azure-devops", "--failed", str(tmp_path / "reconciler.log")], env)
        assert result.returncode == 0, result.stderr
        [body] = [t["comments"][0]["content"] for t in ado.on(5)]
    assert "The job failed before reconciler ran: see its log." in body
    assert f"[the run]({ado.url}/acme/Tenant%20Migration/_build/results?buildId=77)" in body


def test_a_log_with_backticks_gets_a_longer_fence(tmp_path: Path) -> None:
    with FakeGitHub(GITHUB_TOKEN, "acme/migrations") as api:
        log = _plan(tmp_path, "Error: ```` in a value\n", "reconciler.log")
        assert _run(["github", "--failed", log, "--pr", "4"], _github_env(api)).returncode == 0
        [body] = [c["body"] for c in api.on(4)]
    assert "`````text\nError: ```` in a value\n`````" in body
