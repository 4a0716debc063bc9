"""The shape of the two example pipelines: triggers, the behaviours and their order, concurrency, least
privilege, and secrets that only ever come from the platform's secret store."""

from __future__ import annotations

import re
from typing import Any

import pytest

from reconciler import DISTRIBUTION, __version__
from tests.ci_examples.pipelines import (
    ADO_PIPELINE,
    COMMENT_SCRIPT_IN_REPO,
    GITHUB_WORKFLOW,
    Line,
    Step,
    ado_jobs,
    all_lines,
    github_jobs,
    load,
    shell_scripts,
    words,
)

SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|KEY", re.IGNORECASE)
# What a credential pasted into a file tends to look like: a PEM block, a JWT, an Entra client secret
# (34-40 characters with a "~"), a GitHub token, a storage key or SAS signature.
SECRET_LITERAL = re.compile(
    r"-----BEGIN|eyJ[A-Za-z0-9_-]{10,}\.|[A-Za-z0-9_.-]{3}\dQ~[A-Za-z0-9_.~-]{30,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|AccountKey=|[?&]sig=|client_secret\s*:"
)


def _commands(steps: list[Step]) -> list[list[str]]:
    lines: list[Line] = []
    for step in steps:
        lines += all_lines({"job": [step]})[0]
    return [words(line.text) for line in lines]


def _subcommands(steps: list[Step]) -> list[str]:
    return [" ".join(w for w in cmd[:2]) for cmd in _commands(steps)]


@pytest.fixture(scope="module")
def github() -> Any:
    return load(GITHUB_WORKFLOW)


@pytest.fixture(scope="module")
def ado() -> Any:
    return load(ADO_PIPELINE)


def test_github_triggers(github: Any) -> None:
    on = github["on"]
    assert set(on) == {"pull_request", "push", "schedule", "workflow_dispatch"}
    assert on["pull_request"]["branches"] == ["main"]
    assert on["push"]["branches"] == ["main"]
    [schedule] = on["schedule"]
    assert len(schedule["cron"].split()) == 5
    jobs = github["jobs"]
    assert "github.event_name == 'pull_request'" in jobs["plan"]["if"]
    # Fork pull requests get no secrets: the plan job says so instead of failing on a missing secret.
    assert "head.repo.full_name == github.repository" in jobs["plan"]["if"]
    assert jobs["apply"]["if"] == "github.event_name == 'push'"
    assert "schedule" in jobs["drift"]["if"]
    assert "pull_request" not in jobs["drift"]["if"]
    assert jobs["advance"]["if"] == jobs["drift"]["if"]  # waves advance on the drift check's schedule
    assert jobs["health"]["if"] == jobs["drift"]["if"]  # and the health check alerts on it


def test_github_jobs_run_the_three_behaviours_in_order(github: Any) -> None:
    jobs = github_jobs(github)
    assert _subcommands(jobs["plan"]) == ["reconciler validate", "reconciler fmt", "reconciler plan", "reconciler show"]
    validate, fmt, plan, show = _commands(jobs["plan"])
    _assert_output_is_kept(validate, fmt, plan)
    assert "--check" in fmt
    assert plan[plan.index("-out") + 1] == "$PLAN_FILE"
    assert "--detailed-exitcode" not in plan  # a plan with changes is what a pull request is for
    assert show[1:4] == ["show", "--format", "markdown"]
    assert show[4] == "$PLAN_FILE"
    assert show[-2:] == [">", "plan.md"]
    [apply] = _commands(jobs["apply"])
    assert apply[:3] == ["reconciler", "apply", "$PLAN_FILE"]  # exactly the saved plan, no workspace, no prompt
    assert "--auto-approve" not in apply
    [drift] = _commands(jobs["drift"])
    assert drift[:3] == ["reconciler", "plan", "$RECONCILER_WORKSPACE"]
    assert "--detailed-exitcode" in drift
    assert "-out" not in drift
    _advance_starts_only(jobs["advance"])
    _health_check(jobs["health"])
    _, comments, _ = all_lines(jobs)
    [comment, failure] = comments
    assert comment.step.job == failure.step.job == "plan"
    assert words(comment.text)[1:4] == [COMMENT_SCRIPT_IN_REPO, "github", "plan.md"]
    _assert_failure_comment(failure, "github")


def _advance_starts_only(steps: list[Step]) -> None:
    """Plan only starts into a file, then apply exactly that file: nothing else is changed unattended."""
    plan, *show, apply = _commands(steps)
    assert plan[:3] == ["reconciler", "plan", "$RECONCILER_WORKSPACE"]
    assert plan[plan.index("--only") + 1] == "start"
    saved = plan[plan.index("-out") + 1]
    assert all(cmd[:2] == ["reconciler", "show"] and saved in cmd for cmd in show)
    assert apply[:3] == ["reconciler", "apply", saved]
    assert "--auto-approve" not in apply


