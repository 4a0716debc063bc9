"""JSON batching: many single requests packed 20 per ``$batch``, streamed, with per-member retries.

Only the members that were throttled or failed transiently are sent again (in a later batch);
results are mapped back to the caller's keys as they arrive, and at most ``max_concurrency``
batches are in flight, so memory stays bounded however many keys the caller streams in.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from reconciler.graph.errors import AmbiguousWriteError, GraphError, MalformedResponseError, error_for
from reconciler.graph.retry import REFUSED_STATUSES, RETRYABLE_STATUSES, parse_retry_after
from reconciler.graph.transport import GraphResponse, GraphTransport, is_json, log


@dataclass
class BatchItem:
    key: Hashable
    method: str
    url: str  # relative to the version: /solutions/sharePoint/migrations/...
    body: Any = None
    idempotent: bool = True
    attempts: int = 0


Outcome = GraphResponse | GraphError
Answers = dict[str, GraphResponse | GraphError]


class BatchRunner:
    def __init__(self, transport: GraphTransport) -> None:
        self.transport = transport

    async def run(self, role: str, items: Iterable[BatchItem]) -> AsyncIterator[tuple[BatchItem, Outcome]]:
        """Yield ``(item, response-or-error)`` for every item, in completion order."""
        settings = self.transport.settings
        source = iter(items)
        retry: deque[BatchItem] = deque()
        in_flight: set[asyncio.Task[tuple[list[BatchItem], Outcome | Answers]]] = set()
        try:
            while True:
                while len(in_flight) < self.transport.scheduler.limit:
                    batch = self._take(retry, source, settings.batch_size)
                    if not batch:
                        break
                    in_flight.add(asyncio.create_task(self._send(role, batch)))
                if not in_flight:
                    return
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    batch, outcome = task.result()
                    for item, result in self._sort(role, batch, outcome, retry):
                        yield item, result
        finally:
            for task in in_flight:
                task.cancel()

    @staticmethod
    def _take(retry: deque[BatchItem], source: Any, size: int) -> list[BatchItem]:
        batch: list[BatchItem] = []
        while retry and len(batch) < size:
            batch.append(retry.popleft())
        while len(batch) < size:
            item = next(source, None)
            if item is None:
                break
            batch.append(item)
        return batch

    async def _send(self, role: str, batch: list[BatchItem]) -> tuple[list[BatchItem], Outcome | Answers]:
        requests = []
        for index, item in enumerate(batch):
            item.attempts += 1
            entry: dict[str, Any] = {"id": str(index), "method": item.method, "url": item.url}
            if item.body is not None:
                entry["headers"] = {"Content-Type": "application/json"}
                entry["body"] = item.body
            requests.append(entry)
        idempotent = all(item.idempotent for item in batch)
        self.transport.stats["batches"] += 1
        try:
            envelope = await self.transport.request(
                role, "POST", "/$batch", json={"requests": requests}, idempotent=idempotent
            )
        except GraphError as error:
            return batch, error
        url = self.transport.url(role, "/$batch")
        body = envelope.body
        if not isinstance(body, dict) or not isinstance(body.get("responses"), list):
            return batch, MalformedResponseError(
                "the $batch answer has no 'responses' array",
                method="POST",
                path=url,
                status=envelope.status,
                request_id=envelope.request_id,
            )
        responses: Answers = {}
        for raw in body["responses"]:
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str | int):
                continue  # an entry that names no request: its request is reported missing below
            rid = str(raw["id"])
            status = raw.get("status")
            headers = raw.get("headers")
            headers = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
            member = batch[int(rid)] if rid.isdigit() and int(rid) < len(batch) else None
            where = self.transport.url(role, member.url) if member is not None else url
            if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
                responses[rid] = MalformedResponseError(
                    f"its $batch entry has the status {status!r}, not an HTTP status",
                    method=member.method if member else "POST",
                    path=where,
                    request_id=envelope.request_id,
                )
                continue
            content_type = headers.get("Content-Type") or headers.get("content-type")
            inner = raw.get("body")
            problem = _inner_problem(inner, content_type) if 200 <= status < 300 else None
            if problem is not None:
                responses[rid] = MalformedResponseError(
                    f"the answer inside the $batch {problem}",
                    method=member.method if member else "POST",
                    path=where,
                    status=status,
                    request_id=envelope.request_id,
                )
                continue
            if member is not None:
                log.debug("  $batch member %s %s -> %d", member.method, where, status)
            responses[rid] = GraphResponse(status, inner, headers, envelope.request_id)
        return batch, responses

    def _sort(
        self,
        role: str,
        batch: list[BatchItem],
        outcome: Outcome | Answers,
        retry: deque[BatchItem],
    ) -> list[tuple[BatchItem, Outcome]]:
        settings = self.transport.settings
        scheduler = self.transport.scheduler
        done: list[tuple[BatchItem, Outcome]] = []
        if isinstance(outcome, GraphError):
            return [(item, outcome) for item in batch]
        if isinstance(outcome, GraphResponse):  # not produced by _send; keeps the type checker exact
            return [(item, outcome) for item in batch]
        longest: float | None = None
        for index, item in enumerate(batch):
            response = outcome.get(str(index))
            if isinstance(response, GraphError):
                done.append((item, response))
                continue
            if response is None:
                response = GraphResponse(
                    502,
                    {
                        "error": {
                            "code": "missingBatchResponse",
                            "message": "the batch answer had no entry for this request",
                        }
                    },
                )
            status = response.status
            transient = status in RETRYABLE_STATUSES or (status >= 500 and status != 501)
            if transient and not item.idempotent and status not in REFUSED_STATUSES:
                done.append(
                    (
                        item,
                        AmbiguousWriteError(
                            f"the service answered {status} inside a batch; the request may or may not have "
                            "been carried out, so it is not re-sent",
                            method=item.method,
                            path=item.url,
                            status=status,
                            request_id=response.request_id,
                        ),
                    )
                )
            elif transient and item.attempts < settings.max_attempts:
                header = response.headers.get("Retry-After") or response.headers.get("retry-after")
                wait = parse_retry_after(header)
                if wait is None:
                    wait = self.transport.backoff.delay(item.attempts)
                longest = max(longest or 0.0, wait)
                if status in RETRYABLE_STATUSES:
                    self.transport.stats["throttled"] += 1
                self.transport.stats["retries"] += 1
                retry.append(item)
            elif transient:
                done.append((item, error_for(item.method, item.url, status, response.body, response.request_id)))
            else:
                done.append((item, response))  # a final answer, 4xx included: the caller decides
        if longest is not None:
            # Graph's advice: retry the throttled members after the longest Retry-After of the batch.
            scheduler.throttled(longest)
        return done


def _inner_problem(body: Any, content_type: str | None) -> str | None:
    """Why a 2xx member's body is not JSON, or None. A non-JSON body travels in a $batch as a string."""
    if content_type is not None and not is_json(content_type):
        return f"is {content_type}, not JSON"
    if isinstance(body, str):
        return "is not valid JSON" if content_type is not None else "is a string, not JSON"
    return None
