"""Identity mappings through the client: delta PATCH writes of <= 50 items, single and bulk reads."""

from __future__ import annotations

from reconciler.emulator.world import stable_id
from reconciler.graph.client import MappingWrite
from reconciler.graph.errors import BadRequest, GraphError
from reconciler.graph.models import (
    GroupIdentityMapping,
    GroupMigrationData,
    GroupType,
    Identity,
    UserIdentity,
    UserIdentityMapping,
    UserMigrationData,
    UserType,
)
from tests.conftest import Emulator
from tests.graph.conftest import client, run


def _user(emu: Emulator, n: int, target_n: int | None = None) -> MappingWrite[UserIdentityMapping]:
    src = f"user{n:03d}@{emu.source['domain']}"
    dst = f"user{target_n or n:03d}@{emu.target['domain']}"
    return MappingWrite(
        src,
        UserIdentityMapping(
            source_organization_id=emu.source["tenant_id"],
            user_type=UserType.REGULAR_USER,
            source_user_identity=UserIdentity(user_principal_name=src),
            target_user_identity=UserIdentity(user_principal_name=dst),
            target_user_migration_data=UserMigrationData(email=dst),
        ),
    )


def test_writes_are_chunked_by_fifty_and_every_item_checked(emu: Emulator) -> None:
    emu.control("DELETE", "/counters")
    writes = [_user(emu, n) for n in range(1, 51)] + [
        _user(emu, n) for n in range(1, 11)
    ]  # 60 items: the same keys twice is fine for the service

    async def main() -> list[bool]:
        async with client(emu) as graph:
            return [r.ok async for r in graph.write_user_mappings(writes)]

    assert run(main()) == [True] * 60
    assert emu.control("GET", "/counters")["userMappings.deltaPatch"] == {"200": 2}
    stored = emu.control("GET", "/tenants/fabrikam/mappings")["user_mappings"]
    assert len(stored) == 50


def test_single_and_bulk_reads_tell_present_from_absent(emu: Emulator) -> None:
    async def main() -> None:
        async with client(emu) as graph:
            [r async for r in graph.write_user_mappings([_user(emu, 1), _user(emu, 2, 7)])]
            one = await graph.get_user_mapping(f"USER001@{emu.source['domain']}")
            assert one is not None
            assert one.target_user_identity is not None
            assert one.target_user_identity.user_principal_name == f"user001@{emu.target['domain']}"
            assert one.user_type is UserType.REGULAR_USER
            assert await graph.get_user_mapping(f"user003@{emu.source['domain']}") is None
            keys = [f"user{n:03d}@{emu.source['domain']}" for n in range(1, 46)]
            found = {k: v async for k, v in graph.get_user_mappings(keys)}
            assert set(found) == set(keys)
            assert not any(isinstance(v, GraphError) for v in found.values())
            present = {k for k, v in found.items() if v is not None}
            assert present == {keys[0], keys[1]}
            second = found[keys[1]]
            assert isinstance(second, UserIdentityMapping)
            assert second.target_user_migration_data == UserMigrationData(email=f"user007@{emu.target['domain']}")

    emu.control("DELETE", "/counters")
    run(main())
    counters = emu.control("GET", "/counters")
    assert counters["batch"] == {"200": 3}, "45 keys are three $batch requests of at most 20"
    assert counters["userMappings.get"] == {"200": 3, "404": 44}


def test_removal_and_its_result(emu: Emulator) -> None:
    async def main() -> None:
        async with client(emu) as graph:
            [r async for r in graph.write_user_mappings([_user(emu, 4)])]
            results = [
                r async for r in graph.write_user_mappings([MappingWrite(f"user004@{emu.source['domain']}", None)])
            ]
            assert results[0].ok
            assert results[0].removed
            assert await graph.get_user_mapping(f"user004@{emu.source['domain']}") is None

    run(main())


def test_group_mappings_round_trip(emu: Emulator) -> None:
    gid = stable_id("group", "contoso", "group01")
    tid = stable_id("group", "fabrikam", "group01")
    write = MappingWrite(
        gid,
        GroupIdentityMapping(
            source_organization_id=emu.source["tenant_id"],
            group_type=GroupType.M365_GROUP,
            source_group_identity=Identity(id=gid),
            target_group_identity=Identity(id=tid),
            target_group_migration_data=GroupMigrationData(mail_nickname="group01"),
        ),
    )

    async def main() -> None:
        async with client(emu) as graph:
            results = [r async for r in graph.write_group_mappings([write])]
            assert results[0].ok, results[0].error
            got = await graph.get_group_mapping(gid.upper())
            assert got is not None
            assert got.target_group_identity == Identity(id=tid)
            assert got.group_type is GroupType.M365_GROUP
            bulk = {k: v async for k, v in graph.get_group_mappings([gid, tid])}
            assert bulk[tid] is None
            assert isinstance(bulk[gid], GroupIdentityMapping)

    run(main())


def test_a_rejected_chunk_fails_each_of_its_items_with_the_service_message(emu: Emulator) -> None:
    bad = _user(emu, 5)
    assert bad.mapping is not None
    broken = MappingWrite(bad.key, bad.mapping.model_copy(update={"source_organization_id": "not-a-guid"}))

    async def main() -> list[GraphError | None]:
        async with client(emu) as graph:
            return [r.error async for r in graph.write_user_mappings([_user(emu, 6), broken])]

    errors = run(main())
    assert all(isinstance(e, BadRequest) for e in errors)
    assert "not a valid GUID" in str(errors[0])
    assert emu.control("GET", "/tenants/fabrikam/mappings")["user_mappings"] == {}, "atomic: nothing applied"


def test_per_item_failures_are_reported_per_item(emu: Emulator) -> None:
    emu.control("PATCH", "/behaviour", {"delta_patch_errors": "per_item", "removed_unknown_key": "fail"})
    gone = MappingWrite[UserIdentityMapping](f"user009@{emu.source['domain']}", None)

    async def main() -> list[tuple[str, bool]]:
        async with client(emu) as graph:
            return [(r.key, r.ok) async for r in graph.write_user_mappings([_user(emu, 8), gone])]

    assert run(main()) == [(f"user008@{emu.source['domain']}", True), (f"user009@{emu.source['domain']}", False)]
