"""Identity mappings: alternate-key reads and the OData delta PATCH that writes them (≤ 50 items)."""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from reconciler.emulator import validate as v
from reconciler.emulator.errors import GraphError, bad_request, missing_parameter, not_found
from reconciler.emulator.settings import Behaviour
from reconciler.emulator.world import Tenant

MAX_ITEMS = 50
USER_TYPES = frozenset({"none", "regularUser", "adminUser", "guestUser"})
GROUP_TYPES = frozenset({"none", "regularGroup", "m365Group"})


@dataclass(frozen=True)
class Kind:
    name: str  # user | group
    number: int
    type_name: str
    collection: str
    key_prop: str  # sourceUserIdentity | sourceGroupIdentity
    key_field: str  # userPrincipalName | id
    target_prop: str
    target_field: str
    data_prop: str
    data_field: str
    type_prop: str
    enum: frozenset[str]

    @cached_property
    def properties(self) -> frozenset[str]:
        return frozenset(
            {
                "id",
                "sourceOrganizationId",
                "deleted",
                self.key_prop,
                self.target_prop,
                self.data_prop,
                self.type_prop,
            }
        )

    def store(self, tenant: Tenant) -> dict[str, dict[str, Any]]:
        return tenant.user_mappings if self.name == "user" else tenant.group_mappings


USER = Kind(
    "user",
    1,
    "sharePointUserIdentityMapping",
    "crossOrganizationUserMappings",
    "sourceUserIdentity",
    "userPrincipalName",
    "targetUserIdentity",
    "userPrincipalName",
    "targetUserMigrationData",
    "email",
    "userType",
    USER_TYPES,
)
GROUP = Kind(
    "group",
    2,
    "sharePointGroupIdentityMapping",
    "crossOrganizationGroupMappings",
    "sourceGroupIdentity",
    "id",
    "targetGroupIdentity",
    "id",
    "targetGroupMigrationData",
    "mailNickname",
    "groupType",
    GROUP_TYPES,
)
IDENTITY_KEYS = {
    "user": frozenset({"id", "userPrincipalName", "displayName"}),
    "group": frozenset({"id", "displayName"}),
}


def mapping_id(kind: Kind, key: str) -> str:
    raw = struct.pack("<ii", 1, kind.number) + key.lower().encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def check_key(kind: Kind, value: str, path: str) -> str:
    return v.upn(value, path).lower() if kind.name == "user" else v.guid(value, path)


def get(kind: Kind, tenant: Tenant, key: str) -> dict[str, Any]:
    stored = kind.store(tenant).get(key.lower())
    if stored is None:
        what = "source user principal name" if kind.name == "user" else "source group object id"
        raise not_found(f"The identity mapping for {what} '{key}' could not be found.")
    return {"id": mapping_id(kind, key), **stored}


@dataclass
class Item:
    index: int
    key: str
    identity: dict[str, Any]
    removed: bool
    props: dict[str, Any]
    error: GraphError | None = None


def _check_item(kind: Kind, index: int, raw: Any) -> Item:
    path = f"value[{index}]"
    item = v.obj(raw, path)
    removed = "@removed" in item
    allowed = kind.properties - {"id"} | {"@removed"}
    v.check_keys(item, allowed, path, kind.type_name)
    ident = item.get(kind.key_prop)
    if ident is None:
        raise missing_parameter(f"{path}.{kind.key_prop}.{kind.key_field}")
    ident = v.obj(ident, f"{path}.{kind.key_prop}")
    v.check_keys(ident, IDENTITY_KEYS[kind.name], f"{path}.{kind.key_prop}", "identity")
    v.strings(ident, f"{path}.{kind.key_prop}")
    key = v.req_str(ident, kind.key_field, f"{path}.{kind.key_prop}.")
    key = check_key(kind, key, f"{path}.{kind.key_prop}.{kind.key_field}")
    if removed:
        marker = v.obj(item["@removed"], f"{path}.@removed")
        reason = marker.get("reason")
        if reason != "deleted":
            raise bad_request(f'{path}.@removed.reason must be "deleted" (got {reason!r}).')
        return Item(index, key, ident, True, {})
    props: dict[str, Any] = {kind.key_prop: _clean(ident)}
    org = v.opt_str(item, "sourceOrganizationId", f"{path}.")
    if org is not None:
        props["sourceOrganizationId"] = v.guid(org, f"{path}.sourceOrganizationId")
    type_value = v.opt_str(item, kind.type_prop, f"{path}.")
    if type_value is not None:
        if type_value not in kind.enum:
            raise bad_request(
                f"The value '{type_value}' of '{path}.{kind.type_prop}' is not one of: {', '.join(sorted(kind.enum))}."
            )
        props[kind.type_prop] = type_value
    target = item.get(kind.target_prop)
    if target is not None:
        target = v.obj(target, f"{path}.{kind.target_prop}")
        v.check_keys(target, IDENTITY_KEYS[kind.name], f"{path}.{kind.target_prop}", "identity")
        v.strings(target, f"{path}.{kind.target_prop}")
        tkey = v.req_str(target, kind.target_field, f"{path}.{kind.target_prop}.")
        if kind.name == "user":
            v.upn(tkey, f"{path}.{kind.target_prop}.{kind.target_field}")
        else:
            v.guid(tkey, f"{path}.{kind.target_prop}.{kind.target_field}")
        props[kind.target_prop] = _clean(target)
    data = item.get(kind.data_prop)
    if data is not None:
        data = v.obj(data, f"{path}.{kind.data_prop}")
        v.check_keys(data, frozenset({kind.data_field}), f"{path}.{kind.data_prop}", kind.data_prop)
        field_value = v.opt_str(data, kind.data_field, f"{path}.{kind.data_prop}.")
        if field_value is not None:
            if kind.name == "user":
                v.upn(field_value, f"{path}.{kind.data_prop}.email")
            else:
                v.nickname(field_value, f"{path}.{kind.data_prop}.mailNickname")
        props[kind.data_prop] = _clean(data)
    if item.get("deleted") is not None:
        raise bad_request(f'{path}.deleted is set by the service; use "@removed" to delete a mapping.')
    return Item(index, key, ident, False, props)


