"""Tiny in-process fakes of the two comment APIs the example pipelines call: GitHub issue comments and Azure
DevOps pull-request threads. Each checks the bearer token, enforces the platform's comment size limit, and
records every request, so a test sees exactly what the comment script did."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit


class FakeApi:
    def __init__(self, token: str) -> None:
        self.token = token
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with api.lock:
                    api.requests.append((self.command, split.path))
                    if self.headers.get("Authorization") != f"Bearer {api.token}":
                        status, answer = 401, {"message": "Bad credentials"}
                    else:
                        body = json.loads(raw) if raw else None
                        status, answer = api.handle(self.command, unquote(split.path), parse_qs(split.query), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def writes(self) -> list[str]:
        return [method for method, _ in self.requests if method != "GET"]


class FakeGitHub(FakeApi):
    """``/repos/{repo}/issues/{pr}/comments`` (paged GET, POST) and ``/repos/{repo}/issues/comments/{id}`` (PATCH)."""

    LIMIT = 65_536

    def __init__(self, token: str, repo: str) -> None:
        super().__init__(token)
        self.repo = repo
        self.comments: dict[int, dict[str, Any]] = {}  # id -> {"id", "pr", "body"}
        self._next = 1000

    def seed(self, pr: int, body: str) -> int:
        self._next += 1
        self.comments[self._next] = {"id": self._next, "pr": pr, "body": body}
        return self._next

    def on(self, pr: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["pr"] == pr]

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        prefix = f"/repos/{self.repo}/issues/"
        if not path.startswith(prefix):
            return 404, {"message": "Not Found"}
        parts = path[len(prefix) :].split("/")
        if len(parts) == 2 and parts[1] == "comments" and parts[0].isdigit():
            pr = int(parts[0])
            if method == "GET":
                per_page = min(int(query.get("per_page", ["30"])[0]), 100)
                page = int(query.get("page", ["1"])[0])
                mine = [{"id": c["id"], "body": c["body"]} for c in self.on(pr)]
                return 200, mine[(page - 1) * per_page : page * per_page]
            if method == "POST":
                if len(body["body"]) > self.LIMIT:
                    return 422, {"message": f"Body is too long (maximum is {self.LIMIT} characters)"}
                new = self.seed(pr, body["body"])
                return 201, {"id": new, "body": body["body"]}
        if len(parts) == 2 and parts[0] == "comments" and parts[1].isdigit() and method == "PATCH":
            comment = self.comments.get(int(parts[1]))
            if comment is None:
                return 404, {"message": "Not Found"}
            if len(body["body"]) > self.LIMIT:
                return 422, {"message": f"Body is too long (maximum is {self.LIMIT} characters)"}
            comment["body"] = body["body"]
            return 200, {"id": comment["id"], "body": comment["body"]}
        return 404, {"message": "Not Found"}


class FakeAzureDevOps(FakeApi):
    """``{org}/{project}/_apis/git/repositories/{repo}/pullRequests/{pr}/threads`` (GET, POST) and
    ``…/threads/{thread}/comments/{comment}`` (PATCH); every call must name an api-version."""

    LIMIT = 150_000

    def __init__(self, token: str, org: str, project: str, repo: str) -> None:
        super().__init__(token)
        self.prefix = f"/{org}/{project}/_apis/git/repositories/{repo}/pullRequests/"
        self.threads: dict[int, dict[str, Any]] = {}  # id -> {"id", "pr", "status", "comments": [...]}

    def seed(self, pr: int, content: str, *, deleted: bool = False, status: str = "active") -> int:
        thread_id = len(self.threads) + 1
        comment = {"id": 1, "parentCommentId": 0, "content": content, "commentType": "text", "isDeleted": deleted}
        self.threads[thread_id] = {"id": thread_id, "pr": pr, "status": status, "comments": [comment]}
        return thread_id

    def on(self, pr: int) -> list[dict[str, Any]]:
        return [t for t in self.threads.values() if t["pr"] == pr]

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if not path.startswith(self.prefix) or not query.get("api-version"):
            return 404, {"message": "not found, or no api-version"}
        parts = path[len(self.prefix) :].split("/")
        if len(parts) == 2 and parts[1] == "threads":
            pr = int(parts[0])
            if method == "GET":
                threads = [{k: v for k, v in t.items() if k != "pr"} for t in self.on(pr)]
                return 200, {"value": threads, "count": len(threads)}
            if method == "POST":
                content = body["comments"][0]["content"]
                if len(content) > self.LIMIT:
                    return 400, {"message": f"A discussion comment cannot be longer than {self.LIMIT} characters."}
                thread_id = self.seed(pr, content, status=body.get("status", "active"))
                return 200, {"id": thread_id, **body}
        if len(parts) == 5 and parts[1] == "threads" and parts[3] == "comments" and method == "PATCH":
            thread = self.threads.get(int(parts[2]))
            comment = next((c for c in thread["comments"] if c["id"] == int(parts[4])), None) if thread else None
            if comment is None:
                return 404, {"message": "no such comment"}
            if len(body["content"]) > self.LIMIT:
                return 400, {"message": f"A discussion comment cannot be longer than {self.LIMIT} characters."}
            comment["content"] = body["content"]
            return 200, comment
        return 404, {"message": "not found"}
