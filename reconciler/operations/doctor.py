"""``reconciler doctor``: whether a workspace can plan and apply, one check at a time, each with its fix.

The checks, in order: reconciler.yaml and the spec files load without errors; each tenant's credential can
be followed (variables set, files readable, a certificate that matches its key and is in its validity
period); each tenant signs in; the token carries the application permissions the run needs (Read.All for
every read, so for plan; Manage.All as well for apply); Graph answers a harmless read in each tenant; the
local clock agrees with Graph's ``Date``; the state backend can be read, locked and released. A check whose
prerequisite failed is skipped, not failed again. Credentials are used only as every run uses them: a real
one goes only to a trusted host, and nothing secret is ever part of a check's text. Nothing is written: not
Graph, not the state (its lock is taken and released, as ``apply`` takes it).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reconciler import DISTRIBUTION, DOCS_URL
from reconciler.errors import ReconcilerError
from reconciler.graph.auth import TokenProvider
from reconciler.graph.config import Certificate, DeviceCode, TenantConnection
from reconciler.graph.diagnose import (
    MANAGE_ROLE,
    READ_ROLE,
    CertificateProblem,
    ProbeResult,
    TokenUnreadable,
    granted_roles,
    inspect_certificate,
    probe,
    token_claims,
)
from reconciler.graph.errors import GraphError, UnreachableError
from reconciler.spec.diagnostics import Diagnostic, excerpt
from reconciler.state.backend import StateLocked
from reconciler.workspace.config import (
    CONFIG_FILE,
    CertificateCredential,
    ClientSecretCredential,
    EmulatorCredential,
    ManagedIdentityCredential,
    TenantConfig,
    WorkloadIdentityCredential,
)
from reconciler.workspace.connection import CredentialError, Endpoints, endpoints, refused_host, resolve_tenant
from reconciler.workspace.loader import Workspace, display_path, load_workspace
from reconciler.workspace.trusted_hosts import TRUSTED_HOSTS_ENV

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
PURPOSES = ("apply", "plan")
ROLES = ("source", "target")
EXPIRY_WARNING = timedelta(days=30)
UNCONFIGURED = "the workspace configuration cannot be used (see config)"
CLOCK_SKEW_LIMIT = 300.0  # seconds; Entra accepts client assertions and tokens this far off
ERROR_CODES = "https://learn.microsoft.com/entra/identity-platform/reference-error-codes"
GRANT = (
    "in the {role} tenant's Microsoft Entra admin center, App registrations > the app {client} > API permissions "
    "> Add a permission > Microsoft Graph > Application permissions > {needed}, then Grant admin consent; "
    "the next token carries it"
)


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass
class Report:
    workspace: str
    purpose: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.status != FAIL for check in self.checks)

    def counts(self) -> dict[str, int]:
        found = Counter(check.status for check in self.checks)
        return {status: found.get(status, 0) for status in (PASS, WARN, FAIL, SKIP)}

    def to_json(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "for": self.purpose,
            "ok": self.ok,
            "counts": self.counts(),
            "checks": [check.to_json() for check in self.checks],
        }


@dataclass
class _Tenant:
    """What the checks learnt about one tenant so far."""

    role: str
    config: TenantConfig
    connection: TenantConnection | None = None
    refused: str | None = None  # the trusted-host refusal, when there is one
    token: str | None = None


def run_doctor(
    root: str, purpose: str = "apply", environ: Mapping[str, str] | None = None, now: datetime | None = None
) -> Report:
    env = os.environ if environ is None else environ
    moment = now or datetime.now(UTC)
    ws = load_workspace(root)
    report = Report(ws.display_root, purpose)
    config_ok = _workspace_checks(ws, report)
    later = ("credentials", "token", "roles", "graph")
    if not config_ok or ws.config is None:
        report.checks.extend(Check(f"{n}.{r}", SKIP, UNCONFIGURED) for n in later for r in ROLES)
        report.checks.extend(Check(n, SKIP, UNCONFIGURED) for n in ("clock", "state"))
        return report
    tenants = [_Tenant(role, getattr(ws.config, role)) for role in ROLES]
    where: Endpoints | None = None
    try:
        where = endpoints(ws)
    except CredentialError as exc:
        emulator = ws.config.emulator
        fix = f"start it: reconciler emulator serve --connection-file {emulator.connection_file}" if emulator else None
        report.checks.extend(Check(f"credentials.{t.role}", FAIL, str(exc), fix) for t in tenants)
    if where is not None:
        report.checks.extend(_credentials(ws, tenant, where, env, moment) for tenant in tenants)
    report.checks.extend(_token(tenant, where) for tenant in tenants)
    report.checks.extend(_roles(tenant, purpose) for tenant in tenants)
    probes: list[ProbeResult] = []
    report.checks.extend(_graph(tenant, where, probes) for tenant in tenants)
    report.checks.append(clock_check(probes))
    report.checks.append(_state(ws))
    return report


# --- the workspace ------------------------------------------------------------------------------------


def _workspace_checks(ws: Workspace, report: Report) -> bool:
    """``config`` and ``spec``: the loader's located errors, split by file. True when the config is usable."""
    config_name = display_path(ws.display_root, CONFIG_FILE)
    config_files = {config_name}
    if ws.config is not None and ws.config.emulator is not None:
        path = ws.config.emulator.connection_file
        config_files.add(path if Path(path).is_absolute() else display_path(ws.display_root, path))
    errors = [d for d in ws.diagnostics.sorted() if d.severity.value == "error"]
    in_config = [d for d in errors if d.range is None or d.range.filename in config_files]
    in_specs = [d for d in errors if d not in in_config]
    validate = f"`reconciler validate {ws.display_root}` lists every problem with its file and line"
    usable = ws.config is not None and ws.source is not None and ws.target is not None and not in_config
    if in_config or ws.config is None:
        report.checks.append(Check("config", FAIL, _first(in_config, config_name), f"correct it; {validate}"))
    else:
        state = ws.config.state.backend
        tenants = ", ".join(
            f"{role} {facts.name or facts.domain or ''} ({facts.tenant_id or 'from the emulator'})".replace("  ", " ")
            for role, facts in (("source", ws.source), ("target", ws.target))
            if facts is not None
        )
        report.checks.append(Check("config", PASS, f"{config_name} is valid: {tenants}; state backend {state}"))
    if not usable:
        report.checks.append(Check("spec", SKIP, UNCONFIGURED))
    elif in_specs:
        report.checks.append(Check("spec", FAIL, _first(in_specs, "the spec files"), f"correct them; {validate}"))
    else:
        files = len(ws.spec_files)
        report.checks.append(
            Check("spec", PASS, f"{len(ws.desired)} resources in {files} spec file{'s' if files != 1 else ''}")
        )
    return usable


