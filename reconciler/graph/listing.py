"""Collection reads: the probe that tells whether a tenant answers them, and the paged listing of everything.

Microsoft's metadata (and its generated SDKs) declare GETs on the three collections, with ``$top``,
``$filter`` and paging, which the docs do not describe. ``probe`` asks a tenant once with a cheap
``GET …?$top=1``: 2xx is supported; 400, 404, 405 or 501 is not; any other answer is an error, as for
every read. ``list_all`` reads every page (``@odata.nextLink``, followed only below the tenant's own
Graph URL, so a token never travels elsewhere) and normalizes the items as refresh does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from reconciler.graph import paths
from reconciler.graph.client import SOURCE, TARGET, GraphClient, _parse
from reconciler.graph.errors import MalformedResponseError
from reconciler.graph.models import GroupIdentityMapping, MigrationTask, UserIdentityMapping
from reconciler.graph.refresh import observe_group_mapping, observe_task, observe_user_mapping
from reconciler.kinds import TaskKind
from reconciler.observed import Listing

UNSUPPORTED = (400, 404, 405, 501)
PAGE_SIZE = 999  # the most Graph pages by


def probe_path(role: str) -> str:
    """What a tenant is asked: tasks live in the source tenant, mappings in the target."""
    return f"{paths.TASKS if role == SOURCE else paths.USER_MAPPINGS}?$top=1"


async def probe(graph: GraphClient, role: str) -> bool:
    """Whether the ``role`` tenant answers collection reads. Raises ``GraphError`` for other answers."""
    path = probe_path(role)
    response = await graph.transport.request(role, "GET", path, accept=UNSUPPORTED)
    if response.status in UNSUPPORTED:
        return False
    _value(response.body, graph.transport.url(role, path), response.request_id)
    return True


def _value(body: Any, url: str, request_id: str | None) -> list[Any]:
    value = body.get("value") if isinstance(body, dict) else None
    if not isinstance(value, list):
        raise MalformedResponseError(
            "the service answered a collection read without a value array",
            method="GET",
            path=url,
            request_id=request_id,
        )
    return value


async def _items(graph: GraphClient, role: str, collection: str) -> AsyncIterator[tuple[Any, str, str | None]]:
    """Every item of a collection, page after page: (item, page URL, request id)."""
    base = graph.transport.url(role, "")
    path = f"{collection}?$top={PAGE_SIZE}"
    followed: set[str] = set()
    while True:
        response = await graph.transport.request(role, "GET", path)
        url = graph.transport.url(role, path)
        for item in _value(response.body, url, response.request_id):
            yield item, url, response.request_id
        link = response.body.get("@odata.nextLink")
        if link is None:
            return
        if not isinstance(link, str) or not link.startswith(base + "/"):
            shown = link[:120] if isinstance(link, str) else type(link).__name__
            raise MalformedResponseError(
                f"the service's next-page link ({shown}) is not under {base}; it was not followed",
                method="GET",
                path=url,
                request_id=response.request_id,
            )
        if link in followed:
            raise MalformedResponseError(
                "the service's next-page link names a page already read", method="GET", path=url
            )
        followed.add(link)
        path = link[len(base) :]


def task_source(task: MigrationTask) -> tuple[TaskKind, str] | None:
    """The task's kind and canonical source key, as the spec names it; None when the service left it out."""
    params = task.parameters
    kind = params.kind() if params is not None else None
    key = params.source() if params is not None else None
    return (kind, key) if kind and key else None


async def list_all(graph: GraphClient, *, mappings: bool, tasks: bool) -> Listing:
    """Every mapping of the target tenant (when ``mappings``) and every task of the source (when ``tasks``)."""
    listing = Listing(mappings_listed=mappings, tasks_listed=tasks)

    async def users() -> None:
        async for item, url, request_id in _items(graph, TARGET, paths.USER_MAPPINGS):
            mapping = _parse(UserIdentityMapping, item, "GET", url, request_id, required=())
            if mapping.key:
                listing.user_mappings[mapping.key] = observe_user_mapping(mapping.key, mapping)

    async def groups() -> None:
        async for item, url, request_id in _items(graph, TARGET, paths.GROUP_MAPPINGS):
            mapping = _parse(GroupIdentityMapping, item, "GET", url, request_id, required=())
            if mapping.key:
                listing.group_mappings[mapping.key] = observe_group_mapping(mapping.key, mapping)

    async def all_tasks() -> None:
        async for item, url, request_id in _items(graph, SOURCE, paths.TASKS):
            task = _parse(MigrationTask, item, "GET", url, request_id)
            source = task_source(task)
            if source is not None:
                listing.tasks.append(observe_task(source[0], source[1], task))

    jobs = ([users(), groups()] if mappings else []) + ([all_tasks()] if tasks else [])
    await asyncio.gather(*jobs)
    return listing
