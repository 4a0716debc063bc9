"""The emulator as an external OIDC issuer (like GitHub Actions' or a Kubernetes API server's token service).

Workload identity federation trades a token of an external issuer for an Entra access token. For tests
and demos the emulator is that issuer too: ``{control_url}/oidc`` serves discovery and JWKS (its own
signing key, not the one Entra-like access tokens are signed with) and mints tokens on request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER_PATH = "/_emulator/oidc"
JWKS_PATH = "/.well-known/jwks"


def issuer_url(base_url: str) -> str:
    """This emulator's issuer as seen from ``base_url`` (``https://host:port``)."""
    return base_url.rstrip("/") + ISSUER_PATH


class ExternalIssuer:
    def __init__(self, key_pem: str) -> None:
        key = serialization.load_pem_private_key(key_pem.encode("ascii"), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the OIDC issuer key must be an RSA private key")
        self.key_pem = key_pem
        self._key: rsa.RSAPrivateKey = key
        self.public = key.public_key()
        der = self.public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:15]).decode("ascii")

    def discovery(self, issuer: str) -> dict[str, Any]:
        return {
            "issuer": issuer,
            "jwks_uri": issuer + JWKS_PATH,
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.public))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def mint(self, issuer: str, subject: str, audience: str, lifetime: int, age: int = 0) -> tuple[str, int]:
        """(token, exp): a token issued ``age`` seconds ago that lives ``lifetime`` seconds."""
        issued = int(time.time()) - age
        claims = {
            "iss": issuer,
            "sub": subject,
            "aud": audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "jti": secrets.token_hex(16),
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})
        return token, issued + lifetime