def _health_check(steps: list[Step]) -> None:
    """The HTML report for the artifact, then the check that alerts, whose Markdown a later step that runs whatever
    the check found puts in the run's summary."""
    html, check = _commands(steps)
    assert html[:3] == check[:3] == ["reconciler", "status", "$RECONCILER_WORKSPACE"]
    assert html[3:] == ["--format", "html", "-o", "status.html"]  # never fails on what it finds
    assert check[3:] == ["--fail-on", "failed,stuck,overdue", "--format", "markdown", "-o", "status.md"]
    [check_step] = [step for step in steps if "--fail-on" in step.script]
    [summary] = [step for step in steps if step.writes_summary]
    assert summary.always
    assert steps.index(check_step) < steps.index(summary)
    assert "status.md" in summary.script


def test_github_plan_artifact_is_what_the_merge_job_downloads(github: Any) -> None:
    steps = github["jobs"]["plan"]["steps"]
    [upload] = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert "${{ env.PLAN_FILE }}" in upload["with"]["path"]
    assert upload["with"]["name"] == "reconciler-plan-pr-${{ github.event.pull_request.number }}"
    assert upload["with"]["if-no-files-found"] == "error"
    fetch = next(s for s in github["jobs"]["apply"]["steps"] if "gh run download" in s.get("run", ""))
    assert '--name "reconciler-plan-pr-$pr"' in fetch["run"]
    assert "head_sha" in fetch["run"]  # the artifact of the pull request's last commit, not any older one
    names = [s.get("name", s.get("uses", "")) for s in github["jobs"]["apply"]["steps"]]
    assert names.index(fetch["name"]) < next(i for i, n in enumerate(names) if n.startswith("Apply"))


def test_github_applies_never_overlap(github: Any) -> None:
    jobs = github["jobs"]
    assert jobs["apply"]["concurrency"] == {"group": "reconciler-apply", "cancel-in-progress": False}
    # The group is shared by every apply of the repository: it names no branch, run or pull request.
    assert "${{" not in jobs["apply"]["concurrency"]["group"]
    assert jobs["apply"]["environment"]
    assert jobs["plan"]["concurrency"]["cancel-in-progress"] is True
    assert jobs["advance"]["concurrency"] == jobs["apply"]["concurrency"]  # one queue for everything that applies
    assert jobs["advance"]["environment"]


def test_github_permissions_are_minimal(github: Any) -> None:
    assert github["permissions"] == {}
    expected = {
        "plan": {"contents": "read", "pull-requests": "write", "id-token": "write"},
        "apply": {"contents": "read", "actions": "read", "pull-requests": "read", "id-token": "write"},
        "drift": {"contents": "read", "id-token": "write"},
        "advance": {"contents": "read", "id-token": "write"},
        "health": {"contents": "read", "id-token": "write"},
    }
    assert {name: job["permissions"] for name, job in github["jobs"].items()} == expected


def test_github_credentials_come_from_secrets_or_oidc_only(github: Any) -> None:
    text = GITHUB_WORKFLOW.read_text()
    assert not SECRET_LITERAL.search(text)
    for name, job in github["jobs"].items():
        assert "env" not in job, f"{name}: job-wide env reaches every step, the installer too"
        for step in job["steps"]:
            for key, value in (step.get("env") or {}).items():
                if SECRET_NAME.search(key):
                    assert value in (f"${{{{ secrets.{key} }}}}", "${{ github.token }}"), (name, key, value)
            if str(step.get("uses", "")).startswith("azure/login@"):
                assert set(step["with"]) == {"client-id", "tenant-id", "allow-no-subscriptions"}  # OIDC: no secret
                assert all(v is True or str(v).startswith("${{ vars.") for v in step["with"].values())
    # The Graph secrets reach only the steps that talk to Graph.
    for name, steps in github_jobs(github).items():
        for step in steps:
            has_secrets = any(k.startswith("RECONCILER_") and "SECRET" in k for k in step.env)
            talks_to_graph = any(cmd[1] in ("plan", "apply", "status") for cmd in _commands([step]))
            assert has_secrets == talks_to_graph, (name, step.name)


def test_github_scripts_never_expand_expressions_inline(github: Any) -> None:
    # `${{ }}` inside `run:` is pasted into the script before the shell sees it (script injection); values
    # reach scripts through `env:` instead.
    for script in shell_scripts(github):
        assert "${{" not in script, script


