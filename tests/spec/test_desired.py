"""Desired state: defaults and waves applied, canonical keys and addresses, a layout-independent digest."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.spec.desired import address, values
from reconciler.spec.enums import GroupType, MigrationState, UserType
from reconciler.workspace.loader import load_workspace
from tests.spec.corpus import BASE_CONFIG

SPEC = """\
waves:
  - name: w1
    preferred_start: 2026-03-01T20:00:00+02:00
    latest_start: 2026-03-02T06:00:00Z
    validate_only: true
    protect: true
user_mappings:
  - {source_upn: Alice@Contoso.com, target_upn: alice@fabrikam.com, user_type: guestUser}
  - source_upn: bob@contoso.com
    target_upn: bob@fabrikam.com
    source_organization_id: 79D49731-4EEC-55D9-BCD4-6D55505B7F2C
group_mappings:
  - source_group_id: 54CF901D-34E3-5A82-9200-09F75DF0D2DB
    target_group_id: fae36d75-12cf-505a-946e-01485529decd
    target_mail_nickname: Finance
user_migrations:
  - {source_upn: alice@contoso.com, wave: w1}
  - {source_upn: BOB@contoso.com, wave: w1, validate_only: false, protect: false, state: cancelled, attempt: 3}
site_migrations:
  - source_url: https://contoso.sharepoint.com/sites/IT/
    target_url: https://fabrikam.sharepoint.com/sites/IT/
    target_data_location: EUR
group_migrations:
  - {source_mail_nickname: Finance}
