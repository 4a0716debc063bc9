"""The state document: addresses this workspace manages, with task ids and the last applied values.

JSON with a format version, a lineage (which workspace's history this is) and a serial (bumped on
every write). Never a secret or a token. Reading is strict: a state file that is not ours, from a
newer version, or damaged (bytes that are not UTF-8 JSON, a field of the wrong type, a journal entry
without its kind) is refused with one line naming the file and the field, and is never rewritten.
Every field is checked for its type: ``"protect": "false"`` is damage, not ``True``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.spec.diagnostics import excerpt

FORMAT_VERSION = 1
_MISSING: Any = object()
_TYPE_WORDS = {str: "a string", int: "an integer", bool: "true or false", dict: "an object", list: "a list"}


class StateError(ReconcilerError):
    """The state cannot be read or is not this tool's; the message names the file."""


class _Damaged(Exception):
    """One field of a state document is missing or of the wrong type; the message names it."""


def _field(data: dict[str, Any], name: str, kind: type, where: str, default: Any = _MISSING) -> Any:
    """``data[name]`` if it has type ``kind`` (``None`` allowed when the default is ``None``)."""
    if name not in data:
        if default is _MISSING:
            raise _Damaged(f"{where}{name} is missing")
        return default
    value = data[name]
    if value is None and default is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Damaged(f"{where}{name} must be {_TYPE_WORDS[kind]}, got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    for kind, word in _TYPE_WORDS.items():
        if isinstance(value, kind):
            return word.replace("true or false", "a boolean")
    return "a number" if isinstance(value, float) else type(value).__name__


def _journal_entry(data: Any, index: int) -> dict[str, Any]:
    """An intent of apply's journal: the fields a rerun needs to resolve it, of the right types."""
    where = f"journal[{index}]."
    if not isinstance(data, dict):
        raise _Damaged(f"journal[{index}] must be an object, got {_json_type(data)}")
    for name in ("id", "kind", "key", "address"):
        _field(data, name, str, where)
    attempt = _field(data, "attempt", int, where, None)
    if attempt is not None and attempt < 1:
        raise _Damaged(f"{where}attempt must be 1 or more, got {attempt}")
    _field(data, "after", dict, where, None)
    return data


@dataclass
class ResourceState:
    """One managed address."""

    kind: str  # an address kind of ``reconciler.kinds``
    key: str
    last_applied: dict[str, Any] = field(default_factory=dict)
    task_id: str | None = None
    attempt: int = 1
    protect: bool = False
    validated: str | None = None  # digest of the parameters a validate-only pre-flight last passed

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "key": self.key, "last_applied": self.last_applied}
        if self.task_id is not None:
            out["task_id"] = self.task_id
        if self.attempt != 1:
            out["attempt"] = self.attempt
        if self.protect:
            out["protect"] = True
        if self.validated is not None:
            out["validated"] = self.validated
        return out

    @classmethod
    def from_json(cls, data: Any, where: str = "") -> ResourceState:
        """Checked field by field; raises ``_Damaged`` (``State.from_json`` names the file)."""
        if not isinstance(data, dict):
            raise _Damaged(f"{where.rstrip('.') or 'resource'} must be an object, got {_json_type(data)}")
        attempt = _field(data, "attempt", int, where, 1)
        if attempt < 1:
            raise _Damaged(f"{where}attempt must be 1 or more, got {attempt}")
        return cls(
            kind=_field(data, "kind", str, where),
            key=_field(data, "key", str, where),
            last_applied=dict(_field(data, "last_applied", dict, where, None) or {}),
            task_id=_field(data, "task_id", str, where, None),
            attempt=attempt,
            protect=_field(data, "protect", bool, where, False),
            validated=_field(data, "validated", str, where, None),
        )


@dataclass
class State:
    lineage: str = ""  # assigned on the first write, so "no state yet" is the same state for plan and apply
    serial: int = 0
    resources: dict[str, ResourceState] = field(default_factory=dict)  # by address
    journal: list[dict[str, Any]] = field(default_factory=list)  # intents of writes in flight (apply)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "lineage": self.lineage,
            "serial": self.serial,
            "resources": {address: r.to_json() for address, r in sorted(self.resources.items())},
            "journal": self.journal,
        }

    @classmethod
    def from_json(cls, data: Any, source: str = "state") -> State:
        if not isinstance(data, dict):
            raise StateError(f"{source}: not a state document (expected a JSON object)")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise StateError(
                f"{source}: state format_version {version!r} is not supported (this tool reads "
                f"{FORMAT_VERSION}); upgrade reconciler"
            )
        try:
            lineage = _field(data, "lineage", str, "")
            serial = _field(data, "serial", int, "")
            if serial < 0:
                raise _Damaged(f"serial must be 0 or more, got {serial}")
            raw = _field(data, "resources", dict, "", None) or {}
            resources = {
                address: ResourceState.from_json(r, f'resources["{excerpt(address, quote=True)}"].')
                for address, r in raw.items()
            }
            entries = _field(data, "journal", list, "", None) or []
            journal = [_journal_entry(entry, index) for index, entry in enumerate(entries)]
        except _Damaged as exc:
            raise StateError(f"{source}: the state is damaged: {exc}; it was left as it is") from None
        return cls(lineage, serial, resources, journal)

    @classmethod
    def parse(cls, data: bytes, source: str) -> State:
        """A stored state's bytes (UTF-8 JSON); raises ``StateError`` naming ``source``, never quoting it."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StateError(
                f"{source}: the state is damaged: byte {exc.start} (0x{data[exc.start]:02x}) is not UTF-8; "
                "it was left as it is"
            ) from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StateError(
                f"{source}: the state is damaged: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                "it was left as it is"
            ) from None
        except RecursionError:
            raise StateError(
                f"{source}: the state is damaged: not a state document (nested too deeply); it was left as it is"
            ) from None
        return cls.from_json(document, source)

    @classmethod
    def read(cls, path: Path) -> State:
        """The state at ``path``, or a new empty one when the file does not exist yet."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            raise StateError(f"{path}: cannot read the state: {exc.strerror or type(exc).__name__}") from None
        return cls.parse(data, str(path))
