"""Under throttling, random 429/503/504 and dropped connections, bulk work completes exactly once."""

from __future__ import annotations

import pytest

from reconciler.graph.client import MappingWrite, TaskKey
from reconciler.graph.config import GraphSettings
from reconciler.graph.errors import AmbiguousWriteError, GraphError, Throttled
from reconciler.graph.models import MigrationTask, UserIdentity, UserIdentityMapping, UserTaskParameters
from tests.conftest import Emulator
from tests.graph.conftest import client, run

HOSTILE = {
    "seed": 11,
    "rate_limit": {"per_second": 150, "burst": 30, "retry_after": "fractional"},
    "random": {"rate": 0.1, "statuses": [429, 503, 504], "retry_after": 0.05},
    "drop_rate": 0.03,
    "drop_phase": "after",
}


def _mapping(emu: Emulator, n: int) -> MappingWrite[UserIdentityMapping]:
    src = f"bulk{n:04d}@{emu.source['domain']}"
    return MappingWrite(
        src,
        UserIdentityMapping(
            source_user_identity=UserIdentity(user_principal_name=src),
            target_user_identity=UserIdentity(user_principal_name=f"bulk{n:04d}@{emu.target['domain']}"),
        ),
    )


def test_bulk_writes_and_reads_complete_under_faults(emu: Emulator, fast_settings: GraphSettings) -> None:
    emu.control("PUT", "/faults", HOSTILE)
    writes = [_mapping(emu, n) for n in range(600)]

    async def main() -> tuple[list[bool], dict[str, UserIdentityMapping | GraphError | None]]:
        async with client(emu, fast_settings) as graph:
            written = [r.ok async for r in graph.write_user_mappings(writes)]
            read = {k: v async for k, v in graph.get_user_mappings(w.key for w in writes)}
            return written, read

    written, read = run(main())
    assert written == [True] * 600
    assert len(read) == 600
    assert all(isinstance(v, UserIdentityMapping) for v in read.values()), [
        v for v in read.values() if not isinstance(v, UserIdentityMapping)
    ][:3]
    emu.control("DELETE", "/faults")
    stored = emu.control("GET", "/tenants/fabrikam/mappings")["user_mappings"]
    assert len(stored) == 600, "no lost mapping"
    counters = emu.control("GET", "/counters")
    assert counters.get("fault", {}), "the faults really fired"
    assert counters.get("dropped", {}).get("0", 0) > 0


def test_bulk_task_starts_never_duplicate_under_faults(emu: Emulator, fast_settings: GraphSettings) -> None:
    for n in range(1, 41):
        emu.map_user(f"user{n:03d}@{emu.source['domain']}")
    emu.control("PUT", "/faults", HOSTILE)
    params = {
        n: UserTaskParameters(
            target_organization_id=emu.target["tenant_id"],
            source_user_identity=UserIdentity(user_principal_name=f"user{n:03d}@{emu.source['domain']}"),
            target_user_identity=UserIdentity(user_principal_name=f"user{n:03d}@{emu.target['domain']}"),
        )
        for n in range(1, 41)
    }

    async def main() -> tuple[dict[int, MigrationTask | GraphError], dict[TaskKey, MigrationTask | GraphError | None]]:
        async with client(emu, fast_settings) as graph:
            started = {n: r async for n, r in graph.create_tasks(params.items())}
            keys = [TaskKey("user", f"user{n:03d}@{emu.source['domain']}") for n in params]
            found = {k: v async for k, v in graph.find_tasks(keys)}
            return started, found

    started, found = run(main())
    emu.control("DELETE", "/faults")
    ambiguous = [n for n, r in started.items() if isinstance(r, AmbiguousWriteError)]
    other_errors = [r for r in started.values() if isinstance(r, GraphError) and not isinstance(r, AmbiguousWriteError)]
    assert not other_errors, other_errors
    tasks = emu.control("GET", "/tasks")["tasks"]
    sources = [t["source"] for t in tasks]
    assert len(sources) == len(set(sources)), "no source has two tasks"
    # Every start either succeeded or is ambiguous; an ambiguous one is resolved by reading, not re-posting.
    for n, result in started.items():
        key = TaskKey("user", f"user{n:03d}@{emu.source['domain']}")
        if isinstance(result, MigrationTask):
            seen = found[key]
            assert isinstance(seen, MigrationTask)
            assert seen.id == result.id
    assert set(sources) <= {f"user{n:03d}@{emu.source['domain']}" for n in params}
    assert len(sources) >= 40 - len(ambiguous)


