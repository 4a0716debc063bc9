"""Desired state: the validated spec with defaults and waves applied, every item carrying its source range.

Plain frozen dataclasses (no pydantic, no ruamel) so the planner can import them without pulling in
loaders. Items are keyed by their canonical natural key, which is also what their resource address
names: UPNs, group ids, site URLs, nicknames and wave names are compared case-insensitively, so the
key is lower-cased and a site URL loses its trailing slash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

from reconciler.jsonindent import one_line_encoder
from reconciler.kinds import BY_NAME, KINDS
from reconciler.kinds import GROUP_MAPPING as GROUP_MAPPING
from reconciler.kinds import GROUP_MIGRATION as GROUP_MIGRATION
from reconciler.kinds import SITE_MIGRATION as SITE_MIGRATION
from reconciler.kinds import USER_MAPPING as USER_MAPPING
from reconciler.kinds import USER_MIGRATION as USER_MIGRATION
from reconciler.spec.diagnostics import SourceRange
from reconciler.spec.enums import GroupType, MigrationState, UserType

WAVE = "wave"


def address(kind: str, key: str) -> str:
    """``kind["key"]`` with the key escaped like a JSON string, e.g. ``user_mapping["alice@contoso.com"]``."""
    if '"' in key or "\\" in key or not key.isprintable():
        return f"{kind}[{json.dumps(key, ensure_ascii=False)}]"
    return f'{kind}["{key}"]'  # the common case, without json's cost (100,000 mappings)


_KEY_FIELDS = {kind.spec_model: (kind.name, kind.key_field) for kind in KINDS} | {"WaveSpec": (WAVE, "name")}


def item_address(model: type, data: Any) -> str | None:
    """The address an item of this spec model would have, from its raw values; None if its key is unusable."""
    kind_field = _KEY_FIELDS.get(model.__name__)
    if kind_field is None or not isinstance(data, dict):
        return None
    kind, key_field = kind_field
    raw = data.get(key_field)
    if not isinstance(raw, str) or not raw.strip():
        return None
    return address(kind, canonical_key(kind, raw))


def canonical_address(text: str) -> str:
    """An address as a person typed it (``user_mapping["Alice@Contoso.com"]``) in its canonical form;
    text that is not ``kind["key"]`` is returned as it is."""
    kind, bracket, rest = text.strip().partition("[")
    if not bracket or not rest.endswith("]"):
        return text
    try:
        key = json.loads(rest[:-1])
    except ValueError:
        return text
    return address(kind, canonical_key(kind, key)) if isinstance(key, str) else text


def canonical_key(kind: str, raw: str) -> str:
    """``raw`` as the key of an item of ``kind`` (the registry names the function); other kinds keep it."""
    if kind == WAVE:
        return wave_key(raw)
    spec = BY_NAME.get(kind)
    return KEY_FUNCTIONS[spec.key_function](raw) if spec is not None else raw


def upn_key(upn: str) -> str:
    return upn.strip().lower()


def guid_key(guid: str) -> str:
    return guid.strip().lower()


def url_key(url: str) -> str:
    return url.strip().rstrip("/").lower()


def nickname_key(nickname: str) -> str:
    return nickname.strip().lower()


def wave_key(name: str) -> str:
    return name.strip().lower()


KEY_FUNCTIONS: dict[str, Callable[[str], str]] = {
    "upn_key": upn_key,
    "guid_key": guid_key,
    "url_key": url_key,
    "nickname_key": nickname_key,
}


# Not frozen: a frozen __init__ sets each field through object.__setattr__ (100,000 rows of an identity map).
# Nothing assigns to it; it hashes and compares as it did.
@dataclass(slots=True, kw_only=True, unsafe_hash=True)
class UserMapping:
    source_upn: str
    target_upn: str
    target_email: str | None
    user_type: UserType
    source_organization_id: str | None
    protect: bool
    range: SourceRange = field(compare=False)

    @property
    def key(self) -> str:
        return upn_key(self.source_upn)

    @property
    def address(self) -> str:
        return address(USER_MAPPING, self.key)


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMapping:
    source_group_id: str
    target_group_id: str
    target_mail_nickname: str
    group_type: GroupType
    source_organization_id: str | None
    protect: bool
    range: SourceRange = field(compare=False)

    @property
    def key(self) -> str:
        return guid_key(self.source_group_id)

    @property
    def address(self) -> str:
        return address(GROUP_MAPPING, self.key)


@dataclass(frozen=True, slots=True)
class Threshold:
    """A gate's limit: a count of migrations, or a percentage of a wave's migrations."""

    value: float
    percent: bool

    @classmethod
    def parse(cls, raw: int | str) -> Threshold:
        if isinstance(raw, str):
            return cls(float(raw.rstrip("%")), True)
        return cls(float(raw), False)

    def __str__(self) -> str:
        number = f"{self.value:g}" if self.value != int(self.value) else f"{int(self.value):,}"
        return f"{number}%" if self.percent else number


@dataclass(frozen=True, slots=True)
class Gate:
    """When a wave may start: each wave it follows has at least ``min_completed`` completed and at most
    ``max_failed`` failed."""

    min_completed: Threshold = Threshold(100.0, True)
    max_failed: Threshold = Threshold(0.0, False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Wave:
    name: str
    description: str | None
    preferred_start: datetime | None
    latest_start: datetime | None
    validate_only: bool | None
    protect: bool | None
    range: SourceRange = field(compare=False)
    after: tuple[str, ...] = ()  # the keys of the waves it follows, in the order written
    gate: Gate = Gate()
    max_in_flight: int | None = None

    @property
    def key(self) -> str:
        return wave_key(self.name)

    @property
    def address(self) -> str:
        return address(WAVE, self.key)


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """What every migration carries once its wave's and the workspace's defaults are applied."""

    wave: str | None
    preferred_start: datetime | None
    latest_start: datetime | None
    validate_only: bool
    state: MigrationState
    attempt: int
    protect: bool
    target_data_location: str | None
    target_host: str | None
    range: SourceRange = field(compare=False)

    @property
    def cancelled(self) -> bool:
        return self.state is MigrationState.CANCELLED

    if TYPE_CHECKING:  # each kind defines it; only the type checker needs to know every migration has one

        @property
        def target(self) -> str:
            """Where it moves to, as the service echoes it (lower-cased; a URL without its trailing slash)."""
            ...


@dataclass(frozen=True, slots=True, kw_only=True)
class UserMigration(Migration):
    source_upn: str
    target_upn: str

    @property
    def key(self) -> str:
        return upn_key(self.source_upn)

    @property
    def address(self) -> str:
        return address(USER_MIGRATION, self.key)

    @property
    def target(self) -> str:
        return self.target_upn.lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteMigration(Migration):
    source_url: str
    target_url: str

    @property
    def key(self) -> str:
        return url_key(self.source_url)

    @property
    def address(self) -> str:
        return address(SITE_MIGRATION, self.key)

    @property
    def target(self) -> str:
        return self.target_url.rstrip("/").lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMigration(Migration):
    source_mail_nickname: str
    target_mail_nickname: str

    @property
    def key(self) -> str:
        return nickname_key(self.source_mail_nickname)

    @property
    def address(self) -> str:
        return address(GROUP_MIGRATION, self.key)

    @property
    def target(self) -> str:
        return self.target_mail_nickname.lower()


Item = UserMapping | GroupMapping | UserMigration | SiteMigration | GroupMigration


@dataclass
class Desired:
    """Everything the spec says should exist, by canonical key."""

    user_mappings: dict[str, UserMapping] = field(default_factory=dict)
    group_mappings: dict[str, GroupMapping] = field(default_factory=dict)
    user_migrations: dict[str, UserMigration] = field(default_factory=dict)
    site_migrations: dict[str, SiteMigration] = field(default_factory=dict)
    group_migrations: dict[str, GroupMigration] = field(default_factory=dict)
    waves: dict[str, Wave] = field(default_factory=dict)

    def items(self) -> Iterator[Item]:
        yield from self.user_mappings.values()
        yield from self.group_mappings.values()
        yield from self.user_migrations.values()
        yield from self.site_migrations.values()
        yield from self.group_migrations.values()

    def migrations(self, kind: str) -> Mapping[str, Migration]:
        """The migrations of one kind by key (the registry names the attribute)."""
        items: Mapping[str, Migration] = getattr(self, BY_NAME[kind].desired)
        return items

    def get(self, addr: str) -> Item | None:
        for item in self.items():
            if item.address == addr:
                return item
        return None

    def __len__(self) -> int:
        return sum(
            len(d)
            for d in (
                self.user_mappings,
                self.group_mappings,
                self.user_migrations,
                self.site_migrations,
                self.group_migrations,
            )
        )

    def digest(self) -> str:
        """SHA-256 of the desired values, independent of file layout, order and comments (plan staleness)."""
        # One line per item, as json.dumps(..., sort_keys=True, default=str) writes it, through one shared
        # encoder instead of one built per item (the digest must not change: saved plans hold it).
        h = hashlib.sha256()
        encode = _DIGEST_ENCODE
        # Each address once (the sort key and the line share it); sorted() is stable, as it was by key.
        for addr, item in sorted([(item.address, item) for item in self.items()], key=_first):
            h.update(f"{encode([addr, _digest_values(item)])}\n".encode())
        return h.hexdigest()


_DIGEST_ENCODE = one_line_encoder(json.JSONEncoder(sort_keys=True, default=str))
_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}
_PLAIN = frozenset({str, int, bool, float, type(None)})
_first = itemgetter(0)


def values(item: Item | Wave) -> dict[str, Any]:
    """The item's fields without its source range: what a plan compares and a plan file records."""
    known = _FIELDS.get(type(item))
    if known is None:
        names = tuple(f.name for f in fields(item) if f.name != "range")
        known = _FIELDS[type(item)] = (names, _getter(names))
    names, get = known
    # Most fields are plain values and need no conversion: one comprehension, no per-field call for them.
    pairs = zip(names, get(item), strict=True)
    return {name: value if type(value) in _PLAIN else _converted(value) for name, value in pairs}


