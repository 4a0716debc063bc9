"""Resolve a workspace's credential references into the Graph layer's ``TenantConnection``s, at run time.

``reconciler.yaml`` only names where secrets live; this module reads the environment variables, secret
files, certificate paths, federated token files or emulator connection file it names, just before they are
needed. Secret
values are ``SecretStr`` (their repr is masked) and are never written anywhere by this package.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from reconciler.errors import ReconcilerError
from reconciler.graph.config import (
    Certificate,
    ClientSecret,
    ConfigError,
    Credential,
    DeviceCode,
    ManagedIdentity,
    TenantConnection,
    WorkloadIdentity,
)
from reconciler.spec.diagnostics import Diagnostics, excerpt
from reconciler.spec.files import file_problem
from reconciler.workspace.config import (
    CertificateCredential,
    ClientSecretCredential,
    DeviceCodeCredential,
    ManagedIdentityCredential,
    TenantConfig,
    WorkloadIdentityCredential,
)
from reconciler.workspace.emulator_file import EmulatorConnection, EmulatorTenant, read_emulator_connection
from reconciler.workspace.loader import Workspace
from reconciler.workspace.trusted_hosts import MICROSOFT_AUTHORITIES, MICROSOFT_GRAPH, refusal, untrusted


class CredentialError(ReconcilerError):
    """A credential reference that cannot be followed; the message is one line and never holds a secret."""


@dataclass(frozen=True)
class Connection:
    """Both tenants, ready for ``GraphClient(source, target)``."""

    source: TenantConnection
    target: TenantConnection


@dataclass(frozen=True)
class Endpoints:
    """Where both tenants are reached: from ``graph:`` in reconciler.yaml, or the emulator connection file."""

    graph_base_url: str
    authority_base_url: str
    ca_file: Path | None
    emulator: EmulatorConnection | None = None


def resolve_connection(workspace: Workspace, environ: Mapping[str, str] | None = None) -> Connection:
    """Endpoints and signed-in identities for both tenants; raises ``CredentialError``."""
    if workspace.config is None or workspace.source is None or workspace.target is None or not workspace.ok:
        raise CredentialError("the workspace has errors; run `reconciler validate` to see them")
    where = endpoints(workspace)
    return Connection(
        resolve_tenant(workspace, "source", where, environ), resolve_tenant(workspace, "target", where, environ)
    )


def endpoints(workspace: Workspace) -> Endpoints:
    """The endpoints and CA bundle of a workspace whose reconciler.yaml loaded; raises ``CredentialError``."""
    config = workspace.config
    if config is None:
        raise CredentialError("the workspace has errors; run `reconciler validate` to see them")
    if config.emulator is None:
        ca = _path(workspace.root, config.graph.ca_bundle) if config.graph.ca_bundle else None
        return Endpoints(config.graph.graph_base_url, config.graph.authority_base_url, ca)
    path = _path(workspace.root, config.emulator.connection_file)
    if not path.is_file():
        raise CredentialError(f"emulator connection file {_shown(path)} does not exist; is the emulator running?")
    diags = Diagnostics()
    emulator = read_emulator_connection(path, str(path), diags)
    if emulator is None:
        first = diags.sorted()[0].render() if len(diags) else str(path)
        raise CredentialError(f"cannot read the emulator connection file: {first}")
    return Endpoints(emulator.graph_base_url, emulator.authority_base_url, Path(emulator.ca_file), emulator)


def refused_host(
    workspace: Workspace, role: str, where: Endpoints, environ: Mapping[str, str] | None = None
) -> str | None:
    """The refusal when ``role``'s credential is a real one and an endpoint is not a trusted host, else None."""
    env = os.environ if environ is None else environ
    config = workspace.config
    ref = getattr(config, role).credentials if config is not None else None
    if ref is None or ref.type == "emulator":
        return None  # the emulator's own app: its secret means nothing anywhere else
    for field, url, known in (
        ("authority_base_url", where.authority_base_url, MICROSOFT_AUTHORITIES),
        ("graph_base_url", where.graph_base_url, MICROSOFT_GRAPH),
    ):
        host = untrusted(url, known, env)
        if host is not None:
            return refusal(role, field, excerpt(url), excerpt(host))
    return None


