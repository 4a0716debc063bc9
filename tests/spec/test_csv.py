"""CSV inputs: the cmdlet identity map and plain migration lists, with row and cell locations."""

from __future__ import annotations

import csv
import io
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.spec import csvfiles
from reconciler.spec.csvfiles import read_identity_map, read_migrations
from reconciler.spec.diagnostics import Diagnostics
from reconciler.spec.enums import CsvFormat, GroupType, UserType
from reconciler.spec.sourced import cell_spans

TENANT = "79d49731-4eec-55d9-bcd4-6d55505b7f2c"


def test_identity_map_rows_map_to_graph_fields() -> None:
    text = (
        f"User,{TENANT},alice@contoso.com,alice@fabrikam.com,alice.smith@fabrikam.com,Internal\r\n"
        "user, ,bob@contoso.com,bob@fabrikam.com,,GUEST\r\n"
        f"Group,{TENANT},54cf901d-34e3-5a82-9200-09f75df0d2db,fae36d75-12cf-505a-946e-01485529decd,finance,M365GROUP\r\n"
    )
    diags = Diagnostics()
    items = read_identity_map(text, "map.csv", diags, protect=True)
    assert not diags.items
    alice, bob = (s.spec for s in items.user_mappings)
    assert (alice.source_upn, alice.target_upn, alice.target_email, alice.user_type) == (
        "alice@contoso.com",
        "alice@fabrikam.com",
        "alice.smith@fabrikam.com",
        UserType.REGULAR_USER,
    )
    assert alice.source_organization_id == TENANT
    assert (bob.source_organization_id, bob.target_email, bob.user_type) == (None, None, UserType.GUEST_USER)
    (group,) = items.group_mappings
    assert group.spec.target_mail_nickname == "finance"
    assert group.spec.group_type is GroupType.M365_GROUP
    assert group.file_protect is True
    assert str(items.user_mappings[1].where.item) == "map.csv:2:1"


def test_identity_map_errors_point_at_the_cell() -> None:
    text = (
        "\n"
        f'User,{TENANT},"Smith, Alice@contoso.com",alice@fabrikam.com,alice@fabrikam.com,regularUser\n'
        f"User,{TENANT},bob@contoso.com,bob@fabrikam.com,bob@fabrikam.com,superUser,extra\n"
        f"Group,{TENANT},54cf901d-34e3-5a82-9200-09f75df0d2db,nope,finance,\n"
        'User,"a"b,c\n'
        f"User,{TENANT},carol@contoso.com,carol@fabrikam.com,carol@fabrikam.com,\n"
    )
    diags = Diagnostics()
    items = read_identity_map(text, "map.csv", diags)
    assert [d.render() for d in diags.sorted()] == [
        'map.csv:2:43: error: SourceUserUpn: "Smith, Alice@contoso.com" is not a valid user principal name; '
        "expected name@domain, e.g. alice@contoso.com",
        "map.csv:3:1: error: expected 6 columns in a User row, found 7; "
        "User,SourceTenantCompanyID,SourceUserUpn,TargetUserUpn,TargetUserEmail,UserType",
        'map.csv:4:81: error: TargetGroupObjectID: "nope" is not a valid GUID; expected 8-4-4-4-12 hexadecimal digits',
        "map.csv:5:1: error: CSV syntax error: ',' expected after '\"'",
    ]
    assert [s.spec.source_upn for s in items.user_mappings] == ["carol@contoso.com"]
    assert diags.sorted()[0].address == 'user_mapping["smith, alice@contoso.com"]'


def test_cell_spans_honour_quotes() -> None:
    assert cell_spans('a,"b,c",,d') == [(1, 2), (3, 8), (9, 9), (10, 11)]
    assert cell_spans("") == [(1, 1)]


def test_migration_list_reads_named_columns_with_file_defaults() -> None:
    text = (
        "source_upn,preferred_start,validate_only,state,attempt\n"
        "a@contoso.com,2026-03-01T18:00:00Z,TRUE,cancelled,2\n"
        "b@contoso.com,,,,\n"
    )
    diags = Diagnostics()
    items = read_migrations(text, "m.csv", CsvFormat.USER_MIGRATIONS, diags, protect=False, wave="w1")
    assert not diags.items
    a, b = items.migrations
    start = getattr(a.spec, "preferred_start", None)  # a user migration's field; SpecModel is their base
    assert a.spec.model_dump(exclude_none=True) == {
        "source_upn": "a@contoso.com",
        "preferred_start": start,
        "validate_only": True,
        "state": "cancelled",
        "attempt": 2,
    }
    assert start is not None
    assert start.isoformat() == "2026-03-01T18:00:00+00:00"
    assert b.spec.model_dump(exclude_none=True) == {"source_upn": "b@contoso.com"}
    assert (b.file_wave, b.file_protect) == ("w1", False)
    assert str(b.where.item) == "m.csv:3:1"


