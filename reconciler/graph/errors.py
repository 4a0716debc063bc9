"""One exception hierarchy for everything that can go wrong talking to Graph or Entra ID.

Every error carries the request (method, path), the status, the Graph error code and message and
the service's request-id, and prints as one line a person can act on. Secrets and tokens never
appear here: only paths (no query strings with secrets exist in this API) and service messages.
"""

from __future__ import annotations

from typing import Any

from reconciler.errors import ReconcilerError


class GraphError(ReconcilerError):
    """Base class. ``str()`` is one clear line."""

    status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        client_request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        if status is not None:
            self.status = status
        self.code = code
        self.request_id = request_id
        self.client_request_id = client_request_id

    def __str__(self) -> str:
        parts = []
        if self.method or self.path:
            parts.append(f"{self.method} {self.path}".strip())
        if self.status is not None:
            status = f"{self.status}" + (f" {self.code}" if self.code else "")
            parts.append(status)
        head = " -> ".join(parts)
        tail = f" (request-id {self.request_id})" if self.request_id else ""
        return f"{head}: {self.message}{tail}" if head else f"{self.message}{tail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class AuthenticationError(GraphError):
    """A token could not be obtained, or Graph rejected it (401)."""

    status = 401


class PermissionDenied(GraphError):
    """403: the app lacks the SharePointCrossTenantMigration role the call needs."""

    status = 403


class NotFound(GraphError):
    status = 404


class Conflict(GraphError):
    """409: e.g. cancelling a task that has started, or a task that already exists."""

    status = 409


class BadRequest(GraphError):
    """400 and the other 4xx answers that say the request itself is wrong."""

    status = 400


class Unprocessable(GraphError):
    """422: no trust, no OneDrive, no identity-map entry; the service's message says which."""

    status = 422


class Throttled(GraphError):
    """429/503 kept coming until the run's deadline passed."""

    status = 429


class ServerError(GraphError):
    status = 500


class TransportError(GraphError):
    """The network failed: no HTTP answer at all."""


class AmbiguousWriteError(TransportError):
    """A non-idempotent request (a task POST) may or may not have been carried out.

    It is never re-sent: the caller must look the task up by its source key to learn the outcome.
    """


class UnreachableError(TransportError):
    """No answer from an endpoint: connection refused, DNS, TLS verification, a proxy's refusal, timeouts.

    ``str()`` is the message alone: it names the endpoint (not one API path) and what to check.
    ``permanent`` failures (DNS, TLS, proxy) do not heal by retrying, so they open the breaker at once.
    """

    def __init__(self, endpoint: str, reason: str, hint: str, *, permanent: bool = False, **kwargs: Any) -> None:
        super().__init__(f"cannot reach {endpoint} ({reason}): {hint}", **kwargs)
        self.endpoint = endpoint
        self.reason = reason
        self.hint = hint
        self.permanent = permanent

    def __str__(self) -> str:
        return self.message


class ServiceUnreachableError(UnreachableError):
    """The circuit breaker is open: connections kept failing with no success, so nothing more is sent."""


class MalformedResponseError(GraphError):
    """A 2xx whose body is not what the API documents: not JSON, another content type, required members
    missing or of the wrong type. Never read as success; names the request and its request-id."""

    def __str__(self) -> str:
        rid = f" (request-id {self.request_id})" if self.request_id else ""
        status = f" -> {self.status}" if self.status is not None else ""
        return f"{self.method} {self.path}{status}: {self.message}{rid}"


class AmbiguousMalformedResponse(AmbiguousWriteError, MalformedResponseError):
    """A malformed 2xx to a task POST: the service may have started the task, so the intent is kept and
    the outcome is learnt by looking the task up by its source key, never by posting again."""

    __str__ = MalformedResponseError.__str__


class DeadlineExceeded(GraphError):
    """The run's total deadline passed before the request could complete."""


_BY_STATUS: dict[int, type[GraphError]] = {
    400: BadRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: Unprocessable,
    429: Throttled,
}


def error_for(
    method: str,
    path: str,
    status: int,
    body: Any,
    request_id: str | None,
    client_request_id: str | None = None,
) -> GraphError:
    """The typed error for a Graph error answer; reads the ``error`` envelope and the legacy ``errors``."""
    code, message = _parse_error_body(body)
    if status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status == 503:
        cls = Throttled
    elif status >= 500:
        cls = ServerError
    else:
        cls = BadRequest
    return cls(
        message or f"HTTP {status}",
        method=method,
        path=path,
        status=status,
        code=code,
        request_id=request_id,
        client_request_id=client_request_id,
    )


def _parse_error_body(body: Any) -> tuple[str | None, str]:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return _str(err.get("code")), _str(err.get("message")) or ""
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return _str(errors[0].get("code")), _str(errors[0].get("message")) or ""
        if isinstance(err, str):  # OAuth shape: {"error": "invalid_client", "error_description": ...}
            return err, _str(body.get("error_description")) or ""
    return None, ""


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
