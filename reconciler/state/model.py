"""The state document: addresses this workspace manages, with task ids and the last applied values.

JSON with a format version, the reconciler version that last wrote it, a lineage (which workspace's
history this is) and a serial (bumped on every write). Never a secret or a token. Format 1 (0.1,
which recorded no reconciler version) is read as it is and written as format 2. Reading is strict: a
state file that is not ours, written by a newer reconciler (it may record what this one would drop),
or damaged (bytes that are not UTF-8 JSON, a field of the wrong type, a journal entry without its
kind) is refused with one line naming the file and the field, and is never rewritten.
Every field is checked for its type (``reconciler.state.document``, pydantic models in strict mode):
``"protect": "false"`` is damage, not ``True``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler import __version__
from reconciler.errors import ReconcilerError
from reconciler.spec.diagnostics import excerpt

if TYPE_CHECKING:
    from reconciler.state.document import ResourceDocument

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)  # 1: written by 0.1, without reconciler_version


class StateError(ReconcilerError):
    """The state cannot be read or is not this tool's; the message names the file."""


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
        """Checked for every field's type; raises ``document.Damaged`` (``State.from_json`` names the file)."""
        from reconciler.state.document import validate_resource  # pydantic: not for the planner's imports

        return cls.of(validate_resource(data, where))

    @classmethod
    def of(cls, doc: ResourceDocument) -> ResourceState:
        return cls(
            doc.kind, doc.key, dict(doc.last_applied or {}), doc.task_id, doc.attempt, doc.protect, doc.validated
        )


@dataclass(frozen=True)
class Probe:
    """A tenant's answer to the collection-read probe (``GET …?$top=1``), and when it was asked."""

    collection_reads: bool
    probed_at: str  # ISO 8601, UTC

    def to_json(self) -> dict[str, Any]:
        return {"collection_reads": self.collection_reads, "probed_at": self.probed_at}


@dataclass
class State:
    lineage: str = ""  # assigned on the first write, so "no state yet" is the same state for plan and apply
    serial: int = 0
    resources: dict[str, ResourceState] = field(default_factory=dict)  # by address
    journal: list[dict[str, Any]] = field(default_factory=list)  # intents of writes in flight (apply)
    written_by: str | None = None  # the reconciler version that last wrote it, as read (None: 0.1 or never written)
    probes: dict[str, Probe] = field(default_factory=dict)  # by lower-cased tenant id; absent in older states
    # The id of the last apply journal folded into this state (``reconciler.state.journal``): a journal with
    # that id is already compacted and only waits to be removed.
    journal_compacted: str | None = None
    # Not stored: the id of a journal a crashed run left, folded in by the read but not written yet.
    pending_journal: str | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The document as this version writes it (so it names this version)."""
        out: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "reconciler_version": __version__,
            "lineage": self.lineage,
            "serial": self.serial,
            "resources": {address: r.to_json() for address, r in sorted(self.resources.items())},
            "journal": self.journal,
        }
        if self.journal_compacted:
            out["journal_compacted"] = self.journal_compacted
        if self.probes:  # written only once known, so a state without probes reads as before
            out["probes"] = {tenant: p.to_json() for tenant, p in sorted(self.probes.items())}
        return out

    @classmethod
    def from_json(cls, data: Any, source: str = "state") -> State:
        if not isinstance(data, dict):
            raise StateError(f"{source}: not a state document (expected a JSON object)")
        version = data.get("format_version")
        if type(version) is not int or version not in READABLE_FORMATS:
            raise StateError(
                f"{source}: state format_version {version!r} is not supported (this tool reads "
                f"{' and '.join(map(str, READABLE_FORMATS))}); upgrade reconciler"
            )
        written_by = data.get("reconciler_version")
        if isinstance(written_by, str) and newer_than(written_by, __version__):
            raise StateError(
                f"{source}: the state was last written by reconciler {excerpt(written_by)}; this is {__version__}, "
                f"which may drop what a newer version records: upgrade reconciler to {excerpt(written_by)} or later"
            )
        from reconciler.state.document import Damaged, validate_state  # pydantic: not for the planner's imports

        try:
            doc = validate_state(data)
        except Damaged as exc:
            raise StateError(f"{source}: the state is damaged: {exc}; it was left as it is") from None
        lineage, serial = doc.lineage, doc.serial
        resources = {address: ResourceState.of(r) for address, r in (doc.resources or {}).items()}
        journal: list[dict[str, Any]] = list(data.get("journal") or [])  # as written: a rerun reads all of it
        probes = {t.lower(): Probe(p.collection_reads, p.probed_at) for t, p in (doc.probes or {}).items()}
        return cls(lineage, serial, resources, journal, doc.reconciler_version, probes, doc.journal_compacted)

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


def _release(version: str) -> tuple[int, ...]:
    """The numeric release of a version (``0.10.0rc1`` -> (0, 10, 0)); trailing zeros do not count."""
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    numbers = [int(part) for part in match.group(0).split(".")] if match else []
    while numbers and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def newer_than(version: str, current: str) -> bool:
    """Whether ``version``'s release is later than ``current``'s (pre-release tags are not compared)."""
    return _release(version) > _release(current)
