"""Graph-shaped errors: one exception type and the documented error envelope."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class GraphError(Exception):
    """An error answered to the client as ``{"error": {"code", "message", "innerError"}}``."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    endpoint: str = "unrouted"  # which route raised it, for the request counters

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def missing_parameter(name: str) -> GraphError:
    # Verbatim template from the documented error tables.
    return GraphError(
        400, "BadRequest", f"Cannot process the request because the required parameter {name} is missing."
    )


def not_found(message: str) -> GraphError:
    return GraphError(404, "itemNotFound", message)


def conflict(message: str) -> GraphError:
    return GraphError(409, "conflict", message)


def unprocessable(message: str) -> GraphError:
    return GraphError(422, "unprocessableEntity", message)


def envelope(code: str, message: str, date: str, request_id: str, client_request_id: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"date": date, "request-id": request_id, "client-request-id": client_request_id},
        }
    }
