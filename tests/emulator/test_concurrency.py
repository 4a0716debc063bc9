"""50 concurrent clients against one emulator: no lost updates, no duplicate tasks, no corrupt state."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import TASKS, USER_MAPPINGS, Emulator, tls

CLIENTS = 50
ROUNDS = 5


async def _writer(emu: Emulator, i: int, shared: str) -> list[str]:
    src, dst = emu.source["domain"], emu.target["domain"]
    written: list[str] = []
    async with httpx.AsyncClient(
        base_url=emu.conn["graph_base_url"], verify=tls(emu.conn["ca_file"]), headers=emu.auth("target"), timeout=60
    ) as client:
        for round_ in range(ROUNDS):
            mine = f"writer{i:02d}-round{round_}@{dst}"
            body = {
                "@context": "#$delta",
                "value": [
                    {
                        "sourceUserIdentity": {"userPrincipalName": f"user{i + 1:03d}@{src}"},
                        "targetUserIdentity": {"userPrincipalName": mine},
                        "userType": "regularUser",
                    },
                    {
                        "sourceUserIdentity": {"userPrincipalName": shared},
                        "targetUserIdentity": {"userPrincipalName": mine},
                    },
                ],
            }
            r = await client.patch(USER_MAPPINGS, json=body)
            assert r.status_code == 200, r.text
            entries = r.json()["value"]
            assert len(entries) == 2
            assert entries[0]["targetUserIdentity"]["userPrincipalName"] == mine
            written.append(mine)
    return written


def test_concurrent_writers_lose_nothing(emu: Emulator) -> None:
    shared = f"shared@{emu.source['domain']}"

    async def main() -> list[list[str]]:
        return await asyncio.gather(*(_writer(emu, i, shared) for i in range(CLIENTS)))

    written = asyncio.run(main())
    stored = emu.control("GET", "/tenants/fabrikam/mappings")["user_mappings"]
    assert len(stored) == CLIENTS + 1
    for i in range(CLIENTS):
        key = f"user{i + 1:03d}@{emu.source['domain']}"
        assert stored[key]["targetUserIdentity"]["userPrincipalName"] == written[i][-1], key
        assert stored[key]["userType"] == "regularUser"
    last_values = {w[-1] for w in written}
    assert stored[shared]["targetUserIdentity"]["userPrincipalName"] in last_values
    assert stored[shared]["sourceUserIdentity"] == {"userPrincipalName": shared}


async def _create(emu: Emulator, body: dict[str, Any]) -> int:
    async with httpx.AsyncClient(
        base_url=emu.conn["graph_base_url"], verify=tls(emu.conn["ca_file"]), headers=emu.auth("source"), timeout=60
    ) as client:
        return (await client.post(TASKS, json=body)).status_code


def test_concurrent_creates_for_one_source_start_exactly_one_task(emu: Emulator) -> None:
    emu.map_user(f"user001@{emu.source['domain']}")

    async def main() -> list[int]:
        return await asyncio.gather(*(_create(emu, emu.user_task(1)) for _ in range(CLIENTS)))

    statuses = asyncio.run(main())
    assert statuses.count(200) == 1
    assert statuses.count(409) == CLIENTS - 1
    tasks = emu.control("GET", "/tasks")["tasks"]
    assert len(tasks) == 1


def test_concurrent_creates_for_different_sources_all_succeed(emu: Emulator) -> None:
    for n in range(1, CLIENTS + 1):
        emu.map_user(f"user{n:03d}@{emu.source['domain']}")

    async def main() -> list[int]:
        return await asyncio.gather(*(_create(emu, emu.user_task(n)) for n in range(1, CLIENTS + 1)))

    assert asyncio.run(main()) == [200] * CLIENTS
    tasks = emu.control("GET", "/tasks")["tasks"]
    assert sorted(t["source"] for t in tasks) == sorted(
        f"user{n:03d}@{emu.source['domain']}" for n in range(1, CLIENTS + 1)
    )
    assert len({t["id"] for t in tasks}) == CLIENTS
