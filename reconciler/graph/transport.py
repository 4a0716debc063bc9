"""Async HTTP to Graph: pooled connections per tenant, request ids, retries under the shared scheduler.

Idempotent requests (GET, the mapping delta PATCH) are retried on throttling, 5xx and network
failures. A non-idempotent request (a task POST) is re-sent only when the service has provably not
acted on it (connection never made, 429, 503); after any other failure it raises
``AmbiguousWriteError`` and the caller resolves it by reading the task back by its source key.
A failed connection becomes an ``UnreachableError`` naming the endpoint; the run's circuit breaker
(``network.Breaker``) stops all sending once the endpoint has been unreachable for a while. A 2xx
whose body is not JSON is a ``MalformedResponseError``, never a success. Every attempt is logged
at DEBUG on the ``reconciler.graph`` logger: method, URL, status, request-id, milliseconds.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from reconciler.graph.auth import GraphAuth, TokenProvider, ssl_context
from reconciler.graph.config import GraphSettings, TenantConnection
from reconciler.graph.errors import (
    AmbiguousMalformedResponse,
    AmbiguousWriteError,
    DeadlineExceeded,
    GraphError,
    MalformedResponseError,
    Throttled,
    UnreachableError,
    error_for,
)
from reconciler.graph.network import Breaker, unreachable
from reconciler.graph.retry import REFUSED_STATUSES, RETRYABLE_STATUSES, Backoff, parse_retry_after
from reconciler.graph.scheduler import Scheduler

# httpcore asks ``import sniffio`` several times per request (to tell asyncio from trio) and falls back to
# asyncio when it is missing, as it is with current anyio. A failed import is not cached: each one searches
# sys.path again, about 50 us, a fifth of the client's CPU per request. Recording the absence once makes
# every later attempt fail at once, with the same outcome.
if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

# Exceptions raised before a single byte of the request reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)

log = logging.getLogger("reconciler.graph")


@dataclass
class GraphResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _checked(response: httpx.Response, method: str, url: str, idempotent: bool) -> Any:
    """The JSON body of a 2xx answer, or ``MalformedResponseError`` when it is not JSON at all."""
    if not response.content:
        return None
    problem = None
    content_type = response.headers.get("content-type")
    if not is_json(content_type):
        problem = f"the answer is {content_type or 'without a content type'}, not JSON"
    else:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            problem = f"the answer is not valid JSON ({exc})"
    cls = MalformedResponseError if idempotent else AmbiguousMalformedResponse
    suffix = "" if idempotent else "; the task may or may not have been started: it is looked up by its source key"
    raise cls(
        problem + suffix,
        method=method,
        path=url,
        status=response.status_code,
        request_id=response.headers.get("request-id"),
    )


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {"error": {"code": "nonJsonResponse", "message": response.text[:300]}}


class Channel:
    """One tenant: its connection pool, its token provider, its base URL."""

    def __init__(self, connection: TenantConnection, settings: GraphSettings, provider: TokenProvider | None) -> None:
        self.connection = connection
        self.provider = provider or TokenProvider(connection)
        self.auth = GraphAuth(self.provider)
        limits = httpx.Limits(
            max_connections=settings.max_concurrency * 2, max_keepalive_connections=settings.max_concurrency
        )
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        self.client = httpx.AsyncClient(verify=ssl_context(connection.ca_file), limits=limits, timeout=timeout)
        self._parsed: dict[str, httpx.URL] = {}

    @property
    def role(self) -> str:
        return self.connection.role

    def url(self, path: str) -> str:
        return self.connection.graph_base_url + path

    def parsed_url(self, url: str) -> httpx.URL:
        """``url`` parsed once: httpx parses a string URL on every request, and a run sends a few URLs many times."""
        parsed = self._parsed.get(url)
        if parsed is None:
            if len(self._parsed) >= 1024:  # reads by key make many one-off URLs: keep the cache small
                self._parsed.clear()
            parsed = self._parsed[url] = httpx.URL(url)
        return parsed

    async def aclose(self) -> None:
        await self.client.aclose()
        self.provider.close()


class GraphTransport:
    def __init__(
        self,
        connections: list[TenantConnection],
        settings: GraphSettings | None = None,
        providers: dict[str, TokenProvider] | None = None,
    ) -> None:
        self.settings = settings or GraphSettings()
        self.scheduler = Scheduler(self.settings.max_concurrency, self.settings.min_concurrency, self.settings.deadline)
        self.backoff = Backoff(self.settings.backoff_base, self.settings.backoff_cap)
        self.channels = {c.role: Channel(c, self.settings, (providers or {}).get(c.role)) for c in connections}
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "throttled": 0, "batches": 0}
        self.breaker = Breaker(self.settings.breaker_seconds)
        self.server_date: str | None = None  # the Date header of the latest answer: the service's clock

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()

    def url(self, role: str, path: str) -> str:
        return self.channels[role].url(path)

    async def request(
        self,
        role: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        idempotent: bool = True,
        accept: tuple[int, ...] = (),
    ) -> GraphResponse:
        """Send one request with retries; error statuses raise typed errors unless listed in ``accept``."""
        channel = self.channels[role]
        what = f"{method} {path}"
        attempt = 0
        last_throttle: GraphResponse | None = None
        while True:
            attempt += 1
            client_request_id = str(uuid.uuid4())
            headers = {"client-request-id": client_request_id, "Accept": "application/json"}
            content = None
            if json is not None:
                content = orjson.dumps(json)
                headers["Content-Type"] = "application/json"
            self.breaker.check()
            started = time.monotonic()
            url = channel.url(path)
            try:
                async with self.scheduler.slot(what):
                    self.stats["requests"] += 1
                    started = time.monotonic()
                    response = await channel.client.request(
                        method, channel.parsed_url(url), content=content, headers=headers, auth=channel.auth
                    )
            except DeadlineExceeded:
                raise self._deadline_error(method, path, last_throttle) from None
            except UnreachableError as no_token:  # the authority, renewing the token: nothing was sent
                raise self.breaker.failed(no_token) or no_token from None
            except httpx.TransportError as exc:
                failure = unreachable(exc, channel.connection.graph_base_url, channel.connection.ca_file)
                log.debug("%s %s -> no answer (%s) %d ms", method, url, failure.reason, _ms(started))
                opened = self.breaker.failed(failure)
                if not isinstance(exc, _NOT_SENT) and not idempotent:
                    raise AmbiguousWriteError(
                        f"the connection failed after the request was sent ({failure.reason}); it may or may not "
                        "have been carried out, so it is not re-sent: look the task up by its source key",
                        method=method,
                        path=path,
                        client_request_id=client_request_id,
                    ) from exc
                if opened is not None:
                    log.info("circuit breaker open: %s", opened)
                    raise opened from exc
                if attempt >= self.settings.max_attempts:
                    raise failure from exc
                # Never sleep past the moment the breaker would open: the run learns it promptly.
                wait = min(self.backoff.delay(attempt), self.breaker.remaining() + 0.1)
                log.info("%s %s: %s; retry %d in %.1f s", method, url, failure.reason, attempt, wait)
                await self._pause(wait, method, path, last_throttle)
                continue
            self.breaker.succeeded()
            # One pass over the headers (lower-case names): each lookup in httpx's Headers scans them all.
            answer_headers = dict(response.headers)
            self.server_date = answer_headers.get("date") or self.server_date
            status = response.status_code
            request_id = answer_headers.get("request-id")
            log.debug("%s %s -> %d request-id=%s %d ms", method, url, status, request_id or "-", _ms(started))
            if status in RETRYABLE_STATUSES or (status >= 500 and status != 501):
                body = _decode(response)
                if not idempotent and status not in REFUSED_STATUSES:
                    raise AmbiguousWriteError(
                        f"the service answered {status} after receiving the request; it may or may not have been "
                        "carried out, so it is not re-sent: look the task up by its source key",
                        method=method,
                        path=path,
                        status=status,
                        request_id=request_id,
                        client_request_id=client_request_id,
                    )
                retry_after = parse_retry_after(answer_headers.get("retry-after"))
                if status in RETRYABLE_STATUSES:
                    self.scheduler.throttled(retry_after)
                    self.stats["throttled"] += 1
                    last_throttle = GraphResponse(status, body, answer_headers, request_id)
                if attempt >= self.settings.max_attempts:
                    raise error_for(method, path, status, body, request_id, client_request_id)
                self.stats["retries"] += 1
                wait = retry_after if retry_after is not None else self.backoff.delay(attempt)
                log.info("%s %s -> %d; retry %d in %.1f s", method, url, status, attempt, wait)
                await self._pause(wait, method, path, last_throttle)
                continue
            self.scheduler.succeeded()
            if 200 <= status < 300:
                body = _checked(response, method, url, idempotent)
                return GraphResponse(status, body, answer_headers, request_id)
            body = _decode(response)
            if status >= 400 and status not in accept:
                raise error_for(method, path, status, body, request_id, client_request_id)
            return GraphResponse(status, body, answer_headers, request_id)

    async def _pause(self, seconds: float, method: str, path: str, last_throttle: GraphResponse | None) -> None:
        try:
            await self.scheduler.sleep(seconds, f"{method} {path}")
        except DeadlineExceeded:
            raise self._deadline_error(method, path, last_throttle) from None

    @staticmethod
    def _deadline_error(method: str, path: str, last_throttle: GraphResponse | None) -> GraphError:
        if last_throttle is not None:
            return Throttled(
                "still throttled when the run's deadline passed",
                method=method,
                path=path,
                status=last_throttle.status,
                request_id=last_throttle.request_id,
            )
        return DeadlineExceeded("the run's deadline passed", method=method, path=path)


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