def test_migration_list_header_problems_stop_the_file() -> None:
    diags = Diagnostics()
    items = read_migrations(
        "source_url,targeturl\nhttps://contoso.sharepoint.com/sites/a,https://fabrikam.sharepoint.com/sites/a\n",
        "s.csv",
        CsvFormat.SITE_MIGRATIONS,
        diags,
    )
    assert not items.migrations
    assert [d.render() for d in diags.sorted()] == [
        's.csv:1:1: error: missing required column "target_url"; the first row names the columns',
        's.csv:1:12: error: unknown column "targeturl"; did you mean "target_url"?',
    ]


def test_an_empty_identity_map_holds_nothing() -> None:
    diags = Diagnostics()
    assert not read_identity_map("\n\n", "e.csv", diags).user_mappings
    assert not read_migrations("source_mail_nickname\n", "h.csv", CsvFormat.GROUP_MIGRATIONS, diags).migrations
    assert not diags.items


def test_a_migration_list_without_its_header_row_is_an_error() -> None:
    """A truncated export must not read as an empty list: its migrations would silently stop being tracked."""
    diags = Diagnostics()
    assert not read_migrations("", "e.csv", CsvFormat.SITE_MIGRATIONS, diags).migrations
    assert [d.render() for d in diags.sorted()] == [
        "e.csv:1:1: error: CSV file is empty; the first row names the columns, e.g. source_url,target_url"
    ]


def test_a_url_with_a_control_character_is_not_a_url() -> None:
    """A NUL or escape hidden in a cell would otherwise reach the service as part of the site URL."""
    diags = Diagnostics()
    text = "source_url,target_url\nhttps://c.sharepoint.com/sites/a\x00,https://f.sharepoint.com/sites/a\x1b[2J\n"
    assert not read_migrations(text, "s.csv", CsvFormat.SITE_MIGRATIONS, diags).migrations
    located = [(str(d.range), d.summary.split(":")[0], "is not a valid https URL" in d.summary) for d in diags.sorted()]
    assert located == [("s.csv:2:1", "source_url", True), ("s.csv:2:35", "target_url", True)]


_TRICKY_UPNS = [
    "alice@contoso.com",
    "Alice.Smith@Contoso.COM",
    "o'neil_x!#^~-@sub.contoso.com",
    "guest_x.com#EXT#@contoso.onmicrosoft.com",
    "a" * 100 + "@contoso.com",  # 112 characters
    "a" * 101 + "@contoso.com",  # 113: the limit
    "a" * 102 + "@contoso.com",  # 114: too long
    "alice@contoso",
    ".alice@contoso.com",
    "alice..b@contoso.com",
    "alice@-contoso.com",
    "alice@contoso-.com",
    "ålice@contoso.com",
    "alice@contoso.com.",
    "alice@@contoso.com",
    "Smith, Alice@contoso.com",
    "alice@contoso.com\nx",
    "",
]
_TRICKY_ORGS = [TENANT, TENANT.upper(), "", "79d49731-4eec-55d9-bcd4-6d55505b7f2", "{" + TENANT + "}", "nope"]
_TRICKY_TYPES = ["", "Internal", "MEMBER", "guest", "regularUser", "GUESTUSER", "superUser", "Guest "]


def _identity_map(seed: int, rows: int) -> str:
    rng = random.Random(seed)
    lines = []
    for _ in range(rows):
        cells = [
            rng.choice(["User", "user", " USER "]),
            rng.choice(_TRICKY_ORGS),
            rng.choice(_TRICKY_UPNS),
            rng.choice(_TRICKY_UPNS),
            rng.choice(_TRICKY_UPNS),
            rng.choice(_TRICKY_TYPES),
        ]
        if rng.random() < 0.5:  # the email is most often the target UPN again: the fast path checks it once
            cells[4] = cells[3]
        lines.append(",".join(f'"{c}"' if any(ch in c for ch in ',"\n') else c for c in cells))
    return "\r\n".join(lines) + "\r\n"


