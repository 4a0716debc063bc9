"""The Entra-like authority: OIDC discovery, JWKS, the v2.0 token endpoint, and bearer-token checks."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from reconciler.emulator.delegated import (
    DEVICE_GRANT,
    GRAPH_RESOURCES,
    DelegatedFlows,
    RefreshGrant,
    client_info,
    delegated_scopes,
)
from reconciler.emulator.errors import GraphError
from reconciler.emulator.oidc import ExternalIssuer
from reconciler.emulator.world import (
    KNOWN_ROLES,
    MANAGE_ROLE,
    OWN_ISSUER,
    READ_ROLE,
    AppRegistration,
    Tenant,
    User,
    World,
)

GRAPH_AUDIENCES = ("https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000")
GRAPH_SCOPES = frozenset(f"{a}/.default" for a in GRAPH_AUDIENCES) | frozenset(
    f"{a}//.default" for a in GRAPH_AUDIENCES
)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW = 300
FEDERATION_DOCS = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
CHECK_FEDERATED = (
    "Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."
)


@dataclass(frozen=True)
class Claims:
    tenant_id: str
    app_id: str
    roles: frozenset[str]
    expires: float


@dataclass
class OAuthError(Exception):
    status: int
    error: str
    code: int
    description: str
    allow: str | None = None  # the Allow header of a 405

    def body(self) -> dict[str, Any]:
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.description} Trace ID: {trace} "
            f"Correlation ID: {corr} Timestamp: {stamp}",
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": "https://login.microsoftonline.com/error?code=" + str(self.code),
        }


def new_signing_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def thumbprints(cert_pem: str) -> tuple[str, str]:
    """(SHA-1 hex, SHA-256 hex) thumbprints of a PEM certificate, upper case."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode("ascii"))
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der).hexdigest().upper(), hashlib.sha256(der).hexdigest().upper()


def _b64url_to_hex(value: str) -> str:
    padded = value + "=" * (-len(value) % 4)
    try:
        return base64.urlsafe_b64decode(padded).hex().upper()
    except (ValueError, TypeError):
        return ""


def _is_federated(app: AppRegistration, assertion: str) -> bool:
    """A certificate assertion has ``iss`` = the app's client id; any other well-formed issuer is federated."""
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False  # the certificate check answers malformed assertions (AADSTS50027)
    iss = claims.get("iss")
    return isinstance(iss, str) and iss.lower() != app.client_id.lower()


