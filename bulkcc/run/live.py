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
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from bulkcc.errors import LiveStateError
from bulkcc.plan import Plan, PlannedRequest, diff_plan
from bulkcc.plan.diff import with_priors
from bulkcc.run.answers import answer_id, callcenter_problem, fields_problem
from bulkcc.run.listing import PAGE_LIMIT, list_pages
from bulkcc.run.progress import QuietProgress
from bulkcc.send.client import ApiClient, ApiResult
from bulkcc.send.connection import Connection, ConnectionOptions, connect
from bulkcc.send.pool import get_call, run_pool
from bulkcc.workbook.layout import CONTEXT_PREFIX


class AlsoRead(Protocol):
    """More to read on plan --diff's connection, once the call centers are read."""

    @property
    def center_ids(self) -> Sequence[int]: ...  # call centers the simulator must serve

    async def __call__(self, conn: Connection, progress: QuietProgress) -> None: ...


@dataclass
class LiveState:
    """The live call centers read for a plan's requests, by Excel row, and the reads that failed."""

    callcenters: dict[int, Mapping[str, Any]] = field(default_factory=dict)
    failures: dict[int, ApiResult] = field(default_factory=dict)

    def unreadable(self) -> dict[int, str]:
        return {row: result.error or f"HTTP {result.http_status}" for row, result in self.failures.items()}


# Up to this many rows, one GET each is never more requests than a listing of the company.
FEW_ROWS = 3


async def read_live(client: ApiClient, requests: Sequence[PlannedRequest], *, concurrency: int,
                    stop: asyncio.Event, progress: QuietProgress | None = None,
                    state: LiveState | None = None, offices: Collection[int] | None = None) -> LiveState:
    """Each request's live call center, by the cheaper way: list pages, or one GET per id.

    A few rows are read with a GET each. Otherwise the listing is read page by page
    (narrowed to `offices` when every row's office is known), only until every row's
    call center has been seen, and no longer than it costs: once the pages read
    outnumber the rows still missing, those rows are read with a GET each. An id
    the listing never shows is read with its own GET before it is called missing.
    Pass `state` to keep what was read when the run is stopped part way (a refused key).
    """
    state = state if state is not None else LiveState()
    progress = progress or QuietProgress()
    missing = {r.id: r for r in requests}
    if len(requests) > FEW_ROWS:
        await _read_pages(client, missing, state, progress, stop, offices)
    if missing and not stop.is_set():
        await _read_each(client, list(missing.values()), state, progress, concurrency, stop)
    return state


async def read_again(conn: Connection, requests: Sequence[PlannedRequest], *, concurrency: int, stop: asyncio.Event,
                     progress: QuietProgress, settle: Callable[[LiveState], None]) -> LiveState:
    """Each request's call center read again just before sending (the stale guard of a saved plan and of a
    rollback); `settle` records the rows that could not be read, even when the run is stopped part way."""
    state = LiveState()
    progress.start(len(requests), conn.target_label, phase="reading")
    try:
        await read_live(conn.client, requests, concurrency=concurrency, stop=stop, progress=progress, state=state)
    finally:
        settle(state)
        progress.close()
    return state


