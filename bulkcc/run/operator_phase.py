"""The operators sheet's part of an `apply` run: plan, read, send, journal, results.

The engine (`execute`) calls `OperatorWork` at two points of a run, on the one
connection (and so the one pacer) of the run: `prepare` after the call
centers' first phase and before anything is sent (with --diff: read each named
center's operators and the skill levels the plan needs, plan, ask before
removing operators the sheet does not list, extend the rollback), and `send`
after the call center updates (creates, then updates, then operator changes).

Each finished change is journaled (`Journal.record_operator`, keyed by call
center and user, with the hash of what the row asks), so `--resume` never sends
a finished one again, for a center created in this run too (its id is known by
then), nor one the run that stopped made but whose line a crash lost (its
rollback shows it: `operator_guard`). `results` gives one `OperatorResult` per
row of the sheet, in order, and one per --exact-operators removal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import pandas as pd

from bulkcc.errors import UsageError
from bulkcc.operator_fields import OperatorRow
from bulkcc.plan.operators import (
    CenterIndex,
    LiveOperator,
    OperatorPlan,
    OperatorRequest,
    centers_to_read,
    plan_operators,
)
from bulkcc.plan.undo import AgentState, AgentUndo, agent_undo
from bulkcc.run.journal import Journal, body_hash
from bulkcc.run.operator_guard import done_result, guard_operators, made_by_stopped_run, settle_unchanged
from bulkcc.run.operator_priors import read_prior_operators, with_prior_operators
from bulkcc.run.operators import OperatorReads, read_operator_state, send_requests
from bulkcc.run.progress import QuietProgress
from bulkcc.send.connection import Connection
from bulkcc.status import FINAL_STATUSES, OK_STATUSES, RESEND_STATUSES, Status
from bulkcc.values import printable
from bulkcc.workbook.operator_results import OPERATORS_RESULTS, OperatorResult, write_operator_sheet
from bulkcc.workbook.results import RowResult

Key = int | tuple[str, int, int]  # a sheet row, or ("exact", center, user) for an --exact-operators removal
ConfirmRemovals = Callable[[OperatorPlan], bool]
EXACT_INTENT = body_hash({"exact_remove": True})


@dataclass(frozen=True)
class OperatorInput:
    """The operators sheet of a workbook, as a run needs it."""

    rows: tuple[OperatorRow, ...]  # the valid rows
    sheet_rows: tuple[int, ...]  # every row of the sheet (Excel rows), in order
    invalid: Mapping[int, str] = field(default_factory=dict)  # row -> its problems, in words
    raw: pd.DataFrame | None = None  # the sheet's own cells (index: Excel rows), for the Operators sheet
    earlier: Mapping[int, OperatorResult] = field(default_factory=dict)  # a fed-back Operators sheet's results

    def selected(self, only_failed: bool) -> set[int]:
        """The rows this run is about: all, or with --only-failed those not finished before."""
        if not only_failed:
            return set(self.sheet_rows)
        return {row for row in self.sheet_rows
                if row not in self.earlier or Status.of(self.earlier[row].status) in RESEND_STATUSES}


def intent_hash(row: OperatorRow) -> str:
    """What a row asks, whatever its center is called: an edited row is sent again on --resume."""
    return body_hash({"user_id": row.user_id, "remove": row.remove, "role": row.role,
                      "skill_level": row.skill_level, "license_type": row.license_type,
                      "keep_paid_numbers": row.keep_paid_numbers})


def _key(request: OperatorRequest) -> Key:
    if request.row is not None:
        return request.row
    assert request.center.id is not None  # --exact-operators removes only from centers read live
    return ("exact", request.center.id, request.user_id)


@dataclass
class OperatorWork:
    """The operators sheet's part of one run (see the module's docstring)."""

    input: OperatorInput
    index: CenterIndex
    selected: set[int]
    diff: bool = False
    exact: bool = False
    confirm_removals: ConfirmRemovals | None = None
    plan: OperatorPlan | None = None
    results: dict[Key, OperatorResult] = field(default_factory=dict)
    answered: dict[Key, OperatorResult] = field(default_factory=dict)  # answered, maybe not yet journaled
    sent: set[Key] = field(default_factory=set)  # the changes sent (at least one attempt), for the rollback
    resolved: dict[Key, OperatorRequest] = field(default_factory=dict)  # as sent: a created center's id known
    # --exact-operators: the centers an invalid row names (None: every center), which get no such removal.
    held: Mapping[int | None, str] = field(default_factory=dict)
    priors: bool = False  # without --diff: read each change's operator before sending (for the rollback)
    before: dict[tuple[int, int], LiveOperator | None] = field(default_factory=dict)  # (center, user): as read
    done_by_earlier: list[OperatorRequest] = field(default_factory=list)  # a saved plan's, found done on --resume

    def __post_init__(self) -> None:
        self._by_row = {r.excel_row: r for r in self.input.rows}  # looked up per answer: no scan of the sheet
        if self.exact and not self.diff:
            raise UsageError("--exact-operators needs --diff: which operators the sheet does not list is known "
                             "only once each center's operators are read")

    @property
    def center_ids(self) -> list[int]:
        """The existing centers the rows name (the simulator serves them)."""
        return centers_to_read(self.input.rows, self.index)

    def _rows(self, rows: Collection[int]) -> list[OperatorRow]:
        return [r for r in self.input.rows if r.excel_row in rows]

    def _done_rows(self, journal: Journal) -> set[int]:
        """The rows an earlier run finished for their center (--resume): their result stands, not read nor planned."""
        done = set()
        for row in self._rows(self.selected):
            center = self.index.resolve(row)
            if isinstance(center, str) or center.id is None:
                continue
            request = OperatorRequest("row", center, row.user_id, {}, row.excel_row)
            earlier = self._done_before(journal, request)
            if earlier is not None:
                self.results[row.excel_row] = earlier
                done.add(row.excel_row)
        return done

    def _done_before(self, journal: Journal, request: OperatorRequest) -> OperatorResult | None:
        """An earlier run's result that still stands for this change: same center and user, done, same ask."""
        if request.center.id is None:
            return None
        earlier = journal.previous_operators.get((request.center.id, request.user_id))
        if earlier is None or Status.of(earlier[0].status) not in FINAL_STATUSES:
            return None
        if request.row is None:
            wanted = EXACT_INTENT
        else:
            row = self._by_row.get(request.row)
            wanted = intent_hash(row) if row is not None else ""
        return replace(earlier[0], row=request.row) if earlier[1] == wanted else None

    # ---- before anything is sent

    async def prepare(self, conn: Connection, run: Any, journal: Journal, *, concurrency: int,
                      progress: QuietProgress, stop: asyncio.Event) -> None:
        """Plan the rows (with --diff against live operators; without, read what they change for the
        rollback); ask before --exact-operators removals."""
        to_plan = set(self.selected) - set(self.input.invalid) - self._done_rows(journal)
        # --exact-operators removes what no row lists: every valid row counts, even those --only-failed leaves.
        rows = self.input.rows if self.exact else tuple(self._rows(to_plan))
        redact, resumed = conn.client.redact, journal.resumed
        reads: OperatorReads | None = None
        if self.plan is not None:  # a saved plan's: sent as saved, less (--diff) what went stale since
            self.plan = self._without_done(self.plan.only(to_plan), journal)
            if self.plan.diffed:
                reads = await self._guard(conn, run, resumed=resumed, concurrency=concurrency, progress=progress,
                                          stop=stop)
            elif self.priors:
                reads = await self._read_priors(conn, run, rows, concurrency=concurrency, progress=progress,
                                                stop=stop, resumed=resumed)
        elif self.diff:
            reads = OperatorReads()
            try:
                await read_operator_state(conn.client, conn.target_label, rows, self.index, reads, exact=self.exact,
                                          concurrency=concurrency, progress=progress, stop=stop)
            finally:  # even when the reads were stopped (a refused key): what was read decides
                run.start_times.extend(reads.started_at)
                self.plan = reads.plan(rows, self.index, exact=self.exact, held=self.held).only(to_plan)
            if resumed and getattr(run, "rollback", None) is not None:  # what the run that stopped made so
                self.plan = settle_unchanged(self.plan, self.results, self._by_row, self.index, reads.readable(),
                                             run.rollback.earlier_agents)
            if self.exact and resumed:
                self._earlier_exact(journal, reads)
        else:
            self.plan = plan_operators(rows, self.index).only(to_plan)
            if self.priors:
                reads = await self._read_priors(conn, run, rows, concurrency=concurrency, progress=progress,
                                                stop=stop, resumed=resumed)
        self._record_unsent(reads, redact)
        if (self.plan.exact_removals or self.plan.exact_held) and self.confirm_removals is not None \
                and not self.confirm_removals(self.plan):
            raise UsageError("not confirmed: nothing was sent")

    async def _read_priors(self, conn: Connection, run: Any, rows: Sequence[OperatorRow], *, concurrency: int,
                           progress: QuietProgress, stop: asyncio.Event, resumed: bool = False) -> OperatorReads:
        """Without --diff: each change's operator as it was, read before anything is sent (the rollback)."""
        assert self.plan is not None
        reads = await read_prior_operators(conn.client, conn.target_label, rows, self.index, concurrency=concurrency,
                                           progress=progress, stop=stop)
        run.start_times.extend(reads.started_at)
        self.plan, self.before = with_prior_operators(self.plan, reads)
        if resumed and getattr(run, "rollback", None) is not None:  # what the run that stopped made: its rollback
            self._settle(made_by_stopped_run(self.plan.requests, self.before, run.rollback.earlier_agents))
        return reads

    def _without_done(self, plan: OperatorPlan, journal: Journal) -> OperatorPlan:
        """A saved plan less its --exact-operators removals an earlier run finished (--resume)."""
        keep = []
        for request in plan.requests:
            earlier = self._done_before(journal, request) if request.row is None else None
            if earlier is not None:
                self.results[_key(request)] = earlier
            else:
                keep.append(request)
        return replace(plan, requests=tuple(keep))

    def _earlier_exact(self, journal: Journal, reads: OperatorReads) -> None:
        """--resume of --exact-operators: the removals an earlier run finished stand (no longer live: not planned)."""
        planned = {_key(r) for r in self.plan.requests} if self.plan is not None else set()
        for (center, user), (result, digest) in journal.previous_operators.items():
            key: Key = ("exact", center, user)
            if (digest == EXACT_INTENT and center in reads.centers and key not in planned
                    and Status.of(result.status) in FINAL_STATUSES):
                self.results[key] = replace(result, row=None)

    async def _guard(self, conn: Connection, run: Any, *, resumed: bool, concurrency: int, progress: QuietProgress,
                     stop: asyncio.Event) -> OperatorReads:
        """A saved --diff plan's stale guard (`operator_guard`)."""
        assert self.plan is not None
        guarded = None
        try:
            guarded = await guard_operators(conn.client, conn.target_label, self.plan, resumed=resumed,
                                            concurrency=concurrency, progress=progress, stop=stop)
        finally:
            if guarded is not None:
                run.start_times.extend(guarded.reads.started_at)
        self.plan = guarded.plan
        self._settle([(request, None) for request in guarded.done])
        for request, moved in guarded.stale:
            self.results[_key(request)] = OperatorResult(
                request.row, Status.STALE, action=request.describe(), call_center_id=request.center.id,
                user_id=request.user_id, error=conn.client.redact(f"not sent: live operators changed since the "
                                                                  f"plan was made: {moved}"))
        return guarded.reads

    def _settle(self, done: Sequence[tuple[OperatorRequest, Status | None]]) -> None:
        """Changes the run that stopped made (--resume): not sent again, with the status they would have had."""
        for request, status in done:
            self.results[_key(request)] = done_result(request, status)
            self.sent.add(_key(request))
            self.done_by_earlier.append(request)
        if self.plan is not None:
            self.plan = replace(self.plan, requests=tuple(r for r in self.plan.requests if _key(r) not in self.sent))

    def _record_unsent(self, reads: OperatorReads | None, redact: Callable[[str], str]) -> None:
        """The rows the plan sends nothing for: blocked, unresolved, unreadable, unchanged."""
        plan = self.plan
        assert plan is not None
        centers = {r.excel_row: self.index.resolve(r) for r in self.input.rows}
        for row, why in plan.blocked.items():
            self.results[row] = OperatorResult(row, Status.FAILED, error=redact(why), **self._ids(row, centers))
        for row, why in plan.unresolved.items():
            self.results[row] = OperatorResult(row, Status.NOT_SENT, error=redact(why), **self._ids(row, centers))
        for row, why in plan.unchanged.items():
            self.results[row] = OperatorResult(row, Status.UNCHANGED, action=redact(why), **self._ids(row, centers))
        for row, why in plan.unreadable.items():
            center = centers.get(row)
            failure = reads.failures.get(center.id) if reads is not None and not isinstance(center, str) and \
                center is not None and center.id is not None else None
            tried = failure is not None and failure.attempts > 0
            self.results[row] = OperatorResult(row, Status.FAILED if tried else Status.NOT_SENT,
                                               http_status=failure.http_status if failure else None,
                                               attempts=failure.attempts if failure else 0, error=redact(why),
                                               **self._ids(row, centers))

    def _ids(self, row: int, centers: Mapping[int, Any]) -> dict[str, Any]:
        center, found = centers.get(row), self._by_row.get(row)
        return {"call_center_id": None if center is None or isinstance(center, str) else center.id,
                "user_id": found.user_id if found is not None else None}

    # ---- after the call center updates

    async def send(self, conn: Connection, run: Any, journal: Journal, *, concurrency: int,
                   progress: QuietProgress, stop: asyncio.Event) -> None:
        """Send the planned changes, each centre's id known by now (created in this run, or not)."""
        if self.plan is None or stop.is_set():
            return
        redact = conn.client.redact
        to_send: list[OperatorRequest] = []
        # A create's result counts once journaled; its id is known as soon as the API answered (the
        # group commit may still hold the line): later lines, these operators' among them, sync after it.
        known = {**getattr(run, "answered", {}), **run.results}
        for request in self.plan.requests:
            resolved = _resolved(request, known)
            key = _key(resolved) if isinstance(resolved, OperatorRequest) else _key(request)
            if isinstance(resolved, str):
                self.results[key] = OperatorResult(request.row, Status.NOT_SENT, error=redact(resolved),
                                                   action=request.describe(), user_id=request.user_id)
                continue
            done = self._done_before(journal, resolved)
            if done is not None:
                self.results[key] = done
                continue
            self.resolved[key] = resolved
            to_send.append(resolved)

        def on_result(result: OperatorResult, started_at: list[float]) -> None:
            result.error = redact(result.error) if result.error else result.error
            key: Key = result.row if result.row is not None else \
                ("exact", result.call_center_id or 0, result.user_id or 0)
            run.start_times.extend(started_at)
            progress.advance(result.status, started_at)
            if result.attempts:
                self.sent.add(key)
            if result.status == Status.NOT_SENT:
                self.results[key] = result
                return
            self.answered[key] = result
            row = self._by_row.get(result.row) if result.row is not None else None
            digest = intent_hash(row) if row is not None else EXACT_INTENT
            journal.record_operator(result, digest, on_synced=lambda: self.results.__setitem__(key, result))

        progress.start(len(to_send), conn.target_label, phase="operators")
        try:
            await send_requests(conn.client, to_send, on_result, concurrency=concurrency, stop=stop)
        finally:
            progress.close()

    def mark_unjournaled(self, note: str) -> None:  # answered, never journaled: the answer stands, with `note`
        for key, result in self.answered.items():
            if key not in self.results:
                self.results[key] = replace(result, error=f"{result.error}; {note}" if result.error else note)

    def agent_undos(self, sent_only: bool) -> list[AgentUndo]:
        """The rollback of the changes planned (or only of those sent), each from the agent before (read
        before anything was sent) to the state its answer left it in; none without a prior read."""
        if self.plan is None:
            return []
        out = []
        for request in [*self.plan.requests, *self.done_by_earlier]:
            key = _key(request)
            resolved = self.resolved.get(key, request)
            center = resolved.center.id
            if center is None or (sent_only and key not in self.sent):
                continue
            if resolved.diffed:
                before = resolved.before
            elif resolved.center.create_row is not None:
                before = None  # created in this run: it had no operators
            elif (center, resolved.user_id) in self.before:
                before = self.before[(center, resolved.user_id)]
            else:
                continue  # not read before it was sent (--no-rollback): nothing to undo it by
            result = self.results.get(key) or self.answered.get(key)
            undo = agent_undo(resolved, AgentState.of(before), str(result.status) if result is not None else None)
            if undo is not None:
                out.append(undo)
        return out

    def result_sheets(self, results: list[OperatorResult]) -> list[tuple[str, Callable[[Any], None]]]:
        """The results workbook's Operators sheet, as (name, writer)."""
        return [(OPERATORS_RESULTS, partial(write_operator_sheet, results=results, input_frame=self.input.raw))]

    # ---- the outcome

    def all_results(self, not_sent_error: str) -> list[OperatorResult]:
        """One result per row of the sheet, in order, then the --exact-operators removals."""
        out = []
        valid = {r.excel_row: r for r in self.input.rows}
        for row in self.input.sheet_rows:
            if row not in self.selected:
                out.append(self.input.earlier.get(row) or OperatorResult(row, Status.NOT_SENT,
                                                                           error="not selected by --only-failed"))
            elif row in self.input.invalid:
                out.append(OperatorResult(row, Status.INVALID, error=self.input.invalid[row]))
            elif row in self.results:
                out.append(self.results[row])
            else:
                user = valid[row].user_id if row in valid else None
                out.append(OperatorResult(row, Status.NOT_SENT, error=not_sent_error, user_id=user))
        extra = sorted((k for k in self.results if isinstance(k, tuple)), key=lambda k: (k[1], k[2]))
        return out + [self.results[k] for k in extra]


def _resolved(request: OperatorRequest, results: Mapping[int, RowResult]) -> OperatorRequest | str:
    """The request with its center's id, once the center is created in this run; or why it is not."""
    create_row = request.center.create_row
    if request.center.id is not None or create_row is None:
        return request
    created = results.get(create_row)
    name = printable(request.center.name or "", limit=60, quote=True)
    if created is None:
        return f"the call center {name} of callcenters row {create_row} was not created in this run: nothing sent"
    if Status.of(created.status) == Status.MAYBE_CREATED:
        return (f"whether the call center {name} of callcenters row {create_row} was made is not known "
                "(maybe_created): nothing sent for its operators; run the same command with --resume, which "
                "looks for it again and sends them once it is found")
    if Status.of(created.status) not in OK_STATUSES or created.id is None:
        why = f"{created.status}: {created.error}" if created.error else str(created.status)
        return (f"the call center {name} of callcenters row {create_row} was not created ({why}): nothing sent "
                "for its operators; fix that row and re-run with --only-failed")
    return request.for_center(created.id)
