"""``GraphClient``: every operation of the API, single and bulk, for the two tenants of a migration.

Identity mappings live in the target tenant, tasks in the source tenant; the client routes each
call to the right tenant's credential. Bulk forms take iterables of any size, stream results as
they complete, and hold only a bounded window in memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from itertools import islice
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from reconciler.graph import paths
from reconciler.graph.auth import TokenProvider
from reconciler.graph.batch import BatchItem, BatchRunner
from reconciler.graph.config import GraphSettings, TenantConnection
from reconciler.graph.errors import (
    AmbiguousMalformedResponse,
    AmbiguousWriteError,
    BadRequest,
    Conflict,
    GraphError,
    MalformedResponseError,
    ServerError,
    UnreachableError,
    error_for,
)
from reconciler.graph.models import (
    REQUIRED,
    GroupIdentityMapping,
    MigrationTask,
    TaskParameters,
    TaskStatus,
    UserIdentityMapping,
    WireModel,
    missing_member,
)
from reconciler.graph.transport import GraphResponse, GraphTransport
from reconciler.kinds import TaskKind as TaskKind

MAX_DELTA_ITEMS = 50
SOURCE, TARGET = "source", "target"
M = TypeVar("M", bound=WireModel)
T = TypeVar("T")


@dataclass(frozen=True)
class TaskKey:
    """How a task is found without its id: the source UPN, site URL or group mail nickname."""

    kind: TaskKind
    value: str

    def path(self) -> str:
        return paths.TASK_BY_KEY[self.kind](self.value)


@dataclass(frozen=True)
class MappingWrite(Generic[M]):
    """One item of a delta PATCH: ``mapping`` to upsert, or None to remove the mapping of ``key``."""

    key: str
    mapping: M | None


@dataclass
class WriteResult(Generic[M]):
    key: str
    removed: bool
    mapping: M | None = None
    error: GraphError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class _MappingKind(Generic[M]):
    model: type[M]
    collection: str
    key_prop: str
    key_field: str

    def key_of(self, mapping: M) -> str | None:
        ident = getattr(mapping, _snake(self.key_prop), None)
        value = getattr(ident, _snake(self.key_field), None) if ident is not None else None
        return value.lower() if isinstance(value, str) else None

    def path(self, key: str) -> str:
        return paths.user_mapping(key) if self.model is UserIdentityMapping else paths.group_mapping(key)


def _snake(camel: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


USERS = _MappingKind(UserIdentityMapping, paths.USER_MAPPINGS, "sourceUserIdentity", "userPrincipalName")
GROUPS = _MappingKind(GroupIdentityMapping, paths.GROUP_MAPPINGS, "sourceGroupIdentity", "id")


def _parse(
    model: type[M],
    body: Any,
    method: str,
    url: str,
    request_id: str | None = None,
    *,
    required: tuple[str, ...] | None = None,
    ambiguous: bool = False,
) -> M:
    """The model of a 2xx body, or ``MalformedResponseError`` (``AmbiguousMalformedResponse`` after a
    task POST) when it lacks what the API documents or has members of the wrong type."""
    problem = missing_member(body, REQUIRED.get(model, ()) if required is None else required)
    if problem is None:
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the body"
            problem = f"{where}: {first['msg']}"
    if ambiguous:
        raise AmbiguousMalformedResponse(
            f"the service answered a body this client cannot read ({problem}); the task may or may not have "
            "been started: it is looked up by its source key",
            method=method,
            path=url,
            request_id=request_id,
        )
    raise MalformedResponseError(
        f"the service answered a body this client cannot read ({problem})",
        method=method,
        path=url,
        request_id=request_id,
    )


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class GraphClient:
    """The Graph layer's one entry point. Use as ``async with GraphClient(source, target) as graph:``."""

    def __init__(
        self,
        source: TenantConnection,
        target: TenantConnection,
        settings: GraphSettings | None = None,
        *,
        providers: dict[str, TokenProvider] | None = None,
    ) -> None:
        if source.role != SOURCE or target.role != TARGET:
            raise ValueError("the connections must have the roles 'source' and 'target'")
        self.transport = GraphTransport([source, target], settings, providers)
        self.batches = BatchRunner(self.transport)

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.transport.aclose()

    @property
    def stats(self) -> dict[str, int]:
        return dict(self.transport.stats)

    @property
    def server_time(self) -> datetime | None:
        """The service's clock as its latest answer's ``Date`` header gave it (None before any answer)."""
        raw = self.transport.server_date
        if not raw:
            return None
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    async def sign_in(self, roles: Iterable[str] = (SOURCE, TARGET)) -> None:
        """Get a token for each tenant now: a refused credential is one error for the run, not one per
        object read with it. Raises ``AuthenticationError``."""
        await asyncio.gather(*(self.transport.channels[role].provider.token() for role in dict.fromkeys(roles)))

    # -- identity mappings (target tenant) --------------------------------------------------------

    async def get_user_mapping(self, source_upn: str) -> UserIdentityMapping | None:
        return await self._get_optional(TARGET, paths.user_mapping(source_upn), UserIdentityMapping)

    async def get_group_mapping(self, source_group_id: str) -> GroupIdentityMapping | None:
        return await self._get_optional(TARGET, paths.group_mapping(source_group_id), GroupIdentityMapping)

    def get_user_mappings(
        self, source_upns: Iterable[str]
    ) -> AsyncIterator[tuple[str, UserIdentityMapping | GraphError | None]]:
        return self._bulk_get(TARGET, ((upn, paths.user_mapping(upn)) for upn in source_upns), UserIdentityMapping)

    def get_group_mappings(
        self, source_group_ids: Iterable[str]
    ) -> AsyncIterator[tuple[str, GroupIdentityMapping | GraphError | None]]:
        pairs = ((gid, paths.group_mapping(gid)) for gid in source_group_ids)
        return self._bulk_get(TARGET, pairs, GroupIdentityMapping)

    def write_user_mappings(
        self, writes: Iterable[MappingWrite[UserIdentityMapping]]
    ) -> AsyncIterator[WriteResult[UserIdentityMapping]]:
        return self._write_mappings(USERS, writes)

    def write_group_mappings(
        self, writes: Iterable[MappingWrite[GroupIdentityMapping]]
    ) -> AsyncIterator[WriteResult[GroupIdentityMapping]]:
        return self._write_mappings(GROUPS, writes)

    # -- migration tasks (source tenant) ------------------------------------------------------------

    async def create_task(self, parameters: TaskParameters) -> MigrationTask:
        """Start a task. Never re-sent after an ambiguous failure: ``AmbiguousWriteError`` is raised."""
        body = {"parameters": parameters.to_wire()}
        response = await self.transport.request(SOURCE, "POST", paths.TASKS, json=body, idempotent=False)
        url = self.transport.url(SOURCE, paths.TASKS)
        return _parse(MigrationTask, response.body, "POST", url, response.request_id, ambiguous=True)

    async def validate_task(self, parameters: TaskParameters) -> MigrationTask:
        """The service's pre-flight (``validateOnly``); nothing is created, so it is safely retried."""
        wire = {**parameters.to_wire(), "validateOnly": True}
        response = await self.transport.request(SOURCE, "POST", paths.TASKS, json={"parameters": wire})
        url = self.transport.url(SOURCE, paths.TASKS)
        # A pre-flight creates nothing, so its answer has a status and no id.
        return _parse(MigrationTask, response.body, "POST", url, response.request_id, required=("status",))

    async def get_task(self, task_id: str) -> MigrationTask | None:
        return await self._get_optional(SOURCE, paths.task(task_id), MigrationTask)

    async def find_task(self, key: TaskKey) -> MigrationTask | None:
        """The newest task for a source, or None."""
        return await self._get_optional(SOURCE, key.path(), MigrationTask)

    def get_tasks(self, task_ids: Iterable[str]) -> AsyncIterator[tuple[str, MigrationTask | GraphError | None]]:
        return self._bulk_get(SOURCE, ((tid, paths.task(tid)) for tid in task_ids), MigrationTask)

    def find_tasks(self, keys: Iterable[TaskKey]) -> AsyncIterator[tuple[TaskKey, MigrationTask | GraphError | None]]:
        return self._bulk_get(SOURCE, ((key, key.path()) for key in keys), MigrationTask)

    async def cancel_task(self, task_id: str) -> None:
        """Cancel a task that has not started. Safe to repeat: an already-cancelled task is success."""
        path = paths.cancel(task_id)
        try:
            await self.transport.request(SOURCE, "POST", path, idempotent=False)
        except (AmbiguousWriteError, Conflict) as error:
            # Learn the outcome by reading the task back, never by sending the cancel blindly again.
            task = await self.get_task(task_id)
            if task is not None and task.status is TaskStatus.CANCELLED:
                return
            raise error

    async def create_tasks(
        self, items: Iterable[tuple[T, TaskParameters]]
    ) -> AsyncIterator[tuple[T, MigrationTask | GraphError]]:
        """Start many tasks concurrently (one POST each, so an ambiguity touches one task only)."""

        async def one(key: T, parameters: TaskParameters) -> tuple[T, MigrationTask | GraphError]:
            try:
                return key, await self.create_task(parameters)
            except GraphError as error:
                return key, error

        async for result in self._bounded(one(key, params) for key, params in items):
            yield result

    # -- machinery ----------------------------------------------------------------------------------

    async def _get_optional(self, role: str, path: str, model: type[M]) -> M | None:
        response = await self.transport.request(role, "GET", path, accept=(404,))
        if response.status == 404:
            return None
        return _parse(model, response.body, "GET", self.transport.url(role, path), response.request_id)

    async def _bulk_get(
        self, role: str, pairs: Iterable[tuple[Any, str]], model: type[M]
    ) -> AsyncIterator[tuple[Any, M | GraphError | None]]:
        items = (BatchItem(key, "GET", path) for key, path in pairs)
        async for item, outcome in self.batches.run(role, items):
            if isinstance(outcome, UnreachableError):
                raise outcome  # the service, not this object: one error for the run, not one per key
            if isinstance(outcome, GraphError):
                yield item.key, outcome
            elif outcome.status == 404:
                yield item.key, None
            elif outcome.status >= 400:
                yield item.key, error_for("GET", item.url, outcome.status, outcome.body, outcome.request_id)
            else:
                try:
                    url = self.transport.url(role, item.url)
                    yield item.key, _parse(model, outcome.body, "GET", url, outcome.request_id)
                except GraphError as error:
                    yield item.key, error

    async def _bounded(self, coroutines: Iterable[Awaitable[T]]) -> AsyncIterator[T]:
        """Run coroutines with at most the scheduler's limit in flight; yield results as they finish."""
        source = iter(coroutines)
        in_flight: set[asyncio.Future[T]] = set()
        try:
            while True:
                while len(in_flight) < self.transport.scheduler.limit:
                    nxt = next(source, None)
                    if nxt is None:
                        break
                    in_flight.add(asyncio.ensure_future(nxt))
                if not in_flight:
                    return
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in in_flight:
                future.cancel()

    async def _write_mappings(
        self, kind: _MappingKind[M], writes: Iterable[MappingWrite[M]]
    ) -> AsyncIterator[WriteResult[M]]:
        def send(chunk: list[MappingWrite[M]]) -> Awaitable[list[WriteResult[M]]]:
            return self._delta_patch(kind, chunk)

        async for results in self._bounded(send(chunk) for chunk in _chunks(writes, MAX_DELTA_ITEMS)):
            for result in results:
                yield result

    async def _delta_patch(self, kind: _MappingKind[M], chunk: list[MappingWrite[M]]) -> list[WriteResult[M]]:
        value: list[dict[str, Any]] = []
        for write in chunk:
            if write.mapping is None:
                key_obj = {kind.key_field: write.key}
                value.append({"@removed": {"reason": "deleted"}, kind.key_prop: key_obj})
            else:
                item = write.mapping.to_wire()
                item.pop("id", None)
                item.pop("deleted", None)
                item[kind.key_prop] = {**item.get(kind.key_prop, {}), kind.key_field: write.key}
                value.append(item)
        try:
            response = await self.transport.request(
                TARGET, "PATCH", kind.collection, json={"@context": "#$delta", "value": value}
            )
        except GraphError as error:
            return [WriteResult(w.key, w.mapping is None, None, error) for w in chunk]
        return self._check_delta(kind, chunk, response)

    def _check_delta(
        self, kind: _MappingKind[M], chunk: list[MappingWrite[M]], response: GraphResponse
    ) -> list[WriteResult[M]]:
        """Every item's entry must be there, for the right key, and say what was asked."""
        entries = response.body.get("value") if isinstance(response.body, dict) else None
        path = kind.collection
        if not isinstance(entries, list) or len(entries) != len(chunk):
            got = len(entries) if isinstance(entries, list) else "no"
            short = ServerError(
                f"the delta PATCH answered {got} entries for {len(chunk)} items; re-read to verify",
                method="PATCH",
                path=path,
                request_id=response.request_id,
            )
            return [WriteResult(w.key, w.mapping is None, None, short) for w in chunk]
        results: list[WriteResult[M]] = []
        for write, entry in zip(chunk, entries, strict=True):
            removed = write.mapping is None
            if isinstance(entry, dict) and "@Core.DataModificationException" in entry:
                info = entry["@Core.DataModificationException"] or {}
                detail = info.get("info") or {}
                failed = error_for(
                    "PATCH", path, int(info.get("responseCode") or 400), {"error": detail}, response.request_id
                )
                results.append(WriteResult(write.key, removed, None, failed))
                continue
            try:
                stored = _parse(kind.model, entry, "PATCH", path, response.request_id, required=())
            except GraphError as error:
                results.append(WriteResult(write.key, removed, None, error))
                continue
            mismatch = self._mismatch(kind, write, stored)
            if mismatch:
                results.append(
                    WriteResult(
                        write.key,
                        removed,
                        stored,
                        BadRequest(mismatch, method="PATCH", path=path, request_id=response.request_id),
                    )
                )
            else:
                results.append(WriteResult(write.key, removed, None if removed else stored))
        return results

    @staticmethod
    def _mismatch(kind: _MappingKind[M], write: MappingWrite[M], stored: M) -> str | None:
        key = kind.key_of(stored)
        if key != write.key.lower():
            return f"the service answered the entry of {key!r} where {write.key!r} was expected"
        if write.mapping is None:
            return None
        sent = write.mapping.to_wire()
        got = stored.to_wire()
        for name, value in sent.items():
            if name in ("id", "deleted", kind.key_prop):
                continue
            if _fold(got.get(name)) != _fold(value):
                return f"the service stored {name}={got.get(name)!r} for {write.key!r}, not {value!r}"
        return None


def _fold(value: Any) -> Any:
    """Compare as Graph does: principal names and GUIDs case-insensitively."""
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, dict):
        return {k: _fold(v) for k, v in value.items()}
    return value
