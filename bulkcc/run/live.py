"""Reading the live call centers a plan's rows name, for --diff.

Both `plan --diff` and `apply --diff` read live state here and diff it with
`bulkcc.plan.diff.diff_plan`, so the two treat a row whose call center cannot
be read the same way: it is `unreadable` (with the reason) and never sent.
An answer that is not the call center asked for, or whose fields cannot be
read, is such a failed read too (`bulkcc.run.answers`). Reads are paced and
retried like every call, share the run's budget, and advance a progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bulkcc.plan import Plan, PlannedRequest, diff_plan
from bulkcc.run.answers import callcenter_problem
from bulkcc.run.progress import QuietProgress
from bulkcc.send.client import ApiClient, ApiResult
from bulkcc.send.connection import ConnectionOptions, connect
from bulkcc.send.pool import get_call, run_pool


@dataclass
class LiveState:
    """The live call centers read for a plan's requests, by Excel row, and the reads that failed."""

    callcenters: dict[int, Mapping[str, Any]] = field(default_factory=dict)
    failures: dict[int, ApiResult] = field(default_factory=dict)

    def unreadable(self) -> dict[int, str]:
        return {row: result.error or f"HTTP {result.http_status}" for row, result in self.failures.items()}


async def read_live(client: ApiClient, requests: Sequence[PlannedRequest], *, concurrency: int,
                    stop: asyncio.Event, progress: QuietProgress | None = None,
                    state: LiveState | None = None) -> LiveState:
    """GET each request's call center through the worker pool (a stopped run reads no more).

    Pass `state` to keep what was read when the run is stopped part way (a refused key).
    """
    state = state if state is not None else LiveState()
    progress = progress or QuietProgress()

    def on_result(request: PlannedRequest, result: ApiResult) -> None:
        problem = callcenter_problem(result.data, request.id) if result.ok else None
        if problem is not None:
            result = replace(result, ok=False, error=problem)
        if result.ok:
            state.callcenters[request.row] = result.data
        else:
            state.failures[request.row] = result
        progress.advance("read" if result.ok else "failed", result.started_at)

    await run_pool(client, requests, get_call, on_result, concurrency=concurrency, stop=stop)
    return state


async def diff_with_live(client: ApiClient, plan: Plan, *, concurrency: int, stop: asyncio.Event,
                         progress: QuietProgress | None = None, state: LiveState | None = None
                         ) -> tuple[Plan, LiveState]:
    """The plan against live state, and what was read (apply records the failed reads)."""
    state = await read_live(client, plan.requests, concurrency=concurrency, stop=stop, progress=progress,
                            state=state)
    return diff_plan(plan, state.callcenters, state.unreadable()), state


async def plan_against_live_async(plan: Plan, options: ConnectionOptions,
                                  progress: QuietProgress | None = None) -> Plan:
    """`plan --diff`: read the live state of every planned row and diff it; nothing is written."""
    progress = progress or QuietProgress()
    async with connect(options, simulator_ids=[r.id for r in plan.requests]) as conn:
        progress.start(len(plan.requests), conn.target_label, phase="reading")
        try:
            diffed, _ = await diff_with_live(conn.client, plan, concurrency=options.pool_size,
                                             stop=asyncio.Event(), progress=progress)
        finally:
            progress.close()
    return diffed


def plan_against_live(plan: Plan, options: ConnectionOptions, progress: QuietProgress | None = None) -> Plan:
    return asyncio.run(plan_against_live_async(plan, options, progress))
