"""How to reach one tenant: endpoints, CA bundle, and the credential (values, resolved by the caller)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr

from reconciler.errors import ReconcilerError

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
PUBLIC_AUTHORITY = "https://login.microsoftonline.com"
PUBLIC_GRAPH = "https://graph.microsoft.com/beta"


class ConfigError(ReconcilerError, ValueError):
    """A connection setting that cannot work; the message names the setting."""


@dataclass(frozen=True)
class ClientSecret:
    client_id: str
    secret: SecretStr

    def __repr__(self) -> str:
        return f"ClientSecret(client_id={self.client_id!r}, secret='**********')"


@dataclass(frozen=True)
class Certificate:
    """A PEM file holding the private key and the certificate (as Entra app certificates are exported)."""

    client_id: str
    path: Path
    password: SecretStr | None = None


@dataclass(frozen=True)
class ManagedIdentity:
    """System-assigned when ``client_id`` is None, else the user-assigned identity with that client id."""

    client_id: str | None = None


@dataclass(frozen=True)
class WorkloadIdentity:
    """Workload identity federation: an external OIDC token (GitHub Actions, Azure DevOps, AKS) in
    ``token_file`` is the client assertion. The file is read on every token request (CI tokens live
    minutes and are rotated in place); ``token_file_env`` names where the path came from, for messages."""

    client_id: str
    token_file: Path
    token_file_env: str | None = None


@dataclass(frozen=True)
class DeviceCode:
    """Delegated sign-in: the user opens a URL and types a code; ``prompt`` shows them the message."""

    client_id: str
    prompt: Callable[[str], None] = field(default=print, compare=False)


Credential = ClientSecret | Certificate | ManagedIdentity | WorkloadIdentity | DeviceCode


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_https(url: str, setting: str) -> str:
    """``https://`` always, except plain ``http://`` to a loopback address."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url.rstrip("/")
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return url.rstrip("/")
    raise ConfigError(f"{setting}: {url!r} must be an https:// URL (plain http is allowed for loopback only)")


@dataclass(frozen=True)
class TenantConnection:
    """One tenant's endpoints and credential. ``role`` ("source"/"target") names it in messages."""

    role: str
    tenant_id: str
    credential: Credential
    authority_base_url: str = PUBLIC_AUTHORITY
    graph_base_url: str = PUBLIC_GRAPH
    scope: str = GRAPH_SCOPE
    ca_file: Path | None = None
    token_cache_file: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "authority_base_url", require_https(self.authority_base_url, "authority"))
        object.__setattr__(self, "graph_base_url", require_https(self.graph_base_url, "graph_base_url"))
        if not self.tenant_id:
            raise ConfigError(f"{self.role}: tenant_id is required")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ConfigError(f"{self.role}: CA bundle {self.ca_file} does not exist")

    @property
    def authority(self) -> str:
        return f"{self.authority_base_url}/{self.tenant_id}"


@dataclass(frozen=True)
class GraphSettings:
    """Knobs of one run: concurrency, batching, retries, timeouts and the total deadline."""

    max_concurrency: int = 16
    min_concurrency: int = 1
    batch_size: int = 20
    max_attempts: int = 10
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    deadline: float | None = 6 * 3600.0
    # Connection failures with no success for this long open the circuit breaker: the run stops sending.
    breaker_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 20:
            raise ConfigError("batch_size must be between 1 and 20 (Graph's $batch limit)")
        if self.max_concurrency < 1 or self.min_concurrency < 1 or self.min_concurrency > self.max_concurrency:
            raise ConfigError("concurrency must satisfy 1 <= min_concurrency <= max_concurrency")
        if self.max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        if self.breaker_seconds < 0:
            raise ConfigError("breaker_seconds must not be negative")
