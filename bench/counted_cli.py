"""The real ``reconciler`` CLI, run with its Graph requests counted: the launcher of ``apply_requests.py``.

``python bench/counted_cli.py STATS.json [--no-prestart-read] -- ARGS...`` runs ``reconciler ARGS``
unchanged in this process and, when it ends, writes what its Graph transport sent to ``STATS.json``:
HTTP requests (retries included), calls by kind, throttled answers and the seconds the run was held
by Retry-After. ``--no-prestart-read`` turns off apply's pre-start re-read (a module constant no user
setting reaches), for the benchmark's baseline only.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reconciler.apply import executor  # noqa: E402
from reconciler.cli.main import main  # noqa: E402
from reconciler.graph import scheduler, transport  # noqa: E402

calls: Counter[str] = Counter()
totals: Counter[str] = Counter()
held = [0.0]  # seconds during which every request was held by a Retry-After


def _kind(method: str, path: str) -> str:
    if path == "/$batch":
        return "batch"
    if method == "PATCH":
        return "mapping PATCH"
    if method == "POST" and path.endswith("crossOrganizationMigrationTasks"):
        return "task POST"
    return f"{method} other"


def _install() -> None:
    request = transport.GraphTransport.request
    aclose = transport.GraphTransport.aclose
    throttled = scheduler.Scheduler.throttled

    async def counted_request(self: transport.GraphTransport, role: str, method: str, path: str, **kw: Any) -> Any:
        calls[_kind(method, path)] += 1
        return await request(self, role, method, path, **kw)

    async def counted_aclose(self: transport.GraphTransport) -> None:
        totals.update(self.stats)
        await aclose(self)

    def counted_throttled(self: scheduler.Scheduler, retry_after: float | None) -> None:
        now = time.monotonic()
        before = max(self._paused_until, now)
        throttled(self, retry_after)
        held[0] += max(0.0, self._paused_until - before)

    transport.GraphTransport.request = counted_request  # type: ignore[method-assign]
    transport.GraphTransport.aclose = counted_aclose  # type: ignore[method-assign]
    scheduler.Scheduler.throttled = counted_throttled  # type: ignore[method-assign]


def run() -> None:
    stats_file = Path(sys.argv[1])
    rest = sys.argv[2:]
    if rest and rest[0] == "--no-prestart-read":
        executor.PRESTART_READ = False
        rest = rest[1:]
    if rest and rest[0] == "--":
        rest = rest[1:]
    _install()
    sys.argv = ["reconciler", *rest]
    try:
        main()
    finally:
        stats = {"calls": dict(calls), "transport": dict(totals), "held_seconds": round(held[0], 3)}
        stats_file.write_text(json.dumps(stats))


if __name__ == "__main__":
    run()
