"""Routing and handlers for the documented Graph endpoints under ``/beta/solutions/sharePoint/migrations``."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import orjson

from reconciler.emulator import mappings, tasks
from reconciler.emulator.auth import Claims, require_role
from reconciler.emulator.errors import GraphError, bad_request, missing_parameter
from reconciler.emulator.odata import Query, Segment, parse_query, parse_segment, parse_select, split_path
from reconciler.emulator.runtime import Runtime
from reconciler.emulator.world import Tenant, norm_url

ROOT = ("solutions", "sharepoint", "migrations")
TASKS = "crossorganizationmigrationtasks"
USER_MAPPINGS = "crossorganizationusermappings"
GROUP_MAPPINGS = "crossorganizationgroupmappings"
FUNCTIONS = {
    "getbysourceuserprincipalname": ("user", "sourceprincipalname", "sourcePrincipalName"),
    "getbysourcesiteurl": ("site", "sourcesiteurl", "sourceSiteUrl"),
    "getbysourcegroupmailnickname": ("group", "sourcegroupmailnickname", "sourceGroupMailNickname"),
}
MAPPING_KEYS = {
    "user": ("sourceuserprincipalname", "sourceUserPrincipalName"),
    "group": ("sourcegroupobjectid", "sourceGroupObjectId"),
}
MAX_PAGE = 999


@dataclass
class Request:
    method: str
    path: str  # percent-decoded, e.g. /beta/solutions/sharePoint/...
    query: str
    headers: dict[str, str]
    body: Any = None  # parsed JSON, or None
    base_url: str = ""


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def method_not_allowed(allowed: str) -> GraphError:
    return GraphError(
        405, "methodNotAllowed", "Specified HTTP method is not allowed for the request uri.", {"Allow": allowed}
    )


def lists_not_supported() -> GraphError:
    return GraphError(501, "notSupported", "Listing this collection is not supported; read items by key.")


def count_not_supported() -> GraphError:
    return GraphError(501, "notSupported", "$count is not supported on this collection.")


Handler = Callable[[Request, Claims, Query], Response]


@dataclass(frozen=True)
class Route:
    endpoint: str
    write: bool
    handler: Handler


def parse_json_body(method: str, content_type: str | None, raw: bytes) -> Any:
    """The JSON body of a POST/PATCH, with Graph's answers for a wrong type or malformed JSON."""
    if not raw:
        return None
    if content_type is None or content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise GraphError(
            415,
            "UnsupportedMediaType",
            f"A request with a body must have Content-Type: application/json (got {content_type!r}).",
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}.") from exc


