"""What ``reconciler doctor`` asks of the Graph layer: a token's roles, a certificate file's facts, one harmless read.

The token's payload is decoded without verifying it (the service verifies it; the doctor only reads which
application permissions it carries). The certificate file is inspected locally: key and certificate must
belong together and the certificate must be in its validity period, which Entra checks too but only
reports as a refused sign-in. The probe is one GET per tenant, sent once (no retries: a doctor reports,
it does not wait), of an object that cannot exist; any answer from Graph shows it is reachable, and its
``Date`` header tells the clock skew.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from reconciler.graph import paths
from reconciler.graph.auth import ssl_context
from reconciler.graph.config import Certificate
from reconciler.graph.errors import GraphError, UnreachableError, error_for
from reconciler.graph.network import unreachable

log = logging.getLogger("reconciler.graph")

READ_ROLE = "SharePointCrossTenantMigration.Read.All"
MANAGE_ROLE = "SharePointCrossTenantMigration.Manage.All"
NIL_ID = "00000000-0000-0000-0000-000000000000"  # no mapping or task has it


class TokenUnreadable(ValueError):
    """The access token is not a JWT whose payload can be read."""


def token_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT access token, not verified (raises ``TokenUnreadable``)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenUnreadable("the access token is not a JWT (three dot-separated parts)")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise TokenUnreadable(f"the access token's payload cannot be read ({type(exc).__name__})") from None
    if not isinstance(payload, dict):
        raise TokenUnreadable("the access token's payload is not a JSON object")
    return payload


def granted_roles(claims: dict[str, Any]) -> set[str]:
    """Application permissions (``roles``), or a delegated token's permissions (``scp``, space-separated)."""
    roles = claims.get("roles")
    found = {r for r in roles if isinstance(r, str)} if isinstance(roles, list) else set()
    scopes = claims.get("scp")
    if isinstance(scopes, str):
        found.update(scopes.split())
    return found


# --- certificate files --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateFacts:
    subject: str
    thumbprint: str  # SHA-1, upper-case hex: what the Entra admin center shows
    not_before: datetime
    not_after: datetime


class CertificateProblem(ValueError):
    """The certificate file cannot sign in: unreadable, key and certificate apart, wrong password."""


def inspect_certificate(cred: Certificate) -> CertificateFacts:
    """The facts of a PEM file with the private key and the certificate; never quotes its content."""
    try:
        data = cred.path.read_bytes()
    except OSError as exc:
        raise CertificateProblem(f"certificate file {cred.path}: {exc.strerror or type(exc).__name__}") from None
    try:
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise CertificateProblem(f"certificate file {cred.path}: holds no PEM certificate") from None
    password = cred.password.get_secret_value().encode("utf-8") if cred.password is not None else None
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError:
        # cryptography: a password given for an unencrypted key, or none for an encrypted one.
        needs = "is encrypted and no password was given" if password is None else "is not encrypted; drop the password"
        raise CertificateProblem(f"certificate file {cred.path}: the private key {needs}") from None
    except ValueError:
        why = "the password is wrong" if password is not None else "holds no PEM private key"
        raise CertificateProblem(f"certificate file {cred.path}: {why}") from None
    public = certificate.public_key()
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, spki) != public.public_bytes(
        serialization.Encoding.DER, spki
    ):
        raise CertificateProblem(
            f"certificate file {cred.path}: the private key does not belong to the certificate in it"
        )
    return CertificateFacts(
        certificate.subject.rfc4514_string(),
        certificate.fingerprint(hashes.SHA1()).hex().upper(),  # SHA-1: how Entra names an app certificate
        certificate.not_valid_before_utc,
        certificate.not_valid_after_utc,
    )


# --- the probe ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    """Graph's answer to the probe (``status``), or the failure (``error``), and its ``Date`` header."""

    url: str
    status: int | None
    error: GraphError | None
    date: datetime | None = None
    sent_at: datetime | None = None  # local time halfway through the request, to compare ``date`` with
    request_id: str | None = None
    ms: int = 0


def probe_path(role: str) -> str:
    """A read that cannot find anything: a task by the nil id (source), a group mapping by it (target)."""
    return paths.task(NIL_ID) if role == "source" else paths.group_mapping(NIL_ID)


def probe(
    role: str, graph_base_url: str, ca_file: Path | None, token: str | None, timeout: float = 10.0
) -> ProbeResult:
    """One GET, sent once, with the token when there is one. 200 or Graph's 404 mean reachable and answering.

    The caller sends a token only to a host the trusted-host rule allows; without one the request carries
    nothing but its path."""
    path = probe_path(role)
    url = graph_base_url + path
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    started = time.monotonic()
    before = datetime.now(UTC)
    try:
        with httpx.Client(verify=ssl_context(ca_file), timeout=timeout) as client:
            response = client.get(url, headers=headers)
    except httpx.TransportError as exc:
        error: UnreachableError = unreachable(exc, graph_base_url, ca_file)
        return ProbeResult(url, None, error, ms=round((time.monotonic() - started) * 1000))
    after = datetime.now(UTC)
    ms = round((time.monotonic() - started) * 1000)
    request_id = response.headers.get("request-id")
    log.debug("GET %s -> %d request-id=%s %d ms", url, response.status_code, request_id or "-", ms)
    date = _date(response.headers.get("Date"))
    sent_at = before + (after - before) / 2
    status = response.status_code
    body = _json(response)
    problem: GraphError | None = None
    if status == 404 and not (isinstance(body, dict) and isinstance(body.get("error"), dict)):
        problem = error_for("GET", path, status, body, request_id)
        problem.message = "the answer is not Graph's error object: is graph_base_url right (it ends in /beta)?"
    elif status >= 400 and status != 404:
        problem = error_for("GET", path, status, body, request_id)
    return ProbeResult(url, status, problem, date, sent_at, request_id, ms)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