def _first(errors: list[Diagnostic], what: str) -> str:
    if not errors:
        return f"{what} cannot be read"
    more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
    return errors[0].render() + more


# --- credentials, token, roles ------------------------------------------------------------------------


def _credentials(ws: Workspace, tenant: _Tenant, where: Endpoints, env: Mapping[str, str], now: datetime) -> Check:
    name = f"credentials.{tenant.role}"
    tenant.refused = refused_host(ws, tenant.role, where, env)
    if tenant.refused is not None:
        fix = (
            "point graph: at Microsoft's endpoints, or, if the host is yours (a proxy), list it in "
            f"{TRUSTED_HOSTS_ENV} in the job's environment (never in the repository)"
        )
        return Check(name, FAIL, tenant.refused, fix)
    try:
        tenant.connection = resolve_tenant(ws, tenant.role, where, env)
    except CredentialError as exc:
        return Check(name, FAIL, str(exc), _credential_fix(tenant))
    credential = tenant.connection.credential
    described = _describe(tenant)
    if not isinstance(credential, Certificate):
        return Check(name, PASS, described)
    try:
        facts = inspect_certificate(credential)
    except CertificateProblem as exc:
        return Check(name, FAIL, f"{tenant.role}: {exc}", _credential_fix(tenant))
    shown = f"{described}: {facts.subject}, thumbprint {facts.thumbprint}"
    until = f"{facts.not_after:%Y-%m-%d %H:%M}Z"
    upload = (
        f"create a new certificate, upload its public part to the app {credential.client_id} (Certificates & "
        "secrets > Certificates) and point certificate_path at the new PEM file"
    )
    if facts.not_after <= now:
        return Check(name, FAIL, f"{tenant.role}: {shown} expired on {until}", upload)
    if facts.not_before > now:
        return Check(name, FAIL, f"{tenant.role}: {shown} is not valid before {facts.not_before:%Y-%m-%d %H:%M}Z")
    if facts.not_after - now < EXPIRY_WARNING:
        days = (facts.not_after - now).days
        return Check(name, WARN, f"{tenant.role}: {shown} expires on {until}, in {days} days", upload)
    return Check(name, PASS, f"{shown}, valid until {until}")


