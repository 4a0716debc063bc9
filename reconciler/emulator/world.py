"""The emulated directory: tenants, users, sites, groups, app registrations, trust, stored data.

Also the seed format (validated with pydantic) and the documented default world.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reconciler.emulator.settings import Behaviour, EngineSettings, Faults

# Fixed namespace so the default world's ids are the same on every machine (docs and tests rely on it).
ID_NAMESPACE = uuid.UUID("2f0b6d3c-7a4e-4b59-9c31-5e0c2d9a8b17")
READ_ROLE = "SharePointCrossTenantMigration.Read.All"
MANAGE_ROLE = "SharePointCrossTenantMigration.Manage.All"
KNOWN_ROLES = (READ_ROLE, MANAGE_ROLE)
# Workload identity federation: the audience Entra expects in external tokens, and the default world's credential.
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
OWN_ISSUER = "emulator"  # stands for this emulator's own OIDC issuer, {control_url}/oidc, whatever its port
DEFAULT_FEDERATED_NAME = "emulator-ci"
DEFAULT_FEDERATED_SUBJECT = "repo:contoso/migration:ref:refs/heads/main"


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, ":".join(p.lower() for p in parts)))


def norm_url(url: str) -> str:
    return url.strip().rstrip("/").lower()


@dataclass
class User:
    id: str
    upn: str
    display_name: str
    one_drive_url: str | None
    migration_error: str | None = None


@dataclass
class Site:
    url: str
    title: str
    group_id: str | None = None
    migration_error: str | None = None


@dataclass
class Group:
    id: str
    mail_nickname: str
    display_name: str
    site_url: str
    migration_error: str | None = None


@dataclass
class FederatedCredential:
    """A federated identity credential: tokens of ``issuer`` about ``subject`` for one of ``audiences``."""

    name: str
    issuer: str  # an issuer URL, or OWN_ISSUER for this emulator's own issuer
    subject: str
    audiences: list[str]


@dataclass
class AppRegistration:
    client_id: str
    display_name: str
    secrets: list[str]
    roles: list[str]
    # SHA-1 thumbprint (hex, upper case) -> certificate PEM
    certificates: dict[str, str] = field(default_factory=dict)
    federated_credentials: list[FederatedCredential] = field(default_factory=list)

    @property
    def service_principal_id(self) -> str:
        return stable_id("sp", self.client_id)


@dataclass
class Task:
    """A stored migration task; its status is derived from the clock (see ``tasks.snapshot``)."""

    id: str
    kind: str  # user | site | group
    source_key: str
    target_tenant_id: str
    parameters: dict[str, Any]
    created: datetime
    start_at: datetime
    duration: float
    latest_start: datetime | None
    error: dict[str, Any] | None
    cancelled_at: datetime | None = None
    stuck_at: datetime | None = None  # stops updating from then on: inProgress for ever


@dataclass
class Tenant:
    name: str
    tenant_id: str
    domain: str
    data_location: str
    farm: str
    users_by_upn: dict[str, User] = field(default_factory=dict)
    users_by_id: dict[str, User] = field(default_factory=dict)
    sites: dict[str, Site] = field(default_factory=dict)
    groups_by_id: dict[str, Group] = field(default_factory=dict)
    groups_by_nick: dict[str, Group] = field(default_factory=dict)
    apps: dict[str, AppRegistration] = field(default_factory=dict)
    user_mappings: dict[str, dict[str, Any]] = field(default_factory=dict)
    group_mappings: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    tasks_by_source: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.domain.split(".", 1)[0]

    @property
    def root_host(self) -> str:
        return f"https://{self.label}.sharepoint.com"

    @property
    def my_host(self) -> str:
        return f"https://{self.label}-my.sharepoint.com"

    @property
    def admin_host(self) -> str:
        return f"https://{self.label}-admin.sharepoint.com"

    @property
    def hosts(self) -> tuple[str, str, str]:
        return (self.root_host, self.my_host, self.admin_host)

    def one_drive_url(self, upn: str) -> str:
        safe = upn.lower().replace("@", "_").replace(".", "_")
        return f"{self.my_host}/personal/{safe}"

    def add_user(self, user: User) -> None:
        old = self.users_by_upn.pop(user.upn.lower(), None)
        if old is not None:
            self.users_by_id.pop(old.id.lower(), None)
        self.users_by_upn[user.upn.lower()] = user
        self.users_by_id[user.id.lower()] = user

    def remove_user(self, upn: str) -> bool:
        old = self.users_by_upn.pop(upn.lower(), None)
        if old is None:
            return False
        self.users_by_id.pop(old.id.lower(), None)
        return True

    def add_group(self, group: Group) -> None:
        old = self.groups_by_nick.pop(group.mail_nickname.lower(), None)
        if old is not None:
            self.groups_by_id.pop(old.id.lower(), None)
            self.sites.pop(norm_url(old.site_url), None)
        self.groups_by_nick[group.mail_nickname.lower()] = group
        self.groups_by_id[group.id.lower()] = group
        self.sites[norm_url(group.site_url)] = Site(group.site_url, group.display_name, group.id)

    def remove_group(self, nickname: str) -> bool:
        old = self.groups_by_nick.pop(nickname.lower(), None)
        if old is None:
            return False
        self.groups_by_id.pop(old.id.lower(), None)
        self.sites.pop(norm_url(old.site_url), None)
        return True

    def add_task(self, task: Task) -> None:
        self.tasks[task.id] = task
        self.tasks_by_source.setdefault((task.kind, task.source_key), []).append(task.id)

    def clear_data(self) -> None:
        self.user_mappings.clear()
        self.group_mappings.clear()
        self.tasks.clear()
        self.tasks_by_source.clear()


@dataclass
class World:
    tenants: dict[str, Tenant]  # by tenant id (lower)
    trust: set[tuple[str, str]]  # (source tenant id, target tenant id)
    source_name: str
    target_name: str

    def by_name(self, name: str) -> Tenant | None:
        for tenant in self.tenants.values():
            if tenant.name.lower() == name.lower():
                return tenant
        return None

    def resolve(self, ref: str) -> Tenant | None:
        """A tenant by id, domain or name (Entra accepts id or domain in authority URLs)."""
        ref = ref.lower()
        if ref in self.tenants:
            return self.tenants[ref]
        for tenant in self.tenants.values():
            if ref in (tenant.domain.lower(), tenant.name.lower()):
                return tenant
        return None

    def by_host(self, host: str) -> Tenant | None:
        host = norm_url(host)
        for tenant in self.tenants.values():
            if host in tenant.hosts:
                return tenant
        return None

    def find_app(self, client_id: str) -> tuple[Tenant, AppRegistration] | None:
        for tenant in self.tenants.values():
            app = tenant.apps.get(client_id.lower())
            if app is not None:
                return tenant, app
        return None


# ---------------------------------------------------------------------------------------------
# Seed format


class _Seed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeedUser(_Seed):
    user_principal_name: str
    id: uuid.UUID | None = None
    display_name: str | None = None
    one_drive: bool = True
    migration_error: str | None = None


class SeedSite(_Seed):
    url: str
    title: str | None = None
    migration_error: str | None = None

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("a site URL must start with https://")
        return value.rstrip("/")


class SeedGroup(_Seed):
    mail_nickname: str
    id: uuid.UUID | None = None
    display_name: str | None = None
    migration_error: str | None = None


class SeedFederatedCredential(_Seed):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,119}$")
    issuer: str = Field(min_length=1, description="An issuer URL, or `emulator` for the emulator's own issuer.")
    subject: str = Field(min_length=1, max_length=600)
    audiences: list[str] = Field(default_factory=lambda: [TOKEN_EXCHANGE_AUDIENCE], min_length=1, max_length=1)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        if value != OWN_ISSUER and not value.startswith("https://"):
            raise ValueError(f"an issuer is an https:// URL or {OWN_ISSUER!r} (this emulator's own issuer)")
        return value

    def build(self) -> FederatedCredential:
        return FederatedCredential(self.name, self.issuer, self.subject, list(self.audiences))


def _default_federated() -> list[SeedFederatedCredential]:
    return [SeedFederatedCredential(name=DEFAULT_FEDERATED_NAME, issuer=OWN_ISSUER, subject=DEFAULT_FEDERATED_SUBJECT)]


class SeedApp(_Seed):
    client_id: uuid.UUID | None = None
    client_secret: str | None = None
    display_name: str = "reconciler"
    roles: list[str] = Field(default_factory=lambda: list(KNOWN_ROLES))
    federated_credentials: list[SeedFederatedCredential] = Field(default_factory=_default_federated, max_length=20)


class SeedGenerate(_Seed):
    users: int = Field(0, ge=0, le=100_000)
    sites: int = Field(0, ge=0, le=100_000)
    groups: int = Field(0, ge=0, le=100_000)


class SeedTenant(_Seed):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
    tenant_id: uuid.UUID | None = None
    domain: str | None = None
    data_location: str = "NAM"
    farm: str | None = None
    generate: SeedGenerate = Field(default_factory=SeedGenerate)
    users: list[SeedUser] = Field(default_factory=list)
    sites: list[SeedSite] = Field(default_factory=list)
    groups: list[SeedGroup] = Field(default_factory=list)
    apps: list[SeedApp] = Field(default_factory=lambda: [SeedApp()])


class SeedTrust(_Seed):
    source: str
    target: str


class SeedConnection(_Seed):
    source: str
    target: str


class Seed(_Seed):
    tenants: list[SeedTenant] = Field(min_length=2)
    trust: list[SeedTrust] = Field(default_factory=list)
    connection: SeedConnection | None = None
    behaviour: Behaviour = Field(default_factory=Behaviour)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    faults: Faults = Field(default_factory=Faults)


def default_seed() -> Seed:
    """The documented default world (README, ``specs/graph/emulator.md``)."""
    gen = SeedGenerate(users=50, sites=10, groups=10)
    return Seed(
        tenants=[
            SeedTenant(name="contoso", generate=gen, data_location="NAM"),
            SeedTenant(name="fabrikam", generate=gen, data_location="NAM"),
        ],
        trust=[
            SeedTrust(source="contoso", target="fabrikam"),
            SeedTrust(source="fabrikam", target="contoso"),
        ],
        connection=SeedConnection(source="contoso", target="fabrikam"),
    )


def build_tenant(spec: SeedTenant, existing: Tenant | None = None) -> Tenant:
    domain = spec.domain or f"{spec.name.lower()}.onmicrosoft.com"
    tenant_id = str(spec.tenant_id) if spec.tenant_id else stable_id("tenant", spec.name)
    tenant = existing or Tenant(
        name=spec.name,
        tenant_id=tenant_id,
        domain=domain,
        data_location=spec.data_location.upper(),
        farm=spec.farm or f"farm-{tenant_id}",
    )
    for i in range(1, spec.generate.users + 1):
        upn = f"user{i:03d}@{tenant.domain}"
        tenant.add_user(User(stable_id("user", tenant.name, upn), upn, f"User {i:03d}", tenant.one_drive_url(upn)))
    for i in range(1, spec.generate.sites + 1):
        url = f"{tenant.root_host}/sites/site{i:02d}"
        tenant.sites[norm_url(url)] = Site(url, f"Site {i:02d}")
    for i in range(1, spec.generate.groups + 1):
        nick = f"group{i:02d}"
        tenant.add_group(
            Group(
                stable_id("group", tenant.name, nick),
                nick,
                f"Group {i:02d}",
                f"{tenant.root_host}/sites/{nick}",
            )
        )
    for u in spec.users:
        tenant.add_user(
            User(
                str(u.id) if u.id else stable_id("user", tenant.name, u.user_principal_name),
                u.user_principal_name,
                u.display_name or u.user_principal_name.split("@", 1)[0],
                tenant.one_drive_url(u.user_principal_name) if u.one_drive else None,
                u.migration_error,
            )
        )
    for s in spec.sites:
        tenant.sites[norm_url(s.url)] = Site(s.url, s.title or s.url.rsplit("/", 1)[-1], None, s.migration_error)
    for g in spec.groups:
        tenant.add_group(
            Group(
                str(g.id) if g.id else stable_id("group", tenant.name, g.mail_nickname),
                g.mail_nickname,
                g.display_name or g.mail_nickname,
                f"{tenant.root_host}/sites/{g.mail_nickname}",
                g.migration_error,
            )
        )
    if existing is None:
        for index, a in enumerate(spec.apps):
            client_id = str(a.client_id) if a.client_id else stable_id("app", tenant.name, str(index))
            tenant.apps[client_id.lower()] = AppRegistration(
                client_id,
                a.display_name,
                [a.client_secret or secrets.token_urlsafe(30)],
                list(a.roles),
                federated_credentials=[f.build() for f in a.federated_credentials],
            )
    return tenant


def build_world(seed: Seed) -> World:
    tenants: dict[str, Tenant] = {}
    names: set[str] = set()
    for spec in seed.tenants:
        if spec.name.lower() in names:
            raise ValueError(f"tenant '{spec.name}' is declared twice")
        names.add(spec.name.lower())
        tenant = build_tenant(spec)
        tenants[tenant.tenant_id.lower()] = tenant
    world = World(tenants, set(), seed.tenants[0].name, seed.tenants[1].name)
    for t in seed.trust:
        src, dst = world.by_name(t.source), world.by_name(t.target)
        if src is None or dst is None:
            raise ValueError(f"trust names an unknown tenant: {t.source} -> {t.target}")
        world.trust.add((src.tenant_id.lower(), dst.tenant_id.lower()))
    if seed.connection is not None:
        for ref in (seed.connection.source, seed.connection.target):
            if world.by_name(ref) is None:
                raise ValueError(f"connection names an unknown tenant: {ref}")
        world.source_name, world.target_name = seed.connection.source, seed.connection.target
    return world
