"""``reconciler export``: write spec files from what the tenants hold, so existing estates can be adopted.

Keys come from a CSV (one per row: source UPNs, source group object ids, source site URLs, source
group mail nicknames — recognised by their shape) or from the workspace's own spec and state. Mappings
go to a SharePoint cmdlet identity-map CSV, tasks to a YAML spec file that names it; after `import`
or `apply` (which adopts), `plan` shows no changes for them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from reconciler.atomic import atomic_write_text
from reconciler.errors import ReconcilerError
from reconciler.graph.config import GraphSettings
from reconciler.graph.listing import list_all
from reconciler.graph.refresh import RefreshRequest
from reconciler.kinds import MIGRATION_KINDS, TaskKind
from reconciler.observed import Observed, ObservedTask
from reconciler.operations import probing
from reconciler.operations.common import Meter, NoMeter, connect, refresh_with_meter
from reconciler.spec.diagnostics import excerpt
from reconciler.state.model import State
from reconciler.workspace.canonical_yaml import format_spec, natural_parts
from reconciler.workspace.loader import Workspace

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
IDENTITY_MAP = "exported-identity-map.csv"
SPEC = "exported.yaml"


@dataclass
class ExportKeys:
    upns: list[str] = field(default_factory=list)
    group_ids: list[str] = field(default_factory=list)
    site_urls: list[str] = field(default_factory=list)
    nicknames: list[str] = field(default_factory=list)

    def add(self, raw: str) -> None:
        key = raw.strip()
        if not key or key.startswith("#"):
            return
        if key.lower().startswith("https://"):
            self.site_urls.append(key.rstrip("/").lower())
        elif "@" in key:
            self.upns.append(key.lower())
        elif _GUID.match(key):
            self.group_ids.append(key.lower())
        else:
            self.nicknames.append(key.lower())

    def __len__(self) -> int:
        return len(self.upns) + len(self.group_ids) + len(self.site_urls) + len(self.nicknames)


class KeysFileError(ReconcilerError):
    """The keys file cannot be read as CSV text; the message names it and quotes none of it."""


class ExportFilesExist(ReconcilerError, FileExistsError):
    """An earlier export is in the way and ``--force`` was not given."""


def read_keys(path: Path) -> ExportKeys:
    keys = ExportKeys()
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for row in csv.reader(handle):
                if row:
                    keys.add(row[0])
    except OSError as exc:
        raise KeysFileError(f"{path}: cannot read the keys file: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError as exc:
        raise KeysFileError(f"{path}: the keys file is not UTF-8 text (byte {exc.start})") from None
    except csv.Error as exc:
        raise KeysFileError(f"{path}: the keys file is not CSV: {excerpt(exc)}") from None
    return keys


def workspace_keys(ws: Workspace, state: State) -> ExportKeys:
    keys = ExportKeys()
    d = ws.desired
    for key in sorted(set(d.user_mappings) | set(d.user_migrations)):
        keys.upns.append(key)
    keys.group_ids.extend(sorted(d.group_mappings))
    keys.site_urls.extend(sorted(d.site_migrations))
    keys.nicknames.extend(sorted(d.group_migrations))
    for resource in state.resources.values():
        keys.add(resource.key)
    for attr in ("upns", "group_ids", "site_urls", "nicknames"):
        setattr(keys, attr, sorted(set(getattr(keys, attr))))
    return keys


@dataclass
class ExportResult:
    files: list[Path]
    mappings: int
    migrations: int
    absent: int  # keys with nothing to export
    # Mappings the tenant holds without userType/groupType or sourceOrganizationId (Graph accepts partial
    # mappings): the files give them the defaults, so adopting them writes those values (an update).
    incomplete: int = 0


def _request(keys: ExportKeys) -> RefreshRequest:
    tasks: list[tuple[TaskKind, str, str | None]] = [("user", k, None) for k in keys.upns]
    tasks += [("site", k, None) for k in keys.site_urls]
    tasks += [("group", k, None) for k in keys.nicknames]
    return RefreshRequest(user_mappings=list(keys.upns), group_mappings=list(keys.group_ids), tasks=tasks)


_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9._@/:+-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}


def _scalar(value: str) -> str:
    """A live value as a YAML scalar that reads back as the same string (a nickname may be `yes` or `123`)."""
    if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS and ": " not in value:
        return value
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def render(observed: Observed, source_tenant_id: str) -> tuple[str, str]:
    """(identity-map CSV, YAML spec) for what was observed."""
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    for key, m in sorted(observed.user_mappings.items()):
        writer.writerow(
            [
                "User",
                m.source_organization_id or source_tenant_id,
                key,
                m.target_upn or "",
                m.target_email or "",
                m.user_type or "regularUser",
            ]
        )
    for key, g in sorted(observed.group_mappings.items()):
        writer.writerow(
            [
                "Group",
                g.source_organization_id or source_tenant_id,
                key,
                g.target_group_id or "",
                g.target_mail_nickname or "",
                g.group_type or "m365Group",
            ]
        )
    lines = [
        "# Exported by `reconciler export`: adopt with `reconciler import` or `reconciler apply`.",
        "csv_files:",
        f"  - {{path: {IDENTITY_MAP}, format: identity_map}}",
    ]
    for spec in MIGRATION_KINDS:
        kind, section, source_field, target_field = spec.task, spec.desired, spec.key_field, spec.target_field
        # The order fmt gives (natural), so the formatting below confirms it in one pass, not two.
        tasks = sorted(
            (t for (k, _), t in observed.tasks.items() if k == kind), key=lambda t: (natural_parts(t.key), t.key)
        )
        if not tasks:
            continue
        lines.append(f"{section}:")
        for t in tasks:
            lines.append(f"  - {source_field}: {_scalar(t.key)}")
            if t.target:
                lines.append(f"    {target_field}: {_scalar(t.target)}")
            if t.preferred_start:
                lines.append(f"    preferred_start: {t.preferred_start.isoformat().replace('+00:00', 'Z')}")
            if t.latest_start:
                lines.append(f"    latest_start: {t.latest_start.isoformat().replace('+00:00', 'Z')}")
    return rows.getvalue(), format_spec("\n".join(lines) + "\n")


class CollectionReadsUnsupported(ReconcilerError):
    """``export --all`` where a tenant does not answer collection reads (exit code 3)."""


def _newest(tasks: list[ObservedTask]) -> dict[tuple[str, str], ObservedTask]:
    """One task per source, as a lookup by key would answer: one queued or running, else the latest."""
    chosen: dict[tuple[str, str], ObservedTask] = {}
    for task in tasks:
        key = (task.kind, task.key)
        held = chosen.get(key)
        rank = (not task.terminal, task.last_updated or _EPOCH)
        if held is None or rank > (not held.terminal, held.last_updated or _EPOCH):
            chosen[key] = task
    return chosen


async def _observe_all(ws: Workspace, state: State, reprobe: bool) -> tuple[Observed, str]:
    connection, client = connect(ws, GraphSettings())
    async with client as graph:
        reads = await probing.support(graph, connection, state, reprobe=reprobe)
        silent = [
            f"the {role} tenant ({tenant.tenant_id}) does not answer collection reads"
            for role, tenant, answers in (
                ("source", connection.source, reads.source),
                ("target", connection.target, reads.target),
            )
            if not answers
        ]
        if silent:
            raise CollectionReadsUnsupported(
                "; ".join(silent) + ", so --all cannot list what it holds; export the keys you know with --keys "
                "FILE (or without --all, the workspace's own), or ask again with --reprobe"
            )
        listing = await list_all(graph, mappings=True, tasks=True)
    observed = Observed(
        user_mappings=listing.user_mappings, group_mappings=listing.group_mappings, tasks=_newest(listing.tasks)
    )
    return observed, connection.source.tenant_id


async def run_export(
    ws: Workspace,
    keys: ExportKeys | None,
    out_dir: Path,
    *,
    force: bool = False,
    meter: Meter | None = None,
    state: State | None = None,
    reprobe: bool = False,
) -> ExportResult:
    """Export ``keys``, or with ``keys=None`` every mapping and task the tenants list (``export --all``:
    raises ``CollectionReadsUnsupported`` where a tenant does not answer collection reads)."""
    targets = [out_dir / IDENTITY_MAP, out_dir / SPEC]
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        raise ExportFilesExist(f"{existing[0]} exists; pass --force to overwrite it")
    if keys is None:
        observed, source_tenant_id = await _observe_all(ws, state or State(), reprobe)
        keys = ExportKeys()  # every object listed exists: nothing is absent
    else:
        connection, client = connect(ws, GraphSettings())
        async with client as graph:
            observed = await refresh_with_meter(graph, _request(keys), meter or NoMeter())
        source_tenant_id = connection.source.tenant_id
    identity_map, spec = render(observed, source_tenant_id)
    for path, text in zip(targets, (identity_map, spec), strict=True):
        atomic_write_text(path, text, mode=0o600)  # every UPN of the estate: readable by its owner only
    mappings = len(observed.user_mappings) + len(observed.group_mappings)
    migrations = len(observed.tasks)
    found = set(observed.user_mappings) | set(observed.group_mappings) | {k for _, k in observed.tasks}
    all_keys = set(keys.upns) | set(keys.group_ids) | set(keys.site_urls) | set(keys.nicknames)
    incomplete = sum(
        1 for m in observed.user_mappings.values() if not (m.user_type and m.source_organization_id)
    ) + sum(1 for g in observed.group_mappings.values() if not (g.group_type and g.source_organization_id))
    return ExportResult(targets, mappings, migrations, len(all_keys - found), incomplete)
