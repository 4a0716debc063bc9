"""Refresh turns Graph answers into normalized observed state, batched, by key or by id."""

from __future__ import annotations

from reconciler.graph.client import MappingWrite
from reconciler.graph.models import UserIdentity, UserIdentityMapping, UserMigrationData, UserType
from reconciler.graph.refresh import RefreshRequest, refresh
from reconciler.observed import Observed
from tests.conftest import TASKS, Emulator
from tests.graph.conftest import client, run


def test_refresh_reads_mappings_and_tasks_into_observed_state(emu: Emulator) -> None:
    src, dst = emu.source["domain"], emu.target["domain"]
    emu.map_user(f"user001@{src}")
    created = emu.graph("POST", TASKS, json=emu.user_task(1)).json()

    async def main() -> Observed:
        async with client(emu) as graph:
            write = MappingWrite(
                f"User002@{src}",
                UserIdentityMapping(
                    user_type=UserType.GUEST_USER,
                    source_user_identity=UserIdentity(user_principal_name=f"User002@{src}"),
                    target_user_identity=UserIdentity(user_principal_name=f"User002@{dst}"),
                    target_user_migration_data=UserMigrationData(email=f"Mail002@{dst}"),
                ),
            )
            assert all([r.ok async for r in graph.write_user_mappings([write])])
            request = RefreshRequest(
                user_mappings=[f"user001@{src}", f"user002@{src}", f"user003@{src}"],
                tasks=[
                    ("user", f"user001@{src}", None),
                    ("user", f"user002@{src}", None),
                    ("user", f"user001@{src}", created["id"]),
                ],
            )
            return await refresh(graph, request)

    observed = run(main())
    assert set(observed.user_mappings) == {f"user001@{src}", f"user002@{src}"}
    second = observed.user_mappings[f"user002@{src}"]
    assert (second.target_upn, second.target_email, second.user_type) == (
        f"user002@{dst}",
        f"mail002@{dst}",
        "guestUser",
    )
    task = observed.tasks[("user", f"user001@{src}")]
    assert task.id == created["id"]
    assert task.status == "notStarted"
    assert task.target == f"user001@{dst}"
    assert task.target_organization_id == emu.target["tenant_id"]
    assert ("user", f"user002@{src}") not in observed.tasks
    assert observed.errors == {}


def test_a_task_gone_by_id_is_looked_up_by_its_source_key(emu: Emulator) -> None:
    src = emu.source["domain"]
    emu.map_user(f"user004@{src}")
    created = emu.graph("POST", TASKS, json=emu.user_task(4)).json()

    async def main() -> Observed:
        async with client(emu) as graph:
            request = RefreshRequest(tasks=[("user", f"user004@{src}", "00000000-0000-0000-0000-000000000000")])
            return await refresh(graph, request)

    observed = run(main())
    assert observed.tasks[("user", f"user004@{src}")].id == created["id"]
