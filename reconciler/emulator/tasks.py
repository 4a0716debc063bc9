"""Migration tasks: create (with every documented check), lifecycle driven by the clock, cancel."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.emulator import failures
from reconciler.emulator import validate as v
from reconciler.emulator.clock import format_time
from reconciler.emulator.errors import (
    GraphError,
    bad_request,
    conflict,
    missing_parameter,
    not_found,
    unprocessable,
)
from reconciler.emulator.settings import Behaviour, EngineSettings
from reconciler.emulator.world import Task, Tenant, World, norm_url

NS = "#microsoft.graph."
USER_PARAMS = "sharePointUserMigrationTaskParameters"
SITE_PARAMS = "sharePointSiteMigrationTaskParameters"
GROUP_PARAMS = "sharePointGroupMigrationTaskParameters"
KIND_BY_TYPE = {USER_PARAMS.lower(): "user", SITE_PARAMS.lower(): "site", GROUP_PARAMS.lower(): "group"}
TYPE_BY_KIND = {"user": USER_PARAMS, "site": SITE_PARAMS, "group": GROUP_PARAMS}

BASE_KEYS = frozenset(
    {
        "targetOrganizationId",
        "targetOrganizationHost",
        "targetDataLocationCode",
        "preferredStartDateTime",
        "preferredLatestStartDateTime",
        "validateOnly",
        "sourceSiteUrl",
        "targetSiteUrl",
    }
)
PARAM_KEYS = {
    "user": BASE_KEYS | {"sourceUserIdentity", "targetUserIdentity"},
    "site": BASE_KEYS,
    "group": BASE_KEYS | {"sourceGroupIdentity", "targetGroupIdentity"},
}
USER_IDENTITY_KEYS = frozenset({"id", "userPrincipalName", "displayName", "ipAddress", "tenantId"})
GROUP_IDENTITY_KEYS = frozenset({"id", "mailNickname", "displayName", "tenantId"})
# The docs say the whole task structure may be sent on create; read-only members are ignored.
TASK_KEYS = frozenset(
    {"id", "status", "parameters", "startedDateTime", "lastUpdatedDateTime", "finishedDateTime", "error"}
)
TASK_PROPERTIES = frozenset(TASK_KEYS)
ACTIVE = ("notStarted", "inProgress")
NEVER = datetime(9000, 1, 1, tzinfo=UTC)  # far enough, with room for any duration after it
PHASES = 4  # validation, backup, restore, cleanup


@dataclass(frozen=True)
class Snapshot:
    status: str
    started: datetime | None
    finished: datetime | None
    last_updated: datetime


def snapshot(task: Task, now: datetime) -> Snapshot:
    """The task's status at ``now``: a pure function of the stored task and the clock."""
    if task.cancelled_at is not None and now >= task.cancelled_at:
        return Snapshot("cancelled", None, task.cancelled_at, task.cancelled_at)
    latest = task.latest_start
    if latest is not None and task.start_at >= latest:
        if now >= latest:
            return Snapshot("cancelled", None, latest, latest)
        return Snapshot("notStarted", None, None, task.created)
    if now < task.start_at:
        return Snapshot("notStarted", None, None, task.created)
    if task.stuck_at is not None:
        # Runs normally until stuck_at, then stays inProgress with that last update for ever.
        frozen = max(task.start_at, min(now, task.stuck_at))
        return Snapshot("inProgress", task.start_at, None, _phase_start(task, frozen))
    end = task.start_at + timedelta(seconds=task.duration)
    if now < end:
        return Snapshot("inProgress", task.start_at, None, _phase_start(task, now))
    return Snapshot("failed" if task.error else "completed", task.start_at, end, end)


def _phase_start(task: Task, now: datetime) -> datetime:
    """When the phase running at ``now`` began: the task's last update while it runs."""
    step = task.duration / PHASES
    phase = min(int((now - task.start_at).total_seconds() / step), PHASES - 1) if step > 0 else 0
    return task.start_at + timedelta(seconds=phase * step)


