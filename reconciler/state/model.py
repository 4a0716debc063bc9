"""The state document: addresses this workspace manages, with task ids and the last applied values.

JSON with a format version, a lineage (which workspace's history this is) and a serial (bumped on
every write). Never a secret or a token. Reading is strict: a state file that is not ours, or from
a newer version, is refused with a message naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1


class StateError(Exception):
    """The state cannot be read or is not this tool's; the message names the file."""


@dataclass
class ResourceState:
    """One managed address."""

    kind: str  # user_mapping | group_mapping | user_migration | site_migration | group_migration
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
    def from_json(cls, data: dict[str, Any]) -> ResourceState:
        return cls(
            kind=str(data["kind"]),
            key=str(data["key"]),
            last_applied=dict(data.get("last_applied") or {}),
            task_id=data.get("task_id"),
            attempt=int(data.get("attempt", 1)),
            protect=bool(data.get("protect", False)),
            validated=data.get("validated"),
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
            resources = {str(a): ResourceState.from_json(r) for a, r in dict(data.get("resources") or {}).items()}
            return cls(str(data["lineage"]), int(data["serial"]), resources, list(data.get("journal") or []))
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"{source}: the state is damaged ({exc!r})") from exc

    @classmethod
    def read(cls, path: Path) -> State:
        """The state at ``path``, or a new empty one when the file does not exist yet."""
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise StateError(f"{path}: cannot read the state: {exc}") from exc
        return cls.from_json(data, str(path))