def _describe(tenant: _Tenant) -> str:
    ref = tenant.config.credentials
    client_id = getattr(tenant.connection.credential, "client_id", None) if tenant.connection else None
    client = f"client id {client_id}" if client_id else "system-assigned"
    if ref is None or isinstance(ref, EmulatorCredential):
        return f"the emulator's app ({client})"
    if isinstance(ref, ClientSecretCredential):
        where = f"${ref.client_secret_env}" if ref.client_secret_env else f"the file {ref.client_secret_file}"
        return f"client secret from {where} ({client})"
    if isinstance(ref, CertificateCredential):
        return f"certificate {ref.certificate_path} ({client})"
    if isinstance(ref, WorkloadIdentityCredential):
        return f"workload identity: federated token from ${ref.token_file_env} ({client})"
    if isinstance(ref, ManagedIdentityCredential):
        return f"managed identity ({client})"
    return f"device code sign-in ({client})"


def _credential_fix(tenant: _Tenant) -> str:
    ref = tenant.config.credentials
    never = "in the job's environment or a secret store, never in reconciler.yaml"
    if isinstance(ref, ClientSecretCredential):
        if ref.client_secret_env:
            return f"set {ref.client_secret_env} to the {tenant.role} app's client secret value, {never}"
        return f"write the {tenant.role} app's client secret into {ref.client_secret_file} (mode 0600)"
    if isinstance(ref, CertificateCredential):
        password = f"; set {ref.certificate_password_env} to the key's password" if ref.certificate_password_env else ""
        return (
            f"point certificate_path at one PEM file holding the private key and its certificate "
            f"(cat key.pem cert.pem > app.pem){password}"
        )
    if isinstance(ref, WorkloadIdentityCredential):
        return (
            f"set {ref.token_file_env} to the file the CI step writes with the OIDC token "
            f"(audience api://AzureADTokenExchange); see {DOCS_URL}/docs/real-tenants.md"
        )
    return f"see {DOCS_URL}/docs/real-tenants.md for the credential types"


def _token(tenant: _Tenant, where: Endpoints | None) -> Check:
    name = f"token.{tenant.role}"
    conn = tenant.connection
    if conn is None:
        return Check(name, SKIP, "no credential to sign in with (see credentials)")
    if isinstance(conn.credential, DeviceCode):
        return Check(name, SKIP, "device code sign-in is interactive; `reconciler plan` asks for it")
    provider = TokenProvider(conn)
    try:
        tenant.token = provider.token_sync()
    except UnreachableError as exc:
        return _unreachable(name, exc, where)
    except GraphError as exc:
        return Check(name, FAIL, str(exc), _sign_in_fix(tenant, str(exc)))
    except ReconcilerError as exc:
        return Check(name, FAIL, str(exc), _credential_fix(tenant))
    finally:
        provider.close()
    try:
        claims = token_claims(tenant.token)
    except TokenUnreadable:
        claims = {}
    expires = claims.get("exp")
    lifetime = ""
    if isinstance(expires, int | float) and not isinstance(expires, bool):
        lifetime = f"; valid for {round((expires - datetime.now(UTC).timestamp()) / 60)} min"
    return Check(name, PASS, f"signed in to tenant {conn.tenant_id} at {conn.authority_base_url}{lifetime}")


