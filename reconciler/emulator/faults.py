"""Fault injection: per-app token-bucket throttling, random failures, latency, dropped connections,
and answers whose bodies are not what the API documents (for testing a client's checks)."""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass
from typing import Any

from reconciler.emulator.settings import FaultRule, Faults


@dataclass(frozen=True)
class Decision:
    """What happens to one Graph request: ``action`` is None (serve it), status, drop_before, drop_after
    or body (serve it, then replace the body of a 2xx answer as ``rule`` says)."""

    action: str | None = None
    status: int = 0
    retry_after: str | None = None
    latency: float = 0.0
    rule: FaultRule | None = None


@dataclass(frozen=True)
class RawBody:
    """A body sent as these bytes with this content type instead of as JSON."""

    content: bytes
    content_type: str


def hostile_body(rule: FaultRule, body: Any) -> Any:
    """The answer ``rule`` puts in place of ``body`` (a JSON value, or ``RawBody``)."""
    if rule.body == "malformed_json":
        return RawBody(b'{"id": "0b7c", "status": ', "application/json; charset=utf-8")
    if rule.body == "html":
        page = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Proxy sign-in</body></html>"
        return RawBody(page, "text/html; charset=utf-8")
    if rule.body == "empty_object":
        return {}
    if not isinstance(body, dict):
        return body
    if rule.body == "drop_members":
        return {k: v for k, v in body.items() if k not in rule.members}
    typed = dict(body)  # wrong_types
    typed["id"] = 12345
    if "status" in typed:
        typed["status"] = True
    return typed


SERVE = Decision()


class _Bucket:
    __slots__ = ("last", "tokens")

    def __init__(self, tokens: float) -> None:
        self.tokens = tokens
        self.last = time.monotonic()


class FaultInjector:
    def __init__(self, faults: Faults | None = None) -> None:
        self.configure(faults or Faults())

    def configure(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._remaining = [rule.count for rule in faults.rules]
        self._patterns = [re.compile(rule.path) if rule.path else None for rule in faults.rules]
        f = faults
        self.active = bool(
            f.rate_limit or f.random.rate or f.latency_ms or f.latency_jitter_ms or f.drop_rate or f.rules
        )

    def _format_retry(self, seconds: float, fractional: bool) -> str:
        if fractional:
            return f"{max(seconds, 0.001):.3f}"
        return str(max(1, math.ceil(seconds)))

    def _rule(self, method: str, path: str) -> FaultRule | None:
        for i, rule in enumerate(self.faults.rules):
            if self._remaining[i] <= 0:
                continue
            if rule.method and rule.method.upper() != method.upper():
                continue
            pattern = self._patterns[i]
            if pattern is not None and not pattern.search(path):
                continue
            self._remaining[i] -= 1
            return rule
        return None

    def decide(self, tenant_id: str, app_id: str, method: str, path: str) -> Decision:
        if not self.active:
            return SERVE
        f = self.faults
        latency = f.latency_ms / 1000.0
        if f.latency_jitter_ms:
            latency += self._rng.uniform(0, f.latency_jitter_ms / 1000.0)
        rule = self._rule(method, path)
        if rule is not None:
            if rule.action == "latency":
                latency += rule.latency_ms / 1000.0
            elif rule.action == "status":
                retry = None
                if rule.retry_after is not None:
                    retry = self._format_retry(rule.retry_after, rule.retry_after != int(rule.retry_after))
                return Decision("status", rule.status, retry, latency)
            else:
                return Decision(rule.action, 0, None, latency, rule)
        if f.rate_limit is not None:
            rl = f.rate_limit
            bucket = self._buckets.get((tenant_id, app_id))
            if bucket is None:
                bucket = self._buckets[(tenant_id, app_id)] = _Bucket(float(rl.burst))
            now = time.monotonic()
            bucket.tokens = min(float(rl.burst), bucket.tokens + (now - bucket.last) * rl.per_second)
            bucket.last = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
            else:
                wait = (1.0 - bucket.tokens) / rl.per_second
                return Decision("status", 429, self._format_retry(wait, rl.retry_after == "fractional"), latency)
        if f.random.rate and self._rng.random() < f.random.rate:
            status = self._rng.choice(f.random.statuses)
            retry = None
            if status in (429, 503):
                ra = f.random.retry_after
                retry = self._format_retry(ra, ra != int(ra))
            return Decision("status", status, retry, latency)
        if f.drop_rate and self._rng.random() < f.drop_rate:
            return Decision("drop_" + f.drop_phase, 0, None, latency)
        return Decision(None, 0, None, latency) if latency else SERVE
