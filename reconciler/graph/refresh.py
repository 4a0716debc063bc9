"""Refresh: read the live state of the given keys, batched, and normalize it into ``Observed``.

This is the one place where Graph's wire models become observed state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from reconciler.graph.client import SOURCE, TARGET, GraphClient, TaskKey, TaskKind
from reconciler.graph.errors import GraphError
from reconciler.graph.models import GroupIdentityMapping, MigrationTask, UserIdentityMapping
from reconciler.graph.models import lower_key as _lower
from reconciler.graph.models import url_key as _url
from reconciler.kinds import ADDRESS_KIND
from reconciler.observed import Observed, ObservedGroupMapping, ObservedTask, ObservedUserMapping


def observe_user_mapping(key: str, mapping: UserIdentityMapping) -> ObservedUserMapping:
    target = mapping.target_user_identity
    data = mapping.target_user_migration_data
    return ObservedUserMapping(
        key=key,
        target_upn=_lower(target.user_principal_name if target else None),
        target_email=_lower(data.email if data else None),
        user_type=mapping.user_type.value if mapping.user_type else None,
        source_organization_id=_lower(mapping.source_organization_id),
    )


def observe_group_mapping(key: str, mapping: GroupIdentityMapping) -> ObservedGroupMapping:
    target = mapping.target_group_identity
    data = mapping.target_group_migration_data
    return ObservedGroupMapping(
        key=key,
        target_group_id=_lower(target.id if target else None),
        target_mail_nickname=_lower(data.mail_nickname if data else None),
        group_type=mapping.group_type.value if mapping.group_type else None,
        source_organization_id=_lower(mapping.source_organization_id),
    )


def observe_task(kind: str, key: str, task: MigrationTask) -> ObservedTask:
    params = task.parameters
    return ObservedTask(
        kind=kind,
        key=key,
        id=task.id or "",
        status=task.status.value,
        raw_status=task.raw_value("status"),
        target=params.target() if params else None,
        target_organization_id=_lower(params.target_organization_id) if params else None,
        target_organization_host=_url(params.target_organization_host) if params else None,
        target_data_location=params.target_data_location_code if params else None,
        preferred_start=params.preferred_start_date_time if params else None,
        latest_start=params.preferred_latest_start_date_time if params else None,
        validate_only=bool(params.validate_only) if params else False,
        started=task.started_date_time,
        finished=task.finished_date_time,
        last_updated=task.last_updated_date_time,
        error=(task.error.message or task.error.code) if task.error else None,
        error_code=task.error.code if task.error else None,
    )


@dataclass
class RefreshRequest:
    """What to read: canonical keys per kind; for tasks, the id state knows (read by id) or None."""

    user_mappings: list[str] = field(default_factory=list)
    group_mappings: list[str] = field(default_factory=list)
    tasks: list[tuple[TaskKind, str, str | None]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.user_mappings) + len(self.group_mappings) + len(self.tasks)


Progress = Callable[[int], None]


async def refresh(graph: GraphClient, request: RefreshRequest, progress: Progress | None = None) -> Observed:
    """Read every key of ``request``; ``progress(1)`` is called as each key's answer arrives."""
    observed = Observed()
    tick: Progress = progress or (lambda n: None)

    async def users() -> None:
        async for key, result in graph.get_user_mappings(request.user_mappings):
            tick(1)
            if isinstance(result, GraphError):
                observed.errors[("user_mapping", key)] = str(result)
            elif result is not None:
                observed.user_mappings[key] = observe_user_mapping(key, result)

    async def groups() -> None:
        async for key, result in graph.get_group_mappings(request.group_mappings):
            tick(1)
            if isinstance(result, GraphError):
                observed.errors[("group_mapping", key)] = str(result)
            elif result is not None:
                observed.group_mappings[key] = observe_group_mapping(key, result)

    async def tasks_by_key(keys: Iterable[TaskKey]) -> None:
        async for task_key, result in graph.find_tasks(keys):
            tick(1)
            _record_task(observed, task_key.kind, task_key.value, result)

    async def tasks_by_id(pairs: list[tuple[TaskKind, str, str]]) -> None:
        by_id = {task_id: (kind, key) for kind, key, task_id in pairs}
        missing: list[TaskKey] = []
        async for task_id, result in graph.get_tasks(by_id):
            kind, key = by_id[task_id]
            if result is None:  # counted when it is looked up by key below
                missing.append(TaskKey(kind, key))  # gone by id: the source may have a newer task
            else:
                tick(1)
                _record_task(observed, kind, key, result)
        if missing:
            await tasks_by_key(missing)

    known = [(kind, key, tid) for kind, key, tid in request.tasks if tid]
    unknown = [TaskKey(kind, key) for kind, key, tid in request.tasks if not tid]
    roles = [TARGET] if request.user_mappings or request.group_mappings else []
    await graph.sign_in([*roles, SOURCE] if request.tasks else roles)
    await asyncio.gather(users(), groups(), tasks_by_key(unknown), tasks_by_id(known))
    return observed


def _record_task(observed: Observed, kind: TaskKind, key: str, result: MigrationTask | GraphError | None) -> None:
    if isinstance(result, GraphError):
        observed.errors[(ADDRESS_KIND[kind], key)] = str(result)
    elif result is not None:
        observed.tasks[(kind, key)] = observe_task(kind, key, result)