class GraphService:
    """Resolves a request to a route, checks the caller's role, and runs the handler."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    # -- routing ------------------------------------------------------------------------------

    def route(self, method: str, path: str, query: Query) -> Route:
        raw_segments = split_path(path)
        version = raw_segments[0].lower() if raw_segments else ""
        rest = raw_segments[1:]
        for i, expected in enumerate(ROOT):
            if i >= len(rest) or rest[i].lower() != expected:
                seg = rest[i] if i < len(rest) else ""
                raise bad_request(f"Resource not found for the segment '{seg}'.")
        if version == "v1.0":
            raise bad_request("Resource not found for the segment 'migrations'.")
        segs = [parse_segment(s, query.aliases) for s in rest[3:]]
        if not segs:
            # The docs give the root (sharePointMigrationsRoot) no method of its own: an empty Allow says so
            # (RFC 9110 §10.2.1), where "GET" promised a read that was then refused.
            raise method_not_allowed("")
        head = segs[0]
        if head.lname == TASKS and not head.has_parens:
            return self._task_route(method, segs[1:], query)
        if head.lname in (USER_MAPPINGS, GROUP_MAPPINGS):
            kind = mappings.USER if head.lname == USER_MAPPINGS else mappings.GROUP
            return self._mapping_route(method, kind, head, segs[1:], query)
        raise bad_request(f"Resource not found for the segment '{head.name}'.")

    @staticmethod
    def _method(method: str, allowed: str) -> None:
        if method != allowed:
            raise method_not_allowed(allowed)

    def _only_select(self, query: Query, paging: bool = False) -> None:
        allowed = {"$select"} | ({"$top", "$skiptoken"} if paging else set())
        for name in query.system:
            if name not in allowed:
                raise bad_request(f"The query option '{name}' is not supported by this resource.")

    def _list_route(self, endpoint: str, query: Query, handler: Handler) -> Route:
        """A collection GET: the list switch first (501 whatever the query options), then the options."""
        if not self.rt.behaviour.list_endpoints:
            return Route(endpoint, False, self._lists_off)
        self._only_select(query, paging=True)
        return Route(endpoint, False, handler)

    @staticmethod
    def _lists_off(request: Request, claims: Claims, query: Query) -> NoReturn:
        raise lists_not_supported()

    def _task_route(self, method: str, segs: list[Segment], query: Query) -> Route:
        if not segs:
            if method == "POST":
                self._only_select(query)
                return Route("tasks.create", True, self._create_task)
            if method == "GET":
                return self._list_route("tasks.list", query, self._list_tasks)
            raise method_not_allowed("GET, POST")
        first = segs[0]
        fname = first.lname.removeprefix("microsoft.graph.")
        if first.has_parens and fname in FUNCTIONS:
            if len(segs) > 1:
                raise bad_request(f"Resource not found for the segment '{segs[1].name}'.")
            kind, pname, label = FUNCTIONS[fname]
            if set(first.params) != {pname}:
                raise bad_request(f"The function '{first.name}' takes exactly one parameter, {label}='…'.")
            self._method(method, "GET")
            self._only_select(query)
            key = first.params[pname]
            return Route(f"tasks.{CANONICAL[fname]}", False, lambda r, c, q: self._lookup_task(r, c, q, kind, key))
        if first.has_parens:  # not a known function: never read a positional argument as a task id
            raise bad_request(f"Resource not found for the segment '{first.name}'.")
        if first.name == "$count":
            raise count_not_supported()
        task_id = first.name
        if len(segs) == 1:
            self._method(method, "GET")
            self._only_select(query)
            return Route("tasks.get", False, lambda r, c, q: self._get_task(r, c, q, task_id))
        if len(segs) == 2 and segs[1].lname.removeprefix("microsoft.graph.") == "cancel" and not segs[1].has_parens:
            self._method(method, "POST")
            self._only_select(query)
            return Route("tasks.cancel", True, lambda r, c, q: self._cancel_task(r, c, q, task_id))
        raise bad_request(f"Resource not found for the segment '{segs[-1].name}'.")

    def _mapping_route(
        self, method: str, kind: mappings.Kind, head: Segment, segs: list[Segment], query: Query
    ) -> Route:
        name = f"{kind.name}Mappings"
        if segs:
            if len(segs) > 1 or head.has_parens:
                raise bad_request(f"Resource not found for the segment '{segs[-1].name}'.")
            if segs[0].name == "$count" and not segs[0].has_parens:
                raise count_not_supported()  # as the tasks' $count, never read as a mapping id
            self._method(method, "GET")
            self._only_select(query)
            mapping_id = segs[0].name
            return Route(f"{name}.getById", False, lambda r, c, q: self._mapping_by_id(r, c, q, kind, mapping_id))
        if head.has_parens:
            pname, label = MAPPING_KEYS[kind.name]
            if head.key is not None:
                self._method(method, "GET")
                self._only_select(query)
                key = head.key
                return Route(f"{name}.getById", False, lambda r, c, q: self._mapping_by_id(r, c, q, kind, key))
            if set(head.params) != {pname}:
                raise bad_request(f"The key of {kind.collection} is {label}='…'.")
            self._method(method, "GET")
            self._only_select(query)
            key = head.params[pname]
            return Route(f"{name}.get", False, lambda r, c, q: self._get_mapping(r, c, q, kind, key))
        if method == "PATCH":
            self._only_select(query)
            return Route(f"{name}.deltaPatch", True, lambda r, c, q: self._patch_mappings(r, c, q, kind))
        if method == "GET":
            return self._list_route(f"{name}.list", query, lambda r, c, q: self._list_mappings(r, c, q, kind))
        raise method_not_allowed("GET, PATCH")

    # -- dispatch -------------------------------------------------------------------------------

    def handle(self, request: Request, claims: Claims) -> tuple[str, Response]:
        query = parse_query(request.query)
        route = self.route(request.method, request.path, query)
        try:
            require_role(claims, route.write, self.rt.behaviour.manage_implies_read)
            if route.write and request.body is None and route.endpoint != "tasks.cancel":
                raise bad_request("The request body is missing.")
            return route.endpoint, route.handler(request, claims, query)
        except GraphError as error:
            error.endpoint = route.endpoint
            raise

    # -- helpers ----------------------------------------------------------------------------

    def _tenant(self, claims: Claims) -> Tenant:
        return self.rt.world.tenants[claims.tenant_id]

    @staticmethod
    def _context(request: Request, collection: str, suffix: str) -> str:
        return f"{request.base_url}/beta/$metadata#solutions/sharePoint/migrations/{collection}{suffix}"

    @staticmethod
    def _select(entity: dict[str, Any], query: Query, allowed: frozenset[str], type_name: str) -> dict[str, Any]:
        props = parse_select(query.system.get("$select"), allowed, type_name)
        if props is None:
            return entity
        keep = {"id", *props}
        return {k: val for k, val in entity.items() if k in keep or k.startswith("@odata.")}

    def _entity(
        self,
        request: Request,
        query: Query,
        collection: str,
        entity: dict[str, Any],
        allowed: frozenset[str],
        type_name: str,
    ) -> Response:
        body = {
            "@odata.context": self._context(request, collection, "/$entity"),
            **self._select(entity, query, allowed, type_name),
        }
        return Response(200, body)

    def _require_lists(self) -> None:
        if not self.rt.behaviour.list_endpoints:
            raise lists_not_supported()

    # -- task handlers --------------------------------------------------------------------------

    def _create_task(self, request: Request, claims: Claims, query: Query) -> Response:
        rt = self.rt
        body = tasks.create(rt.world, self._tenant(claims), request.body, rt.clock.now(), rt.behaviour, rt.engine)
        if "id" in body:
            rt.changed()
            body = {
                "@odata.context": self._context(request, "crossOrganizationMigrationTasks", "/$entity"),
                **body,
            }
        return Response(200, body)

    def _task_response(self, request: Request, query: Query, task: Any) -> Response:
        entity = tasks.task_json(task, self.rt.clock.now())
        return self._entity(
            request,
            query,
            "crossOrganizationMigrationTasks",
            entity,
            tasks.TASK_PROPERTIES,
            "sharePointMigrationTask",
        )

    def _get_task(self, request: Request, claims: Claims, query: Query, task_id: str) -> Response:
        return self._task_response(request, query, tasks.get(self.rt.world, self._tenant(claims), task_id))

    def _lookup_task(self, request: Request, claims: Claims, query: Query, kind: str, key: str) -> Response:
        if not key:
            raise missing_parameter(FUNCTIONS_LABEL[kind])
        norm = norm_url(key) if kind == "site" else key.lower()
        return self._task_response(request, query, tasks.lookup(self.rt.world, self._tenant(claims), kind, norm))

    def _cancel_task(self, request: Request, claims: Claims, query: Query, task_id: str) -> Response:
        tasks.cancel(self.rt.world, self._tenant(claims), task_id, self.rt.clock.now())
        self.rt.changed()
        return Response(204)

    def _list_tasks(self, request: Request, claims: Claims, query: Query) -> Response:
        self._require_lists()
        now = self.rt.clock.now()
        items = [tasks.task_json(t, now) for t in self._tenant(claims).tasks.values()]
        return self._page(request, query, "crossOrganizationMigrationTasks", items)

    # -- mapping handlers -------------------------------------------------------------------------

    def _get_mapping(self, request: Request, claims: Claims, query: Query, kind: mappings.Kind, key: str) -> Response:
        label = MAPPING_KEYS[kind.name][1]
        if not key:
            raise missing_parameter(label)
        mappings.check_key(kind, key, label)
        entity = self._typed(kind, mappings.get(kind, self._tenant(claims), key))
        return self._entity(request, query, kind.collection, entity, kind.properties, kind.type_name)

    def _mapping_by_id(
        self, request: Request, claims: Claims, query: Query, kind: mappings.Kind, mapping_id: str
    ) -> Response:
        self._require_lists()
        store = kind.store(self._tenant(claims))
        for key in store:
            if mappings.mapping_id(kind, key) == mapping_id:
                entity = self._typed(kind, mappings.get(kind, self._tenant(claims), key))
                return self._entity(request, query, kind.collection, entity, kind.properties, kind.type_name)
        raise GraphError(404, "itemNotFound", f"The identity mapping {mapping_id} could not be found.")

    def _typed(self, kind: mappings.Kind, entity: dict[str, Any]) -> dict[str, Any]:
        """The entity with its ``@odata.type`` first, as the user mapping GET example of the docs shows."""
        if not self.rt.behaviour.mapping_odata_type:
            return entity
        return {"@odata.type": f"#microsoft.graph.{kind.type_name}", **entity}

    def _patch_mappings(self, request: Request, claims: Claims, query: Query, kind: mappings.Kind) -> Response:
        body = mappings.delta_patch(
            kind,
            self._tenant(claims),
            request.body,
            self.rt.behaviour,
            self._context(request, kind.collection, "/$delta"),
        )
        self.rt.changed()
        return Response(200, body)

    def _list_mappings(self, request: Request, claims: Claims, query: Query, kind: mappings.Kind) -> Response:
        self._require_lists()
        store = kind.store(self._tenant(claims))
        items = [
            self._typed(kind, {"id": mappings.mapping_id(kind, k), **copy.deepcopy(val)}) for k, val in store.items()
        ]
        return self._page(request, query, kind.collection, items)

    def _page(self, request: Request, query: Query, collection: str, items: list[dict[str, Any]]) -> Response:
        try:
            top = int(query.system.get("$top", "100"))
            skip = int(query.system.get("$skiptoken", "0"))
        except ValueError as exc:
            raise bad_request("$top and $skiptoken must be whole numbers.") from exc
        if not 1 <= top <= MAX_PAGE or skip < 0:
            raise bad_request(f"$top must be between 1 and {MAX_PAGE}.")
        page = items[skip : skip + top]
        body: dict[str, Any] = {"@odata.context": self._context(request, collection, ""), "value": page}
        if skip + top < len(items):
            body["@odata.nextLink"] = (
                f"{request.base_url}/beta/solutions/sharePoint/migrations/{collection}"
                f"?$top={top}&$skiptoken={skip + top}"
            )
        return Response(200, body)


CANONICAL = {
    "getbysourceuserprincipalname": "getBySourceUserPrincipalName",
    "getbysourcesiteurl": "getBySourceSiteUrl",
    "getbysourcegroupmailnickname": "getBySourceGroupMailNickname",
}
FUNCTIONS_LABEL = {kind: label for kind, _, label in FUNCTIONS.values()}