async def _read_pages(client: ApiClient, missing: dict[int, PlannedRequest], state: LiveState,
                      progress: QuietProgress, stop: asyncio.Event, offices: Collection[int] | None) -> None:
    """Take rows' call centers from list pages (`missing` shrinks as they are found)."""
    # One listing per office costs at least a page each: narrow only when the offices are no
    # fewer than the pages the rows alone fill (a company-wide listing costs at least that).
    narrow = offices is not None and 0 < len(offices) < -(-len(missing) // PAGE_LIMIT)
    listings = [{"office_id": office} for office in sorted(offices or ())] if narrow else [{}]
    pages_read = 0
    for params in listings:
        try:
            async for page in list_pages(client, params):
                pages_read += 1
                for item in page.items:
                    cc_id = answer_id(item.get("id")) if isinstance(item, Mapping) else None
                    request = missing.get(cc_id) if cc_id is not None else None
                    if request is None or fields_problem(item) is not None:
                        continue  # not a row's, or unreadable: the row's own GET decides
                    del missing[request.id]
                    state.callcenters[request.row] = item
                    progress.advance("read", page.started_at)
                if not missing or stop.is_set() or pages_read >= len(missing):
                    return  # all found, or the rest are cheaper one GET each
        except LiveStateError:
            return  # a listing that cannot be trusted: the rows left are read one by one


async def read_each(client: ApiClient, requests: Sequence[PlannedRequest], state: LiveState,
                    progress: QuietProgress, concurrency: int, stop: asyncio.Event) -> None:
    """Each request's call center by its own GET (never a listing page), into `state`."""
    await _read_each(client, requests, state, progress, concurrency, stop)


async def _read_each(client: ApiClient, requests: Sequence[PlannedRequest], state: LiveState,
                     progress: QuietProgress, concurrency: int, stop: asyncio.Event) -> None:
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


def row_offices(plan: Plan) -> set[int] | None:
    """The offices of every planned row, from an export's `info.office_id` column; None if any is unknown."""
    raw = plan.validation.sheet.raw
    column = CONTEXT_PREFIX + "office_id"
    if column not in raw.columns or not plan.requests:
        return None
    offices = set()
    for request in plan.requests:
        office = answer_id(str(raw.at[request.row, column]).strip().split(".")[0]) if request.row in raw.index \
            else None
        if office is None:
            return None
        offices.add(office)
    return offices


async def diff_with_live(client: ApiClient, plan: Plan, *, concurrency: int, stop: asyncio.Event,
                         progress: QuietProgress | None = None, state: LiveState | None = None
                         ) -> tuple[Plan, LiveState]:
    """The plan against live state, and what was read (apply records the failed reads)."""
    state = await read_live(client, plan.requests, concurrency=concurrency, stop=stop, progress=progress,
                            state=state, offices=row_offices(plan))
    return diff_plan(plan, state.callcenters, state.unreadable()), state


async def prior_phase(conn: Connection, plan: Plan, run: Any, progress: QuietProgress, stop: asyncio.Event, *,
                      concurrency: int) -> Plan:
    """A run without --diff: before its first write, the live state of every call center it changes is
    read (the paged reads --diff uses, by the cheaper way) for its rollback; a call center that cannot
    be read is not sent (`run`: the engine's `Run`, which records the failed reads and the priors)."""
    state = LiveState()
    if plan.requests:
        progress.start(len(plan.requests), conn.target_label, phase="reading")
        try:
            await read_live(conn.client, plan.requests, concurrency=concurrency, stop=stop, progress=progress,
                            state=state, offices=row_offices(plan))
        finally:
            run.record_read_failures(state, plan.requests, conn.client.redact)  # even when stopped part way
            progress.close()
    primed = with_priors(plan, state.callcenters, state.unreadable())
    run.record_blocked(primed, plan.requests, conn.client.redact)
    run.record_fields(primed)
    return primed


async def plan_against_live_async(plan: Plan, options: ConnectionOptions,
                                  progress: QuietProgress | None = None) -> Plan:
    """`plan --diff`: read the live state of every planned row and diff it; nothing is written."""
    diffed, _ = await read_plan_against_live_async(plan, options, progress)
    return diffed


async def read_plan_against_live_async(plan: Plan, options: ConnectionOptions,
                                       progress: QuietProgress | None = None, also: AlsoRead | None = None
                                       ) -> tuple[Plan, LiveState]:
    """`plan --diff`, and what was read (the review workbook names each call center's office). `also`
    reads more on the same connection afterwards (the operators sheet's live operators)."""
    progress = progress or QuietProgress()
    ids = [r.id for r in plan.requests] + list(also.center_ids if also is not None else ())
    async with connect(options, simulator_ids=ids) as conn:
        return await against_live(conn, plan, options.pool_size, progress, also)


async def against_live(conn: Connection, plan: Plan, concurrency: int, progress: QuietProgress,
                       also: AlsoRead | None = None) -> tuple[Plan, LiveState]:
    """`plan --diff` on an open connection (the one names were looked up on, if any)."""
    from bulkcc.run.creates import name_clashes

    progress.start(len(plan.requests), conn.target_label, phase="reading")
    try:
        diffed, state = await diff_with_live(conn.client, plan, concurrency=concurrency, stop=asyncio.Event(),
                                             progress=progress)
    finally:
        progress.close()
    if diffed.creates:
        # A create whose name is live in its office would be refused by apply: blocked here already.
        clashes = await name_clashes(conn.client, diffed.creates)
        diffed = replace(diffed, creates=[c for c in diffed.creates if c.row not in clashes],
                         blocked={**diffed.blocked, **clashes})
    if also is not None:
        await also(conn, progress)
    return diffed, state


def plan_against_live(plan: Plan, options: ConnectionOptions, progress: QuietProgress | None = None) -> Plan:
    return asyncio.run(plan_against_live_async(plan, options, progress))


def read_plan_against_live(plan: Plan, options: ConnectionOptions, progress: QuietProgress | None = None,
                           also: AlsoRead | None = None) -> tuple[Plan, LiveState]:
    return asyncio.run(read_plan_against_live_async(plan, options, progress, also))