def _clean(value: dict[str, Any]) -> dict[str, Any]:
    return {k: val for k, val in value.items() if not k.startswith("@odata.") and val is not None}


def _apply(kind: Kind, store: dict[str, dict[str, Any]], item: Item, behaviour: Behaviour) -> dict[str, Any]:
    if item.removed:
        existed = store.pop(item.key, None)
        if existed is None and behaviour.removed_unknown_key == "fail":
            raise not_found(f"value[{item.index}]: no identity mapping exists for '{item.key}'.")
        key_ident = existed[kind.key_prop] if existed else _clean(item.identity)
        return {"id": mapping_id(kind, item.key), kind.key_prop: key_ident, "deleted": {"state": "deleted"}}
    # Stored mappings are replaced, never changed in place, so sharing untouched members is safe.
    current = store.get(item.key)
    merged = {**current, **item.props} if current else dict(item.props)
    if kind.target_prop not in merged:
        raise missing_parameter(f"value[{item.index}].{kind.target_prop}.{kind.target_field}")
    store[item.key] = merged
    return {"id": mapping_id(kind, item.key), **merged}


def _failure(item: Item, kind: Kind, error: GraphError) -> dict[str, Any]:
    return {
        "@Core.DataModificationException": {
            "failedOperation": "delete" if item.removed else "upsert",
            "responseCode": error.status,
            "info": {"code": error.code, "message": error.message},
        },
        kind.key_prop: _clean(item.identity),
    }


def delta_patch(kind: Kind, tenant: Tenant, body: Any, behaviour: Behaviour, context_url: str) -> dict[str, Any]:
    payload = v.obj(body, "body")
    v.check_keys(payload, frozenset({"@context", "value"}), "", "delta payload")
    context = payload.get("@context")
    if context is not None and context != "#$delta":
        raise bad_request('The @context of a delta payload must be "#$delta".')
    items = payload.get("value")
    if items is None:
        raise missing_parameter("value")
    if not isinstance(items, list):
        raise bad_request("The property 'value' must be a JSON array.")
    if len(items) > MAX_ITEMS:
        raise bad_request(f"Maximum of {MAX_ITEMS} items allowed in the value array.")
    store = kind.store(tenant)
    checked: list[Item] = []
    for index, raw in enumerate(items):
        try:
            checked.append(_check_item(kind, index, raw))
        except GraphError as error:
            if behaviour.delta_patch_errors == "atomic":
                raise
            ident = raw.get(kind.key_prop) if isinstance(raw, dict) else None
            removed = isinstance(raw, dict) and "@removed" in raw
            checked.append(Item(index, "", ident if isinstance(ident, dict) else {}, removed, {}, error))
    results: list[dict[str, Any]] = []
    undo: list[tuple[str, dict[str, Any] | None]] = []
    for item in checked:
        if item.error is not None:
            results.append(_failure(item, kind, item.error))
            continue
        undo.append((item.key, store.get(item.key)))
        try:
            results.append(_apply(kind, store, item, behaviour))
        except GraphError as error:
            if behaviour.delta_patch_errors == "atomic":
                # Roll back: a failed delta request leaves no partial change behind.
                for key, previous in reversed(undo):
                    if previous is None:
                        store.pop(key, None)
                    else:
                        store[key] = previous
                raise
            results.append(_failure(item, kind, error))
    return {"@odata.context": context_url, "value": results}
