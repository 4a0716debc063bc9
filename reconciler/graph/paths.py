"""URLs of the cross-tenant migration API, with OData string literals quoted and percent-encoded."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from reconciler.kinds import TaskKind

MIGRATIONS = "/solutions/sharePoint/migrations"
TASKS = f"{MIGRATIONS}/crossOrganizationMigrationTasks"
USER_MAPPINGS = f"{MIGRATIONS}/crossOrganizationUserMappings"
GROUP_MAPPINGS = f"{MIGRATIONS}/crossOrganizationGroupMappings"


def literal(value: str) -> str:
    """An OData string literal for a URL: quotes doubled, the value percent-encoded (as the SDKs send it)."""
    return "'" + quote(value.replace("'", "''"), safe="@") + "'"


def user_mapping(source_upn: str) -> str:
    return f"{USER_MAPPINGS}(sourceUserPrincipalName={literal(source_upn)})"


def group_mapping(source_group_id: str) -> str:
    return f"{GROUP_MAPPINGS}(sourceGroupObjectId={literal(source_group_id)})"


def task(task_id: str) -> str:
    return f"{TASKS}/{quote(task_id, safe='')}"


def cancel(task_id: str) -> str:
    return f"{task(task_id)}/cancel"


def task_by_user(upn: str) -> str:
    return f"{TASKS}/getBySourceUserPrincipalName(sourcePrincipalName={literal(upn)})"


def task_by_site(url: str) -> str:
    return f"{TASKS}/getBySourceSiteUrl(sourceSiteUrl={literal(url)})"


def task_by_group(mail_nickname: str) -> str:
    return f"{TASKS}/getBySourceGroupMailNickname(sourceGroupMailNickname={literal(mail_nickname)})"


TASK_BY_KEY: dict[TaskKind, Callable[[str], str]] = {
    "user": task_by_user,
    "site": task_by_site,
    "group": task_by_group,
}
