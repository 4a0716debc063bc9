"""JSON batching (``POST /beta/$batch``): envelope checks, ``dependsOn``, per-request results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.emulator.errors import GraphError, bad_request

MAX_REQUESTS = 20
METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})


@dataclass(frozen=True)
class InnerRequest:
    id: str
    method: str
    url: str  # relative to the version, with a leading slash
    headers: dict[str, str]
    body: Any
    depends_on: tuple[str, ...]


def parse_batch(body: Any) -> list[InnerRequest]:
    """Validate the batch envelope; any problem fails the whole batch with 400, as Graph does."""
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise bad_request("The batch request body must be a JSON object with a 'requests' array.")
    raw_requests = body["requests"]
    extra = set(body) - {"requests"}
    if extra:
        raise bad_request(f"Unknown property '{sorted(extra)[0]}' in the batch request body.")
    if not raw_requests:
        raise bad_request("The batch request must contain at least one request.")
    if len(raw_requests) > MAX_REQUESTS:
        raise bad_request(f"The number of batch requests exceeds the limit of {MAX_REQUESTS}.")
    seen: set[str] = set()
    out: list[InnerRequest] = []
    for i, raw in enumerate(raw_requests):
        where = f"requests[{i}]"
        if not isinstance(raw, dict):
            raise bad_request(f"{where} must be a JSON object.")
        unknown = set(raw) - {"id", "method", "url", "headers", "body", "dependsOn"}
        if unknown:
            raise bad_request(f"Unknown property '{sorted(unknown)[0]}' in {where}.")
        rid, method, url = raw.get("id"), raw.get("method"), raw.get("url")
        if not isinstance(rid, str) or not rid:
            raise bad_request(f"{where}.id is required and must be a non-empty string.")
        if rid.lower() in seen:
            raise bad_request(f"Batch request ids must be unique; '{rid}' is used more than once.")
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise bad_request(f"{where}.method must be one of {', '.join(sorted(METHODS))}.")
        if not isinstance(url, str) or not url:
            raise bad_request(f"{where}.url is required.")
        if "://" in url.split("?", 1)[0].split("(", 1)[0]:
            raise bad_request(f"{where}.url must be relative to the version, e.g. /solutions/sharePoint/migrations/….")
        headers_raw = raw.get("headers") or {}
        if not isinstance(headers_raw, dict) or not all(isinstance(v, str) for v in headers_raw.values()):
            raise bad_request(f"{where}.headers must be an object of strings.")
        headers = {str(k).lower(): v for k, v in headers_raw.items()}
        inner_body = raw.get("body")
        if inner_body is not None and "content-type" not in headers:
            raise bad_request(f"{where}.headers must include Content-Type when a body is given.")
        depends = raw.get("dependsOn") or []
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise bad_request(f"{where}.dependsOn must be an array of request ids.")
        for dep in depends:
            if dep.lower() not in seen:
                raise bad_request(f"{where}.dependsOn names '{dep}', which is not an earlier request in the batch.")
        seen.add(rid.lower())
        out.append(
            InnerRequest(
                rid,
                method.upper(),
                url if url.startswith("/") else "/" + url,
                headers,
                inner_body,
                tuple(d.lower() for d in depends),
            )
        )
    return out


def failed_dependency(request: InnerRequest) -> GraphError:
    return GraphError(424, "failedDependency", f"Request {request.id} depends on a request that failed.")
