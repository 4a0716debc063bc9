"""Both example pipelines, run as their platforms would run them: every ``reconciler`` command and the comment
script, taken from the YAML as written, against the emulator and fake comment APIs, job after job.

Pull request (twice: a second push edits the same comment), merge (a fresh checkout applies the artifact of the
pull request's last plan), drift check (exit 0 once applied; 2 after a spec change or a change made in the
tenant), health check (exit 0 while the migrations run; 2 once one failed, with the triage in the run's summary;
1 when the status cannot be read). A test fails if either file runs a reconciler command this suite did not run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ci_examples.conftest import WORKSPACE, CiRepo, mapping_file
from tests.ci_examples.fake_apis import FakeAzureDevOps, FakeGitHub
from tests.ci_examples.pipelines import (
    ADO_PIPELINE,
    GITHUB_WORKFLOW,
    Runner,
    Step,
    ado_jobs,
    ado_substitute,
    all_lines,
    github_jobs,
    github_substitute,
    load,
    runnable,
)

MARKER = f"<!-- reconciler-plan:{WORKSPACE} -->"
PR = 7
HEAD_SHA = "5f0c6e1d2b3a4f5e6d7c8b9a0f1e2d3c4b5a6978"


def _github(ci: CiRepo, tmp_path: Path, api: FakeGitHub) -> tuple[dict[str, list[Step]], Runner, str]:
    doc = load(GITHUB_WORKFLOW)
    context = {
        **{f"secrets.{name}": value for name, value in ci.secrets.items()},
        "github.token": api.token,
        "github.repository": api.repo,
        "github.event.pull_request.number": str(PR),
        "github.event.pull_request.head.sha": HEAD_SHA,
    }
    platform = {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": api.url,
        "GITHUB_REPOSITORY": api.repo,
        "GITHUB_WORKSPACE": str(ci.checkout),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    runner = Runner(ci.checkout, ci.bin_dir, github_substitute(context), platform)
    return github_jobs(doc), runner, str(doc["env"]["PLAN_FILE"])


def _ado(
    ci: CiRepo, api: FakeAzureDevOps, org: str, project: str, repo: str
) -> tuple[dict[str, list[Step]], Runner, str]:
    doc = load(ADO_PIPELINE)
    variables = {
        "System.AccessToken": api.token,
        "Build.SourcesDirectory": str(ci.checkout),
        "System.DefaultWorkingDirectory": str(ci.checkout),
        **{name.lower().replace("_", "-"): value for name, value in ci.secrets.items()},
    }
    platform = {
        "TF_BUILD": "True",
        "SYSTEM_COLLECTIONURI": f"{api.url}/{org}/",
        "SYSTEM_TEAMPROJECT": project,
        "BUILD_REPOSITORY_ID": repo,
        "BUILD_SOURCESDIRECTORY": str(ci.checkout),
        "BUILD_BUILDNUMBER": "20300306.1",
        "SYSTEM_PULLREQUEST_PULLREQUESTID": str(PR),
        "SYSTEM_PULLREQUEST_SOURCECOMMITID": HEAD_SHA,
    }
    plan_file = next(v["value"] for v in doc["variables"] if v.get("name") == "PLAN_FILE")
    return ado_jobs(doc), Runner(ci.checkout, ci.bin_dir, ado_substitute(variables), platform), str(plan_file)


def _new_summary(runner: Runner) -> int:
    """Start a job's summary afresh (GitHub gives each job its own); where the runner's log is now."""
    if "GITHUB_STEP_SUMMARY" in runner.platform_env:
        Path(runner.platform_env["GITHUB_STEP_SUMMARY"]).unlink(missing_ok=True)
    return len(runner.log)


UPLOAD_SUMMARY = re.compile(r"^##vso\[task\.uploadsummary\](.+)$", re.MULTILINE)


def _summary(runner: Runner, since: int) -> str:
    """The run's summary as the platform shows it: GitHub's summary file, or the Markdown files Azure Pipelines
    was told to upload by the lines run since ``since``."""
    if "GITHUB_STEP_SUMMARY" in runner.platform_env:
        return Path(runner.platform_env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    paths = [m.group(1) for _, result in runner.log[since:] for m in UPLOAD_SUMMARY.finditer(result.stdout)]
    assert paths, "no ##vso[task.uploadsummary] was printed"
    return "".join(Path(path).read_text(encoding="utf-8") for path in paths)


def _health_checks(ci: CiRepo, runner: Runner, health: list[Step]) -> None:
    """The scheduled health check passes while the migrations run, and fails once one has failed, with the triage
    in the run's summary; both times the HTML report is there for the artifact."""
    ci.fresh_checkout()
    mark = _new_summary(runner)
    runner.run_job(health)
    healthy = _summary(runner, mark)
    assert healthy.startswith("### Migration status\n"), healthy
    assert "**8 migrations:**" in healthy
    assert "Failed" not in healthy
    assert 'data-wave="pilot"' in (ci.checkout / "status.html").read_text(encoding="utf-8")

    [task] = [t for t in ci.emu.control("GET", "/tasks")["tasks"] if t["source"] == "user001@contoso.onmicrosoft.com"]
    ci.emu.control("POST", f"/tasks/{task['id']}/force", {"status": "failed", "failure": "size-limit"})
    ci.fresh_checkout()
    mark = _new_summary(runner)
    failed, ran = runner.run_failing_job(health)
    assert failed.returncode == 2, (failed.stdout, failed.stderr)
    assert failed.stderr == "Error: --fail-on failed,stuck,overdue: 1 failed\n"
    assert [step.name for step in ran] == ["Show the report in the run's summary"]
    triage = _summary(runner, mark)
    assert "> 1 failed." in triage
    assert "#### Failed: Size or item limit (2 TB / 1,000,000 items) (1)" in triage
    assert '`user_migration["user001@contoso.onmicrosoft.com"]` at `migration/migrations.yaml:6`' in triage
    assert "larger than the 2 TB a cross-tenant move supports" in triage
    assert "**What to do:**" in triage
    assert 'data-group="size-limit"' in (ci.checkout / "status.html").read_text(encoding="utf-8")


