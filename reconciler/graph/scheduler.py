"""One scheduler for every request of a run: a concurrency cap that adapts to throttling.

Graph throttles per app and tenant; sending more while it says "slow down" only earns more 429s.
So a 429/503/504 halves the number of requests allowed in flight and, when the service says how
long to wait (Retry-After), holds every new request until then. Each success earns the limit back
slowly (additive increase, multiplicative decrease, as TCP does).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from reconciler.graph.errors import DeadlineExceeded


class Scheduler:
    def __init__(self, max_concurrency: int, min_concurrency: int = 1, deadline: float | None = None) -> None:
        self.max_concurrency = max_concurrency
        self.min_concurrency = min_concurrency
        self._limit = float(max_concurrency)
        self._in_flight = 0
        self._paused_until = 0.0
        self._condition: asyncio.Condition | None = None
        self._deadline = time.monotonic() + deadline if deadline is not None else None
        self.throttle_events = 0
        self.requests_sent = 0

    @property
    def limit(self) -> int:
        return max(self.min_concurrency, int(self._limit))

    def remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def check_deadline(self, what: str) -> None:
        left = self.remaining()
        if left is not None and left <= 0:
            raise DeadlineExceeded(f"the run's deadline passed before {what} could complete")

    def _cond(self) -> asyncio.Condition:
        if self._condition is None:
            self._condition = asyncio.Condition()
        return self._condition

    @asynccontextmanager
    async def slot(self, what: str) -> AsyncIterator[None]:
        """Hold one of the in-flight places for the duration of a request."""
        cond = self._cond()
        while True:
            self.check_deadline(what)
            pause = self._paused_until - time.monotonic()
            if pause > 0:
                await asyncio.sleep(self._bounded(pause))
                continue
            async with cond:
                if self._in_flight < self.limit:
                    self._in_flight += 1
                    break
                with suppress(TimeoutError):
                    await asyncio.wait_for(cond.wait(), timeout=self._bounded(1.0))
        self.requests_sent += 1
        try:
            yield
        finally:
            async with cond:
                self._in_flight -= 1
                cond.notify_all()

    def _bounded(self, seconds: float) -> float:
        left = self.remaining()
        return max(0.0, min(seconds, left)) if left is not None else seconds

    def throttled(self, retry_after: float | None) -> None:
        self.throttle_events += 1
        self._limit = max(float(self.min_concurrency), self._limit / 2)
        if retry_after:
            self._paused_until = max(self._paused_until, time.monotonic() + retry_after)

    def succeeded(self) -> None:
        if self._limit < self.max_concurrency:
            self._limit = min(float(self.max_concurrency), self._limit + 1.0 / max(self._limit, 1.0))

    async def sleep(self, seconds: float, what: str) -> None:
        left = self.remaining()
        if left is not None and seconds >= left:
            raise DeadlineExceeded(f"the run's deadline passes before {what} can be retried")
        await asyncio.sleep(seconds)