def _entra_time(epoch: float) -> str:
    """Entra's timestamps in AADSTS700024: seven fractional digits, ``Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


class TokenService:
    """Issues RS256 access tokens for app registrations and validates them on Graph calls."""

    def __init__(self, signing_key_pem: str, lifetime: int = 3599, oidc_key_pem: str | None = None) -> None:
        key = serialization.load_pem_private_key(signing_key_pem.encode("ascii"), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the token signing key must be an RSA private key")
        self._key: rsa.RSAPrivateKey = key
        self._public = self._key.public_key()
        der = self._public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:15]).decode("ascii")
        self.lifetime = lifetime
        self._cache: dict[str, Claims] = {}
        self.delegated = DelegatedFlows()
        # The external OIDC issuer of workload identity federation (see oidc.py): a key of its own.
        self.oidc = ExternalIssuer(oidc_key_pem or new_signing_key_pem())

    # -- authority documents ----------------------------------------------------------------

    def discovery(self, base: str, tenant: Tenant) -> dict[str, Any]:
        root = f"{base}/{tenant.tenant_id}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{root}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "roles"],
            "kerberos_endpoint": f"{root}/kerberos",
            "tenant_region_scope": "WW",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._public))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    # -- token endpoint ---------------------------------------------------------------------

    def issue(
        self,
        world: World,
        tenant_ref: str,
        token_url: str,
        body: bytes,
        authorization: str | None,
        own_issuer: str | None = None,
    ) -> dict[str, Any]:
        """``own_issuer``: this emulator's OIDC issuer URL, the one federated credentials can name as ``emulator``."""
        tenant = world.resolve(tenant_ref)
        if tenant is None:
            raise OAuthError(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant_ref}' not found. Check to make sure "
                "you have the correct tenant ID and are signing into the correct cloud.",
            )
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError as exc:
            raise OAuthError(400, "invalid_request", 900144, "The request body is not valid form data.") from exc
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        if grant in (DEVICE_GRANT, "refresh_token"):
            return self._delegated_grant(world, tenant, grant, form)
        if grant != "client_credentials":
            raise OAuthError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        client_id = form.get("client_id")
        basic_secret: str | None = None
        if authorization and authorization.lower().startswith("basic "):
            try:
                user, _, pw = base64.b64decode(authorization[6:]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise OAuthError(401, "invalid_client", 7000215, "Invalid client secret provided.") from exc
            client_id, basic_secret = unquote(user), unquote(pw)
        if not client_id:
            raise OAuthError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        scope = form.get("scope", "")
        if scope.strip() not in GRAPH_SCOPES:
            raise OAuthError(
                400,
                "invalid_scope",
                70011,
                f"The provided request must include a 'scope' input "
                f"parameter. The provided value for the input parameter 'scope' is not valid "
                f"('{scope}'). The scope https://graph.microsoft.com/.default is the one supported.",
            )
        app = tenant.apps.get(client_id.lower())
        if app is None:
            raise OAuthError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant.domain}'.",
            )
        secret = basic_secret if basic_secret is not None else form.get("client_secret")
        assertion = form.get("client_assertion")
        if secret is not None:
            if not any(secrets.compare_digest(secret, s) for s in app.secrets):
                raise OAuthError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the "
                    f"secret being sent in the request is the client secret value, not the client "
                    f"secret ID, for a secret added to app '{app.client_id}'.",
                )
        elif assertion is not None:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise OAuthError(400, "invalid_request", 700003, "client_assertion_type must be " + ASSERTION_TYPE)
            if _is_federated(app, assertion):
                self._check_federated(app, assertion, own_issuer)
            else:
                self._check_assertion(app, assertion, token_url)
        else:
            raise OAuthError(
                401,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
            )
        return {
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "ext_expires_in": self.lifetime,
            "access_token": self.mint(tenant, app),
        }

    def _check_assertion(self, app: AppRegistration, assertion: str, token_url: str) -> None:
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as exc:
            raise OAuthError(401, "invalid_client", 50027, f"JWT token is invalid or malformed ({exc}).") from exc
        wanted = None
        if "x5t#S256" in header:
            wanted = ("sha256", _b64url_to_hex(str(header["x5t#S256"])))
        elif "x5t" in header:
            wanted = ("sha1", _b64url_to_hex(str(header["x5t"])))
        cert_pem = None
        for pem in app.certificates.values():
            s1, s256 = thumbprints(pem)
            if (
                wanted is None
                or (wanted[0] == "sha1" and wanted[1] == s1)
                or (wanted[0] == "sha256" and wanted[1] == s256)
            ):
                cert_pem = pem
                break
        if cert_pem is None:
            raise OAuthError(
                401,
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the "
                f"client assertion is not registered on application '{app.client_id}'.",
            )
        public = x509.load_pem_x509_certificate(cert_pem.encode("ascii")).public_key()
        try:
            claims = jwt.decode(
                assertion,
                key=public,  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"],
                audience=[token_url, token_url.replace("/oauth2/v2.0/token", "/oauth2/token")],
                leeway=CLOCK_SKEW,
                options={"require": ["exp", "aud", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise OAuthError(
                401, "invalid_client", 700024, "Client assertion is not within its valid time range."
            ) from exc
        except jwt.InvalidAudienceError as exc:
            raise OAuthError(
                401,
                "invalid_client",
                700212,
                f"No matching federated identity record found for "
                f"presented assertion audience; expected '{token_url}'.",
            ) from exc
        except jwt.PyJWTError as exc:
            raise OAuthError(
                401, "invalid_client", 700027, f"Client assertion failed signature validation. ({exc})"
            ) from exc
        if (
            str(claims.get("iss")).lower() != app.client_id.lower()
            or str(claims.get("sub")).lower() != app.client_id.lower()
        ):
            raise OAuthError(
                401,
                "invalid_client",
                700023,
                "Client assertion audience claim does not match Realm issuer, or iss and sub are not the client id.",
            )

    def _check_federated(self, app: AppRegistration, assertion: str, own_issuer: str | None) -> None:
        """Workload identity federation: an external token whose ``iss`` is a federated issuer of the app."""
        unverified = jwt.decode(assertion, options={"verify_signature": False})
        iss, sub, aud = str(unverified.get("iss", "")), str(unverified.get("sub", "")), unverified.get("aud", "")
        audiences = [str(a) for a in aud] if isinstance(aud, list) else [str(aud)]

        def issuer_of(cred_issuer: str) -> str | None:
            return own_issuer if cred_issuer == OWN_ISSUER else cred_issuer

        # Matching is exact and case-sensitive, as Entra's is.
        by_issuer = [f for f in app.federated_credentials if issuer_of(f.issuer) == iss]
        if not by_issuer:
            raise OAuthError(
                401,
                "invalid_client",
                700211,
                f"No matching federated identity record found for presented assertion issuer '{iss}'. "
                f"{CHECK_FEDERATED} {FEDERATION_DOCS}",
            )
        if own_issuer is None or iss != own_issuer:
            # Entra would fetch {iss}/.well-known/openid-configuration; the emulator works offline.
            raise OAuthError(
                401,
                "invalid_client",
                50166,
                f"Request to External OIDC endpoint failed. The issuer '{iss}' cannot be reached from the "
                "emulator, which verifies tokens of its own issuer only.",
            )
        try:
            header = jwt.get_unverified_header(assertion)
            if header.get("kid") not in (None, self.oidc.kid):
                raise OAuthError(
                    401,
                    "invalid_client",
                    50013,
                    f"Assertion failed signature validation. [Reason - The key was not found., "
                    f"Thumbprint of key used by client: '{header.get('kid')}']",
                )
            jwt.decode(
                assertion,
                key=self.oidc.public,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_nbf": False, "verify_aud": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise OAuthError(
                401, "invalid_client", 50013, f"Assertion failed signature validation. [Reason - {exc}.]"
            ) from exc
        now = time.time()
        exp, nbf = unverified.get("exp"), unverified.get("nbf", unverified.get("iat"))
        if (
            not isinstance(exp, int | float)
            or exp + CLOCK_SKEW < now
            or (isinstance(nbf, int | float) and nbf - CLOCK_SKEW > now)
        ):
            valid_from = _entra_time(float(nbf)) if isinstance(nbf, int | float) else _entra_time(0)
            expiry = _entra_time(float(exp)) if isinstance(exp, int | float) else _entra_time(0)
            raise OAuthError(
                401,
                "invalid_client",
                700024,
                f"Client assertion is not within its valid time range. Current time: {_entra_time(now)}, "
                f"assertion valid from {valid_from}, expiry time of assertion {expiry}. Review the documentation "
                "at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
            )
        by_audience = [f for f in by_issuer if any(a in f.audiences for a in audiences)]
        if not by_audience:
            raise OAuthError(
                401,
                "invalid_client",
                700212,
                f"No matching federated identity record found for presented assertion audience "
                f"'{', '.join(audiences)}'. {CHECK_FEDERATED} {FEDERATION_DOCS}",
            )
        if not any(f.subject == sub for f in by_audience):
            raise OAuthError(
                400,
                "invalid_request",
                70021,
                f"No matching federated identity record found for presented assertion. Assertion Issuer: "
                f"'{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{', '.join(audiences)}'. "
                f"{FEDERATION_DOCS}",
            )

    def mint(self, tenant: Tenant, app: AppRegistration, user: User | None = None) -> str:
        """An access token: app-only (``roles``), or delegated for ``user`` (``scp``)."""
        now = int(time.time())
        claims = {
            "aud": GRAPH_AUDIENCES[0],
            "iss": f"https://sts.windows.net/{tenant.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime,
            "app_displayname": app.display_name,
            "appid": app.client_id,
            "appidacr": "1",
            "azp": app.client_id,
            "idp": f"https://sts.windows.net/{tenant.tenant_id}/",
            "idtyp": "app",
            "oid": app.service_principal_id,
            "sub": app.service_principal_id,
            "roles": sorted(r for r in app.roles if r in KNOWN_ROLES) or None,
            "tid": tenant.tenant_id,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }
        if user is not None:
            claims.update(
                {
                    "idtyp": "user",
                    "oid": user.id,
                    "sub": user.id,
                    "upn": user.upn,
                    "name": user.display_name,
                    "scp": delegated_scopes(app),
                    "roles": None,
                }
            )
        claims = {k: val for k, val in claims.items() if val is not None}
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    # -- delegated and managed identity ---------------------------------------------------------

    def device_code(self, world: World, tenant_ref: str, body: bytes, base_url: str) -> dict[str, Any]:
        tenant = world.resolve(tenant_ref)
        if tenant is None:
            raise OAuthError(400, "invalid_tenant", 90002, f"Tenant '{tenant_ref}' not found.")
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        client_id = form.get("client_id", "")
        if tenant.apps.get(client_id.lower()) is None:
            raise OAuthError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory.",
            )
        scopes = form.get("scope", "").split()
        if not any(s.startswith(GRAPH_AUDIENCES) for s in scopes):
            raise OAuthError(400, "invalid_scope", 70011, "The scope must name a Microsoft Graph permission.")
        return self.delegated.start(tenant, client_id, base_url)

    def _delegated_grant(self, world: World, tenant: Tenant, grant: str, form: dict[str, str]) -> dict[str, Any]:
        client_id = form.get("client_id", "")
        app = tenant.apps.get(client_id.lower())
        if app is None:
            raise OAuthError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory.",
            )
        if grant == "refresh_token":
            refresh = self.delegated.refresh_tokens.get(form.get("refresh_token", ""))
            if refresh is None or refresh.client_id.lower() != client_id.lower():
                raise OAuthError(400, "invalid_grant", 70000, "The provided refresh token is invalid or expired.")
            upn = refresh.user_upn
        else:
            code = self.delegated.device_codes.get(form.get("device_code", ""))
            if code is None or code.redeemed or code.client_id.lower() != client_id.lower():
                raise OAuthError(400, "invalid_grant", 70000, "The provided device code is invalid or was redeemed.")
            if time.time() > code.expires_at:
                raise OAuthError(400, "expired_token", 70020, "The provided device code has expired.")
            if code.user_upn is None:
                raise OAuthError(
                    400,
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                )
            code.redeemed = True
            upn = code.user_upn
        user = tenant.users_by_upn.get(upn.lower())
        if user is None:
            raise OAuthError(400, "invalid_grant", 50034, f"The user account {upn} does not exist in the directory.")
        refresh_token = secrets.token_urlsafe(32)
        self.delegated.refresh_tokens[refresh_token] = RefreshGrant(tenant.tenant_id, app.client_id, user.upn)
        scopes = delegated_scopes(app)
        return {
            "token_type": "Bearer",
            "scope": " ".join(f"{GRAPH_AUDIENCES[0]}/{s}" for s in scopes.split()) + " openid profile offline_access",
            "expires_in": self.lifetime,
            "ext_expires_in": self.lifetime,
            "access_token": self.mint(tenant, app, user),
            "refresh_token": refresh_token,
            "id_token": self._id_token(tenant, app, user),
            "client_info": client_info(user, tenant),
        }

    def _id_token(self, tenant: Tenant, app: AppRegistration, user: User) -> str:
        now = int(time.time())
        claims = {
            "aud": app.client_id,
            "iss": f"https://login.microsoftonline.com/{tenant.tenant_id}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime,
            "name": user.display_name,
            "oid": user.id,
            "preferred_username": user.upn,
            "sub": user.id,
            "tid": tenant.tenant_id,
            "ver": "2.0",
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    def managed_identity(
        self, world: World, tenant_ref: str, query: str, identity_header: str | None
    ) -> dict[str, Any]:
        """App Service's managed identity endpoint; errors are raised as (status, message) tuples."""
        tenant = world.resolve(tenant_ref)
        if tenant is None:
            raise ManagedIdentityError(404, f"No tenant {tenant_ref}.")
        if not identity_header or not secrets.compare_digest(identity_header, self.delegated.identity_header):
            raise ManagedIdentityError(401, "The X-IDENTITY-HEADER header is missing or wrong.")
        params = dict(parse_qsl(query, keep_blank_values=True))
        if params.get("resource") not in GRAPH_RESOURCES:
            raise ManagedIdentityError(400, f"The resource {params.get('resource')!r} is not Microsoft Graph.")
        wanted = params.get("client_id")
        apps = list(tenant.apps.values())
        app = tenant.apps.get(wanted.lower()) if wanted else (apps[0] if apps else None)
        if app is None:
            raise ManagedIdentityError(400, f"No managed identity with client id {wanted} is assigned.")
        expires_on = int(time.time()) + self.lifetime
        return {
            "access_token": self.mint(tenant, app),
            "expires_on": str(expires_on),
            "resource": params["resource"],
            "token_type": "Bearer",
            "client_id": app.client_id,
        }

    # -- bearer checks on Graph calls ---------------------------------------------------------

    def authenticate(self, world: World, authorization: str | None) -> Claims:
        if not authorization:
            raise _unauthenticated("Access token is empty.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated("Access token is empty or the authorization scheme is not Bearer.")
        token = token.strip()
        claims = self._cache.get(token)
        if claims is None:
            claims = self._verify(world, token)
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[token] = claims
        if claims.expires < time.time():
            raise _unauthenticated("Lifetime validation failed, the token is expired.")
        if claims.tenant_id not in world.tenants:
            raise _unauthenticated("Access token validation failure: the tenant of the token is unknown.")
        return claims

    def _verify(self, world: World, token: str) -> Claims:
        try:
            decoded = jwt.decode(
                token,
                self._public,
                algorithms=["RS256"],
                audience=list(GRAPH_AUDIENCES),
                leeway=0,
                options={"require": ["exp", "tid", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _unauthenticated("Lifetime validation failed, the token is expired.") from exc
        except jwt.InvalidAudienceError as exc:
            raise _unauthenticated("Access token validation failure. Invalid audience.") from exc
        except jwt.InvalidSignatureError as exc:
            raise _unauthenticated("Access token validation failure. Invalid signature.") from exc
        except jwt.DecodeError as exc:
            raise _unauthenticated("IDX14100: JWT is not well formed.") from exc
        except jwt.PyJWTError as exc:
            raise _unauthenticated(f"Access token validation failure. {exc}") from exc
        # Application tokens carry ``roles``; delegated ones carry the same permissions in ``scp``.
        roles = decoded.get("roles") or str(decoded.get("scp", "")).split()
        return Claims(
            str(decoded["tid"]).lower(),
            str(decoded.get("appid", "")),
            frozenset(roles),
            float(decoded["exp"]),
        )


@dataclass
class ManagedIdentityError(Exception):
    status: int
    message: str


def require_role(claims: Claims, write: bool, manage_implies_read: bool) -> None:
    if write:
        ok = MANAGE_ROLE in claims.roles
        needed = MANAGE_ROLE
    else:
        ok = READ_ROLE in claims.roles or (manage_implies_read and MANAGE_ROLE in claims.roles)
        needed = READ_ROLE
    if not ok:
        raise GraphError(403, "accessDenied", f"Access denied. The application needs the {needed} permission.")


def _unauthenticated(message: str) -> GraphError:
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        message,
        {
            "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
            'authorize", client_id="00000003-0000-0000-c000-000000000000"'
        },
    )
