"""Tokens from msal, one provider per tenant, plugged into httpx as an ``httpx.Auth``.

msal does the protocol work and caches tokens; we keep the current token in memory and ask msal
again when less than five minutes are left, so a long run never sends an expired token. msal's own
HTTP client is ``requests``, which lets REQUESTS_CA_BUNDLE override ``verify=``; we hand msal an
httpx client instead, so the configured CA bundle is always the one that is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from pathlib import Path
from typing import Any

import httpx
import msal

from reconciler.atomic import atomic_write_text
from reconciler.graph.config import (
    Certificate,
    ClientSecret,
    DeviceCode,
    ManagedIdentity,
    TenantConnection,
    WorkloadIdentity,
)
from reconciler.graph.errors import AuthenticationError, UnreachableError
from reconciler.graph.network import unreachable

log = logging.getLogger("reconciler.graph")

REFRESH_MARGIN = 300.0  # seconds of remaining lifetime below which a token is renewed


def ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verification is always on: the system store, or the given bundle."""
    if ca_file is None:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=str(ca_file))


def _logged(response: httpx.Response, started: float) -> httpx.Response:
    # The URL without its query and never a header or form field: those carry secrets and assertions.
    request = response.request
    request_id = response.headers.get("x-ms-request-id") or response.headers.get("request-id") or "-"
    url = str(request.url.copy_with(query=None))
    elapsed = round((time.monotonic() - started) * 1000)
    log.debug("%s %s -> %d request-id=%s %d ms", request.method, url, response.status_code, request_id, elapsed)
    return response


class MsalHttpClient:
    """The ``http_client`` interface msal expects (``get``/``post`` returning response-like objects)."""

    def __init__(self, verify: ssl.SSLContext, timeout: float = 30.0) -> None:
        self._client = httpx.Client(verify=verify, timeout=timeout)
        self.last_status: int | None = None  # of the last POST (the token request), for error messages

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> httpx.Response:
        started = time.monotonic()
        return _logged(self._client.get(url, params=params, headers=headers), started)

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> httpx.Response:
        started = time.monotonic()
        if isinstance(data, dict):
            # msal passes the client assertion as bytes; httpx would send their repr, so decode them.
            form = {k: v.decode("ascii") if isinstance(v, bytes) else v for k, v in data.items()}
            response = self._client.post(url, params=params, data=form, headers=headers)
        else:
            response = self._client.post(url, params=params, content=data, headers=headers)
        self.last_status = response.status_code
        return _logged(response, started)

    def close(self) -> None:
        self._client.close()


