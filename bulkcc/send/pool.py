"""Sending many calls: a pool of workers over one paced, retrying client.

The workers take requests in sheet order; the client's pacer decides when each
one starts, and `concurrency` bounds how many are in flight. Setting `stop`
(Ctrl-C, SIGTERM) lets calls in flight finish but starts no new one. A refused
key or a spent retry budget stops every worker and is raised once all in-flight
calls have finished, so their results are still recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from bulkcc.errors import RunStopped
from bulkcc.send.client import ApiClient, ApiResult

Item = TypeVar("Item")
Call = Callable[[ApiClient, Item, asyncio.Event], Awaitable[ApiResult]]
OnResult = Callable[[Item, ApiResult], None]


async def run_pool(client: ApiClient, items: Sequence[Item], call: Call, on_result: OnResult, *,
                   concurrency: int, stop: asyncio.Event) -> list[Item]:
    """Run `call` for each item, at most `concurrency` at once; return the items never started."""
    queue: asyncio.Queue[Item] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    fatal: list[RunStopped] = []

    async def worker() -> None:
        while not stop.is_set():
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                result = await call(client, item, stop)
            except RunStopped as exc:
                # The whole run must stop (refused key, dead API): let in-flight calls finish.
                fatal.append(exc)
                stop.set()
                if exc.result is not None:
                    on_result(item, exc.result)  # sent and failed: recorded as such
                else:
                    queue.put_nowait(item)  # never completed: it counts as not sent
                return
            on_result(item, result)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(concurrency, len(items))))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
    not_started = []
    while not queue.empty():
        not_started.append(queue.get_nowait())
    if fatal:
        raise fatal[0].with_not_started(not_started) from fatal[0]
    return not_started


class Request(Protocol):
    """What the pool sends: a planned request's path and body."""

    @property
    def path(self) -> str: ...

    @property
    def body(self) -> dict[str, Any]: ...


async def patch_call(client: ApiClient, request: Request, stop: asyncio.Event) -> ApiResult:
    """PATCH one planned request (a `PlannedRequest`)."""
    return await client.call("PATCH", request.path, request.body, stop=stop)


async def get_call(client: ApiClient, request: Request, stop: asyncio.Event) -> ApiResult:
    """GET the call center of one request (export --ids, --diff's live read)."""
    return await client.call("GET", request.path, stop=stop)