def _read(text: str) -> tuple[list[tuple[object, ...]], list[str], list[str | None]]:
    diags = Diagnostics()
    items = read_identity_map(text, "map.csv", diags, protect=False)
    fields: list[tuple[object, ...]] = [
        (
            s.spec.source_upn,
            s.spec.target_upn,
            s.spec.target_email,
            s.spec.user_type,
            s.spec.source_organization_id,
            s.spec.protect,
            s.file_protect,
            str(s.where.item),
            str(s.where.field("target_email")),
        )
        for s in items.user_mappings
    ]
    return fields, [d.render() for d in diags.sorted()], [d.address for d in diags.sorted()]


@pytest.mark.parametrize("seed", range(4))
def test_user_rows_read_the_same_with_and_without_the_model(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path (a row checked without the pydantic model) accepts exactly what the model accepts,
    with the same values; every other row gets the model's located diagnostics, as before."""
    text = _identity_map(seed, 300)
    fast = _read(text)
    monkeypatch.setattr(csvfiles, "_user_row", lambda values, organizations: None)
    slow = _read(text)
    assert fast == slow
    assert fast[0], "some rows are valid"
    assert fast[1], "some rows are not"


def test_valid_user_rows_skip_the_model() -> None:
    organizations: set[str] = set()
    row = csvfiles._user_row(["User", TENANT, "alice@contoso.com", "alice@fabrikam.com", "", "Guest"], organizations)
    assert row == ("alice@contoso.com", "alice@fabrikam.com", None, UserType.GUEST_USER, TENANT, None)
    assert organizations == {TENANT}  # checked once; the next row with it is not checked again
    row = csvfiles._user_row(["User", "", "alice@contoso.com", "alice@fabrikam.com", "", "superUser"], organizations)
    assert row is None
    bad_org = ["User", "not-a-guid", "alice@contoso.com", "alice@fabrikam.com", "alice@fabrikam.com", ""]
    assert csvfiles._user_row(bad_org, organizations) is None


def test_rows_after_a_quoted_newline_keep_their_own_line_and_columns() -> None:
    text = (
        f'User,{TENANT},"alice@contoso.com",alice@fabrikam.com,"alice\n@fabrikam.com",Internal\r\n'
        f"User,{TENANT},bob@contoso.com,bob@fabrikam,bob@fabrikam.com,\r\n"
        f"User,{TENANT},carol@contoso.com,carol@fabrikam.com,,Guest\n"
    )
    diags = Diagnostics()
    items = read_identity_map(text, "map.csv", diags)
    assert [d.render() for d in diags.sorted()] == [
        'map.csv:1:82: error: TargetUserEmail: "alice\\n@fabrikam.com" is not a valid user principal name; '
        "expected name@domain, e.g. alice@contoso.com",
        'map.csv:3:59: error: TargetUserUpn: "bob@fabrikam" is not a valid user principal name; '
        "expected name@domain, e.g. alice@contoso.com",
    ]
    (carol,) = items.user_mappings
    assert str(carol.where.item) == "map.csv:4:1"
    assert carol.where.item.end.column == len(text.splitlines()[3]) + 1


def _rows_as_csv_reads_them(text: str) -> tuple[list[tuple[int, str, list[str]]], list[str]]:
    """The reference: one ``csv.reader`` over the whole file, each row at the line after those read before it."""
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(lines, strict=True)
    rows: list[tuple[int, str, list[str]]] = []
    errors: list[str] = []
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return rows, errors
        except csv.Error as exc:
            errors.append(f"f:{max(start, reader.line_num)}:1: CSV syntax error: {exc}")
            continue
        if "".join(cells).strip():
            rows.append((start, lines[start - 1], cells))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", ",", '"', '""', "\n", "\r", "\r\n", " ", "\x00", "x,y"]), max_size=16))
def test_rows_are_what_the_csv_module_reads(parts: list[str]) -> None:
    """Lines without quotes are split at commas, the others read by csv: the same rows, lines and errors."""
    text = "".join(parts)
    diags = Diagnostics()
    rows = list(csvfiles._rows(text, "f", diags))
    expected_rows, expected_errors = _rows_as_csv_reads_them(text)
    assert rows == expected_rows
    assert [f"{d.range}: {d.summary}" for d in diags] == expected_errors
