#!/usr/bin/env python3
"""Post a reconciler plan as a pull-request comment, and edit that same comment on every later push.

    python post_plan_comment.py github       plan.md [--pr N] [--marker ID] [--title TEXT] [--footer TEXT]
    python post_plan_comment.py azure-devops plan.md [--pr N] [--marker ID] [--title TEXT] [--footer TEXT]
    python post_plan_comment.py PLATFORM --failed reconciler.log [--pr N] [--marker ID] ...

plan.md is the output of `reconciler show --format markdown PLANFILE`. The comment starts with a hidden
marker, <!-- reconciler-plan:ID -->: the next run finds the comment that starts with it and edits it instead
of adding another. Give each workspace of a repository its own --marker.

With --failed, the file is the output of the commands that failed (validate, fmt, plan): the same comment
then says that this push could not be planned and shows the end of that output, with a link to the run
(GITHUB_SERVER_URL, GITHUB_RUN_ID; or BUILD_BUILDID), so the previous plan never stays up as if it were current.
A missing file means the job failed before reconciler ran.

GitHub (Actions sets all of these except the token, which the workflow passes from `github.token`):
  GITHUB_API_URL      the REST API (default https://api.github.com)
  GITHUB_REPOSITORY   owner/name
  GITHUB_TOKEN        allowed to write pull-request comments (`permissions: pull-requests: write`)
  the PR number       --pr, else the pull_request event in GITHUB_EVENT_PATH

Azure DevOps (Pipelines sets all of these except the token: map it with `SYSTEM_ACCESSTOKEN: $(System.AccessToken)`):
  SYSTEM_COLLECTIONURI              https://dev.azure.com/ORGANIZATION/
  SYSTEM_TEAMPROJECT                the project
  BUILD_REPOSITORY_ID               the repository
  SYSTEM_PULLREQUEST_PULLREQUESTID  the PR (or --pr)
  SYSTEM_ACCESSTOKEN                the job's token; the build service needs "Contribute to pull requests"

A comment longer than the platform accepts (GitHub 65,536 characters, Azure DevOps 150,000) is cut, with a
note saying so. Standard library only (Python 3.9 or later): copy this file into your repository.
Exit code 0 when the comment was created or updated, 1 when the API refused, 2 on wrong usage.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LIMITS = {"github": 65_536, "azure-devops": 150_000}
TRUNCATED = (
    "\n\n> **Comment truncated**: {shown:,} of {total:,} characters of the plan are shown. The full plan is "
    "in the pipeline's plan artifact (`reconciler show PLANFILE` renders it).\n"
)


FAILED = (
    "**This push could not be planned**: nothing from it can be applied until a later push plans cleanly. "
    "The previous plan, if one was shown here, no longer applies."
)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Failure(Exception):
    """Something the user must fix; the message names it and never holds a token."""


def call(method: str, url: str, token: str, body: Any = None) -> Any:
    """One JSON request; the parsed answer, or Failure naming the request and the service's message."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:500]
        raise Failure(f"{method} {url}: HTTP {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise Failure(f"{method} {url}: {exc.reason}") from None
    return json.loads(raw) if raw else None


def required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise Failure(f"environment variable {name} is not set")
    return value


class GitHub:
    """Issue comments of a pull request: list (paged), POST to create, PATCH to edit."""

    def __init__(self, env: Mapping[str, str], pr: str | None) -> None:
        self.api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
        self.repo = required(env, "GITHUB_REPOSITORY")
        self.token = required(env, "GITHUB_TOKEN")
        self.pr = pr or self._event_pr(env)

    @staticmethod
    def _event_pr(env: Mapping[str, str]) -> str:
        path = env.get("GITHUB_EVENT_PATH", "")
        if path:
            event = json.loads(Path(path).read_text(encoding="utf-8"))
            number = (event.get("pull_request") or {}).get("number")
            if number:
                return str(number)
        raise Failure("no pull request number: pass --pr (or run on a pull_request event)")

    def upsert(self, marker: str, body: str) -> str:
        comments = f"{self.api}/repos/{self.repo}/issues/{self.pr}/comments"
        page = 1
        while True:
            found = call("GET", f"{comments}?per_page=100&page={page}", self.token)
            for comment in found:
                if str(comment.get("body") or "").startswith(marker):
                    url = f"{self.api}/repos/{self.repo}/issues/comments/{comment['id']}"
                    call("PATCH", url, self.token, {"body": body})
                    return f"updated comment {comment['id']} on pull request #{self.pr}"
            if len(found) < 100:
                break
            page += 1
        created = call("POST", comments, self.token, {"body": body})
        return f"created comment {created['id']} on pull request #{self.pr}"


class AzureDevOps:
    """Pull-request threads: the plan is the first comment of a thread of its own, edited in place."""

    API = "api-version=7.1"

    def __init__(self, env: Mapping[str, str], pr: str | None, status: str) -> None:
        collection = required(env, "SYSTEM_COLLECTIONURI").rstrip("/")
        project = urllib.parse.quote(required(env, "SYSTEM_TEAMPROJECT"), safe="")
        repo = urllib.parse.quote(required(env, "BUILD_REPOSITORY_ID"), safe="")
        self.pr = pr or required(env, "SYSTEM_PULLREQUEST_PULLREQUESTID")
        self.token = required(env, "SYSTEM_ACCESSTOKEN")
        self.threads = f"{collection}/{project}/_apis/git/repositories/{repo}/pullRequests/{self.pr}/threads"
        self.status = status

    def upsert(self, marker: str, body: str) -> str:
        for thread in call("GET", f"{self.threads}?{self.API}", self.token).get("value", []):
            first = (thread.get("comments") or [{}])[0]
            if not first.get("isDeleted") and str(first.get("content") or "").startswith(marker):
                url = f"{self.threads}/{thread['id']}/comments/{first['id']}?{self.API}"
                call("PATCH", url, self.token, {"content": body})
                return f"updated thread {thread['id']} on pull request {self.pr}"
        new = {"comments": [{"parentCommentId": 0, "content": body, "commentType": "text"}], "status": self.status}
        created = call("POST", f"{self.threads}?{self.API}", self.token, new)
        return f"created thread {created['id']} on pull request {self.pr}"


def truncate(text: str, room: int) -> str:
    """At most ``room`` characters of ``text``, cut at a line end, open code fences and <details> closed, noted."""
    if len(text) <= room:
        return text
    note = TRUNCATED.format(shown=0, total=len(text))
    keep = max(room - len(note) - 64, 0)  # 64: the closing fence and tags, and the shown count's digits
    while True:
        cut = text[:keep]
        if "\n" in cut:
            cut = cut[: cut.rindex("\n")]
        closers = ""
        if sum(line.lstrip().startswith("```") for line in cut.splitlines()) % 2:
            closers += "\n```"
        closers += "\n</details>" * max(cut.count("<details") - cut.count("</details>"), 0)
        result = cut + closers + TRUNCATED.format(shown=len(cut), total=len(text))
        if len(result) <= room or keep == 0:
            return result
        keep = max(keep - (len(result) - room), 0)


def compose(marker: str, plan: str, title: str, footer: str, limit: int) -> str:
    head = marker + "\n" + (f"### {title}\n\n" if title else "")
    tail = f"\n\n{footer}\n" if footer else "\n"
    return head + truncate(plan.strip("\n"), limit - len(head) - len(tail)) + tail


def run_url(env: Mapping[str, str]) -> str | None:
    """This CI run's page, from the platform's variables; None when they are not there."""
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    if env.get("BUILD_BUILDID") and env.get("SYSTEM_COLLECTIONURI") and env.get("SYSTEM_TEAMPROJECT"):
        project = urllib.parse.quote(env["SYSTEM_TEAMPROJECT"], safe="")
        return f"{env['SYSTEM_COLLECTIONURI'].rstrip('/')}/{project}/_build/results?buildId={env['BUILD_BUILDID']}"
    return None


def tail_of(text: str, room: int) -> str:
    """The last lines of ``text`` that fit in ``room`` characters (errors come last), with a note when cut."""
    if len(text) <= room:
        return text
    lines = text.splitlines()
    kept: list[str] = []
    size = 64  # the note about the lines left out
    for line in reversed(lines):
        if size + len(line) + 1 > room:
            break
        kept.append(line)
        size += len(line) + 1
    return f"(... {len(lines) - len(kept)} earlier lines left out)\n" + "\n".join(reversed(kept))


def compose_failure(marker: str, log: str | None, title: str, footer: str, url: str | None, limit: int) -> str:
    """The failure comment: what failed, the end of its output in a code block, the run, the footer."""
    head = marker + "\n" + (f"### {title}: failed\n\n" if title else "") + FAILED + "\n\n"
    link = f"\n\nThe full log is in [the run]({url})." if url else ""
    tail = link + (f"\n\n{footer}\n" if footer else "\n")
    if log is None or not log.strip():
        return head + "The job failed before reconciler ran: see its log." + tail
    text = ANSI.sub("", log).strip("\n")
    fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    intro = "The end of the output of the commands that failed:\n\n"
    room = limit - len(head) - len(intro) - 2 * len(fence) - len("text\n\n") - len(tail)
    return f"{head}{intro}{fence}text\n{tail_of(text, max(room, 0))}\n{fence}{tail}"


def read(path: str, missing_ok: bool = False) -> str | None:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        if missing_ok:
            return None
        raise


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("platform", choices=sorted(LIMITS))
    parser.add_argument(
        "plan",
        help="the Markdown plan (`reconciler show --format markdown PLANFILE`), or with --failed the failed "
        "commands' output; - for stdin",
    )
    parser.add_argument(
        "--failed",
        action="store_true",
        help="the commands failed: say so in the same comment, with the end of their output (a missing file: the "
        "job failed before reconciler ran)",
    )
    parser.add_argument("--pr", help="pull request number or id (default: from the platform's environment)")
    parser.add_argument("--marker", default="default", help="tells this comment apart (one per workspace)")
    parser.add_argument("--title", default="reconciler plan", help="heading above the plan ('' for none)")
    parser.add_argument("--footer", default="", help="a line below the plan, e.g. the commit it was made for")
    parser.add_argument(
        "--ado-thread-status",
        default="closed",
        choices=["active", "closed"],
        help="status of a new Azure DevOps thread; closed keeps it from blocking a comment-resolution policy",
    )
    args = parser.parse_args(argv)
    env = os.environ if env is None else env
    try:
        target: GitHub | AzureDevOps
        if args.platform == "github":
            target = GitHub(env, args.pr)
        else:
            target = AzureDevOps(env, args.pr, args.ado_thread_status)
        marker = f"<!-- reconciler-plan:{args.marker} -->"
        limit = LIMITS[args.platform]
        if args.failed:
            log = read(args.plan, missing_ok=True)
            body = compose_failure(marker, log, args.title, args.footer, run_url(env), limit)
        else:
            body = compose(marker, read(args.plan) or "", args.title, args.footer, limit)
        print(target.upsert(marker, body))
    except (Failure, OSError) as exc:
        print(f"post_plan_comment: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