def task_json(task: Task, now: datetime) -> dict[str, Any]:
    snap = snapshot(task, now)
    out: dict[str, Any] = {"id": task.id, "status": snap.status}
    if snap.started is not None:
        out["startedDateTime"] = format_time(snap.started)
    out["lastUpdatedDateTime"] = format_time(snap.last_updated)
    if snap.finished is not None:
        out["finishedDateTime"] = format_time(snap.finished)
    out["parameters"] = task.parameters
    if snap.status == "failed" and task.error is not None:
        out["error"] = task.error
    return out


def _fraction(task_id: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{task_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _trust_error(host: str) -> GraphError:
    # Documented template, including its "soure/target" wording reduced to the role that failed.
    return unprocessable(f"There is no Cross-Tenant relationship established for partner {host} and role target.")


def check_trust(world: World, source: Tenant, target_tenant_id: str) -> None:
    target = world.tenants.get(target_tenant_id.lower())
    if target is None or (source.tenant_id.lower(), target_tenant_id.lower()) not in world.trust:
        raise _trust_error(target.my_host if target else target_tenant_id)


def _resolve_target(world: World, source: Tenant, params: dict[str, Any]) -> Tenant:
    org_id = v.opt_str(params, "targetOrganizationId", "parameters.")
    host = v.opt_str(params, "targetOrganizationHost", "parameters.")
    by_id = by_host = None
    if org_id is not None:
        v.guid(org_id, "parameters.targetOrganizationId")
        by_id = world.tenants.get(org_id.lower())
        if by_id is None:
            raise _trust_error(org_id)
    if host is not None:
        v.https_url(host, "parameters.targetOrganizationHost")
        by_host = world.by_host(host)
        if by_host is None:
            raise _trust_error(host)
    if by_id is None and by_host is None:
        raise missing_parameter("parameters.targetOrganizationId")
    if by_id is not None and by_host is not None and by_id is not by_host:
        raise bad_request(
            "parameters.targetOrganizationId and parameters.targetOrganizationHost name different organizations."
        )
    target = by_id or by_host
    assert target is not None
    if target.farm == source.farm and target is not source:
        raise GraphError(
            501,
            "notImplemented",
            "It has been detected that partners reside in the same SPO location that prevents them from migrating. "
            "Please contact MS to resolve this issue. Once the issue has been resolved, please try running the "
            "migration again.",
        )
    check_trust(world, source, target.tenant_id)
    return target


def _user_identity(value: Any, path: str) -> dict[str, Any]:
    ident = v.obj(value, path)
    v.check_keys(ident, USER_IDENTITY_KEYS, path, "userIdentity")
    v.strings(ident, path)
    upn = v.opt_str(ident, "userPrincipalName", path + ".")
    oid = v.opt_str(ident, "id", path + ".")
    if upn is None and oid is None:
        raise missing_parameter(f"{path}.userPrincipalName")
    if upn is not None:
        v.upn(upn, f"{path}.userPrincipalName")
    if oid is not None:
        v.guid(oid, f"{path}.id")
    return ident


def _find_user(tenant: Tenant, ident: dict[str, Any], path: str, *, source: bool) -> Any:
    upn, oid = ident.get("userPrincipalName"), ident.get("id")
    by_upn = tenant.users_by_upn.get(upn.lower()) if upn else None
    by_id = tenant.users_by_id.get(oid.lower()) if oid else None
    if upn and oid and by_upn is not by_id:
        raise bad_request(f"{path}.id and {path}.userPrincipalName name different users.")
    user = by_upn or by_id
    if user is None:
        who = upn or oid
        if source:
            raise not_found(f"The source user {who} could not be found in the source organization.")
        raise unprocessable(f"The target user {who} does not exist in the target organization.")
    return user


def _strip_annotations(value: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _strip_annotations(val) if isinstance(val, dict) else val
        for k, val in value.items()
        if not k.startswith("@odata.")
    }


def _echo_user_identity(ident: dict[str, Any], user: Any) -> dict[str, Any]:
    out = _strip_annotations(ident)
    # Example 3 of the docs: the service fills in the UPN when only the object id was sent.
    if "userPrincipalName" not in out or out["userPrincipalName"] is None:
        out["userPrincipalName"] = user.upn
    return out


def _group_identity(value: Any, path: str) -> str:
    ident = v.obj(value, path)
    v.check_keys(ident, GROUP_IDENTITY_KEYS, path, "groupIdentity")
    v.strings(ident, path)
    nick = v.req_str(ident, "mailNickname", path + ".")
    return v.nickname(nick, f"{path}.mailNickname")


@dataclass
class NewTask:
    kind: str
    source_key: str
    target: Tenant
    parameters: dict[str, Any]
    latest: datetime | None
    preferred: datetime | None
    validate_only: bool
    migration_error: str | None


def check_create(world: World, source: Tenant, body: Any, behaviour: Behaviour) -> NewTask:
    """Every documented check of a task create; raises GraphError, changes nothing."""
    task = v.obj(body, "body")
    v.check_keys(task, TASK_KEYS, "", "sharePointMigrationTask")
    if task.get("parameters") is None:
        raise missing_parameter("parameters")
    params = v.obj(task["parameters"], "parameters")
    odata_type = params.get("@odata.type")
    if odata_type is None:
        raise missing_parameter("parameters.@odata.type")
    if not isinstance(odata_type, str):
        raise bad_request("The property 'parameters.@odata.type' must be a string.")
    short = odata_type.removeprefix("#").lower().removeprefix("microsoft.graph.")
    kind = KIND_BY_TYPE.get(short)
    if kind is None:
        raise bad_request(
            f"The type '{odata_type}' is not a migration task parameters type; use one of "
            + ", ".join(NS + t for t in TYPE_BY_KIND.values())
            + "."
        )
    v.check_keys(params, PARAM_KEYS[kind], "parameters", TYPE_BY_KIND[kind])
    preferred = v.timestamp(params.get("preferredStartDateTime"), "parameters.preferredStartDateTime")
    latest = v.timestamp(params.get("preferredLatestStartDateTime"), "parameters.preferredLatestStartDateTime")
    if preferred is not None and latest is not None and latest <= preferred:
        raise bad_request(
            "parameters.preferredLatestStartDateTime must be later than parameters.preferredStartDateTime."
        )
    validate_only = v.boolean(params, "validateOnly", "parameters.")
    for key in ("sourceSiteUrl", "targetSiteUrl"):
        url = v.opt_str(params, key, "parameters.")
        if url is not None:
            v.https_url(url, f"parameters.{key}")
    # Check the shape of the kind-specific identities before looking anything up.
    if kind == "user":
        src_ident = _user_identity(
            params.get("sourceUserIdentity") or _missing("parameters.sourceUserIdentity"),
            "parameters.sourceUserIdentity",
        )
        dst_ident = _user_identity(
            params.get("targetUserIdentity") or _missing("parameters.targetUserIdentity"),
            "parameters.targetUserIdentity",
        )
    elif kind == "site":
        src_url = v.req_str(params, "sourceSiteUrl", "parameters.")
        dst_url = v.req_str(params, "targetSiteUrl", "parameters.")
    else:
        src_nick = _group_identity(
            params.get("sourceGroupIdentity") or _missing("parameters.sourceGroupIdentity"),
            "parameters.sourceGroupIdentity",
        )
        _group_identity(
            params.get("targetGroupIdentity") or _missing("parameters.targetGroupIdentity"),
            "parameters.targetGroupIdentity",
        )

    target = _resolve_target(world, source, params)
    if "targetDataLocationCode" in params:
        code = params["targetDataLocationCode"]
        if code is not None and (not isinstance(code, str) or code.upper() != target.data_location):
            raise bad_request(
                f"The value '{code}' of 'parameters.targetDataLocationCode' is not a data location "
                "of the target organization."
            )
    # Client @odata.* annotations are accepted and ignored: only parameters.@odata.type is echoed.
    echoed = {"@odata.type": NS + TYPE_BY_KIND[kind], **_strip_annotations(params)}
    if "targetDataLocationCode" in params and params["targetDataLocationCode"] is None:
        echoed["targetDataLocationCode"] = target.data_location  # docs example 3: null resolved

    if kind == "user":
        user = _find_user(source, src_ident, "parameters.sourceUserIdentity", source=True)
        if user.one_drive_url is None:
            raise unprocessable(f"Unable to get a OneDrive URL for source user UPN {user.upn}.")
        if user.upn.lower() not in target.user_mappings:
            raise unprocessable(f"Identity map entry for source UPN {user.upn} does not exist on the target tenant.")
        target_user = _find_user(target, dst_ident, "parameters.targetUserIdentity", source=False)
        echoed["sourceUserIdentity"] = _echo_user_identity(src_ident, user)
        echoed["targetUserIdentity"] = _echo_user_identity(dst_ident, target_user)
        return NewTask(kind, user.upn.lower(), target, echoed, latest, preferred, validate_only, user.migration_error)
    if kind == "site":
        site = source.sites.get(norm_url(src_url))
        if site is None:
            raise not_found(f"The source site {src_url} could not be found in the source organization.")
        if not norm_url(dst_url).startswith(target.root_host + "/"):
            raise bad_request(f"parameters.targetSiteUrl must be a site URL under {target.root_host}.")
        return NewTask(kind, norm_url(src_url), target, echoed, latest, preferred, validate_only, site.migration_error)
    group = source.groups_by_nick.get(src_nick.lower())
    if group is None:
        raise not_found(f"The source group {src_nick} could not be found in the source organization.")
    if behaviour.group_task_requires_mapping and group.id.lower() not in target.group_mappings:
        raise unprocessable(f"Identity map entry for source group {group.id} does not exist on the target tenant.")
    return NewTask(kind, src_nick.lower(), target, echoed, latest, preferred, validate_only, group.migration_error)


def _missing(name: str) -> Any:
    raise missing_parameter(name)


def latest_task(tenant: Tenant, kind: str, key: str) -> Task | None:
    ids = tenant.tasks_by_source.get((kind, key))
    return tenant.tasks[ids[-1]] if ids else None


def create(
    world: World, source: Tenant, body: Any, now: datetime, behaviour: Behaviour, engine: EngineSettings
) -> dict[str, Any]:
    new = check_create(world, source, body, behaviour)
    existing = latest_task(source, new.kind, new.source_key)
    if existing is not None and behaviour.duplicate_create != "allow":
        status = snapshot(existing, now).status
        if status in ACTIVE:
            if behaviour.duplicate_create == "upsert" and not new.validate_only:
                return task_json(existing, now)
            if behaviour.duplicate_create == "conflict":
                # A pre-flight says what the real create would answer, so it reports the conflict too.
                raise conflict(
                    f"A migration task {existing.id} already exists for source {new.source_key} with status {status}."
                )
    slot = queue_slot(source, now, engine.queue_capacity)
    if slot is not None and behaviour.queue_full == "reject":
        raise queue_full(source, engine.queue_capacity)
    if new.validate_only:
        return {"status": "completed", "parameters": new.parameters}
    task_id = str(uuid.uuid4())
    jitter = engine.duration_jitter * (2 * _fraction(task_id, "duration") - 1)
    start_at = now + timedelta(seconds=engine.queue_delay_seconds)
    if new.preferred is not None and new.preferred > start_at:
        start_at = new.preferred
    if slot is not None and slot > start_at:  # queue_full: hold: it waits, notStarted, for a free slot
        start_at = slot
    named = new.migration_error
    if named is None and engine.failure_rate > 0 and _fraction(task_id, "failure") < engine.failure_rate:
        kinds = engine.failure_kinds
        named = kinds[int(_fraction(task_id, "kind") * len(kinds))] if kinds else engine.failure_message
    error = failures.error_for(named, new.kind, new.source_key, new.target.my_host)
    duration = max(0.0, engine.duration_seconds * (1 + jitter))
    stuck = named == failures.STUCK or (engine.stuck_rate > 0 and _fraction(task_id, "stuck") < engine.stuck_rate)
    task = Task(
        id=task_id,
        kind=new.kind,
        source_key=new.source_key,
        target_tenant_id=new.target.tenant_id,
        parameters=new.parameters,
        created=now,
        start_at=start_at,
        duration=duration,
        latest_start=new.latest,
        error=error,
        stuck_at=start_at + timedelta(seconds=duration / PHASES) if stuck else None,
    )
    source.add_task(task)
    return task_json(task, now)


def queue_slot(source: Tenant, now: datetime, capacity: int) -> datetime | None:
    """None while the source tenant has fewer than ``capacity`` tasks notStarted or inProgress; else
    when the next slot frees (``datetime.max`` when the active tasks never finish)."""
    if len(source.tasks) < capacity:
        return None  # the common case, without looking at any task
    ends: list[datetime] = []
    active = 0
    for task in source.tasks.values():
        if snapshot(task, now).status in ACTIVE:
            active += 1
            end = snapshot(task, NEVER).finished
            if end is not None:
                ends.append(end)
    if active < capacity:
        return None
    ends.sort()
    needed = active - capacity  # this many must finish before one more may start
    return ends[needed] if needed < len(ends) else NEVER


def queue_full(source: Tenant, capacity: int) -> GraphError:
    return GraphError(
        400,
        "queueFull",
        f"The migration queue of {source.domain} is full: {capacity} tasks are notStarted or inProgress, "
        "the most it holds. Create more tasks once some have finished.",
    )


def get(world: World, tenant: Tenant, task_id: str) -> Task:
    task = tenant.tasks.get(task_id.lower())
    if task is None:
        raise not_found(f"The migration task {task_id} could not be found.")
    check_trust(world, tenant, task.target_tenant_id)
    return task


def lookup(world: World, tenant: Tenant, kind: str, key: str) -> Task:
    task = latest_task(tenant, kind, key)
    if task is None:
        raise not_found(f"The migration task for source {key} could not be found.")
    check_trust(world, tenant, task.target_tenant_id)
    return task


def cancel(world: World, tenant: Tenant, task_id: str, now: datetime) -> None:
    task = get(world, tenant, task_id)
    status = snapshot(task, now).status
    if status == "inProgress":
        raise conflict("Cannot process the cancel request because the task is in progress")
    if status != "notStarted":
        raise conflict(f"Cannot process the cancel request because the task is {status}")
    task.cancelled_at = now


def force(task: Task, status: str, now: datetime, error: dict[str, Any] | None, failure: str | None = None) -> None:
    """Control API: move a task to ``status`` now, whatever the schedule says.

    ``stuck`` makes it ``inProgress`` with its last update frozen now; ``failure`` names a kind of
    ``failures.KINDS`` for a ``failed`` one."""
    if status == "cancelled":
        task.cancelled_at = now
        return
    task.cancelled_at = None
    task.latest_start = None
    task.stuck_at = None
    if status == "stuck":
        if task.start_at > now:
            task.start_at = now
        task.stuck_at = now
        return
    if failure is not None:
        error = failures.error_for(failure, task.kind, task.source_key, task.target_tenant_id)
    if status == "notStarted":
        task.start_at = now + timedelta(days=3650)
        return
    if task.start_at > now:
        task.start_at = now
    if status == "inProgress":
        task.duration = max((now - task.start_at).total_seconds() + 3650 * 86400, 1.0)
        return
    task.duration = (now - task.start_at).total_seconds()
    task.error = (
        (error or {"code": "migrationFailed", "message": "Failed by the emulator control API."})
        if (status == "failed")
        else None
    )
