"""Migration tasks through the client: create, pre-flight, reads by id and source key, cancel, errors."""

from __future__ import annotations

import pytest

from reconciler.graph.client import TaskKey
from reconciler.graph.errors import Conflict, GraphError, NotFound, Unprocessable
from reconciler.graph.models import (
    GroupIdentity,
    GroupTaskParameters,
    MigrationTask,
    SiteTaskParameters,
    TaskStatus,
    UserIdentity,
    UserTaskParameters,
)
from tests.conftest import Emulator
from tests.graph.conftest import client, run


def _user_params(emu: Emulator, n: int) -> UserTaskParameters:
    return UserTaskParameters(
        target_organization_id=emu.target["tenant_id"],
        source_user_identity=UserIdentity(user_principal_name=f"user{n:03d}@{emu.source['domain']}"),
        target_user_identity=UserIdentity(user_principal_name=f"user{n:03d}@{emu.target['domain']}"),
    )


def test_create_read_and_cancel_every_kind(emu: Emulator) -> None:
    emu.control("PUT", "/clock", {"speed": 0})
    emu.map_user(f"user001@{emu.source['domain']}")
    site = SiteTaskParameters(
        target_organization_host="https://fabrikam-my.sharepoint.com",
        source_site_url="https://contoso.sharepoint.com/sites/site03",
        target_site_url="https://fabrikam.sharepoint.com/sites/site03",
    )
    group = GroupTaskParameters(
        target_organization_host="https://fabrikam-my.sharepoint.com",
        source_group_identity=GroupIdentity(mail_nickname="group02"),
        target_group_identity=GroupIdentity(mail_nickname="group02"),
    )

    async def main() -> None:
        async with client(emu) as graph:
            user_task = await graph.create_task(_user_params(emu, 1))
            site_task = await graph.create_task(site)
            group_task = await graph.create_task(group)
            for task in (user_task, site_task, group_task):
                assert task.id
                assert task.status is TaskStatus.NOT_STARTED
            assert isinstance(site_task.parameters, SiteTaskParameters)
            assert site_task.parameters.source_site_url == "https://contoso.sharepoint.com/sites/site03"
            assert (await graph.get_task(user_task.id or "")) == user_task
            by_user = await graph.find_task(TaskKey("user", f"USER001@{emu.source['domain']}"))
            by_site = await graph.find_task(TaskKey("site", "https://contoso.sharepoint.com/sites/site03"))
            by_group = await graph.find_task(TaskKey("group", "group02"))
            assert (by_user and by_user.id, by_site and by_site.id, by_group and by_group.id) == (
                user_task.id,
                site_task.id,
                group_task.id,
            )
            assert await graph.find_task(TaskKey("site", "https://contoso.sharepoint.com/sites/site04")) is None
            assert await graph.get_task("00000000-0000-0000-0000-000000000000") is None
            await graph.cancel_task(user_task.id or "")
            await graph.cancel_task(user_task.id or "")  # repeating a cancel is success, not an error
            after = await graph.get_task(user_task.id or "")
            assert after is not None
            assert after.status is TaskStatus.CANCELLED

    run(main())


def test_bulk_lookups_map_results_to_keys(emu: Emulator) -> None:
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 0, "duration_seconds": 0})
    for n in range(1, 6):
        emu.map_user(f"user{n:03d}@{emu.source['domain']}")

    async def main() -> dict[TaskKey, MigrationTask | GraphError | None]:
        async with client(emu) as graph:
            created = {
                key: task async for key, task in graph.create_tasks((n, _user_params(emu, n)) for n in range(1, 6))
            }
            assert all(isinstance(t, MigrationTask) for t in created.values())
            keys = [TaskKey("user", f"user{n:03d}@{emu.source['domain']}") for n in range(1, 26)]
            return {k: v async for k, v in graph.find_tasks(keys)}

    found = run(main())
    assert len(found) == 25
    done = {k.value for k, v in found.items() if isinstance(v, MigrationTask)}
    assert done == {f"user{n:03d}@{emu.source['domain']}" for n in range(1, 6)}
    assert all(v.status is TaskStatus.COMPLETED for v in found.values() if isinstance(v, MigrationTask))
    assert sum(v is None for v in found.values()) == 20


def test_validate_only_is_the_services_preflight(emu: Emulator) -> None:
    emu.map_user(f"user002@{emu.source['domain']}")

    async def main() -> None:
        async with client(emu) as graph:
            ok = await graph.validate_task(_user_params(emu, 2))
            assert ok.id is None
            assert ok.status is TaskStatus.COMPLETED
            with pytest.raises(Unprocessable) as info:
                await graph.validate_task(_user_params(emu, 3))
            assert "Identity map entry for source UPN user003@contoso.onmicrosoft.com does not exist" in str(info.value)

    run(main())
    assert emu.control("GET", "/tasks")["tasks"] == []


def test_errors_are_typed_and_print_as_one_line(emu: Emulator) -> None:
    emu.map_user(f"user004@{emu.source['domain']}")

    async def main() -> None:
        async with client(emu) as graph:
            await graph.create_task(_user_params(emu, 4))
            with pytest.raises(Conflict) as conflict:
                await graph.create_task(_user_params(emu, 4))
            text = str(conflict.value)
            assert "\n" not in text
            assert text.startswith(
                "POST /solutions/sharePoint/migrations/crossOrganizationMigrationTasks -> 409 conflict:"
            )
            assert "(request-id " in text
            assert conflict.value.request_id
            with pytest.raises(NotFound):
                await graph.cancel_task("00000000-0000-0000-0000-000000000000")

    run(main())


def test_cancel_of_a_started_task_is_a_conflict(emu: Emulator) -> None:
    emu.control("PATCH", "/engine", {"queue_delay_seconds": 0, "duration_seconds": 3600})
    emu.map_user(f"user005@{emu.source['domain']}")

    async def main() -> None:
        async with client(emu) as graph:
            task = await graph.create_task(_user_params(emu, 5))
            with pytest.raises(Conflict) as info:
                await graph.cancel_task(task.id or "")
            assert "in progress" in info.value.message

    run(main())
