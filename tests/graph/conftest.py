"""Graph-client fixtures: TenantConnections built from the running emulator's connection file."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import SecretStr

from reconciler.graph.client import GraphClient
from reconciler.graph.config import ClientSecret, GraphSettings, TenantConnection
from tests.conftest import Emulator

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def connection(conn: dict[str, Any], role: str, **overrides: Any) -> TenantConnection:
    tenant = conn["tenants"][role]
    fields: dict[str, Any] = {
        "role": role,
        "tenant_id": tenant["tenant_id"],
        "credential": ClientSecret(tenant["client_id"], SecretStr(tenant["client_secret"])),
        "authority_base_url": conn["authority_base_url"],
        "graph_base_url": conn["graph_base_url"],
        "ca_file": Path(conn["ca_file"]),
    }
    fields.update(overrides)
    return TenantConnection(**fields)


def client(emu: Emulator | dict[str, Any], settings: GraphSettings | None = None, **overrides: Any) -> GraphClient:
    conn = emu.conn if isinstance(emu, Emulator) else emu
    return GraphClient(connection(conn, "source", **overrides), connection(conn, "target", **overrides), settings)


@pytest.fixture
def fast_settings() -> GraphSettings:
    """Short backoffs so retry tests take seconds, not minutes."""
    return GraphSettings(max_concurrency=8, backoff_base=0.05, backoff_cap=0.5, max_attempts=25, deadline=120)