def _pipeline_flow(
    ci: CiRepo,
    jobs: dict[str, list[Step]],
    runner: Runner,
    plan_file: str,
    names: tuple[str, str, str, str, str],
    comments: Callable[[], list[str]],
) -> None:
    """PR (two pushes), merge, drift, the scheduled wave advance and health check: the order a team's pipeline
    runs them in."""
    pr_job, apply_job, drift_job, advance_job, health_job = names

    ci.fresh_checkout()
    runner.run_job(jobs[pr_job])
    assert (ci.checkout / plan_file).is_file()
    [first] = comments()
    assert first.startswith(MARKER + "\n")
    assert "Plan: 13 to create" in first
    assert HEAD_SHA in first
    assert "user011@contoso.onmicrosoft.com" not in first

    ci.commit("more-users.yaml", mapping_file(11))  # the second push of the pull request
    ci.fresh_checkout()
    runner.run_job(jobs[pr_job])
    [second] = comments()  # the same comment, edited: not a second one
    assert "Plan: 14 to create" in second
    assert "user011@contoso.onmicrosoft.com" in second
    artifact = ci.upload(plan_file)

    assert ci.target_upn(1) is None
    assert ci.target_upn(11) is None
    ci.fresh_checkout()  # the merge: main now has the pull request's files
    ci.download(artifact, plan_file)
    [applied] = runner.run_job(jobs[apply_job])
    assert "Apply complete! 14 created" in applied.stdout, applied.stdout
    assert ci.target_upn(11) == "user011@fabrikam.onmicrosoft.com"
    # Re-running the merge job does not apply the plan a second time: it is stale now.
    [again] = runner.run_job(jobs[apply_job], expect=1)
    assert "stale" in again.stderr

    ci.fresh_checkout()
    [clean] = runner.run_job(jobs[drift_job], expect=0)
    assert "No changes." in clean.stdout
    # The scheduled advance: a plan of starts only, applied as saved (this workspace has no migrations).
    advanced = runner.run_job(jobs[advance_job])
    assert "Limited with --only start" in advanced[0].stdout, advanced[0].stdout
    assert "Limited with --only start" in advanced[-1].stdout  # apply: nothing to start now, and says why

    ci.commit("unapplied.yaml", mapping_file(12))  # on main without a reviewed plan: the spec drifted
    ci.fresh_checkout()
    [drift] = runner.run_job(jobs[drift_job], expect=2)
    assert 'user_mapping["user012@contoso.onmicrosoft.com"] will be created' in drift.stdout
    ci.revert("unapplied.yaml")

    ci.emu.map_user("user002@contoso.onmicrosoft.com", "someone.else@fabrikam.onmicrosoft.com")  # changed by hand
    ci.fresh_checkout()
    [outside] = runner.run_job(jobs[drift_job], expect=2)
    assert "changed outside of reconciler" in outside.stdout, outside.stdout

    _health_checks(ci, runner, jobs[health_job])

    # The failure steps run in test_a_push_that_cannot_be_planned_replaces_the_plan_comment_with_the_failure.
    declared = {line.key for steps in jobs.values() for step in steps for line in runnable(step) if not step.on_failure}
    missed = declared - runner.executed
    assert not missed, f"commands in the file this test did not run: {missed}"


