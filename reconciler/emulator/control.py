"""The control API under ``/_emulator``: directory and trust edits, clock, engine, switches, faults, counters."""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any, Literal
from urllib.parse import parse_qs

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reconciler.emulator import failures, tasks
from reconciler.emulator.auth import thumbprints
from reconciler.emulator.clock import format_time, parse_time
from reconciler.emulator.oidc import JWKS_PATH, issuer_url
from reconciler.emulator.runtime import Runtime
from reconciler.emulator.settings import Behaviour, EngineSettings, Faults
from reconciler.emulator.world import (
    OWN_ISSUER,
    TOKEN_EXCHANGE_AUDIENCE,
    AppRegistration,
    FederatedCredential,
    SeedFederatedCredential,
    SeedGroup,
    SeedSite,
    SeedTenant,
    SeedUser,
    Tenant,
    build_tenant,
    norm_url,
)

Result = tuple[int, Any]

ENDPOINTS = {
    "GET /_emulator": "this index",
    "GET /_emulator/health": "liveness",
    "GET /_emulator/world": "tenants, hosts, apps (without secrets), trust, directory sizes",
    "POST /_emulator/reset": "back to the seed world (secrets, CA and signing key kept)",
    "POST /_emulator/seed": "add tenants / users / sites / groups (body: a seed document fragment)",
    "PUT /_emulator/tenants/{tenant}/users/{upn}": "create or change a user",
    "DELETE /_emulator/tenants/{tenant}/users/{upn}": "remove a user",
    "POST /_emulator/tenants/{tenant}/sites": "create or change a site {url, title, migration_error}",
    "DELETE /_emulator/tenants/{tenant}/sites?url=URL": "remove a site",
    "PUT /_emulator/tenants/{tenant}/groups/{mailNickname}": "create or change a group",
    "DELETE /_emulator/tenants/{tenant}/groups/{mailNickname}": "remove a group and its site",
    "GET /_emulator/tenants/{tenant}/mappings": "every stored user and group mapping of a tenant",
    "PATCH /_emulator/tenants/{tenant}/apps/{client_id}": "set {roles, secrets}",
    "POST /_emulator/tenants/{tenant}/apps/{client_id}/certificates": "register {certificate_pem}",
    "GET /_emulator/tenants/{tenant}/apps/{client_id}/federated-credentials": "the app's federated credentials",
    "PUT /_emulator/tenants/{tenant}/apps/{client_id}/federated-credentials/{name}": "{issuer, subject, audiences}",
    "DELETE /_emulator/tenants/{tenant}/apps/{client_id}/federated-credentials/{name}": "remove one",
    "GET /_emulator/oidc/.well-known/openid-configuration": "the emulator's external OIDC issuer (no key needed)",
    "GET /_emulator/oidc/.well-known/jwks": "the external issuer's signing key (no key needed)",
    "POST /_emulator/oidc/token": "{subject, audience?, lifetime?, age?}: mint an external token (like GitHub's)",
    "PUT /_emulator/trust": "{source, target, established}",
    "GET /_emulator/clock": "emulated time and speed",
    "PUT /_emulator/clock": "{speed?, now?}",
    "POST /_emulator/clock/advance": "{seconds}",
    "GET|PATCH /_emulator/engine": "queue delay, duration, jitter, failure rate",
    "GET|PATCH /_emulator/behaviour": "switches for what the Graph documentation leaves open",
    "GET|PUT|DELETE /_emulator/faults": "fault injection settings",
    "GET|DELETE /_emulator/counters": "requests by endpoint and status",
    "GET /_emulator/tasks": "every task of every tenant with its status now",
    "POST /_emulator/tasks/{id}/force": "{status, error?, failure?}: move a task now (status stuck: stop updating)",
    "POST /_emulator/device-codes/approve": "{user_code, user?}: sign a pending device-code login in",
    "GET /_emulator/managed-identity": "IDENTITY_ENDPOINT and IDENTITY_HEADER per tenant (App Service style)",
}


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserEdit(_In):
    id: str | None = None
    display_name: str | None = None
    one_drive: bool = True
    migration_error: str | None = None


class GroupEdit(_In):
    id: str | None = None
    display_name: str | None = None
    migration_error: str | None = None