def _sign_in_fix(tenant: _Tenant, message: str) -> str:
    found = re.search(r"AADSTS(\d+)", message)
    code = found.group(1) if found else ""
    conn = tenant.connection
    assert conn is not None
    client = getattr(conn.credential, "client_id", None) or "(the managed identity)"
    ref = tenant.config.credentials
    secret = (
        f" into {ref.client_secret_env}" if isinstance(ref, ClientSecretCredential) and ref.client_secret_env else ""
    )
    fixes = {
        "7000215": f"the client secret is wrong: copy the secret's Value (not its Secret ID) of the app {client} "
        f"(Certificates & secrets){secret}",
        "7000222": f"the client secret has expired: create a new one for the app {client}{secret}",
        "700016": f"no app with client id {client} in tenant {conn.tenant_id}: check client_id, and that the app is "
        "registered in this tenant or an admin consented to it here",
        "90002": f"tenant {conn.tenant_id} does not exist: check {conn.role}.tenant_id in reconciler.yaml",
        "700027": f"the certificate is not the one registered on the app {client}, or it expired: upload its public "
        "part under Certificates & secrets > Certificates",
        "700024": "the assertion is outside its validity period: check the clock; a federated token expires within "
        "minutes, so fetch a fresh one in the same job",
        "70021": "no federated credential of the app matches the token's issuer, subject and audience exactly; "
        "compare them with the app's Certificates & secrets > Federated credentials",
        "700211": "no federated credential of the app names the token's issuer; add one for your CI's issuer",
        "700212": "no federated credential of the app accepts the token's audience (api://AzureADTokenExchange)",
        "50166": "Entra could not fetch the issuer's signing keys; check the federated credential's issuer URL",
        "50013": "the assertion's signature does not verify; fetch a fresh token from the CI's OIDC provider",
    }
    return fixes.get(code, f"look the error up in Microsoft's AADSTS reference ({ERROR_CODES})")


def _roles(tenant: _Tenant, purpose: str) -> Check:
    name = f"roles.{tenant.role}"
    if tenant.token is None:
        return Check(name, SKIP, "no token to read (see token)")
    try:
        roles = granted_roles(token_claims(tenant.token))
    except TokenUnreadable as exc:
        return Check(name, WARN, f"{exc}; the roles cannot be checked before Graph answers (see graph)")
    shown = ", ".join(sorted(roles)) or "no application permissions"
    # Graph documents Read.All, and only it, for every read; apply plans (reads) before it writes.
    needed = [READ_ROLE, MANAGE_ROLE] if purpose == "apply" else [READ_ROLE]
    missing = [role for role in needed if role not in roles]
    conn = tenant.connection
    client = getattr(conn.credential, "client_id", None) if conn is not None else None
    if not missing:
        note = "" if MANAGE_ROLE in roles else f" (enough for plan; apply also needs {MANAGE_ROLE})"
        return Check(name, PASS, f"the token carries {shown}{note}")
    fix = GRANT.format(role=tenant.role, client=client or "(the managed identity)", needed=" and ".join(missing))
    return Check(name, FAIL, f"the token carries {shown}; {purpose} needs {' and '.join(missing)}", fix)


# --- Graph and the clock ------------------------------------------------------------------------------


def _graph(tenant: _Tenant, where: Endpoints | None, probes: list[ProbeResult]) -> Check:
    name = f"graph.{tenant.role}"
    if where is None:
        return Check(name, SKIP, "the endpoints are not known (see credentials)")
    if tenant.refused is not None:
        return Check(name, SKIP, "not contacted: the host is not trusted (see credentials)")
    result = probe(tenant.role, where.graph_base_url, where.ca_file, tenant.token)
    error = result.error
    if isinstance(error, UnreachableError):
        return _unreachable(name, error, where)
    probes.append(result)
    path = excerpt(result.url.removeprefix(where.graph_base_url), 200)
    answered = f"{where.graph_base_url} answered GET {path} with {result.status} in {result.ms} ms"
    rid = f" (request-id {result.request_id})" if result.request_id else ""
    if error is None:
        return Check(name, PASS, f"{answered}{rid}: reachable and answering")
    if result.status == 401 and tenant.token is None:
        return Check(name, PASS, f"{answered}{rid}: reachable (401 without a token: see token)")
    if result.status == 403:
        conn = tenant.connection
        client = getattr(conn.credential, "client_id", None) if conn is not None else None
        fix = GRANT.format(role=tenant.role, client=client or "(the managed identity)", needed=READ_ROLE)
        return Check(name, FAIL, str(error), fix)
    if result.status == 401:
        fix = f"Graph refused the token: check {tenant.role}.tenant_id and that graph: and the authority are one cloud"
        return Check(name, FAIL, str(error), fix)
    return Check(
        name, FAIL, str(error), "check graph_base_url in reconciler.yaml (e.g. https://graph.microsoft.com/beta)"
    )