def test_ado_triggers(ado: Any) -> None:
    assert ado["trigger"]["branches"]["include"] == ["main"]
    assert ado["pr"]["branches"]["include"] == ["main"]
    [schedule] = ado["schedules"]
    assert len(schedule["cron"].split()) == 5
    assert schedule["branches"]["include"] == ["main"]
    assert schedule["always"] is True
    stages = {s["stage"]: s for s in ado["stages"]}
    assert set(stages) == {"plan", "apply", "drift", "advance", "health"}
    assert stages["plan"]["condition"] == "eq(variables['Build.Reason'], 'PullRequest')"
    assert "'IndividualCI'" in stages["apply"]["condition"]
    assert "eq(variables['Build.SourceBranch'], 'refs/heads/main')" in stages["apply"]["condition"]
    assert "PullRequest" not in stages["apply"]["condition"]
    assert "'Schedule'" in stages["drift"]["condition"]
    assert "PullRequest" not in stages["drift"]["condition"]
    assert stages["advance"]["condition"] == stages["drift"]["condition"]
    assert stages["health"]["condition"] == stages["drift"]["condition"]
    # A stage depends on the one before it unless it says otherwise; these run by Build.Reason, on their own.
    assert all(s["dependsOn"] == [] for s in ado["stages"])


def test_ado_stages_run_the_three_behaviours_in_order(ado: Any) -> None:
    jobs = ado_jobs(ado)
    assert _subcommands(jobs["plan"]) == ["reconciler validate", "reconciler fmt", "reconciler plan", "reconciler show"]
    validate, fmt, plan, show = _commands(jobs["plan"])
    _assert_output_is_kept(validate, fmt, plan)
    assert "--check" in fmt
    assert plan[plan.index("-out") + 1] == "$PLAN_FILE"
    assert "--detailed-exitcode" not in plan
    assert show[1:5] == ["show", "--format", "markdown", "$PLAN_FILE"]
    assert show[-2:] == [">", "plan.md"]
    [apply] = _commands(jobs["apply"])
    assert apply[:3] == ["reconciler", "apply", "$PLAN_FILE"]
    assert "--auto-approve" not in apply
    [drift] = _commands(jobs["drift"])
    assert drift[:3] == ["reconciler", "plan", "$RECONCILER_WORKSPACE"]
    assert "--detailed-exitcode" in drift
    _advance_starts_only(jobs["advance"])
    _health_check(jobs["health"])
    [comment, failure] = all_lines(jobs)[1]
    assert comment.step.job == failure.step.job == "plan"
    assert words(comment.text)[1:4] == [COMMENT_SCRIPT_IN_REPO, "azure-devops", "plan.md"]
    _assert_failure_comment(failure, "azure-devops")


def _assert_output_is_kept(*commands: list[str]) -> None:
    """validate, fmt and plan append what they print to reconciler.log, for the failure comment."""
    for command in commands:
        assert command[-7:] == ["2", ">&", "1", "|", "tee", "-a", "reconciler.log"], command


def _assert_failure_comment(failure: Line, platform: str) -> None:
    """Only on failure; the same comment (marker); the output validate, fmt and plan kept in reconciler.log."""
    assert failure.step.on_failure
    assert words(failure.text)[1:5] == [COMMENT_SCRIPT_IN_REPO, platform, "--failed", "reconciler.log"]
    assert words(failure.text)[words(failure.text).index("--marker") + 1] == "$RECONCILER_WORKSPACE"


def _ado_steps(stage: Any) -> list[Any]:
    steps: list[Any] = []
    for job in stage["jobs"]:
        steps += job["steps"] if "steps" in job else job["strategy"]["runOnce"]["deploy"]["steps"]
    return steps


def test_ado_plan_artifact_is_what_the_merge_stage_downloads(ado: Any) -> None:
    stages = {s["stage"]: s for s in ado["stages"]}
    [publish] = [s for s in _ado_steps(stages["plan"]) if "publish" in s]
    assert publish["publish"] == "$(PLAN_FILE)"
    [download] = [s for s in _ado_steps(stages["apply"]) if s.get("task") == "DownloadPipelineArtifact@2"]
    assert download["inputs"]["artifactName"] == publish["artifact"]
    assert download["inputs"]["definition"] == "$(System.DefinitionId)"  # this pipeline's pull-request run
    assert download["inputs"]["branchName"] == "refs/pull/$(PR_ID)/merge"
    assert download["inputs"]["targetPath"] == "$(Build.SourcesDirectory)"
    finder = next(s for s in _ado_steps(stages["apply"]) if "pullrequestquery" in s.get("script", ""))
    assert "task.setvariable variable=PR_ID" in finder["script"]
    steps = _ado_steps(stages["apply"])
    assert steps.index(finder) < steps.index(download)


def test_github_health_report_is_kept_whatever_the_check_found(github: Any) -> None:
    steps = github["jobs"]["health"]["steps"]
    [upload] = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert upload["if"] == "${{ !cancelled() }}"  # above all when the check failed
    assert "status.html" in upload["with"]["path"].split()
    assert upload["with"]["overwrite"] is True  # a re-run of the failed job uploads again
    check = next(s for s in steps if "--fail-on" in s.get("run", ""))
    assert steps.index(check) < steps.index(upload)
    # It only reads: no environment to approve, no queue shared with the jobs that apply.
    assert "environment" not in github["jobs"]["health"]
    assert github["jobs"]["health"]["concurrency"]["group"] != github["jobs"]["apply"]["concurrency"]["group"]