class TrustEdit(_In):
    source: str
    target: str
    established: bool = True


class ClockEdit(_In):
    speed: float | None = Field(None, ge=0)
    now: str | None = None


class Advance(_In):
    seconds: float = Field(ge=0)


class AppEdit(_In):
    roles: list[str] | None = None
    secrets: list[str] | None = None


class CertificateIn(_In):
    certificate_pem: str


class FederatedIn(_In):
    issuer: str
    subject: str
    audiences: list[str] = Field(default_factory=lambda: [TOKEN_EXCHANGE_AUDIENCE])


class ExternalTokenIn(_In):
    subject: str = Field(min_length=1)
    audience: str = TOKEN_EXCHANGE_AUDIENCE
    lifetime: int = Field(300, ge=1, le=86_400)  # seconds; GitHub's tokens live minutes
    age: int = Field(0, ge=0, le=86_400 * 30)  # seconds since issue, to mint an already expired token


class ForceIn(_In):
    status: Literal["notStarted", "inProgress", "stuck", "completed", "failed", "cancelled"]
    error: dict[str, Any] | None = None
    failure: str | None = None  # a kind of failures.KINDS, for status failed

    @model_validator(mode="after")
    def _one_error(self) -> ForceIn:
        if self.failure is not None:
            if self.failure not in failures.KINDS:
                raise ValueError(f"unknown failure kind {self.failure!r}; known: {', '.join(failures.KINDS)}")
            if self.status != "failed" or self.error is not None:
                raise ValueError("failure goes with status failed and without error")
        return self


class DeviceApproval(_In):
    user_code: str
    user: str | None = None  # the signed-in user's UPN; default the tenant's first user


