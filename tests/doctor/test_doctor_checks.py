"""The doctor's local judgements, without a network: clock skew, certificate files, a token's roles."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from reconciler.graph.config import Certificate
from reconciler.graph.diagnose import (
    CertificateProblem,
    ProbeResult,
    TokenUnreadable,
    granted_roles,
    inspect_certificate,
    token_claims,
)
from reconciler.operations.doctor import clock_check
from tests.doctor.helpers import certificate_pem, days_from_now

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def _answer(server_ahead_by: float) -> ProbeResult:
    return ProbeResult("https://graph", 404, None, NOW + timedelta(seconds=server_ahead_by), NOW)


def test_clock_skew_over_five_minutes_warns_and_says_which_way() -> None:
    check = clock_check([_answer(2), _answer(-420)])
    assert check.status == "warn"
    assert check.detail == "the local clock is 420 s ahead of Graph's Date header"
    assert "NTP" in str(check.fix)
    assert clock_check([_answer(301)]).detail == "the local clock is 301 s behind Graph's Date header"


def test_a_small_skew_passes_and_no_answer_is_skipped() -> None:
    assert clock_check([_answer(1.6)]).detail == "the local clock agrees with Graph's Date header (within 2 s)"
    assert clock_check([_answer(-2.4)]).detail == "the local clock is 2 s ahead of Graph's Date header"
    assert clock_check([_answer(-300)]).status == "pass"
    assert clock_check([ProbeResult("https://graph", 404, None)]).status == "skip"
    assert clock_check([]).status == "skip"


def _jwt(payload: object) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"e30.{body}.c2ln"


def test_roles_come_from_the_roles_claim_or_a_delegated_tokens_scopes() -> None:
    assert granted_roles(token_claims(_jwt({"roles": ["A", "B"]}))) == {"A", "B"}
    assert granted_roles(token_claims(_jwt({"scp": "A B"}))) == {"A", "B"}
    assert granted_roles(token_claims(_jwt({"tid": "x"}))) == set()
    for bad in ("opaque-token", "a.!!!.c", _jwt(["not", "an", "object"])):
        with pytest.raises(TokenUnreadable):
            token_claims(bad)


def _pem_file(tmp_path: Path, *parts: str) -> Path:
    path = tmp_path / "app.pem"
    path.write_text("".join(parts))
    return path


def test_a_certificate_file_is_read_for_its_validity_and_thumbprint(tmp_path: Path) -> None:
    key_pem, cert_pem = certificate_pem(days_from_now(-1), days_from_now(90))
    facts = inspect_certificate(Certificate("client", _pem_file(tmp_path, key_pem, cert_pem)))
    assert facts.subject == "CN=doctor test app"
    assert len(facts.thumbprint) == 40
    assert facts.thumbprint == facts.thumbprint.upper()
    assert facts.not_before < datetime.now(UTC) < facts.not_after


def test_certificate_files_that_cannot_sign_in_are_named_without_quoting_them(tmp_path: Path) -> None:
    key_pem, cert_pem = certificate_pem(days_from_now(-1), days_from_now(90))
    other_key, _ = certificate_pem(days_from_now(-1), days_from_now(90))
    cases = {
        "the private key does not belong to the certificate in it": (other_key + cert_pem, None),
        "holds no PEM certificate": (key_pem, None),
        "holds no PEM private key": (cert_pem, None),
        "the private key is not encrypted; drop the password": (key_pem + cert_pem, "pw"),
    }
    for expected, (content, password) in cases.items():
        path = _pem_file(tmp_path, content)
        secret = SecretStr(password) if password else None
        with pytest.raises(CertificateProblem) as caught:
            inspect_certificate(Certificate("client", path, secret))
        assert str(caught.value) == f"certificate file {path}: {expected}"


def test_an_encrypted_key_needs_its_password(tmp_path: Path) -> None:
    key_pem, cert_pem = certificate_pem(days_from_now(-1), days_from_now(90))
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"right"),
    ).decode()
    path = _pem_file(tmp_path, encrypted, cert_pem)
    assert inspect_certificate(Certificate("client", path, SecretStr("right"))).subject == "CN=doctor test app"
    with pytest.raises(CertificateProblem, match=r"the password is wrong$"):
        inspect_certificate(Certificate("client", path, SecretStr("wrong")))
    with pytest.raises(CertificateProblem, match=r"the private key is encrypted and no password was given$"):
        inspect_certificate(Certificate("client", path))
