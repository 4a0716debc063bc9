"""What a failed connection means, in one line a person can act on, and the circuit breaker.

httpx reports a refused connection, an unknown host, a failed certificate check and a proxy's
refusal all as ``ConnectError``/``ProxyError`` with the OS error somewhere in the exception chain;
``unreachable`` finds it and names the endpoint and what to check. The breaker stops a run from
retrying against a service that has gone away: after connection failures with no success for
``window`` seconds (or at once for a failure retrying cannot heal) every request fails fast. An
endpoint that has not answered once in this run gets ``FIRST_CONTACT`` seconds at most: a wrong
port or a stopped service is then reported in seconds, while a service that goes away mid-run is
given the whole window to come back.
"""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from reconciler.graph.errors import ServiceUnreachableError, UnreachableError

FIRST_CONTACT = 5.0
CHECK = "check the endpoint in reconciler.yaml (graph:), the network and any proxy (HTTPS_PROXY, NO_PROXY)"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def endpoint_of(url: str) -> str:
    """Scheme, host, port and the first path segment: enough to find it in the config, no query."""
    parts = urlsplit(url)
    first = parts.path.strip("/").split("/", 1)[0]
    return f"{parts.scheme}://{parts.netloc}" + (f"/{first}" if first else "")


def unreachable(exc: httpx.TransportError, endpoint: str, ca_file: Path | None) -> UnreachableError:
    """The error for a request that got no HTTP answer from ``endpoint``."""
    chain = _chain(exc)
    cert = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
    if cert is not None:
        bundle = f"the CA bundle {ca_file}" if ca_file else "the system's CA store"
        return UnreachableError(
            endpoint,
            f"TLS verification failed: {cert.verify_message or cert}",
            f"its certificate is not trusted by {bundle}; check graph.ca_bundle in reconciler.yaml "
            "and any TLS-intercepting proxy",
            permanent=True,
        )
    tls = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
    if tls is not None:
        return UnreachableError(endpoint, f"TLS handshake failed: {tls}", CHECK, permanent=True)
    if any(isinstance(e, socket.gaierror) for e in chain):
        host = urlsplit(endpoint).hostname or endpoint
        return UnreachableError(
            endpoint,
            f"DNS: the host {host} was not found",
            "check the host name in reconciler.yaml (graph:) and the DNS settings",
            permanent=True,
        )
    if isinstance(exc, httpx.ProxyError):
        return UnreachableError(endpoint, f"the proxy refused: {exc}", "check HTTPS_PROXY and NO_PROXY", permanent=True)
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        reason = "connection refused"
    elif isinstance(exc, httpx.TimeoutException):
        reason = "timed out"
    elif isinstance(exc, httpx.ConnectError):
        reason = f"cannot connect: {exc}" if str(exc) else "cannot connect"
    else:
        reason = f"connection lost: {exc}" if str(exc) else f"connection lost: {type(exc).__name__}"
    return UnreachableError(endpoint, reason, CHECK)


class Breaker:
    """Open after ``window`` seconds of connection failures without one success; open stays open."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._failing_since: float | None = None
        self.answered = False
        self.open: ServiceUnreachableError | None = None

    @property
    def _window(self) -> float:
        return self.window if self.answered else min(self.window, FIRST_CONTACT)

    def check(self) -> None:
        if self.open is not None:
            raise self.open

    def succeeded(self) -> None:
        if self.open is None:
            self._failing_since = None
            self.answered = True

    def remaining(self) -> float:
        """Seconds until repeated failures would open the breaker (the window while none failed)."""
        if self._failing_since is None:
            return self._window
        return max(0.0, self._failing_since + self._window - time.monotonic())

    def failed(self, error: UnreachableError) -> ServiceUnreachableError | None:
        """Record a failure; returns the open error when this one opened the breaker."""
        if self.open is not None:
            return self.open
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        if error.permanent or now - self._failing_since >= self._window:
            reason = error.reason if error.permanent else f"{error.reason}, for {round(now - self._failing_since)} s"
            self.open = ServiceUnreachableError(
                error.endpoint, reason, error.hint, permanent=error.permanent, method=error.method, path=error.path
            )
            return self.open
        return None