"""


def _workspace(tmp_path: Path, spec: str = SPEC, defaults: str = "") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "reconciler.yaml").write_text(BASE_CONFIG.read_text() + defaults)
    (tmp_path / "spec.yaml").write_text(spec)
    return tmp_path


def test_items_resolved_with_defaults_and_waves(tmp_path: Path) -> None:
    ws = load_workspace(_workspace(tmp_path))
    assert not ws.diagnostics.items
    d = ws.desired
    assert list(d.user_mappings) == ["alice@contoso.com", "bob@contoso.com"]
    alice = d.user_mappings["alice@contoso.com"]
    assert alice.address == 'user_mapping["alice@contoso.com"]'
    assert alice.source_upn == "Alice@Contoso.com"  # written form kept for the wire; the key is canonical
    assert (alice.user_type, alice.source_organization_id, alice.protect) == (
        UserType.GUEST_USER,
        "79d49731-4eec-55d9-bcd4-6d55505b7f2c",
        False,
    )
    assert d.user_mappings["bob@contoso.com"].user_type is UserType.REGULAR_USER
    group = d.group_mappings["54cf901d-34e3-5a82-9200-09f75df0d2db"]
    assert (group.source_group_id, group.group_type) == ("54cf901d-34e3-5a82-9200-09f75df0d2db", GroupType.M365_GROUP)

    a, b = d.user_migrations["alice@contoso.com"], d.user_migrations["bob@contoso.com"]
    assert a.target_upn == "alice@fabrikam.com"
    assert (a.preferred_start, a.latest_start) == (
        datetime(2026, 3, 1, 18, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 6, 0, tzinfo=UTC),
    )
    assert (a.validate_only, a.protect, a.state, a.attempt) == (True, True, MigrationState.PRESENT, 1)
    assert (b.validate_only, b.protect, b.state, b.attempt, b.cancelled) == (
        False,
        False,
        MigrationState.CANCELLED,
        3,
        True,
    )
    site = d.site_migrations["https://contoso.sharepoint.com/sites/it"]
    assert (site.source_url, site.target_url, site.target_data_location) == (
        "https://contoso.sharepoint.com/sites/IT",
        "https://fabrikam.sharepoint.com/sites/IT",
        "EUR",
    )
    assert site.wave is None
    assert site.validate_only is False
    assert d.group_migrations["finance"].target_mail_nickname == "Finance"
    assert str(site.range) == f"{tmp_path}/spec.yaml:20:5"
    assert len(d) == 7
    assert d.get('group_migration["finance"]') is d.group_migrations["finance"]


def test_workspace_defaults_apply(tmp_path: Path) -> None:
    defaults = "defaults:\n  user_type: adminUser\n  group_type: regularGroup\n  validate_only: true\n  protect: true\n"
    ws = load_workspace(_workspace(tmp_path, defaults=defaults))
    assert not ws.diagnostics.items
    d = ws.desired
    assert d.user_mappings["bob@contoso.com"].user_type is UserType.ADMIN_USER
    assert d.user_mappings["bob@contoso.com"].protect is True
    assert d.group_mappings["54cf901d-34e3-5a82-9200-09f75df0d2db"].group_type is GroupType.REGULAR_GROUP
    assert d.site_migrations["https://contoso.sharepoint.com/sites/it"].validate_only is True


def test_digest_ignores_layout_order_and_comments(tmp_path: Path) -> None:
    one = load_workspace(_workspace(tmp_path / "one")).desired
    waves, rest = SPEC.split("user_mappings:")
    mappings, migrations = rest.split("user_migrations:")
    two_dir = _workspace(tmp_path / "two", spec="# migrations first\nuser_migrations:" + migrations + waves)
    (two_dir / "mappings.yaml").write_text("user_mappings: # moved\n" + mappings)
    two = load_workspace(two_dir)
    assert not two.diagnostics.items
    assert one.digest() == two.desired.digest()
    changed = load_workspace(_workspace(tmp_path / "three", spec=SPEC.replace("attempt: 3", "attempt: 4"))).desired
    assert changed.digest() != one.digest()


def test_digest_is_the_hash_of_each_items_sorted_json_line(tmp_path: Path) -> None:
    """What saved plans were checked against before the digest was made faster: one sorted json.dumps line
    of [address, values] per item, in address order."""
    d = load_workspace(_workspace(tmp_path)).desired
    lines = sorted(json.dumps([i.address, values(i)], sort_keys=True, default=str) + "\n" for i in d.items())
    assert any("2026-03-01T18:00:00Z" in line for line in lines)  # datetimes, enums and None are all there
    assert any('"guestUser"' in line for line in lines)
    assert d.digest() == hashlib.sha256("".join(lines).encode()).hexdigest()


def test_values_are_plain_json(tmp_path: Path) -> None:
    d = load_workspace(_workspace(tmp_path)).desired
    assert values(d.user_migrations["alice@contoso.com"]) == {
        "wave": "w1",
        "preferred_start": "2026-03-01T18:00:00Z",
        "latest_start": "2026-03-02T06:00:00Z",
        "validate_only": True,
        "state": "present",
        "attempt": 1,
        "protect": True,
        "target_data_location": None,
        "target_host": None,
        "source_upn": "alice@contoso.com",
        "target_upn": "alice@fabrikam.com",
    }


def test_addresses_escape_like_json() -> None:
    assert address("wave", "w1") == 'wave["w1"]'
    assert address("wave", 'a"b') == 'wave["a\\"b"]'


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ('user_mapping["Alice@Contoso.COM"]', 'user_mapping["alice@contoso.com"]'),
        (
            'site_migration["https://Contoso.sharepoint.com/sites/IT/"]',
            'site_migration["https://contoso.sharepoint.com/sites/it"]',
        ),
        ('group_migration["Finance"]', 'group_migration["finance"]'),
        ('wave["Wave1"]', 'wave["wave1"]'),
        ("user_mapping[alice]", "user_mapping[alice]"),
        ("not an address", "not an address"),
    ],
)
def test_a_typed_address_is_canonicalized_like_the_spec_does(typed: str, canonical: str) -> None:
    from reconciler.spec.desired import canonical_address

    assert canonical_address(typed) == canonical


def test_wave_names_compare_without_regard_to_case(tmp_path: Path) -> None:
    spec = (
        SPEC.replace("- name: w1", "- name: Pilot")
        .replace("wave: w1", "wave: PILOT", 1)
        .replace("wave: w1", "wave: pilot")
    )
    ws = load_workspace(_workspace(tmp_path, spec))
    assert not ws.diagnostics.items
    assert list(ws.desired.waves) == ["pilot"]
    assert ws.desired.waves["pilot"].address == 'wave["pilot"]'
    # every member carries the declared spelling, so plans and status group them as one wave
    assert {m.wave for m in ws.desired.user_migrations.values()} == {"Pilot"}
    assert {m.validate_only for m in ws.desired.user_migrations.values()} == {True, False}