class SeedFragment(_In):
    tenants: list[SeedTenant] = Field(default_factory=list)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class ControlApi:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._base_url = "https://localhost"

    async def handle(
        self, method: str, path: str, query: str, body: bytes, client_host: str, headers: dict[str, str]
    ) -> Result:
        if not _is_loopback(client_host):
            return 403, _err("The control API answers loopback clients only.")
        key = self.rt.control_key
        public = method == "GET" and path.rstrip("/") in (
            "/_emulator/oidc/.well-known/openid-configuration",
            "/_emulator/oidc" + JWKS_PATH,
        )  # an OIDC issuer's documents are public: whoever verifies its tokens reads them
        if key is not None and not public and not secrets.compare_digest(headers.get("x-emulator-key", ""), key):
            return 401, _err("The X-Emulator-Key header is missing or wrong.")
        parts = [p for p in path.split("/") if p][1:]
        try:
            data = orjson.loads(body) if body else None
        except orjson.JSONDecodeError as exc:
            return 400, _err(f"The request body is not valid JSON: {exc}.")
        try:
            self._base_url = f"https://{headers.get('host', 'localhost')}"
            return self._dispatch(method, parts, parse_qs(query), data)
        except ControlError as error:
            return error.status, _err(error.message)
        except ValidationError as error:
            return 400, _err(
                "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors())
            )
        except ValueError as error:
            return 400, _err(str(error))

    def _tenant(self, ref: str) -> Tenant:
        tenant = self.rt.world.resolve(ref)
        if tenant is None:
            raise ControlError(404, f"No tenant '{ref}'.")
        return tenant

    def _dispatch(self, method: str, parts: list[str], query: dict[str, list[str]], data: Any) -> Result:
        rt = self.rt
        route = "/".join(parts[:1])
        if not parts:
            return 200, {"endpoints": ENDPOINTS}
        if route == "health" and method == "GET":
            return 200, {"status": "ok", "now": format_time(rt.clock.now())}
        if route == "world" and method == "GET":
            return 200, self._world()
        if route == "reset" and method == "POST":
            rt.reset()
            return 200, self._world()
        if route == "seed" and method == "POST":
            fragment = SeedFragment.model_validate(data or {})
            for spec in fragment.tenants:
                existing = rt.world.by_name(spec.name)
                tenant = build_tenant(spec, existing)
                rt.world.tenants[tenant.tenant_id.lower()] = tenant
            rt.changed()
            return 200, self._world()
        if route == "tenants" and len(parts) >= 3:
            return self._tenant_edit(method, parts, query, data)
        if route == "trust" and method == "PUT":
            edit = TrustEdit.model_validate(data or {})
            src, dst = self._tenant(edit.source), self._tenant(edit.target)
            pair = (src.tenant_id.lower(), dst.tenant_id.lower())
            if edit.established:
                rt.world.trust.add(pair)
            else:
                rt.world.trust.discard(pair)
            rt.changed()
            return 200, self._world()["trust"]
        if route == "clock":
            return self._clock(method, parts, data)
        if route == "engine" and method in ("GET", "PATCH", "PUT"):
            if method != "GET":
                base = rt.engine.model_dump() if method == "PATCH" else {}
                rt.engine = EngineSettings.model_validate({**base, **(data or {})})
                rt.changed()
            return 200, rt.engine.model_dump()
        if route == "behaviour" and method in ("GET", "PATCH", "PUT"):
            if method != "GET":
                base = rt.behaviour.model_dump() if method == "PATCH" else {}
                rt.behaviour = Behaviour.model_validate({**base, **(data or {})})
                rt.changed()
            return 200, rt.behaviour.model_dump()
        if route == "faults" and method in ("GET", "PUT", "DELETE"):
            if method == "PUT":
                rt.faults.configure(Faults.model_validate(data or {}))
                rt.changed()
            elif method == "DELETE":
                rt.faults.configure(Faults())
                rt.changed()
            return 200, rt.faults.faults.model_dump()
        if route == "counters" and method in ("GET", "DELETE"):
            if method == "DELETE":
                rt.counters.clear()
            return 200, {k: dict(v) for k, v in rt.counters.items()}
        if route == "tasks":
            return self._tasks(method, parts, data)
        if route == "device-codes" and parts[1:] == ["approve"] and method == "POST":
            approval = DeviceApproval.model_validate(data or {})
            pending = next(
                (
                    c
                    for c in rt.tokens.delegated.device_codes.values()
                    if c.user_code == approval.user_code.strip().upper()
                ),
                None,
            )
            signing_in = rt.world.resolve(pending.tenant_id) if pending else None
            try:
                code = rt.tokens.delegated.approve(approval.user_code, signing_in, approval.user)
            except KeyError as exc:
                raise ControlError(404, str(exc.args[0])) from exc
            return 200, {"user_code": code.user_code, "user": code.user_upn}
        if route == "oidc":
            return self._oidc(method, parts, data)
        if route == "managed-identity" and method == "GET":
            return 200, {
                t.name: {
                    "endpoint": f"{self._base_url}/{t.tenant_id}/msi/token",
                    "header": rt.tokens.delegated.identity_header,
                }
                for t in rt.world.tenants.values()
            }
        raise ControlError(404, f"No control endpoint {method} /_emulator/{'/'.join(parts)}.")

    def _world(self) -> dict[str, Any]:
        w = self.rt.world
        names = {t.tenant_id.lower(): t.name for t in w.tenants.values()}
        return {
            "source": w.source_name,
            "target": w.target_name,
            "tenants": [
                {
                    "name": t.name,
                    "tenant_id": t.tenant_id,
                    "domain": t.domain,
                    "data_location": t.data_location,
                    "hosts": list(t.hosts),
                    "users": len(t.users_by_upn),
                    "sites": len(t.sites),
                    "groups": len(t.groups_by_id),
                    "user_mappings": len(t.user_mappings),
                    "group_mappings": len(t.group_mappings),
                    "tasks": len(t.tasks),
                    "apps": [_app(a, self._issuer) for a in t.apps.values()],
                }
                for t in w.tenants.values()
            ],
            "trust": sorted(
                ({"source": names.get(src, src), "target": names.get(dst, dst)} for src, dst in w.trust),
                key=lambda pair: (pair["source"], pair["target"]),
            ),
        }

    def _tenant_edit(self, method: str, parts: list[str], query: dict[str, list[str]], data: Any) -> Result:
        rt = self.rt
        tenant = self._tenant(parts[1])
        what = parts[2]
        if what == "mappings" and method == "GET" and len(parts) == 3:
            return 200, {"user_mappings": tenant.user_mappings, "group_mappings": tenant.group_mappings}
        if what == "users" and len(parts) == 4:
            upn = parts[3]
            if method == "DELETE":
                if not tenant.remove_user(upn):
                    raise ControlError(404, f"No user {upn} in {tenant.name}.")
                rt.changed()
                return 200, {"deleted": upn}
            if method == "PUT":
                edit = UserEdit.model_validate(data or {})
                spec = SeedUser(
                    user_principal_name=upn,
                    id=edit.id,
                    display_name=edit.display_name,
                    one_drive=edit.one_drive,
                    migration_error=edit.migration_error,
                )
                build_tenant(SeedTenant(name=tenant.name, users=[spec], apps=[]), tenant)
                rt.changed()
                user = tenant.users_by_upn[upn.lower()]
                return 200, {"id": user.id, "userPrincipalName": user.upn, "oneDriveUrl": user.one_drive_url}
        if what == "sites" and len(parts) == 3:
            if method == "POST":
                site = SeedSite.model_validate(data or {})
                build_tenant(SeedTenant(name=tenant.name, sites=[site], apps=[]), tenant)
                rt.changed()
                return 200, {"url": site.url}
            if method == "DELETE":
                url = (query.get("url") or [""])[0]
                if tenant.sites.pop(norm_url(url), None) is None:
                    raise ControlError(404, f"No site {url} in {tenant.name}.")
                rt.changed()
                return 200, {"deleted": url}
        if what == "groups" and len(parts) == 4:
            nick = parts[3]
            if method == "DELETE":
                if not tenant.remove_group(nick):
                    raise ControlError(404, f"No group {nick} in {tenant.name}.")
                rt.changed()
                return 200, {"deleted": nick}
            if method == "PUT":
                gedit = GroupEdit.model_validate(data or {})
                gspec = SeedGroup(
                    mail_nickname=nick,
                    id=gedit.id,
                    display_name=gedit.display_name,
                    migration_error=gedit.migration_error,
                )
                build_tenant(SeedTenant(name=tenant.name, groups=[gspec], apps=[]), tenant)
                rt.changed()
                group = tenant.groups_by_nick[nick.lower()]
                return 200, {"id": group.id, "mailNickname": group.mail_nickname, "siteUrl": group.site_url}
        if what == "apps" and len(parts) >= 4:
            app = tenant.apps.get(parts[3].lower())
            if app is None:
                raise ControlError(404, f"No app {parts[3]} in {tenant.name}.")
            if len(parts) == 4 and method == "PATCH":
                aedit = AppEdit.model_validate(data or {})
                if aedit.roles is not None:
                    app.roles = list(aedit.roles)
                if aedit.secrets is not None:
                    if not aedit.secrets:
                        raise ControlError(400, "An app needs at least one secret.")
                    app.secrets = list(aedit.secrets)
                rt.changed()
                return 200, _app(app, self._issuer)
            if len(parts) == 5 and parts[4] == "certificates" and method == "POST":
                cert = CertificateIn.model_validate(data or {})
                sha1, sha256 = thumbprints(cert.certificate_pem)
                app.certificates[sha1] = cert.certificate_pem
                rt.changed()
                return 200, {"thumbprint": sha1, "thumbprint_sha256": sha256}
            if len(parts) >= 5 and parts[4] == "federated-credentials":
                return self._federated(app, method, parts[5:], data)
        raise ControlError(404, f"No control endpoint {method} /_emulator/{'/'.join(parts)}.")

    @property
    def _issuer(self) -> str:
        return issuer_url(self._base_url)

    def _federated(self, app: AppRegistration, method: str, rest: list[str], data: Any) -> Result:
        creds = app.federated_credentials
        if not rest and method == "GET":
            return 200, {"value": [_federated(f, self._issuer) for f in creds]}
        if len(rest) == 1 and method == "PUT":
            edit = FederatedIn.model_validate(data or {})
            spec = SeedFederatedCredential(
                name=rest[0], issuer=edit.issuer, subject=edit.subject, audiences=edit.audiences
            )
            others = [f for f in creds if f.name != spec.name]
            if any(f.issuer == spec.issuer and f.subject == spec.subject for f in others):
                raise ControlError(409, "Another federated credential of this app has the same issuer and subject.")
            if len(others) >= 20:
                raise ControlError(400, "An app has at most 20 federated identity credentials.")
            app.federated_credentials = [*others, spec.build()]
            self.rt.changed()
            return 200, _federated(spec.build(), self._issuer)
        if len(rest) == 1 and method == "DELETE":
            if not any(f.name == rest[0] for f in creds):
                raise ControlError(404, f"No federated credential {rest[0]} on app {app.client_id}.")
            app.federated_credentials = [f for f in creds if f.name != rest[0]]
            self.rt.changed()
            return 200, {"deleted": rest[0]}
        raise ControlError(404, "Federated credential endpoints: GET .../federated-credentials, PUT|DELETE .../{name}.")

    def _oidc(self, method: str, parts: list[str], data: Any) -> Result:
        issuer, oidc = self._issuer, self.rt.tokens.oidc
        rest = "/".join(parts[1:])
        if method == "GET" and rest == ".well-known/openid-configuration":
            return 200, oidc.discovery(issuer)
        if method == "GET" and "/" + rest == JWKS_PATH:
            return 200, oidc.jwks()
        if method == "POST" and rest == "token":
            want = ExternalTokenIn.model_validate(data or {})
            token, expires = oidc.mint(issuer, want.subject, want.audience, want.lifetime, want.age)
            return 200, {"value": token, "issuer": issuer, "expires_on": expires}
        raise ControlError(
            404,
            "OIDC issuer endpoints: GET /_emulator/oidc/.well-known/openid-configuration, "
            "GET /_emulator/oidc/.well-known/jwks, POST /_emulator/oidc/token.",
        )

    def _clock(self, method: str, parts: list[str], data: Any) -> Result:
        rt = self.rt
        if len(parts) == 2 and parts[1] == "advance" and method == "POST":
            rt.clock.advance(Advance.model_validate(data or {}).seconds)
        elif len(parts) == 1 and method == "PUT":
            edit = ClockEdit.model_validate(data or {})
            if edit.now is not None:
                rt.clock.set_time(parse_time(edit.now))
            if edit.speed is not None:
                rt.clock.set_speed(edit.speed)
        elif not (len(parts) == 1 and method == "GET"):
            raise ControlError(404, "Clock endpoints: GET/PUT /_emulator/clock, POST /_emulator/clock/advance.")
        rt.changed()
        return 200, rt.clock.to_json()

    def _tasks(self, method: str, parts: list[str], data: Any) -> Result:
        rt = self.rt
        now = rt.clock.now()
        if len(parts) == 1 and method == "GET":
            out = []
            for tenant in rt.world.tenants.values():
                for task in tenant.tasks.values():
                    out.append(
                        {
                            "tenant": tenant.name,
                            "kind": task.kind,
                            "source": task.source_key,
                            **tasks.task_json(task, now),
                        }
                    )
            return 200, {"tasks": out}
        if len(parts) == 3 and parts[2] == "force" and method == "POST":
            force = ForceIn.model_validate(data or {})
            for tenant in rt.world.tenants.values():
                found = tenant.tasks.get(parts[1].lower())
                if found is not None:
                    tasks.force(found, force.status, now, force.error, force.failure)
                    rt.changed()
                    return 200, tasks.task_json(found, now)
            raise ControlError(404, f"No task {parts[1]}.")
        raise ControlError(404, "Task endpoints: GET /_emulator/tasks, POST /_emulator/tasks/{id}/force.")


def _federated(cred: FederatedCredential, own_issuer: str) -> dict[str, Any]:
    issuer = own_issuer if cred.issuer == OWN_ISSUER else cred.issuer
    return {"name": cred.name, "issuer": issuer, "subject": cred.subject, "audiences": cred.audiences}


def _app(app: AppRegistration, own_issuer: str) -> dict[str, Any]:
    return {
        "client_id": app.client_id,
        "roles": app.roles,
        "certificates": sorted(app.certificates),
        "federated_credentials": [_federated(f, own_issuer) for f in app.federated_credentials],
    }


def _err(message: str) -> dict[str, Any]:
    return {"error": {"code": "emulatorControl", "message": message}}