def test_github_workflow_plans_comments_applies_and_checks_drift(ci_repo: CiRepo, tmp_path: Path) -> None:
    with FakeGitHub(token="ghs_example_token", repo="acme/migrations") as api:
        human = api.seed(PR, "Looks right to me; waiting for the plan.")
        other = api.seed(PR, "<!-- reconciler-plan:other-workspace -->\nanother workspace's plan")
        jobs, runner, plan_file = _github(ci_repo, tmp_path, api)
        assert set(jobs) == {"plan", "apply", "drift", "advance", "health"}

        def ours() -> list[str]:
            return [c["body"] for c in api.on(PR) if c["id"] not in (human, other)]

        _pipeline_flow(ci_repo, jobs, runner, plan_file, ("plan", "apply", "drift", "advance", "health"), ours)
        assert api.writes() == ["POST", "PATCH"]
        assert api.comments[human]["body"].startswith("Looks right")
        assert api.comments[other]["body"].endswith("another workspace's plan")


def test_azure_pipeline_plans_comments_applies_and_checks_drift(ci_repo: CiRepo) -> None:
    org, project, repo = "acme", "Tenant Migration", "8d2f0a4e-33b1-4c5e-9f6a-0b1c2d3e4f50"
    with FakeAzureDevOps(token="ado_example_token", org=org, project=project, repo=repo) as api:
        jobs, runner, plan_file = _ado(ci_repo, api, org, project, repo)
        assert set(jobs) == {"plan", "apply", "drift", "advance", "health"}

        def threads() -> list[str]:
            return [str(t["comments"][0]["content"]) for t in api.on(PR)]

        _pipeline_flow(ci_repo, jobs, runner, plan_file, ("plan", "apply", "drift", "advance", "health"), threads)
        assert api.writes() == ["POST", "PATCH"]
        [thread] = api.on(PR)
        assert thread["status"] == "closed"  # visible, and never blocks a comment-resolution policy


@pytest.mark.parametrize("platform", ["github", "azure-devops"])
def test_the_merge_job_refuses_a_plan_that_main_has_moved_past(ci_repo: CiRepo, tmp_path: Path, platform: str) -> None:
    api: Any
    if platform == "github":
        api = FakeGitHub(token="ghs_example_token", repo="acme/migrations")
    else:
        api = FakeAzureDevOps(token="ado_example_token", org="acme", project="p", repo="r")
    with api:
        if platform == "github":
            jobs, runner, plan_file = _github(ci_repo, tmp_path, api)
        else:
            jobs, runner, plan_file = _ado(ci_repo, api, "acme", "p", "r")
        ci_repo.fresh_checkout()
        runner.run_job(jobs["plan"])
        artifact = ci_repo.upload(plan_file)
        ci_repo.commit("merged-first.yaml", mapping_file(13))  # another pull request lands first
        ci_repo.fresh_checkout()
        ci_repo.download(artifact, plan_file)
        [refused] = runner.run_job(jobs["apply"], expect=1)
    assert "stale" in refused.stderr
    assert "the spec changed" in refused.stderr
    assert ci_repo.target_upn(1) is None
    assert ci_repo.emu.control("GET", "/tasks")["tasks"] == []


