"""The collection-read probe and the paged listing, against the emulator's list switch."""

from __future__ import annotations

import pytest

from reconciler.graph import listing
from reconciler.graph.client import SOURCE, TARGET
from reconciler.graph.errors import GraphError, MalformedResponseError
from reconciler.observed import Listing
from tests.conftest import TASKS, USER_MAPPINGS, Emulator
from tests.graph.conftest import client, run


def test_the_probe_answers_the_list_switch(emu: Emulator) -> None:
    async def both() -> tuple[bool, bool]:
        async with client(emu) as graph:
            return await listing.probe(graph, SOURCE), await listing.probe(graph, TARGET)

    assert run(both()) == (False, False)
    emu.control("PATCH", "/behaviour", {"list_endpoints": True})
    assert run(both()) == (True, True)
    counters = emu.control("GET", "/counters")
    assert counters["tasks.list"] == {"501": 1, "200": 1}
    assert counters["userMappings.list"] == {"501": 1, "200": 1}


def test_any_other_answer_to_the_probe_is_an_error(emu: Emulator) -> None:
    emu.control(
        "PUT", "/faults", {"rules": [{"method": "GET", "path": "crossOrganizationMigrationTasks$", "status": 403}]}
    )

    async def probe() -> bool:
        async with client(emu) as graph:
            return await listing.probe(graph, SOURCE)

    with pytest.raises(GraphError) as caught:
        run(probe())
    assert caught.value.status == 403


def test_every_page_is_read_and_normalized(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    emu.control("PATCH", "/behaviour", {"list_endpoints": True})
    for n in (1, 2, 3):
        emu.map_user(f"user{n:03d}@{emu.source['domain']}")
        assert emu.graph("POST", TASKS, json=emu.user_task(n)).status_code == 200
    monkeypatch.setattr(listing, "PAGE_SIZE", 2)  # three items: two pages each

    async def every() -> Listing:
        async with client(emu) as graph:
            return await listing.list_all(graph, mappings=True, tasks=True)

    got = run(every())
    assert sorted(got.user_mappings) == [f"user{n:03d}@contoso.onmicrosoft.com" for n in (1, 2, 3)]
    assert got.user_mappings["user002@contoso.onmicrosoft.com"].target_upn == "user002@fabrikam.onmicrosoft.com"
    assert sorted((t.kind, t.key) for t in got.tasks) == [
        ("user", f"user{n:03d}@contoso.onmicrosoft.com") for n in (1, 2, 3)
    ]
    assert emu.control("GET", "/counters")["userMappings.list"] == {"200": 2}


def test_a_next_link_to_another_host_is_not_followed(emu: Emulator) -> None:
    emu.control("PATCH", "/behaviour", {"list_endpoints": True})
    emu.map_user(f"user001@{emu.source['domain']}")

    class Transport:
        """Answers the first page with a nextLink elsewhere, as a hostile or broken service might."""

        def __init__(self, real: object) -> None:
            self.real = real

        async def aclose(self) -> None:
            await self.real.aclose()  # type: ignore[attr-defined]

        def url(self, role: str, path: str) -> str:
            return self.real.url(role, path)  # type: ignore[attr-defined, no-any-return]

        async def request(self, role: str, method: str, path: str, **kw: object) -> object:
            response = await self.real.request(role, method, path, **kw)  # type: ignore[attr-defined]
            response.body["@odata.nextLink"] = "https://attacker.example/beta" + USER_MAPPINGS + "?$skiptoken=1"
            return response

    async def every() -> Listing:
        async with client(emu) as graph:
            graph.transport = Transport(graph.transport)  # type: ignore[assignment]
            return await listing.list_all(graph, mappings=True, tasks=False)

    with pytest.raises(MalformedResponseError, match=r"is not under https://127\.0\.0\.1"):
        run(every())