def test_an_ambiguous_task_post_is_surfaced_and_never_repeated(emu: Emulator, fast_settings: GraphSettings) -> None:
    emu.map_user(f"user001@{emu.source['domain']}")
    emu.control(
        "PUT",
        "/faults",
        {"rules": [{"method": "POST", "path": "crossOrganizationMigrationTasks$", "action": "drop_after", "count": 1}]},
    )
    emu.control("DELETE", "/counters")
    params = UserTaskParameters(
        target_organization_id=emu.target["tenant_id"],
        source_user_identity=UserIdentity(user_principal_name=f"user001@{emu.source['domain']}"),
        target_user_identity=UserIdentity(user_principal_name=f"user001@{emu.target['domain']}"),
    )

    async def main() -> MigrationTask | None:
        async with client(emu, fast_settings) as graph:
            with pytest.raises(AmbiguousWriteError) as info:
                await graph.create_task(params)
            assert "not re-sent" in str(info.value)
            assert "look the task up by its source key" in str(info.value)
            return await graph.find_task(TaskKey("user", f"user001@{emu.source['domain']}"))

    resolved = run(main())
    assert resolved is not None, "the service did create it: the read-back finds it"
    assert emu.control("GET", "/counters")["tasks.create"] == {"200": 1}, "exactly one POST reached the service"


def test_refused_task_posts_are_retried_safely(emu: Emulator, fast_settings: GraphSettings) -> None:
    emu.map_user(f"user002@{emu.source['domain']}")
    emu.control(
        "PUT",
        "/faults",
        {
            "rules": [
                {
                    "method": "POST",
                    "path": "crossOrganizationMigrationTasks$",
                    "status": 429,
                    "retry_after": 0.1,
                    "count": 2,
                },
                {"method": "POST", "path": "crossOrganizationMigrationTasks$", "status": 503, "count": 1},
            ]
        },
    )
    params = UserTaskParameters(
        target_organization_id=emu.target["tenant_id"],
        source_user_identity=UserIdentity(user_principal_name=f"user002@{emu.source['domain']}"),
        target_user_identity=UserIdentity(user_principal_name=f"user002@{emu.target['domain']}"),
    )

    async def main() -> MigrationTask:
        async with client(emu, fast_settings) as graph:
            return await graph.create_task(params)

    assert run(main()).id
    counters = emu.control("GET", "/counters")
    assert counters["fault"] == {"429": 2, "503": 1}
    assert counters["tasks.create"] == {"200": 1}


def test_a_504_on_a_task_post_is_ambiguous(emu: Emulator, fast_settings: GraphSettings) -> None:
    emu.map_user(f"user003@{emu.source['domain']}")
    emu.control(
        "PUT",
        "/faults",
        {"rules": [{"method": "POST", "path": "crossOrganizationMigrationTasks$", "status": 504, "count": 1}]},
    )
    params = UserTaskParameters(
        target_organization_id=emu.target["tenant_id"],
        source_user_identity=UserIdentity(user_principal_name=f"user003@{emu.source['domain']}"),
        target_user_identity=UserIdentity(user_principal_name=f"user003@{emu.target['domain']}"),
    )

    async def main() -> None:
        async with client(emu, fast_settings) as graph:
            with pytest.raises(AmbiguousWriteError):
                await graph.create_task(params)

    run(main())


def test_throttling_past_the_deadline_is_its_own_error(emu: Emulator) -> None:
    emu.control("PUT", "/faults", {"random": {"rate": 1.0, "statuses": [429], "retry_after": 0.2}})
    settings = GraphSettings(backoff_base=0.05, backoff_cap=0.1, max_attempts=1000, deadline=1.0)

    async def main() -> None:
        async with client(emu, settings) as graph:
            with pytest.raises(Throttled) as info:
                await graph.get_user_mapping(f"user001@{emu.source['domain']}")
            assert "deadline" in str(info.value)

    run(main())
