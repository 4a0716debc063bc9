"""The quickstart workspace against the running emulator: its references resolve and Graph answers."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from reconciler.graph import GraphClient
from reconciler.workspace.connection import resolve_connection
from reconciler.workspace.loader import load_workspace
from tests.conftest import Emulator

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


def test_quickstart_signs_in_to_both_tenants_of_the_emulator(tmp_path: Path, emu: Emulator) -> None:
    conn: dict[str, Any] = emu.conn  # the shared emulator, reset to its default world
    workspace = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, workspace, ignore=shutil.ignore_patterns(".reconciler"))
    (workspace / ".reconciler").mkdir()
    (workspace / ".reconciler" / "emulator.json").write_text(json.dumps(conn))
    ws = load_workspace(workspace)
    assert list(ws.diagnostics) == []
    connection = resolve_connection(ws, {})
    assert connection.source.graph_base_url == conn["graph_base_url"]

    async def read() -> tuple[object, object]:
        async with GraphClient(connection.source, connection.target) as graph:
            mapping = await graph.get_user_mapping(next(iter(ws.desired.user_mappings.values())).source_upn)
            group = await graph.get_group_mapping(next(iter(ws.desired.group_mappings)))
            return mapping, group

    assert asyncio.run(read()) == (None, None)  # nothing applied yet: the target tenant has no mappings