BROKEN = "user_mappings:\n  - source_upn: user020@contoso.onmicrosoft.com\n"  # no target_upn


@pytest.mark.parametrize("platform", ["github", "azure-devops"])
def test_a_push_that_cannot_be_planned_replaces_the_plan_comment_with_the_failure(
    ci_repo: CiRepo, tmp_path: Path, platform: str
) -> None:
    api: Any
    if platform == "github":
        api = FakeGitHub(token="ghs_example_token", repo="acme/migrations")
    else:
        api = FakeAzureDevOps(token="ado_example_token", org="acme", project="p", repo="r")
    with api:
        if platform == "github":
            jobs, runner, plan_file = _github(ci_repo, tmp_path, api)
        else:
            jobs, runner, plan_file = _ado(ci_repo, api, "acme", "p", "r")

        def comments() -> list[str]:
            if platform == "github":
                return [str(c["body"]) for c in api.on(PR)]
            return [str(t["comments"][0]["content"]) for t in api.on(PR)]

        ci_repo.fresh_checkout()
        runner.run_job(jobs["plan"])
        [planned] = comments()
        assert "Plan: 13 to create" in planned

        ci_repo.commit("broken.yaml", BROKEN)  # the next push breaks the workspace
        ci_repo.fresh_checkout()
        failed, ran = runner.run_failing_job(jobs["plan"])
        assert failed.returncode == 1
        assert "broken.yaml:2" in failed.stdout + failed.stderr
        assert [step.name for step in ran] == ["Comment the failure on the pull request (in place of the plan comment)"]
        [comment] = comments()  # the plan comment, edited: never a second one, never the stale plan
        assert api.writes() == ["POST", "PATCH"]
    assert comment.startswith(MARKER + "\n")
    assert "This push could not be planned" in comment
    assert "broken.yaml:2" in comment
    assert "target_upn" in comment
    assert "Plan: 13 to create" not in comment
    assert f"Commit {HEAD_SHA} could not be planned." in comment
    assert not (ci_repo.checkout / plan_file).exists()
    # Every command of the failure step ran.
    commands, comment_lines, _ = all_lines(jobs)
    failure_lines = {line.key for line in commands + comment_lines if line.step.on_failure and line.step.job == "plan"}
    assert failure_lines
    assert failure_lines <= runner.executed


@pytest.mark.parametrize("platform", ["github", "azure-devops"])
def test_a_health_check_that_cannot_read_the_status_says_so_in_the_summary(
    ci_repo: CiRepo, tmp_path: Path, platform: str
) -> None:
    api: Any
    if platform == "github":
        api = FakeGitHub(token="ghs_example_token", repo="acme/migrations")
    else:
        api = FakeAzureDevOps(token="ado_example_token", org="acme", project="p", repo="r")
    with api:
        if platform == "github":
            jobs, runner, _ = _github(ci_repo, tmp_path, api)
        else:
            jobs, runner, _ = _ado(ci_repo, api, "acme", "p", "r")
        ci_repo.commit("broken.yaml", BROKEN)
        ci_repo.fresh_checkout()
        mark = _new_summary(runner)
        failed, ran = runner.run_failing_job(jobs["health"])
    assert failed.returncode == 1
    assert "broken.yaml:2" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert [step.name for step in ran] == ["Show the report in the run's summary"]
    summary = _summary(runner, mark)
    assert summary == "### Migration health: the status could not be read (the log says why)\n"
    assert not (ci_repo.checkout / "status.html").exists()
