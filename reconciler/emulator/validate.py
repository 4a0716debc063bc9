"""Field checks shared by the request handlers; each raises a Graph 400 naming the JSON path."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from reconciler.emulator.clock import parse_time
from reconciler.emulator.errors import GraphError, bad_request, missing_parameter

_UPN = re.compile(r"^[A-Za-z0-9._%+'#!$&*=?^`{|}~/-]{1,113}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?$")
_NICK = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]{1,64}$")


def is_upn(value: str) -> bool:
    return bool(_UPN.match(value)) and "." in value.rsplit("@", 1)[1] and ".." not in value


def is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return len(value) == 36


def is_https_url(value: str) -> bool:
    return bool(re.match(r"^https://[A-Za-z0-9.-]+(?::\d+)?(?:/[^\s?#]*)?$", value))


def obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"The property '{path}' must be a JSON object.")
    return value


def check_keys(value: dict[str, Any], allowed: frozenset[str], path: str, type_name: str) -> None:
    for key in value:
        if key.startswith("@odata.") or key in allowed:
            continue
        where = f"{path}.{key}" if path else key
        raise bad_request(f"The property '{key}' does not exist on type 'microsoft.graph.{type_name}' ({where}).")


def strings(value: dict[str, Any], path: str) -> None:
    """Every non-annotation member of an identity object must be a string or null."""
    for key, got in value.items():
        if not key.startswith("@odata.") and got is not None and not isinstance(got, str):
            raise bad_request(f"The property '{path}.{key}' must be a string.")


def opt_str(value: dict[str, Any], key: str, path: str) -> str | None:
    if key not in value or value[key] is None:
        return None
    got = value[key]
    if not isinstance(got, str):
        raise bad_request(f"The property '{path}{key}' must be a string.")
    return got


def req_str(value: dict[str, Any], key: str, path: str) -> str:
    got = opt_str(value, key, path)
    if got is None or got == "":
        raise missing_parameter(f"{path}{key}")
    return got


def upn(value: str, path: str) -> str:
    if not is_upn(value):
        raise bad_request(f"The value '{value}' of '{path}' is not a valid user principal name.")
    return value


def guid(value: str, path: str) -> str:
    if not is_guid(value):
        raise bad_request(f"The value '{value}' of '{path}' is not a valid GUID.")
    return value.lower()


def https_url(value: str, path: str) -> str:
    if not is_https_url(value):
        raise bad_request(f"The value '{value}' of '{path}' is not an absolute https URL.")
    return value


def nickname(value: str, path: str) -> str:
    if not _NICK.match(value):
        raise bad_request(f"The value '{value}' of '{path}' is not a valid mail nickname.")
    return value


def timestamp(value: Any, path: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"The property '{path}' must be a DateTimeOffset string.")
    try:
        return parse_time(value)
    except (ValueError, OverflowError) as exc:
        raise GraphError(
            400, "BadRequest", f"The value '{value}' of '{path}' is not a valid ISO 8601 DateTimeOffset."
        ) from exc


def boolean(value: dict[str, Any], key: str, path: str) -> bool:
    got = value.get(key)
    if got is None:
        return False
    if not isinstance(got, bool):
        raise bad_request(f"The property '{path}{key}' must be a Boolean.")
    return got
