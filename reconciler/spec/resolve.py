"""From validated items to desired state: the checks that span items and files, defaults and waves applied.

Checks: the same resource declared twice (case-insensitively), identity mappings that are not
one-to-one, two migrations into one target, a user migration without a user mapping, UPNs and emails
outside their tenant's domains, site URLs off the tenants' hosts, a group-connected site given as a
regular site (warning), unknown and empty waves, waves that follow an undeclared wave or each other in
a cycle, and schedules whose latest start is not after the preferred start.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from reconciler.spec.desired import (
    GROUP_MAPPING,
    GROUP_MIGRATION,
    SITE_MIGRATION,
    USER_MAPPING,
    USER_MIGRATION,
    WAVE,
    Desired,
    Gate,
    GroupMapping,
    GroupMigration,
    SiteMigration,
    Threshold,
    UserMapping,
    UserMigration,
    Wave,
    address,
    guid_key,
    nickname_key,
    upn_key,
    url_key,
    wave_key,
)
from reconciler.spec.diagnostics import Diagnostics, SourceRange
from reconciler.spec.enums import GroupType, MigrationState, UserType
from reconciler.spec.loader import SpecSources
from reconciler.spec.model_errors import did_you_mean
from reconciler.spec.models import MigrationSpec, SpecModel
from reconciler.spec.sourced import Sourced, YamlItemLocator

S = TypeVar("S", bound=SpecModel)

_TARGET_NOUN = {USER_MIGRATION: "target user", SITE_MIGRATION: "target site", GROUP_MIGRATION: "target group"}


@dataclass(frozen=True)
class SpecContext:
    """What the checks need from the workspace config; ``None`` means unknown, and the check is skipped."""

    source_tenant_id: str | None = None
    source_hosts: tuple[str, ...] | None = None
    target_hosts: tuple[str, ...] | None = None
    source_domains: tuple[str, ...] | None = None  # lower-case
    target_domains: tuple[str, ...] | None = None
    user_type: UserType = UserType.REGULAR_USER
    group_type: GroupType = GroupType.M365_GROUP
    validate_only: bool = False
    protect: bool = False
    target_data_location: str | None = None


@dataclass
class _Wave:
    wave: Wave
    source: Sourced[Any]
    members: int = 0


@dataclass
class _Resolver:
    context: SpecContext
    diags: Diagnostics
    desired: Desired = field(default_factory=Desired)
    waves: dict[str, _Wave] = field(default_factory=dict)

    # -- helpers -------------------------------------------------------------------------------------

    def unique(
        self, items: Iterable[Sourced[S]], kind: str, key_field: str, key: Callable[[str], str]
    ) -> list[tuple[str, Sourced[S]]]:
        """Items whose key is new, in order; each repeat is an error naming the first declaration."""
        first: dict[str, Sourced[S]] = {}
        out: list[tuple[str, Sourced[S]]] = []
        for item in items:
            k = key(getattr(item.spec, key_field))
            seen = first.get(k)
            if seen is not None:
                self.declared_twice(kind, k, item, key_field, seen.where.item)
                continue
            first[k] = item
            out.append((k, item))
        return out

    def declared_twice(self, kind: str, k: str, item: Sourced[Any], key_field: str, first: SourceRange) -> None:
        self.diags.error(
            f"{address(kind, k)} is declared twice",
            item.where.field(key_field),
            detail=f"first declared at {first}",
            address=address(kind, k),
        )

    def one_to_one(
        self, items: list[tuple[str, Sourced[S]]], kind: str, target_field: str, key: Callable[[str], str], noun: str
    ) -> None:
        owners: dict[str, tuple[str, Sourced[S]]] = {}
        for k, item in items:
            target = getattr(item.spec, target_field)
            tk = key(target)
            owner = owners.get(tk)
            if owner is not None:
                self.shared_target(kind, k, item, target_field, noun, owner[0], owner[1].where.item)
                continue
            owners[tk] = (k, item)

    def shared_target(
        self, kind: str, k: str, item: Sourced[Any], target_field: str, noun: str, owner: str, at: SourceRange
    ) -> None:
        """Two identity mappings into one target: ``item`` names what ``owner`` (written at ``at``) already has."""
        target = getattr(item.spec, target_field)
        self.diags.error(
            f'{noun} "{target}" is also the target of {address(kind, owner)}',
            item.where.field(target_field),
            detail=f"identity mappings must be one-to-one; the other is at {at}",
            address=address(kind, k),
        )

    def organization(self, item: Sourced[Any], kind: str, key: str) -> str | None:
        given: str | None = item.spec.source_organization_id
        tenant = self.context.source_tenant_id
        if given is None:
            return tenant
        given = guid_key(given)
        if tenant is not None and given != tenant:
            self.diags.error(
                f"source organization {given} is not the source tenant",
                item.where.field("source_organization_id"),
                detail=f"reconciler.yaml names the source tenant {tenant}",
                address=address(kind, key),
            )
        return given

    def on_hosts(
        self, url: str, hosts: tuple[str, ...] | None, item: Sourced[Any], name: str, which: str, addr: str
    ) -> None:
        if hosts is None:
            return
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        if origin not in {h.lower().rstrip("/") for h in hosts}:
            self.diags.error(
                f"{name} {url} is not on the {which} tenant's hosts",
                item.where.field(name),
                detail=f"expected a URL under {' or '.join(hosts)}",
                address=addr,
            )

    def in_domains(
        self, value: str | None, domains: tuple[str, ...] | None, item: Sourced[Any], name: str, which: str, addr: str
    ) -> None:
        if value is None or domains is None:
            return
        domain = value.rpartition("@")[2].lower()
        if domain not in domains:
            self.diags.error(
                f"{name} {value} is not in a domain of the {which} tenant",
                item.where.field(name),
                detail=f"its domains are {', '.join(domains)}; if the tenant has {domain}, "
                f"add it to {which}.domains in reconciler.yaml",
                address=addr,
            )

    def one_target(
        self, targets: dict[str, tuple[str, Sourced[Any]]], kind: str, k: str, item: Sourced[Any], target: str, at: str
    ) -> None:
        """Two migrations into one target would overwrite each other: the later one is an error. ``at`` is
        the field to point at (the target field when written, else the key whose default it is)."""
        if item.spec.state is MigrationState.CANCELLED:
            return  # a cancelled migration never starts again
        tk = url_key(target) if kind == SITE_MIGRATION else target.strip().lower()
        owner = targets.get(tk)
        if owner is None:
            targets[tk] = (k, item)
            return
        self.diags.error(
            f"{_TARGET_NOUN[kind]} {target} is also the target of {address(kind, owner[0])}",
            item.where.field(at),
            detail=f"two migrations into one target would overwrite each other; the other is at {owner[1].where.item}",
            address=address(kind, k),
        )

    # -- kinds ---------------------------------------------------------------------------------------

    def resolve_waves(self, items: list[Sourced[Any]]) -> None:
        for name, item in self.unique(items, WAVE, "name", wave_key):
            spec = item.spec
            self.schedule_order(spec.preferred_start, spec.latest_start, item, address(WAVE, name))
            wave = Wave(
                name=spec.name,
                description=spec.description,
                preferred_start=_utc(spec.preferred_start),
                latest_start=_utc(spec.latest_start),
                validate_only=spec.validate_only,
                protect=spec.protect,
                range=item.where.item,
                after=tuple(dict.fromkeys(wave_key(w) for w in spec.after or ())),
                gate=_gate(spec.gate),
                max_in_flight=spec.max_in_flight,
            )
            if spec.gate is not None and not spec.after:
                self.diags.error(
                    "gate: a gate needs the waves it applies to",
                    item.where.field("gate"),
                    detail="name them with after: [WAVE, ...]",
                    address=address(WAVE, name),
                )
            self.waves[name] = _Wave(wave, item)
            self.desired.waves[name] = wave
        self.check_after()

    def check_after(self) -> None:
        """Every wave named in ``after`` is declared, and no wave follows itself through others."""
        follows: dict[str, list[str]] = {}
        for name, entry in self.waves.items():
            for i, written in enumerate(entry.source.spec.after or ()):
                if wave_key(written) not in self.waves:
                    others = [w.wave.name for w in self.waves.values() if w is not entry]
                    self.diags.error(
                        f'after: wave "{written}" is not declared',
                        _element(entry.source.where, "after", i),
                        detail=did_you_mean(written, others) if others else "declare it under waves:",
                        address=address(WAVE, name),
                    )
            follows[name] = [p for p in entry.wave.after if p in self.waves]
        for cycle in _cycles(follows):
            names = [self.waves[k].wave.name for k in cycle]
            last = self.waves[cycle[-1]]
            self.diags.error(
                f"after: waves follow each other in a cycle: {' after '.join([*names, names[0]])}",
                _element(last.source.where, "after", _index_of(last, cycle[0])),
                detail="no wave of the cycle could ever start; remove one of these after: entries",
                address=address(WAVE, cycle[-1]),
            )

    def schedule_order(
        self, preferred: datetime | None, latest: datetime | None, item: Sourced[Any], addr: str
    ) -> None:
        if preferred is not None and latest is not None and latest <= preferred:
            self.diags.error(
                f"latest_start {_iso(latest)} is not after preferred_start {_iso(preferred)}",
                item.where.field("latest_start"),
                detail="the service cancels a move that has not started by its latest start",
                address=addr,
            )

    def resolve_user_mappings(self, items: list[Sourced[Any]]) -> None:
        """``unique`` and ``one_to_one`` (same errors) and the mappings, in one pass over the items: a large
        identity map has 100,000 rows, and each separate pass over them costs a tenth of a second."""
        context = self.context
        source_domains, target_domains = context.source_domains, context.target_domains
        tenant, default_type, default_protect = context.source_tenant_id, context.user_type, context.protect
        mappings = self.desired.user_mappings
        owners: dict[str, str] = {}  # target key -> key of the mapping that has it
        organizations: dict[str, str | None] = {}  # as written -> as resolved, for ids already checked
        for item in items:
            spec = item.spec
            source = spec.source_upn
            k = upn_key(source)
            seen = mappings.get(k)
            if seen is not None:
                self.declared_twice(USER_MAPPING, k, item, "source_upn", seen.range)
                continue
            target = spec.target_upn
            tk = upn_key(target)
            owner = owners.get(tk)
            if owner is None:
                owners[tk] = k
            else:
                self.shared_target(USER_MAPPING, k, item, "target_upn", "target user", owner, mappings[owner].range)
            user_type = spec.user_type or default_type
            guest = user_type is UserType.GUEST_USER  # a guest's email is its home address, outside the tenant
            email = spec.target_email
            # What in_domains reports, checked inline first (it is called only to say why): 100,000 rows.
            if (
                (source_domains is not None and source.rpartition("@")[2].lower() not in source_domains)
                or (target_domains is not None and target.rpartition("@")[2].lower() not in target_domains)
                or (
                    not guest
                    and email is not None
                    and target_domains is not None
                    and email.rpartition("@")[2].lower() not in target_domains
                )
            ):
                addr = address(USER_MAPPING, k)
                self.in_domains(source, source_domains, item, "source_upn", "source", addr)
                self.in_domains(target, target_domains, item, "target_upn", "target", addr)
                if not guest:
                    self.in_domains(email, target_domains, item, "target_email", "target", addr)
            written = spec.source_organization_id
            if written is None:
                organization = tenant
            elif written in organizations:
                organization = organizations[written]
            else:
                before = len(self.diags)
                organization = self.organization(item, USER_MAPPING, k)
                if len(self.diags) == before:  # an id that is not the tenant's is reported at every row
                    organizations[written] = organization
            protect = spec.protect if spec.protect is not None else item.file_protect
            mappings[k] = UserMapping(
                source_upn=source,
                target_upn=target,
                target_email=email,
                user_type=user_type,
                source_organization_id=organization,
                protect=protect if protect is not None else default_protect,
                range=item.where.item,
            )

    def resolve_group_mappings(self, items: list[Sourced[Any]]) -> None:
        unique = self.unique(items, GROUP_MAPPING, "source_group_id", guid_key)
        self.one_to_one(unique, GROUP_MAPPING, "target_group_id", guid_key, "target group")
        self.one_to_one(unique, GROUP_MAPPING, "target_mail_nickname", nickname_key, "target mail nickname")
        for k, item in unique:
            spec = item.spec
            self.desired.group_mappings[k] = GroupMapping(
                source_group_id=guid_key(spec.source_group_id),
                target_group_id=guid_key(spec.target_group_id),
                target_mail_nickname=spec.target_mail_nickname,
                group_type=spec.group_type or self.context.group_type,
                source_organization_id=self.organization(item, GROUP_MAPPING, k),
                protect=_first(spec.protect, item.file_protect, self.context.protect),
                range=item.where.item,
            )

    def migration(self, item: Sourced[Any], addr: str) -> dict[str, Any]:
        """The fields every migration shares, with its wave's defaults and the workspace's applied."""
        spec: MigrationSpec = item.spec
        wave_name = spec.wave if spec.wave is not None else item.file_wave
        wave: Wave | None = None
        if wave_name is not None:
            entry = self.waves.get(wave_key(wave_name))
            if entry is not None:
                entry.members += 1
                wave = entry.wave
                wave_name = wave.name  # one spelling per wave in plans and status, whatever the migration wrote
            elif spec.wave is not None:  # a CSV file's default wave is checked once, at the file
                self.unknown_wave(wave_name, item.where.field("wave"), addr)
        preferred = spec.preferred_start or (wave.preferred_start if wave else None)
        latest = spec.latest_start or (wave.latest_start if wave else None)
        if spec.latest_start is not None:
            self.schedule_order(preferred, latest, item, addr)
        elif spec.preferred_start is not None:
            self._preferred_after_wave_latest(preferred, latest, item, addr)
        return {
            "wave": wave_name,
            "preferred_start": _utc(preferred),
            "latest_start": _utc(latest),
            "validate_only": _first(
                spec.validate_only, wave.validate_only if wave else None, self.context.validate_only
            ),
            "state": spec.state or MigrationState.PRESENT,
            "attempt": spec.attempt or 1,
            "protect": _first(spec.protect, item.file_protect, wave.protect if wave else None, self.context.protect),
            "target_data_location": spec.target_data_location or self.context.target_data_location,
            "target_host": spec.target_host.rstrip("/") if spec.target_host else None,
            "range": item.where.item,
        }

    def _preferred_after_wave_latest(
        self, preferred: datetime | None, latest: datetime | None, item: Sourced[Any], addr: str
    ) -> None:
        if preferred is not None and latest is not None and latest <= preferred:
            self.diags.error(
                f"preferred_start {_iso(preferred)} is not before the wave's latest_start {_iso(latest)}",
                item.where.field("preferred_start"),
                detail="the service cancels a move that has not started by its latest start",
                address=addr,
            )

    def unknown_wave(self, name: str, where: SourceRange, addr: str | None) -> None:
        self.diags.error(
            f'wave "{name}" is not declared',
            where,
            detail=did_you_mean(name, [w.wave.name for w in self.waves.values()])
            if self.waves
            else "declare it under waves:",
            address=addr,
        )

    def resolve_user_migrations(self, items: list[Sourced[Any]]) -> None:
        targets: dict[str, tuple[str, Sourced[Any]]] = {}
        for k, item in self.unique(items, USER_MIGRATION, "source_upn", upn_key):
            spec = item.spec
            addr = address(USER_MIGRATION, k)
            mapping = self.desired.user_mappings.get(k)
            target = spec.target_upn
            if mapping is None:
                self.diags.error(
                    f"{addr} has no user mapping",
                    item.where.field("source_upn"),
                    detail=f"add a user_mapping with source_upn {spec.source_upn}; the move fails without one",
                    address=addr,
                )
            elif target is not None and upn_key(target) != upn_key(mapping.target_upn):
                self.diags.error(
                    f"target_upn {target} differs from the user mapping's target {mapping.target_upn}",
                    item.where.field("target_upn"),
                    detail=f"the mapping is at {mapping.range}",
                    address=addr,
                )
            effective = target or (mapping.target_upn if mapping else "")
            if mapping is not None and upn_key(effective) == upn_key(mapping.target_upn):
                self.one_target(targets, USER_MIGRATION, k, item, effective, "target_upn" if target else "source_upn")
            self.desired.user_migrations[k] = UserMigration(
                source_upn=spec.source_upn,
                target_upn=effective,
                **self.migration(item, addr),
            )

    def resolve_site_migrations(self, items: list[Sourced[Any]], group_nicknames: dict[str, str]) -> None:
        targets: dict[str, tuple[str, Sourced[Any]]] = {}
        for k, item in self.unique(items, SITE_MIGRATION, "source_url", url_key):
            spec = item.spec
            addr = address(SITE_MIGRATION, k)
            self.on_hosts(spec.source_url, self.context.source_hosts, item, "source_url", "source", addr)
            self.on_hosts(spec.target_url, self.context.target_hosts, item, "target_url", "target", addr)
            group = _group_of_site(spec.source_url, group_nicknames)
            if group is not None:
                self.diags.warning(
                    f'{spec.source_url.rstrip("/")} looks like the group-connected site of group "{group}"',
                    item.where.field("source_url"),
                    detail=f"move group-connected sites as a group_migration (source_mail_nickname: {group})",
                    address=addr,
                )
            self.one_target(targets, SITE_MIGRATION, k, item, spec.target_url.rstrip("/"), "target_url")
            self.desired.site_migrations[k] = SiteMigration(
                source_url=spec.source_url.rstrip("/"),
                target_url=spec.target_url.rstrip("/"),
                **self.migration(item, addr),
            )

    def resolve_group_migrations(self, items: list[Sourced[Any]]) -> None:
        targets: dict[str, tuple[str, Sourced[Any]]] = {}
        for k, item in self.unique(items, GROUP_MIGRATION, "source_mail_nickname", nickname_key):
            spec = item.spec
            addr = address(GROUP_MIGRATION, k)
            written = spec.target_mail_nickname is not None
            target = spec.target_mail_nickname or spec.source_mail_nickname
            self.one_target(
                targets, GROUP_MIGRATION, k, item, target, "target_mail_nickname" if written else "source_mail_nickname"
            )
            self.desired.group_migrations[k] = GroupMigration(
                source_mail_nickname=spec.source_mail_nickname,
                target_mail_nickname=spec.target_mail_nickname or spec.source_mail_nickname,
                **self.migration(item, addr),
            )


def resolve(sources: SpecSources, context: SpecContext, diags: Diagnostics) -> Desired:
    """Check ``sources`` as a whole and build the desired state."""
    r = _Resolver(context, diags)
    r.resolve_waves(sources.waves)
    for ref in sources.csv_waves:
        if ref.spec.wave is not None and wave_key(ref.spec.wave) not in r.waves:
            r.unknown_wave(ref.spec.wave, ref.where.field("wave"), None)
    r.resolve_user_mappings(sources.user_mappings)
    r.resolve_group_mappings(sources.group_mappings)
    r.resolve_user_migrations(sources.user_migrations)
    r.resolve_group_migrations(sources.group_migrations)
    nicknames = {
        nickname_key(i.spec.source_mail_nickname): i.spec.source_mail_nickname for i in sources.group_migrations
    }
    for mapping in r.desired.group_mappings.values():
        nicknames.setdefault(nickname_key(mapping.target_mail_nickname), mapping.target_mail_nickname)
    r.resolve_site_migrations(sources.site_migrations, nicknames)
    for name, entry in r.waves.items():
        if entry.members == 0:
            diags.warning(
                f"{address(WAVE, name)} has no migrations",
                entry.source.where.field("name"),
                detail=f"add `wave: {entry.wave.name}` to the migrations that belong to it, or remove the wave",
                address=address(WAVE, name),
            )
    return r.desired


def _element(where: Any, name: str, index: int) -> SourceRange:
    """The list element ``name[index]`` of a YAML item (waves are only written in YAML), else the field."""
    if isinstance(where, YamlItemLocator):
        field_loc = where.loc.value_of(name)
        element = field_loc.value_of(index) if field_loc is not None else None
        if element is not None:
            return element.range(where.filename)
    located: SourceRange = where.field(name)
    return located


def _index_of(entry: _Wave, key: str) -> int:
    written = [wave_key(w) for w in entry.source.spec.after or ()]
    return written.index(key) if key in written else 0


def _gate(spec: Any) -> Gate:
    if spec is None:
        return Gate()
    return Gate(Threshold.parse(spec.min_completed), Threshold.parse(spec.max_failed))


def _cycles(follows: dict[str, list[str]]) -> list[list[str]]:
    """Each cycle of the "follows" graph once: waves each of which follows the next, the last following the
    first, starting at the first declared; found by a depth-first walk in declaration order."""
    order = {name: i for i, name in enumerate(follows)}
    done: set[str] = set()
    found: list[list[str]] = []
    seen_cycles: set[frozenset[str]] = set()
    for root in follows:
        if root in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                path.append(node)
                on_path.add(node)
            preds = follows[node]
            if i < len(preds):
                stack.append((node, i + 1))
                nxt = preds[i]
                if nxt in on_path:
                    cycle = path[path.index(nxt) :]
                    if frozenset(cycle) not in seen_cycles:
                        seen_cycles.add(frozenset(cycle))
                        first = min(range(len(cycle)), key=lambda j: order[cycle[j]])
                        found.append(cycle[first:] + cycle[:first])
                elif nxt not in done:
                    stack.append((nxt, 0))
            else:
                path.pop()
                on_path.discard(node)
                done.add(node)
    return found


def _group_of_site(url: str, nicknames: dict[str, str]) -> str | None:
    path = urlsplit(url).path.rstrip("/")
    parent, leaf = posixpath.split(path)
    if parent.lower() in ("/sites", "/teams"):
        return nicknames.get(leaf.lower())
    return None


def _first(*values: bool | None) -> bool:
    for value in values:
        if value is not None:
            return value
    return False


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
