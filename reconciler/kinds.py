"""The resource kinds: one registry of what every layer needs to know about a kind by name.

A kind is what an address starts with (``site_migration["https://…"]``). Each entry says where its
items live in ``Desired``, which spec field names the key and which function in ``spec.desired``
makes it canonical, the Graph task kind of a migration (the typed key the Graph layer's per-kind
details hang from), the order plans list kinds in, and the label the text plan prints. The bottom
floor: no I/O, no pydantic, nothing else of the project, so the pure planner can read it. Adding a kind
starts here; docs/architecture.md lists the other modules to touch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

TaskKind = Literal["user", "site", "group"]  # Graph's migration task kinds (what ``TaskKey`` is keyed by)


@dataclass(frozen=True)
class Kind:
    name: str  # the address kind
    label: str  # the text plan's heading for its changes
    desired: str  # the attribute of ``Desired`` holding its items by canonical key
    key_field: str  # the spec field whose value is the key
    key_function: str  # the function in ``reconciler.spec.desired`` that makes a raw key canonical
    spec_model: str  # the pydantic model in ``reconciler.spec.models`` for one spec item
    task: TaskKind | None = None  # migrations only: the Graph task kind
    target_field: str | None = None  # migrations only: the spec field the task's ``target`` comes from


USER_MAPPING: Final = "user_mapping"
GROUP_MAPPING: Final = "group_mapping"
USER_MIGRATION: Final = "user_migration"
SITE_MIGRATION: Final = "site_migration"
GROUP_MIGRATION: Final = "group_migration"

# In plan order: mappings before the migrations that use them.
KINDS: Final = (
    Kind(USER_MAPPING, "user mappings", "user_mappings", "source_upn", "upn_key", "UserMappingSpec"),
    Kind(GROUP_MAPPING, "group mappings", "group_mappings", "source_group_id", "guid_key", "GroupMappingSpec"),
    Kind(
        USER_MIGRATION,
        "OneDrive migrations",
        "user_migrations",
        "source_upn",
        "upn_key",
        "UserMigrationSpec",
        task="user",
        target_field="target_upn",
    ),
    Kind(
        SITE_MIGRATION,
        "site migrations",
        "site_migrations",
        "source_url",
        "url_key",
        "SiteMigrationSpec",
        task="site",
        target_field="target_url",
    ),
    Kind(
        GROUP_MIGRATION,
        "group-connected site migrations",
        "group_migrations",
        "source_mail_nickname",
        "nickname_key",
        "GroupMigrationSpec",
        task="group",
        target_field="target_mail_nickname",
    ),
)

BY_NAME: Final = {kind.name: kind for kind in KINDS}
KIND_ORDER: Final = {kind.name: order for order, kind in enumerate(KINDS)}
MAPPING_KINDS: Final = tuple(kind for kind in KINDS if kind.task is None)
MIGRATION_KINDS: Final = tuple(kind for kind in KINDS if kind.task is not None)
# Address kind -> Graph task kind, and back: the one place this map is written.
TASK_KINDS: Final[dict[str, TaskKind]] = {kind.name: kind.task for kind in MIGRATION_KINDS if kind.task}
ADDRESS_KIND: Final[dict[TaskKind, str]] = {task: name for name, task in TASK_KINDS.items()}