def resolve_tenant(
    workspace: Workspace, role: str, where: Endpoints, environ: Mapping[str, str] | None = None
) -> TenantConnection:
    """One tenant's connection: its tenant id, the trusted-host rule, its credential read now."""
    env = os.environ if environ is None else environ
    config = workspace.config
    facts = workspace.source if role == "source" else workspace.target
    if config is None or facts is None:
        raise CredentialError("the workspace has errors; run `reconciler validate` to see them")
    tenant: TenantConfig = getattr(config, role)
    side: EmulatorTenant | None = getattr(where.emulator.tenants, role) if where.emulator is not None else None
    tenant_id = facts.tenant_id or (side.tenant_id.lower() if side else None)
    if side is not None and tenant_id != side.tenant_id.lower():
        raise CredentialError(f"{role}: reconciler.yaml names tenant {tenant_id}, the emulator serves {side.tenant_id}")
    if tenant_id is None:  # pragma: no cover - validate reports this first
        raise CredentialError(f"{role}: the tenant id is unknown")
    # A real secret, assertion or token: never to a host the repository alone chose.
    refused = refused_host(workspace, role, where, env)
    if refused is not None:
        raise CredentialError(refused)
    credential = _credential(role, tenant, side, workspace.root, env)
    try:
        return TenantConnection(
            role=role,
            tenant_id=tenant_id,
            credential=credential,
            authority_base_url=where.authority_base_url,
            graph_base_url=where.graph_base_url,
            ca_file=where.ca_file,
        )
    except ConfigError as exc:
        raise CredentialError(str(exc)) from None


def _credential(
    role: str, tenant: TenantConfig, side: EmulatorTenant | None, root: Path, env: Mapping[str, str]
) -> Credential:
    ref = tenant.credentials
    if ref is None or ref.type == "emulator":
        if side is None:  # pragma: no cover - validate reports this first
            raise CredentialError(f"{role}: no credentials and no emulator connection file")
        return ClientSecret(side.client_id, SecretStr(side.client_secret))
    if isinstance(ref, ClientSecretCredential):
        if ref.client_secret_env is not None:
            return ClientSecret(ref.client_id, SecretStr(_env(role, ref.client_secret_env, env)))
        assert ref.client_secret_file is not None
        path = _path(root, ref.client_secret_file)
        secret = _read_secret(role, f"client secret file {_shown(path)}", path)
        if not secret:
            raise CredentialError(f"{role}: the client secret file {_shown(path)} is empty")
        return ClientSecret(ref.client_id, SecretStr(secret))
    if isinstance(ref, CertificateCredential):
        path = _path(root, ref.certificate_path)
        problem = file_problem(path, None)
        if problem is not None:
            raise CredentialError(f"{role}: certificate file {_shown(path)} {problem}")
        password = ref.certificate_password_env
        return Certificate(ref.client_id, path, SecretStr(_env(role, password, env)) if password else None)
    if isinstance(ref, ManagedIdentityCredential):
        return ManagedIdentity(ref.client_id)
    if isinstance(ref, WorkloadIdentityCredential):
        return _workload_identity(role, ref, env)
    if isinstance(ref, DeviceCodeCredential):
        return DeviceCode(ref.client_id)
    raise CredentialError(f"{role}: unsupported credential type {ref.type}")  # pragma: no cover


def _workload_identity(role: str, ref: WorkloadIdentityCredential, env: Mapping[str, str]) -> WorkloadIdentity:
    """Checks now that the token file is there and not empty; the token itself is read again at each sign-in."""
    name = ref.token_file_env
    value = env.get(name, "")
    if not value:
        raise CredentialError(
            f"{role}: environment variable {name} is not set; it must name the file holding the federated "
            "token (the CI step that fetches the OIDC token writes it)"
        )
    path = Path(value).expanduser().absolute()
    token = _read_secret(role, f"federated token file {_shown(path)} (named by {name})", path)
    if not token:
        raise CredentialError(f"{role}: the federated token file {_shown(path)} (named by {name}) is empty")
    return WorkloadIdentity(ref.client_id, path, name)


def _read_secret(role: str, what: str, path: Path) -> str:
    """A credential file's text (it may live outside the workspace); messages never quote its content."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a folder, a FIFO that would block, a device
            raise CredentialError(f"{role}: cannot read the {what}: not a regular file")
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CredentialError(f"{role}: cannot read the {what}: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise CredentialError(f"{role}: cannot read the {what}: not UTF-8 text") from None


def _shown(path: Path) -> str:
    """A path from reconciler.yaml, which a pull request may set: escaped, so it cannot forge log lines."""
    return excerpt(str(path), 240)


def _env(role: str, name: str, env: Mapping[str, str]) -> str:
    value = env.get(name, "")
    if not value:
        raise CredentialError(f"{role}: environment variable {name} is not set")
    return value


def _path(root: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path