def test_ado_health_report_is_kept_whatever_the_check_found(ado: Any) -> None:
    stages = {s["stage"]: s for s in ado["stages"]}
    steps = _ado_steps(stages["health"])
    [publish] = [s for s in steps if "publish" in s]
    assert publish["publish"] == "status.html"
    assert publish["condition"] == "succeededOrFailed()"
    assert "$(System.JobAttempt)" in publish["artifact"]  # a re-run of the failed stage publishes again
    [summary] = [s for s in steps if "task.uploadsummary" in s.get("script", "")]
    assert summary["condition"] == "succeededOrFailed()"
    check = next(s for s in steps if "--fail-on" in (s.get("inputs") or {}).get("inlineScript", ""))
    assert steps.index(check) < steps.index(summary) < steps.index(publish)
    [job] = stages["health"]["jobs"]
    assert "deployment" not in job  # it only reads: no environment to approve or lock


def test_ado_applies_never_overlap(ado: Any) -> None:
    stages = {s["stage"]: s for s in ado["stages"]}
    [job] = stages["apply"]["jobs"]
    assert job["deployment"]
    assert job["environment"]
    assert ado["lockBehavior"] == "sequential"  # queued applies wait their turn; none is cancelled


def test_ado_credentials_come_from_the_variable_group_or_a_service_connection(ado: Any) -> None:
    text = ADO_PIPELINE.read_text()
    assert not SECRET_LITERAL.search(text)
    groups = [v["group"] for v in ado["variables"] if "group" in v]
    assert groups == ["reconciler-secrets"]
    plain = {v["name"] for v in ado["variables"] if "name" in v}
    assert not any(SECRET_NAME.search(name) for name in plain)
    for stage in ado["stages"]:
        for step in _ado_steps(stage):
            for key, value in (step.get("env") or {}).items():
                if SECRET_NAME.search(key):
                    assert re.fullmatch(r"\$\((System\.AccessToken|[a-z][a-z0-9-]*)\)", value), (key, value)
                    assert value == "$(System.AccessToken)" or value == f"$({key.lower().replace('_', '-')})"
            if step.get("task") == "AzureCLI@2":
                assert step["inputs"]["azureSubscription"] == "reconciler-state"  # workload identity connection
    for name, steps in ado_jobs(ado).items():
        for step in steps:
            has_secrets = any(k.startswith("RECONCILER_") and "SECRET" in k for k in step.env)
            talks_to_graph = any(cmd[1] in ("plan", "apply", "status") for cmd in _commands([step]))
            assert has_secrets == talks_to_graph, (name, step.name)


@pytest.mark.parametrize("path", [GITHUB_WORKFLOW, ADO_PIPELINE], ids=["github", "azure-devops"])
def test_reconciler_is_installed_pinned_and_never_by_its_taken_pypi_name(path: Any) -> None:
    doc = load(path)
    spec = (
        doc["env"]["RECONCILER_PIP_SPEC"]
        if path == GITHUB_WORKFLOW
        else next(v["value"] for v in doc["variables"] if v.get("name") == "RECONCILER_PIP_SPEC")
    )
    # "reconciler" on PyPI is an unrelated package: the distribution has its own name, with the blob backend's
    # extra, pinned to this version (apply refuses a plan another version made).
    assert spec == f"{DISTRIBUTION}[azure]=={__version__}"
    installs = [s for s in shell_scripts(doc) if "pip install" in s]
    assert installs
    assert all(s.strip() == 'python -m pip install "$RECONCILER_PIP_SPEC"' for s in installs)


@pytest.mark.parametrize("path", [GITHUB_WORKFLOW, ADO_PIPELINE], ids=["github", "azure-devops"])
def test_every_shell_script_is_accounted_for(path: Any) -> None:
    """Each script in the file is a step the runner tests see; none hides a command they would not run."""
    doc = load(path)
    jobs = github_jobs(doc) if path == GITHUB_WORKFLOW else ado_jobs(doc)
    seen = sorted(step.script for steps in jobs.values() for step in steps)
    assert seen == sorted(shell_scripts(doc))
    commands, comments, others = all_lines(jobs)
    # plan 4, apply 1, drift 1, advance 2 (GitHub also shows the starts in the summary: 3), health 2
    assert len(commands) == (11 if path == GITHUB_WORKFLOW else 10)
    assert len(comments) == 2  # the plan comment, and the failure in its place
    assert not any("reconciler" in words(line.text) for line in others)
