"""CSV inputs: the SharePoint cmdlet identity map, and plain CSV lists of migrations.

The identity map is the file ``Add-SPOTenantIdentityMap`` takes (see docs/workspace.md): no header, users and
groups mixed, six columns each::

    User,SourceTenantCompanyID,SourceUserUpn,TargetUserUpn,TargetUserEmail,UserType
    Group,SourceTenantCompanyID,SourceGroupObjectID,TargetGroupObjectID,GroupName,GroupType

Migration lists have a header row naming spec fields (``source_upn,wave,preferred_start``), then one
migration per row; an empty cell leaves that field unset. Every row keeps its line for diagnostics.

A User row whose cells pass the same patterns the model checks becomes a ``UserMappingRow`` (a named
tuple, about a kilobyte smaller and several times cheaper than the pydantic model, for the 100,000-row
maps); any other row goes through ``UserMappingSpec``, so a bad row gets the model's located diagnostics.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from pydantic import ValidationError

from reconciler.spec.desired import item_address
from reconciler.spec.diagnostics import Diagnostics, SourceRange, excerpt
from reconciler.spec.enums import CsvFormat, GroupType, UserType
from reconciler.spec.fields import GUID_PATTERN, UPN_PATTERN
from reconciler.spec.model_errors import did_you_mean, report_validation_error
from reconciler.spec.models import (
    GroupMappingSpec,
    GroupMigrationSpec,
    SiteMigrationSpec,
    SpecModel,
    UserMappingSpec,
    UserMigrationSpec,
)
from reconciler.spec.sourced import CsvRowLocator, Sourced

USER_COLUMNS = ("User", "SourceTenantCompanyID", "SourceUserUpn", "TargetUserUpn", "TargetUserEmail", "UserType")
GROUP_COLUMNS = (
    "Group",
    "SourceTenantCompanyID",
    "SourceGroupObjectID",
    "TargetGroupObjectID",
    "GroupName",
    "GroupType",
)
_USER_FIELDS = ("source_organization_id", "source_upn", "target_upn", "target_email", "user_type")
_GROUP_FIELDS = ("source_organization_id", "source_group_id", "target_group_id", "target_mail_nickname", "group_type")
_USER_COLUMN_OF = {name: index + 1 for index, name in enumerate(_USER_FIELDS)}
_GROUP_COLUMN_OF = {name: index + 1 for index, name in enumerate(_GROUP_FIELDS)}
_COLUMN_OF = {"user": _USER_COLUMN_OF, "group": _GROUP_COLUMN_OF}
_NO_COLUMNS: dict[str, int] = {}  # never written to: the columns of a row that is neither kind
_USER_NAMES = dict(zip(_USER_FIELDS, USER_COLUMNS[1:], strict=True))
_GROUP_NAMES = dict(zip(_GROUP_FIELDS, GROUP_COLUMNS[1:], strict=True))

# The cmdlet's files say Internal/Member/Guest where Graph says regularUser/guestUser; enum values match in any case.
_USER_TYPES = {t.value.lower(): t.value for t in UserType} | {
    "internal": UserType.REGULAR_USER.value,
    "member": UserType.REGULAR_USER.value,
    "guest": UserType.GUEST_USER.value,
}
_GROUP_TYPES = {t.value.lower(): t.value for t in GroupType}
_USER_TYPE_MEMBERS = {text: UserType(value) for text, value in _USER_TYPES.items()}
# The model's own patterns and length limit (fields.Upn, fields.Guid); Python's re and pydantic's regex agree
# on them (ASCII classes only, anchored), and the length is checked first so no long cell reaches the regex.
_UPN_MATCH = re.compile(UPN_PATTERN).fullmatch
_GUID_MATCH = re.compile(GUID_PATTERN).fullmatch
_UPN_MAX = 113

_M = TypeVar("_M", bound=SpecModel)

MIGRATION_MODELS: dict[CsvFormat, type[SpecModel]] = {
    CsvFormat.USER_MIGRATIONS: UserMigrationSpec,
    CsvFormat.SITE_MIGRATIONS: SiteMigrationSpec,
    CsvFormat.GROUP_MIGRATIONS: GroupMigrationSpec,
}


class UserMappingRow(NamedTuple):
    """A User row that passed the checks ``UserMappingSpec`` would make: its fields, without the model."""

    source_upn: str
    target_upn: str
    target_email: str | None
    user_type: UserType | None
    source_organization_id: str | None
    protect: bool | None = None  # the identity map has no such column


UserMappingItem = UserMappingSpec | UserMappingRow


@dataclass
class CsvItems:
    user_mappings: list[Sourced[UserMappingItem]] = field(default_factory=list)
    group_mappings: list[Sourced[GroupMappingSpec]] = field(default_factory=list)
    migrations: list[Sourced[SpecModel]] = field(default_factory=list)


def _rows(text: str, filename: str, diags: Diagnostics) -> Iterator[tuple[int, str, list[str]]]:
    """(line, first physical line, cells) of every non-blank row; malformed rows become diagnostics."""
    # The physical lines as csv would read them from the file (split at \r, \n and \r\n, endings kept).
    lines = io.StringIO(text, newline="").readlines()
    rest = iter(lines)
    line = 0  # lines consumed so far
    for raw in rest:
        start = line + 1
        if '"' not in raw and "\x00" not in raw:
            # Unquoted: the row is this line, and its cells are what csv reads, split at the commas.
            line = start
            cells = raw.rstrip("\r\n").split(",")
        else:
            # A quoted cell may span lines: csv reads the row from here, taking lines from the same iterator.
            reader = csv.reader(itertools.chain((raw,), rest), strict=True)
            try:
                cells = next(reader)
            except csv.Error as exc:
                line += reader.line_num
                diags.error(f"CSV syntax error: {excerpt(exc)}", SourceRange.at(filename, line))
                continue
            line += reader.line_num
        if not "".join(cells).strip():  # blank: every cell whitespace (no generator per row)
            continue
        yield start, raw, cells


def read_identity_map(text: str, filename: str, diags: Diagnostics, *, protect: bool | None = None) -> CsvItems:
    items = CsvItems()
    organizations: set[str] = set()
    for number, (line, raw, cells) in enumerate(_rows(text, filename, diags)):
        kind = cells[0].strip().lower()
        # One locator per row, kept by the item it becomes; its columns matter only to field().
        where = CsvRowLocator(filename, line, raw, _COLUMN_OF.get(kind, _NO_COLUMNS))
        if number == 0 and len(cells) > 1 and cells[1].strip().lower() == "sourcetenantcompanyid":
            diags.warning(
                "header row ignored",
                where.item,
                detail="the SharePoint identity map has no header row; Add-SPOTenantIdentityMap would reject it",
            )
            continue
        if kind not in ("user", "group"):
            diags.error(
                f'row type must be "User" or "Group", got "{excerpt(cells[0].strip(), quote=True)}"', where.cell(0)
            )
            continue
        columns = USER_COLUMNS if kind == "user" else GROUP_COLUMNS
        if len(cells) != 6:
            diags.error(
                f"expected 6 columns in a {columns[0]} row, found {len(cells)}",
                where.item,
                detail=",".join(columns),
            )
            continue
        values = [cell.strip() for cell in cells]
        if kind == "user":
            fast = _user_row(values, organizations)
            if fast is not None:
                items.user_mappings.append(Sourced(fast, where, protect))
                continue
            data = _present(_USER_FIELDS, values[1:])
            if "user_type" in data:
                data["user_type"] = _USER_TYPES.get(data["user_type"].lower(), data["user_type"])
            user = _validate(UserMappingSpec, data, where, diags, _USER_NAMES)
            if user is not None:
                items.user_mappings.append(Sourced(user, where, file_protect=protect))
        else:
            data = _present(_GROUP_FIELDS, values[1:])
            if "group_type" in data:
                data["group_type"] = _GROUP_TYPES.get(data["group_type"].lower(), data["group_type"])
            group = _validate(GroupMappingSpec, data, where, diags, _GROUP_NAMES)
            if group is not None:
                items.group_mappings.append(Sourced(group, where, file_protect=protect))
    return items


def read_migrations(
    text: str,
    filename: str,
    fmt: CsvFormat,
    diags: Diagnostics,
    *,
    protect: bool | None = None,
    wave: str | None = None,
) -> CsvItems:
    model = MIGRATION_MODELS[fmt]
    items = CsvItems()
    rows = _rows(text, filename, diags)
    header = next(rows, None)
    if header is None:
        # A truncated export must not read as "no migrations": they would silently stop being tracked.
        required = ",".join(name for name, info in model.model_fields.items() if info.is_required())
        diags.error(
            "CSV file is empty", SourceRange.at(filename, 1), detail=f"the first row names the columns, e.g. {required}"
        )
        return items
    line, raw, cells = header
    head = CsvRowLocator(filename, line, raw, {})
    names = [cell.strip() for cell in cells]
    known = list(model.model_fields)
    ok = True
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name not in model.model_fields:
            diags.error(
                f'unknown column "{excerpt(name, quote=True)}"', head.cell(index), detail=did_you_mean(name, known)
            )
            ok = False
        elif name in seen:
            diags.error(
                f'column "{excerpt(name, quote=True)}" appears twice',
                head.cell(index),
                detail=f"first in column {seen[name] + 1}",
            )
            ok = False
        seen.setdefault(name, index)
    for name, info in model.model_fields.items():
        if info.is_required() and name not in seen:
            diags.error(f'missing required column "{name}"', head.item, detail="the first row names the columns")
            ok = False
    if not ok:
        return items  # rows would be read against the wrong columns: report the header only
    columns = {name: index for index, name in enumerate(names)}
    for line, raw, cells in rows:
        row = CsvRowLocator(filename, line, raw, columns)
        if len(cells) != len(names):
            diags.error(f"expected {len(names)} columns, found {len(cells)}", row.item, detail=",".join(names))
            continue
        data = {name: cell.strip() for name, cell in zip(names, cells, strict=True) if cell.strip()}
        spec = _validate(model, data, row, diags, None)
        if spec is not None:
            items.migrations.append(Sourced(spec, row, file_protect=protect, file_wave=wave))
    return items


def _user_row(values: list[str], organizations: set[str]) -> UserMappingRow | None:
    """The row's mapping if every cell passes the model's checks, else None (the model then reports why).
    ``organizations`` holds the organization ids that passed in earlier rows (an identity map repeats one)."""
    _, organization, source, target, email, user_type = values
    if not (0 < len(source) <= _UPN_MAX and _UPN_MATCH(source) and 0 < len(target) <= _UPN_MAX and _UPN_MATCH(target)):
        return None
    if email and email != target and not (len(email) <= _UPN_MAX and _UPN_MATCH(email)):
        return None
    if organization and organization not in organizations:
        if not _GUID_MATCH(organization):
            return None
        organizations.add(organization)
    member = _USER_TYPE_MEMBERS.get(user_type.lower()) if user_type else None
    if user_type and member is None:
        return None
    return UserMappingRow(source, target, email or None, member, organization or None)


def _present(fields: tuple[str, ...], values: list[str]) -> dict[str, str]:
    return {name: value for name, value in zip(fields, values, strict=True) if value}


def _validate(
    model: type[_M], data: dict[str, str], row: CsvRowLocator, diags: Diagnostics, names: dict[str, str] | None
) -> _M | None:
    try:
        return model.model_validate(data, strict=False)
    except ValidationError as exc:

        def locate(parts: tuple[str | int, ...], *, key: bool) -> SourceRange:
            return row.field(str(parts[0])) if parts else row.item

        report_validation_error(exc, model, locate, diags, names=names, address=item_address(model, data))
        return None