# Field annotations whose values json writes as values() would: plain values, and StrEnum members (a str whose
# text is its value). Any other field (a datetime) goes through the conversion values() applies.
_AS_IS = frozenset(
    f"{t}{none}" for t in ("str", "bool", "int", "UserType", "GroupType", "MigrationState") for none in ("", " | None")
)
_DIGEST_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]], tuple[str, ...]]] = {}


def _digest_values(item: Item) -> dict[str, Any]:
    """``values(item)`` as the digest's JSON encoding sees it, without converting what json writes the same
    (a user mapping, most of a large spec, becomes one dict(zip(...)))."""
    known = _DIGEST_FIELDS.get(type(item))
    if known is None:
        kept = [f for f in fields(item) if f.name != "range"]
        names = tuple(f.name for f in kept)
        convert = tuple(f.name for f in kept if f.type not in _AS_IS)
        known = _DIGEST_FIELDS[type(item)] = (names, _getter(names), convert)
    names, get, convert = known
    out = dict(zip(names, get(item), strict=True))
    for name in convert:
        value = out[name]
        if type(value) not in _PLAIN:
            out[name] = _converted(value)
    return out


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    get = attrgetter(*names)
    if len(names) > 1:
        return get
    return lambda item: (get(item),)  # attrgetter of one name returns the value, not a tuple


def _converted(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, UserType | GroupType | MigrationState):
        return value.value
    return value
