"""Value types of the spec: UPN, GUID, URL, mail nickname, date-time, enums, with their friendly errors.

Syntax checks are regular expressions that pydantic-core runs natively (fast at 100,000 rows) and that
the JSON Schema carries unchanged, so editors and ``validate`` agree. ``PATTERN_MESSAGES`` turns a
pattern mismatch into words a migration engineer recognises.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, Field, Strict, StringConstraints

from reconciler.spec.enums import CsvFormat, GroupType, MigrationState, UserType

# Entra ID user principal names: local part of A-Z a-z 0-9 ' . - _ ! # ^ ~ (guests carry #EXT#), then a DNS domain.
UPN_PATTERN = (
    r"^[A-Za-z0-9'_!#^~-]+(\.[A-Za-z0-9'_!#^~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
GUID_PATTERN = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
HTTPS_URL_PATTERN = r"^https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[^\s?#\x00-\x1f\x7f]*)?$"
ENDPOINT_URL_PATTERN = r"^https?://[A-Za-z0-9.\[\]:-]+(/[^\s?#]*)?$"
DOMAIN_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
# Entra mailNickname: 1-64 ASCII characters, none of @ ( ) \ [ ] " ; : < > , or space.
MAIL_NICKNAME_PATTERN = r"^[A-Za-z0-9!#$%&'*+./=?^_`{|}~-]{1,64}$"
WAVE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
DATA_LOCATION_PATTERN = r"^[A-Z]{3}$"
# A wave gate's share: 0% to 100%, decimals allowed (95%, 99.5%).
PERCENT_PATTERN = r"^(100(\.0+)?|[0-9]{1,2}(\.[0-9]+)?)%$"
ENV_VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

PATTERN_MESSAGES: dict[str, tuple[str, str]] = {
    UPN_PATTERN: ("is not a valid user principal name", "expected name@domain, e.g. alice@contoso.com"),
    GUID_PATTERN: ("is not a valid GUID", "expected 8-4-4-4-12 hexadecimal digits"),
    HTTPS_URL_PATTERN: ("is not a valid https URL", "expected https://host/path without query or fragment"),
    ENDPOINT_URL_PATTERN: ("is not a valid URL", "expected https://host[:port]/path"),
    DOMAIN_PATTERN: ("is not a valid domain name", "expected e.g. contoso.onmicrosoft.com"),
    MAIL_NICKNAME_PATTERN: (
        "is not a valid mail nickname",
        'expected 1-64 ASCII characters without spaces or any of @ ( ) \\ [ ] " ; : < > ,',
    ),
    WAVE_NAME_PATTERN: (
        "is not a valid wave name",
        "expected letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
    DATA_LOCATION_PATTERN: ("is not a valid data location code", "expected three capital letters, e.g. NAM or EUR"),
    ENV_VAR_PATTERN: ("is not a valid environment variable name", "expected letters, digits and '_'"),
}

Upn = Annotated[str, StringConstraints(pattern=UPN_PATTERN, max_length=113)]
Guid = Annotated[str, StringConstraints(pattern=GUID_PATTERN)]
HttpsUrl = Annotated[str, StringConstraints(pattern=HTTPS_URL_PATTERN, max_length=2048)]
EndpointUrl = Annotated[str, StringConstraints(pattern=ENDPOINT_URL_PATTERN, max_length=2048)]
Domain = Annotated[str, StringConstraints(pattern=DOMAIN_PATTERN, max_length=253)]
MailNickname = Annotated[str, StringConstraints(pattern=MAIL_NICKNAME_PATTERN)]
WaveName = Annotated[str, StringConstraints(pattern=WAVE_NAME_PATTERN)]
DataLocation = Annotated[str, StringConstraints(pattern=DATA_LOCATION_PATTERN)]
EnvVarName = Annotated[str, StringConstraints(pattern=ENV_VAR_PATTERN)]
NonEmptyText = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class ThresholdSyntaxError(ValueError):
    pass


_PERCENT = re.compile(PERCENT_PATTERN)


def _check_threshold(value: Any) -> Any:
    """One clear message for every wrong threshold (a strict union would report each of its branches)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1_000_000:
        return value
    if isinstance(value, str) and _PERCENT.fullmatch(value):
        return value
    if isinstance(value, str):
        shown = f'"{value}"'
    elif isinstance(value, bool | int | float) or value is None:
        shown = "null" if value is None else str(value).lower()
    else:
        shown = "a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list) else "this value"
    raise ThresholdSyntaxError(f"{shown} is not a count or a percentage; expected e.g. 2 or 95% (0% to 100%)")


# A wave gate's threshold: a count of migrations (2) or a share of the wave ("95%").
Threshold = Annotated[
    Annotated[int, Field(ge=0, le=1_000_000)] | Annotated[str, StringConstraints(pattern=PERCENT_PATTERN)],
    BeforeValidator(_check_threshold),
]


class DateTimeSyntaxError(ValueError):
    pass


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _in_range(value: datetime) -> bool:
    """Graph writes years with four digits, and 9999-12-31T23:59:59-01:00 is past datetime's range in UTC."""
    try:
        return 1970 <= value.astimezone(UTC).year <= 9999
    except OverflowError:
        return False


def _parse_datetime(value: Any) -> Any:
    """RFC 3339 text becomes a datetime here, so strict models accept YAML and CSV alike.

    The zone is optional at this step only so that a missing one gets its own message (AwareDatetime's).
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if _DATE.fullmatch(text):
        raise DateTimeSyntaxError(f'"{value}" is a date without a time; expected e.g. {text}T18:00:00Z')
    if _RFC3339.fullmatch(text):
        try:
            parsed = datetime.fromisoformat(text.upper())
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None and not _in_range(parsed):
                raise DateTimeSyntaxError(f'"{value}" is out of range; expected a date-time from 1970 to 9999 (UTC)')
            return parsed
    raise DateTimeSyntaxError(f'"{value}" is not a valid date-time; expected e.g. 2026-03-01T18:00:00Z')


DateTime = Annotated[
    AwareDatetime,
    BeforeValidator(_parse_datetime),
    Field(json_schema_extra={"format": "date-time"}),
]


# Strict models accept an enum only as its member unless told otherwise; spec files spell the values as text.
UserTypeValue = Annotated[UserType, Strict(False)]
GroupTypeValue = Annotated[GroupType, Strict(False)]
MigrationStateValue = Annotated[MigrationState, Strict(False)]
CsvFormatValue = Annotated[CsvFormat, Strict(False)]
