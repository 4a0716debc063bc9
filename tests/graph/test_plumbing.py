"""Retry-After parsing, backoff bounds, URL literals, the scheduler's adaptation, connection checks."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from reconciler.graph import paths
from reconciler.graph.config import ClientSecret, ConfigError, GraphSettings, TenantConnection
from reconciler.graph.retry import Backoff, parse_retry_after
from reconciler.graph.scheduler import Scheduler


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("10", 10.0), ("2.128", 2.128), (" 0 ", 0.0), ("-3", 0.0), ("", None), (None, None), ("soon", None)],
)
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Fri, 27 Nov 2026 09:00:30 GMT", now) == 30.0
    assert parse_retry_after("Fri, 27 Nov 2026 08:59:30 GMT", now) == 0.0


def test_backoff_is_jittered_and_capped() -> None:
    backoff = Backoff(0.5, 4.0, random.Random(1))
    delays = [backoff.delay(n) for n in range(1, 12)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert max(delays) > 1.0
    assert len(set(delays)) == len(delays)


def test_literals_double_quotes_and_encode() -> None:
    assert paths.literal("o'hara@contoso.com") == "'o%27%27hara@contoso.com'"
    assert paths.task_by_site("https://contoso.sharepoint.com/sites/IT") == (
        "/solutions/sharePoint/migrations/crossOrganizationMigrationTasks/getBySourceSiteUrl("
        "sourceSiteUrl='https%3A%2F%2Fcontoso.sharepoint.com%2Fsites%2FIT')"
    )
    assert paths.user_mapping("a@b.com").endswith("crossOrganizationUserMappings(sourceUserPrincipalName='a@b.com')")


def test_scheduler_halves_on_throttling_and_recovers_slowly() -> None:
    scheduler = Scheduler(max_concurrency=16)
    scheduler.throttled(None)
    scheduler.throttled(None)
    assert scheduler.limit == 4
    for _ in range(4):
        scheduler.succeeded()
    assert scheduler.limit == 4, "additive increase is slow"
    for _ in range(200):
        scheduler.succeeded()
    assert scheduler.limit == 16


def test_scheduler_never_exceeds_its_limit() -> None:
    scheduler = Scheduler(max_concurrency=3)
    peak = 0
    running = 0

    async def work() -> None:
        nonlocal peak, running
        async with scheduler.slot("work"):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    async def main() -> None:
        await asyncio.gather(*(work() for _ in range(20)))

    asyncio.run(main())
    assert peak == 3
    assert scheduler.requests_sent == 20


def _conn(**kw: object) -> TenantConnection:
    base: dict[str, object] = {"role": "source", "tenant_id": "t", "credential": ClientSecret("c", SecretStr("s"))}
    base.update(kw)
    return TenantConnection(**base)  # type: ignore[arg-type]


def test_https_is_required_except_on_loopback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be an https:// URL"):
        _conn(graph_base_url="http://graph.contoso.example/beta")
    assert _conn(graph_base_url="http://127.0.0.1:8080/beta").graph_base_url == "http://127.0.0.1:8080/beta"
    assert (
        _conn(authority_base_url="https://login.microsoftonline.us/").authority == "https://login.microsoftonline.us/t"
    )
    with pytest.raises(ConfigError, match="does not exist"):
        _conn(ca_file=tmp_path / "missing.pem")


def test_settings_refuse_impossible_values() -> None:
    with pytest.raises(ConfigError):
        GraphSettings(batch_size=21)
    with pytest.raises(ConfigError):
        GraphSettings(max_concurrency=2, min_concurrency=3)


def test_httpcore_still_runs_on_asyncio_when_sniffio_is_missing() -> None:
    """The transport records a missing sniffio once, so httpcore's per-request import fails fast; httpcore
    must then still take its asyncio path (it falls back to asyncio when the import fails)."""
    import importlib.util
    import sys

    import httpcore._synchronization as sync

    import reconciler.graph.transport  # noqa: F401  (the import records the absence)

    if importlib.util.find_spec("sniffio") is not None and sys.modules.get("sniffio") is not None:
        assert sys.modules["sniffio"].__name__ == "sniffio"  # installed: imported normally, nothing recorded
    else:
        assert sys.modules.get("sniffio", "absent") is None

    async def library() -> str:
        return sync.current_async_library()

    assert asyncio.run(library()) == "asyncio"
