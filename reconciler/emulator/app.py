"""The ASGI application: one pipeline for Graph (auth, faults, dispatch, batch), the authority, control."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from reconciler.emulator.auth import Claims, ManagedIdentityError, OAuthError
from reconciler.emulator.batch import InnerRequest, failed_dependency, parse_batch
from reconciler.emulator.control import ControlApi
from reconciler.emulator.errors import GraphError, envelope
from reconciler.emulator.faults import RawBody, hostile_body
from reconciler.emulator.graph import GraphService, Request, Response, method_not_allowed, parse_json_body
from reconciler.emulator.odata import decode_path
from reconciler.emulator.oidc import issuer_url
from reconciler.emulator.runtime import Runtime

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

GRAPH_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
MAX_BODY = 4 * 1024 * 1024
FAULT_CODES = {429: "TooManyRequests", 503: "serviceNotAvailable", 504: "GatewayTimeout"}
FAULT_MESSAGES = {
    429: "Please retry again later.",
    503: "The service is temporarily unavailable.",
    504: "The gateway timed out.",
}


class Dropped(Exception):
    """The fault injector decided to drop this connection."""


class TooLarge(Exception):
    pass


def _now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class EmulatorApp:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.graph = GraphService(runtime)
        self.control = ControlApi(runtime)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = str(uuid.uuid4())
        client_request_id = headers.get("client-request-id") or request_id
        common = {"request-id": request_id, "client-request-id": client_request_id}
        method: str = scope["method"]
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        query = scope.get("query_string", b"").decode("latin-1")
        host = headers.get("host") or f"{scope['server'][0]}:{scope['server'][1]}"
        base_url = f"{scope.get('scheme', 'https')}://{host}"
        try:
            body = await self._read_body(receive)
        except TooLarge:
            await self._error(
                send,
                GraphError(413, "RequestEntityTooLarge", f"The request body exceeds the limit of {MAX_BODY} bytes."),
                common,
            )
            return
        try:
            path = decode_path(raw_path)
        except GraphError as error:
            await self._error(send, error, common)
            return
        first = path.lstrip("/").split("/", 1)[0].lower()
        try:
            if first == "_emulator":
                client = scope.get("client") or ("", 0)
                status, payload = await self.control.handle(method, path, query, body, client[0], headers)
                await self._json(send, status, payload, {**common, "content-type": JSON_CONTENT_TYPE})
            elif first in ("beta", "v1.0"):
                await self._graph(send, method, path, query, headers, body, base_url, common)
            else:
                await self._authority(send, method, path, query, headers, body, base_url, common)
        except Dropped:
            await self._drop(send)

    # -- plumbing ---------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _read_body(receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        too_large = False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                too_large = True
            elif chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if too_large:
            raise TooLarge
        return b"".join(chunks)

    async def _send(self, send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        # The emulated clock's time, as Graph's own Date header gives the service's: clients that judge
        # staleness (status: stuck, overdue) compare with it, so an advanced clock moves them too.
        raw.append((b"date", format_datetime(self.rt.clock.now(), usegmt=True).encode("ascii")))
        raw.append((b"content-length", str(len(body)).encode("ascii")))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def _json(self, send: Send, status: int, payload: Any, headers: dict[str, str]) -> None:
        body = b"" if payload is None else orjson.dumps(payload)
        if payload is None:
            headers = {k: v for k, v in headers.items() if k != "content-type"}
        await self._send(send, status, headers, body)

    def _error_body(self, error: GraphError, common: dict[str, str]) -> dict[str, Any]:
        return envelope(error.code, error.message, _now_stamp(), common["request-id"], common["client-request-id"])

    async def _error(self, send: Send, error: GraphError, common: dict[str, str]) -> None:
        headers = {**common, "content-type": GRAPH_CONTENT_TYPE, **error.headers}
        await self._json(send, error.status, self._error_body(error, common), headers)

    @staticmethod
    async def _drop(send: Send) -> None:
        # uvicorn hands the app its per-request cycle's bound ``send``; closing its transport without a
        # response is what a dropped connection looks like to the client.
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if transport is not None:
            transport.abort()
            for _ in range(3):
                await asyncio.sleep(0)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})

    # -- authority --------------------------------------------------------------------------------

    async def _authority(
        self,
        send: Send,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        base_url: str,
        common: dict[str, str],
    ) -> None:
        parts = [p for p in path.split("/") if p]
        rest = "/".join(parts[1:]).lower()
        oauth_headers = {**common, "content-type": JSON_CONTENT_TYPE, "cache-control": "no-store, no-cache"}
        if not parts or rest not in (
            "v2.0/.well-known/openid-configuration",
            "oauth2/v2.0/token",
            "oauth2/v2.0/devicecode",
            "discovery/v2.0/keys",
            "discovery/keys",
            "msi/token",
        ):
            await self._error(send, GraphError(404, "itemNotFound", f"No resource at {path}."), common)
            return
        tenant = self.rt.world.resolve(parts[0])
        try:
            if tenant is None:
                raise OAuthError(
                    400,
                    "invalid_tenant",
                    90002,
                    f"Tenant '{parts[0]}' not found. Check to make sure "
                    "you have the correct tenant ID and are signing into the correct cloud.",
                )
            if rest == "oauth2/v2.0/token":
                if method != "POST":
                    raise OAuthError(405, "invalid_request", 900561, "The endpoint only accepts POST requests.", "POST")
                token_url = f"{base_url}/{parts[0]}/oauth2/v2.0/token"
                result = self.rt.tokens.issue(
                    self.rt.world, parts[0], token_url, body, headers.get("authorization"), issuer_url(base_url)
                )
                self.rt.count("token", 200)
                await self._json(send, 200, result, oauth_headers)
                return
            if rest == "oauth2/v2.0/devicecode":
                if method != "POST":
                    raise OAuthError(405, "invalid_request", 900561, "The endpoint only accepts POST requests.", "POST")
                flow = self.rt.tokens.device_code(self.rt.world, parts[0], body, base_url)
                self.rt.count("token", 200)
                await self._json(send, 200, flow, oauth_headers)
                return
            if method != "GET":
                raise OAuthError(405, "invalid_request", 900561, "The endpoint only accepts GET requests.", "GET")
            if rest == "msi/token":
                try:
                    token = self.rt.tokens.managed_identity(
                        self.rt.world, parts[0], query, headers.get("x-identity-header")
                    )
                except ManagedIdentityError as failure:
                    self.rt.count("managedIdentity", failure.status)
                    body_out = {"statusCode": failure.status, "message": failure.message}
                    await self._json(send, failure.status, body_out, oauth_headers)
                    return
                self.rt.count("managedIdentity", 200)
                await self._json(send, 200, token, oauth_headers)
                return
            if rest.startswith("discovery"):
                payload = self.rt.tokens.jwks()
            else:
                payload = self.rt.tokens.discovery(base_url, tenant)
            self.rt.count("authority", 200)
            await self._json(send, 200, payload, {**common, "content-type": JSON_CONTENT_TYPE})
        except OAuthError as error:
            self.rt.count("token" if rest.startswith("oauth2") else "authority", error.status)
            allow = {"allow": error.allow} if error.allow is not None else {}
            await self._json(send, error.status, error.body(), {**oauth_headers, **allow})

    # -- Graph ------------------------------------------------------------------------------------

    async def _graph(
        self,
        send: Send,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        base_url: str,
        common: dict[str, str],
    ) -> None:
        graph_headers = {**common, "content-type": GRAPH_CONTENT_TYPE, "odata-version": "4.0"}
        try:
            claims = self.rt.tokens.authenticate(self.rt.world, headers.get("authorization"))
        except GraphError as error:
            self.rt.count("unauthenticated", error.status)
            await self._error(send, error, common)
            return
        try:
            parsed = (
                parse_json_body(method, headers.get("content-type"), body)
                if method in ("POST", "PATCH", "PUT")
                else None
            )
        except GraphError as error:
            self.rt.count("bad-body", error.status)
            await self._error(send, error, common)
            return
        if path.rstrip("/").lower() in ("/beta/$batch", "/v1.0/$batch"):
            if method != "POST":
                await self._error(
                    send,
                    method_not_allowed("POST"),
                    common,
                )
                return
            await self._batch(send, parsed, path.split("/")[1], claims, base_url, common, graph_headers)
            return
        request = Request(method, path, query, headers, parsed, base_url)
        response = await self._serve_one(request, claims, common)
        if isinstance(response.body, RawBody):
            raw_headers = {**graph_headers, **response.headers, "content-type": response.body.content_type}
            await self._send(send, response.status, raw_headers, response.body.content)
            return
        await self._json(send, response.status, response.body, {**graph_headers, **response.headers})

    async def _serve_one(self, request: Request, claims: Claims, common: dict[str, str]) -> Response:
        decision = self.rt.faults.decide(claims.tenant_id, claims.app_id, request.method, request.path)
        if decision.latency:
            await asyncio.sleep(decision.latency)
        if decision.action == "drop_before":
            self.rt.count("dropped", 0)
            raise Dropped
        if decision.action == "status":
            status = decision.status
            error = GraphError(
                status, FAULT_CODES.get(status, "serviceError"), FAULT_MESSAGES.get(status, "Injected fault.")
            )
            if decision.retry_after is not None:
                error.headers["Retry-After"] = decision.retry_after
            self.rt.count("fault", status)
            return Response(status, self._error_body(error, common), dict(error.headers))
        endpoint = "unrouted"
        try:
            endpoint, response = self.graph.handle(request, claims)
        except GraphError as error:
            endpoint = error.endpoint
            response = Response(error.status, self._error_body(error, common), dict(error.headers))
        self.rt.count(endpoint, response.status)
        if decision.action == "drop_after":
            self.rt.count("dropped", 0)
            raise Dropped
        if decision.action == "body" and decision.rule is not None and 200 <= response.status < 300:
            self.rt.count("malformed", response.status)
            return Response(response.status, hostile_body(decision.rule, response.body), response.headers)
        return response

    async def _batch(
        self,
        send: Send,
        body: Any,
        version: str,
        claims: Claims,
        base_url: str,
        common: dict[str, str],
        graph_headers: dict[str, str],
    ) -> None:
        try:
            inner = parse_batch(body)
        except GraphError as error:
            self.rt.count("batch", error.status)
            await self._error(send, error, common)
            return
        results: dict[str, int] = {}

        async def run(item: InnerRequest) -> dict[str, Any]:
            inner_common = {
                "request-id": str(uuid.uuid4()),
                "client-request-id": item.headers.get("client-request-id", common["client-request-id"]),
            }
            response: Response
            if any(results.get(dep, 0) >= 400 for dep in item.depends_on):
                dep_error = failed_dependency(item)
                response = Response(dep_error.status, self._error_body(dep_error, inner_common))
            elif item.url.split("?", 1)[0].rstrip("/").lower() == "/$batch":
                nested = GraphError(400, "BadRequest", "A batch request cannot contain another $batch request.")
                response = Response(nested.status, self._error_body(nested, inner_common))
            else:
                response = await self._inner(item, version, claims, base_url, inner_common)
            results[item.id.lower()] = response.status
            entry: dict[str, Any] = {"id": item.id, "status": response.status}
            entry_headers = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
            if isinstance(response.body, RawBody):  # a non-JSON body travels as a string, with its type
                entry_headers["Content-Type"] = response.body.content_type
                entry["body"] = response.body.content.decode("utf-8", "replace")
            elif response.body is not None:
                entry_headers["Content-Type"] = GRAPH_CONTENT_TYPE
                entry["body"] = response.body
            entry["headers"] = entry_headers
            return entry

        if any(item.depends_on for item in inner):
            # dependsOn makes a batch sequential, as Graph runs it.
            responses = [await run(item) for item in inner]
        else:
            # Without dependsOn Graph runs the members in parallel, so their latencies overlap.
            responses = list(await asyncio.gather(*(run(item) for item in inner)))
        self.rt.count("batch", 200)
        await self._json(send, 200, {"responses": responses}, graph_headers)

    async def _inner(
        self, item: InnerRequest, version: str, claims: Claims, base_url: str, common: dict[str, str]
    ) -> Response:
        split = urlsplit(item.url)
        try:
            path = decode_path(f"/{version}{split.path}".encode("utf-8", "surrogateescape"))
            if item.body is not None:
                ctype = item.headers.get("content-type", "")
                if ctype.split(";", 1)[0].strip().lower() != "application/json":
                    raise GraphError(415, "UnsupportedMediaType", "Inner request bodies must be application/json.")
        except GraphError as error:
            return Response(error.status, self._error_body(error, common))
        request = Request(item.method, path, split.query, item.headers, item.body, base_url)
        return await self._serve_one(request, claims, common)