def _unreachable(name: str, error: UnreachableError, where: Endpoints | None) -> Check:
    detail = f"cannot reach {error.endpoint} ({error.reason})"
    config = where.emulator if where is not None else None
    if config is not None and not error.permanent:
        return Check(name, FAIL, detail, "is the emulator running? The emulator connection file names this endpoint")
    return Check(name, FAIL, detail, error.hint)


def clock_check(probes: list[ProbeResult]) -> Check:
    """The largest difference between the local clock and a ``Date`` header of Graph's answers."""
    skews = [(r.date - r.sent_at).total_seconds() for r in probes if r.date is not None and r.sent_at is not None]
    if not skews:
        return Check("clock", SKIP, "no answer from Graph with a Date header to compare with")
    skew = max(skews, key=abs)
    # The header has whole seconds (truncated) and the request takes time: two seconds are noise, not skew.
    seconds = 0 if abs(skew) < 2 else round(skew)
    direction = "behind" if seconds > 0 else "ahead of"
    if abs(seconds) > CLOCK_SKEW_LIMIT:
        return Check(
            "clock",
            WARN,
            f"the local clock is {abs(seconds)} s {direction} Graph's Date header",
            "synchronise the clock (NTP): Entra refuses client assertions and tokens more than 5 minutes off",
        )
    if seconds == 0:
        return Check("clock", PASS, "the local clock agrees with Graph's Date header (within 2 s)")
    return Check("clock", PASS, f"the local clock is {abs(seconds)} s {direction} Graph's Date header")


# --- the state backend --------------------------------------------------------------------------------


def _state(ws: Workspace) -> Check:
    from reconciler.state.select import open_backend

    try:
        # One attempt, bounded: the SDK's own retries would take a minute to say the account is unreachable.
        backend = open_backend(ws, retry_total=0, connection_timeout=10, read_timeout=30)
    except ImportError as exc:
        return Check(
            "state",
            FAIL,
            f"the state backend needs a module that is not installed ({exc.name})",
            f"install the azure extra: pip install '{DISTRIBUTION}[azure]'",
        )
    except ReconcilerError as exc:
        return Check("state", FAIL, str(exc), "set the variable state.auth names, in the job's environment")
    try:
        lock = backend.lock("doctor", 0.0)
    except StateLocked as exc:
        return Check(
            "state",
            FAIL,
            exc.for_workspace(ws.display_root),
            "wait for that run to finish; break the lock only if the run is gone",
        )
    except ReconcilerError as exc:
        return Check("state", FAIL, str(exc), _state_fix(ws))
    try:
        state = backend.read()
    except ReconcilerError as exc:
        return Check("state", FAIL, str(exc), _state_fix(ws))
    finally:
        backend.release(lock)
    held = f"serial {state.serial}, {len(state.resources)} resources" if state.lineage else "no state yet"
    return Check("state", PASS, f"{backend.location}: read ({held}), locked and released")


def _state_fix(ws: Workspace) -> str:
    if ws.config is not None and ws.config.state.backend == "azure_blob":
        return (
            "check state: in reconciler.yaml (account_url, container, auth), the storage account's network rules "
            "and any proxy (HTTPS_PROXY, NO_PROXY)"
        )
    return "check that the state's folder exists and is writable by this user"
