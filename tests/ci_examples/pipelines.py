"""Read the example CI files the way their platforms do, and run the commands they declare.

A pipeline is reduced to its jobs, each a list of shell steps (GitHub ``run:``; Azure Pipelines ``script:``,
``bash:`` and ``AzureCLI@2``'s ``inlineScript``) with the environment the platform gives them. Each step's
script is split into logical lines; a line whose first word is ``reconciler`` is a command this suite runs, a
line that starts ``python …post_plan_comment.py`` is the comment script, and any other line that mentions the
``reconciler`` word as a command is an error: the suite would silently not cover it. A step that writes the run's
summary (``$GITHUB_STEP_SUMMARY``, ``##vso[task.uploadsummary]``) is run whole, its other lines too, so a test can
read the summary a job leaves.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent.parent
CI = ROOT / "examples" / "ci"
GITHUB_WORKFLOW = CI / "github" / "reconciler.yml"
ADO_PIPELINE = CI / "azure-devops" / "azure-pipelines.yml"
COMMENT_SCRIPT = CI / "scripts" / "post_plan_comment.py"
# Where the example files expect users to copy the comment script, relative to their repository's root.
COMMENT_SCRIPT_IN_REPO = "ci/post_plan_comment.py"

GITHUB_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
ADO_MACRO = re.compile(r"\$\(([A-Za-z_][\w.-]*)\)")


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Step:
    job: str
    name: str
    script: str
    env: dict[str, str]  # as written: workflow, job and step env (or pipeline variables and step env)
    condition: str = ""  # GitHub's `if:`, Azure's `condition:`; a step that runs only on failure names it

    @property
    def always(self) -> bool:
        """Runs whether the steps before it passed or failed (GitHub `!cancelled()`, Azure `succeededOrFailed()`)."""
        return any(word in self.condition for word in ("always()", "!cancelled()", "succeededOrFailed()"))

    @property
    def on_failure(self) -> bool:
        return not self.always and ("failure()" in self.condition or "failed()" in self.condition)

    @property
    def writes_summary(self) -> bool:
        return "GITHUB_STEP_SUMMARY" in self.script or "task.uploadsummary" in self.script


@dataclass(frozen=True)
class Line:
    step: Step
    index: int  # logical line number within the step's script
    text: str

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.step.job, self.step.name, self.index)


def logical_lines(script: str) -> list[str]:
    """Non-blank, non-comment lines with backslash continuations joined."""
    lines: list[str] = []
    current = ""
    for raw in script.splitlines():
        current = f"{current} {raw.strip()}" if current else raw.strip()
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        if current and not current.startswith("#"):
            lines.append(current)
        current = ""
    if current:
        lines.append(current)
    return lines


def words(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def classify(step: Step) -> tuple[list[Line], list[Line], list[Line]]:
    """(reconciler commands, comment-script commands, other lines) of a step; raises on an uncovered command."""
    commands: list[Line] = []
    comments: list[Line] = []
    others: list[Line] = []
    for index, text in enumerate(logical_lines(step.script)):
        tokens = words(text)
        line = Line(step, index, text)
        mentions = tokens.count("reconciler")
        if tokens[0] == "reconciler" and mentions == 1:
            commands.append(line)
        elif tokens[:1] == ["python"] and len(tokens) > 1 and tokens[1].endswith("post_plan_comment.py"):
            comments.append(line)
        elif mentions or "post_plan_comment" in text:
            raise AssertionError(f"{step.job} / {step.name}: a command this suite cannot run as written: {text}")
        else:
            others.append(line)
    return commands, comments, others


def github_jobs(doc: Any) -> dict[str, list[Step]]:
    jobs: dict[str, list[Step]] = {}
    for job_id, job in doc["jobs"].items():
        steps = []
        for number, step in enumerate(job["steps"], 1):
            if "run" in step:
                env = {**doc.get("env", {}), **job.get("env", {}), **step.get("env", {})}
                name = step.get("name", f"step {number}")
                steps.append(Step(job_id, name, step["run"], _strings(env), str(step.get("if", ""))))
        jobs[job_id] = steps
    return jobs


def ado_jobs(doc: Any) -> dict[str, list[Step]]:
    """Shell steps by stage; non-secret pipeline variables reach scripts as upper-cased environment variables."""
    variables = {v["name"]: str(v["value"]) for v in doc.get("variables", []) if "name" in v}
    exposed = {name.upper().replace(".", "_"): value for name, value in variables.items()}
    jobs: dict[str, list[Step]] = {}
    for stage in doc["stages"]:
        steps = []
        for job in stage["jobs"]:
            listed = job["steps"] if "steps" in job else job["strategy"]["runOnce"]["deploy"]["steps"]
            for number, step in enumerate(listed, 1):
                script = step.get("script") or step.get("bash") or (step.get("inputs") or {}).get("inlineScript")
                if script:
                    name = step.get("displayName", f"step {number}")
                    env = {**exposed, **_strings(step.get("env", {}))}
                    steps.append(Step(stage["stage"], name, script, env, str(step.get("condition", ""))))
        jobs[stage["stage"]] = steps
    return jobs


def _strings(env: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in env.items()}


def github_substitute(context: Mapping[str, str]) -> Callable[[str], str]:
    """``${{ expr }}`` replaced from ``context``; an expression the test does not know fails the test."""

    def substitute(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression not in context:
                raise AssertionError(f"the test gives no value for ${{{{ {expression} }}}}")
            return context[expression]

        return GITHUB_EXPRESSION.sub(one, text)

    return substitute


def ado_substitute(variables: Mapping[str, str]) -> Callable[[str], str]:
    """``$(Name)`` macros replaced as Azure Pipelines does: known variables only, anything else left as written."""

    def substitute(text: str) -> str:
        return ADO_MACRO.sub(lambda m: variables.get(m.group(1), m.group(0)), text)

    return substitute


@dataclass
class Runner:
    """Runs lines of a pipeline in a checkout, with ``reconciler`` and ``python`` on PATH as the pipeline has them."""

    checkout: Path
    bin_dir: Path
    substitute: Callable[[str], str]
    platform_env: dict[str, str]
    executed: set[tuple[str, str, int]] = field(default_factory=set)
    log: list[tuple[Line, subprocess.CompletedProcess[str]]] = field(default_factory=list)  # every line run

    @staticmethod
    def make_bin(bin_dir: Path) -> Path:
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name, target in (("reconciler", f'"{sys.executable}" -m reconciler'), ("python", f'"{sys.executable}"')):
            shim = bin_dir / name
            shim.write_text(f'#!/bin/sh\nexec {target} "$@"\n')
            shim.chmod(0o755)
        return bin_dir

    def environment(self, step: Step) -> dict[str, str]:
        # PYTHONPATH too: the commands run the tree under test, as run_cli does, not whichever copy is installed.
        keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "PYTHONPATH")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        env.update(self.platform_env)
        env.update({name: self.substitute(value) for name, value in step.env.items()})
        return env

    def run(self, line: Line) -> subprocess.CompletedProcess[str]:
        self.executed.add(line.key)
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", self.substitute(line.text)],
            cwd=self.checkout,
            env=self.environment(line.step),
            capture_output=True,
            text=True,
            timeout=240,
        )
        self.log.append((line, result))
        return result

    def run_job(self, steps: list[Step], expect: int = 0) -> list[subprocess.CompletedProcess[str]]:
        """Every reconciler and comment command of a job, in order; each must exit with ``expect``. Steps that
        run only when an earlier one failed are left out, as the platform leaves them out of a passing job."""
        results = []
        for step in steps:
            if step.on_failure:
                continue
            for line in runnable(step):
                result = self.run(line)
                assert result.returncode == expect, (line.text, result.returncode, result.stdout, result.stderr)
                results.append(result)
        return results

    def run_failing_job(self, steps: list[Step]) -> tuple[subprocess.CompletedProcess[str], list[Step]]:
        """The job's commands in order until one fails (that result is returned), then those of its failure
        steps and of the steps that always run, each of which must pass; and the steps that ran after the failure."""
        failed: subprocess.CompletedProcess[str] | None = None
        ran: list[Step] = []
        for step in steps:
            if not step.always and (failed is None) == step.on_failure:
                continue  # before a failure only the usual steps run; after it, only the failure steps
            after_failure = failed is not None
            for line in runnable(step):
                result = self.run(line)
                if failed is None and result.returncode != 0:
                    failed = result
                    break
                assert result.returncode == 0, (line.text, result.returncode, result.stdout, result.stderr)
            if after_failure:
                ran.append(step)
        assert failed is not None, "no command of the job failed"
        return failed, ran


def runnable(step: Step) -> list[Line]:
    """The lines of a step this suite runs, in order: its commands, and every line of a step writing the summary."""
    commands, comments, others = classify(step)
    return sorted(commands + comments + (others if step.writes_summary else []), key=lambda line: line.index)


def all_lines(jobs: Mapping[str, list[Step]]) -> tuple[list[Line], list[Line], list[Line]]:
    commands: list[Line] = []
    comments: list[Line] = []
    others: list[Line] = []
    for steps in jobs.values():
        for step in steps:
            c, m, o = classify(step)
            commands += c
            comments += m
            others += o
    return commands, comments, others


def shell_scripts(node: Any) -> list[str]:
    """Every string under a key that holds a shell script, anywhere in the document."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("run", "script", "bash", "pwsh", "powershell", "inlineScript") and isinstance(value, str):
                found.append(value)
            else:
                found += shell_scripts(value)
    elif isinstance(node, list):
        for item in node:
            found += shell_scripts(item)
    return found
