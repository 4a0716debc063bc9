"""Helpers for the doctor tests: workspaces with other credentials, certificates with chosen validity, the CLI."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.conftest import run_cli


def doctor(workspace: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """``reconciler doctor WORKSPACE --format json``: the exit code and the checks by name."""
    out = run_cli("doctor", str(workspace), "--format", "json", *args, env=env)
    assert out.stderr == "", out.stderr
    report = json.loads(out.stdout)
    return out.returncode, report


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


def set_credentials(workspace: Path, role: str, lines: str) -> None:
    """Give ``role`` a ``credentials:`` block (YAML lines indented by four) in the quickstart's reconciler.yaml."""
    config = workspace / "reconciler.yaml"
    text = config.read_text()
    before = "target:\n" if role == "source" else "emulator:\n"
    assert text.count(before) == 1
    config.write_text(text.replace(before, f"  credentials:\n{lines}{before}"))


def certificate_pem(not_before: datetime, not_after: datetime) -> tuple[str, str]:
    """(private key PEM, certificate PEM) of a self-signed RSA certificate valid between the two times."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "doctor test app")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def days_from_now(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