class TokenProvider:
    """Access tokens for one tenant. Thread-safe for msal, awaitable for the async transport."""

    def __init__(self, connection: TenantConnection, http: MsalHttpClient | None = None) -> None:
        self.connection = connection
        self._http = http or MsalHttpClient(ssl_context(connection.ca_file))
        self._cache = msal.SerializableTokenCache()
        if connection.token_cache_file is not None and connection.token_cache_file.exists():
            with contextlib.suppress(OSError, ValueError):  # a damaged token cache only costs a new sign-in
                self._cache.deserialize(connection.token_cache_file.read_text(encoding="utf-8"))
        self._app: Any = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None
        self.acquisitions = 0  # how many times msal was asked (tests and diagnostics)

    # -- msal --------------------------------------------------------------------------------------

    def _application(self) -> Any:
        if self._app is not None:
            return self._app
        conn, cred = self.connection, self.connection.credential
        common: dict[str, Any] = {"http_client": self._http, "token_cache": self._cache}
        try:
            if isinstance(cred, ClientSecret):
                self._app = msal.ConfidentialClientApplication(
                    cred.client_id,
                    client_credential=cred.secret.get_secret_value(),
                    authority=conn.authority,
                    instance_discovery=_instance_discovery(conn),
                    **common,
                )
            elif isinstance(cred, Certificate):
                self._app = msal.ConfidentialClientApplication(
                    cred.client_id,
                    client_credential=_certificate_credential(cred),
                    authority=conn.authority,
                    instance_discovery=_instance_discovery(conn),
                    **common,
                )
            elif isinstance(cred, WorkloadIdentity):
                self._app = msal.ConfidentialClientApplication(
                    cred.client_id,
                    client_credential={"client_assertion": _federated_assertion(conn.role, cred)},
                    authority=conn.authority,
                    instance_discovery=_instance_discovery(conn),
                    **common,
                )
            elif isinstance(cred, ManagedIdentity):
                identity: Any = (
                    msal.UserAssignedManagedIdentity(client_id=cred.client_id)
                    if cred.client_id
                    else msal.SystemAssignedManagedIdentity()
                )
                self._app = msal.ManagedIdentityClient(identity, **common)
            elif isinstance(cred, DeviceCode):
                self._app = msal.PublicClientApplication(
                    cred.client_id, authority=conn.authority, instance_discovery=_instance_discovery(conn), **common
                )
        except httpx.TransportError as exc:  # msal reads the authority's metadata as the app is made
            raise self._unreachable(exc) from None
        except ValueError as exc:  # msal raises ValueError for unreachable or malformed authorities
            raise AuthenticationError(
                f"{conn.role} tenant: cannot reach the authority {conn.authority}: {exc}"
            ) from exc
        return self._app

    def _acquire(self, force: bool) -> None:
        conn, cred = self.connection, self.connection.credential
        app = self._application()
        self.acquisitions += 1
        try:
            if isinstance(cred, ManagedIdentity):
                resource = conn.scope.removesuffix("/.default")
                result = app.acquire_token_for_client(resource=resource)
            elif isinstance(cred, DeviceCode):
                result = self._device_code(app, cred, force)
            else:
                if force:
                    # Drop the cached access token so msal asks the authority again.
                    for entry in list(self._cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                        self._cache.remove_at(entry)
                result = app.acquire_token_for_client(scopes=[conn.scope])
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        except (httpx.HTTPError, ValueError) as exc:
            raise AuthenticationError(f"{conn.role} tenant: token request to {conn.authority} failed: {exc}") from exc
        if not isinstance(result, dict) or "access_token" not in result:
            error = result.get("error", "unknown_error") if isinstance(result, dict) else "unknown_error"
            description = result.get("error_description", "") if isinstance(result, dict) else ""
            first_line = str(description).splitlines()[0] if description else ""
            # The request that failed, so the line says where: the authority's token endpoint.
            if isinstance(cred, ManagedIdentity):
                raise AuthenticationError(
                    f"{conn.role} tenant {conn.tenant_id}: {error}: {first_line}".rstrip(": "), code=str(error)
                )
            # One line naming the request that failed: POST {token endpoint} -> {status} {error}: ...
            # msal replays a refused request's answer for a while without sending it again; then the status
            # is the one OAuth gives that error (RFC 6749 5.2: 401 for invalid_client, else 400).
            status = self._http.last_status
            if status is None or status < 400:
                status = 401 if error == "invalid_client" else 400
            raise AuthenticationError(
                f"{conn.role} tenant {conn.tenant_id}: {first_line or error}",
                code=str(error),
                method="POST",
                path=_token_url(conn),
                status=status,
            )
        self._token = str(result["access_token"])
        self._expires_at = time.time() + float(result.get("expires_in", 3599))
        self._persist()

    def _unreachable(self, exc: httpx.TransportError) -> UnreachableError:
        """No answer from the authority: one line naming it and what to check (an ``UnreachableError``)."""
        conn = self.connection
        error = unreachable(exc, conn.authority_base_url, conn.ca_file)
        hint = error.hint.replace("(graph:)", "(graph.authority_base_url)")
        return UnreachableError(conn.authority_base_url, error.reason, hint, permanent=error.permanent)

    def _device_code(self, app: Any, cred: DeviceCode, force: bool) -> dict[str, Any]:
        scopes = [self.connection.scope]
        if not force:
            accounts = app.get_accounts()
            if accounts:
                silent = app.acquire_token_silent(scopes, account=accounts[0])
                if silent and "access_token" in silent:
                    return dict(silent)
        flow = app.initiate_device_flow(scopes=scopes)
        if "user_code" not in flow:
            return dict(flow)
        cred.prompt(str(flow.get("message") or f"Open {flow.get('verification_uri')} and enter {flow['user_code']}"))
        return dict(app.acquire_token_by_device_flow(flow))

    def _persist(self) -> None:
        path = self.connection.token_cache_file
        if path is not None and self._cache.has_state_changed:
            atomic_write_text(path, self._cache.serialize(), mode=0o600)
            self._cache.has_state_changed = False

    # -- public ------------------------------------------------------------------------------------

    def token_sync(self, force: bool = False) -> str:
        with self._lock:
            if force or self._token is None or self._expires_at - time.time() < REFRESH_MARGIN:
                self._acquire(force)
            assert self._token is not None
            return self._token

    async def token(self, force: bool = False) -> str:
        if not force and self._token is not None and self._expires_at - time.time() >= REFRESH_MARGIN:
            return self._token
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        async with self._async_lock:
            # msal does blocking HTTP: keep it off the event loop.
            return await asyncio.to_thread(self.token_sync, force)

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"TokenProvider(role={self.connection.role!r}, tenant={self.connection.tenant_id!r})"


def _token_url(conn: TenantConnection) -> str:
    return f"{conn.authority}/oauth2/v2.0/token"


def _instance_discovery(conn: TenantConnection) -> bool:
    # Instance discovery asks login.microsoftonline.com about the authority; only meaningful there.
    return conn.authority_base_url.lower().startswith("https://login.microsoftonline.com")


def _certificate_credential(cred: Certificate) -> dict[str, Any]:
    try:
        pem = cred.path.read_text(encoding="ascii")
    except OSError as exc:
        raise AuthenticationError(f"certificate {cred.path}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        # Never quote the bytes: a private key file.
        raise AuthenticationError(f"certificate {cred.path}: not a PEM file (it holds non-ASCII bytes)") from None
    if "PRIVATE KEY" not in pem or "CERTIFICATE" not in pem:
        raise AuthenticationError(f"certificate {cred.path}: expected a PEM file with the private key and certificate")
    credential: dict[str, Any] = {"private_key": pem, "public_certificate": pem}
    if cred.password is not None:
        credential["passphrase"] = cred.password.get_secret_value()
    return credential


def _local_error(message: str) -> AuthenticationError:
    """A sign-in that failed before any request was sent: no HTTP status in the message."""
    error = AuthenticationError(message)
    object.__setattr__(error, "status", None)  # AuthenticationError says 401 otherwise
    return error


def _federated_assertion(role: str, cred: WorkloadIdentity) -> Callable[[], str]:
    """msal calls this for every token request: the file is read fresh, as CI rotates it in place."""
    where = f"the federated token file {cred.token_file}" + (
        f" (named by {cred.token_file_env})" if cred.token_file_env else ""
    )

    def read() -> str:
        try:
            token = cred.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise _local_error(f"{role} tenant: cannot read {where}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise _local_error(f"{role} tenant: {where} is not a token (it holds non-UTF-8 bytes)") from None
        if not token:
            raise _local_error(f"{role} tenant: {where} is empty")
        return token

    return read


class GraphAuth(httpx.Auth):
    """Bearer tokens on every request; on a 401 the token is renewed once and the request re-sent."""

    def __init__(self, provider: TokenProvider) -> None:
        self.provider = provider

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.provider.token_sync()}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.provider.token_sync(force=True)}"
            yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self.provider.token()}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self.provider.token(force=True)}"
            yield request

    def __repr__(self) -> str:
        return f"GraphAuth({self.provider!r})"
