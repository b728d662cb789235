"""The engine of `apply`: journal, connect, check live state, send, write the results.

Both ways of applying end here with a `Plan`: a workbook (`bulkcc.run.apply`,
which validates and plans it, and with --diff reads live state first) and a
saved plan (`bulkcc.run.apply_plan`, whose first phase is the stale guard).
What a run guarantees is kept in one place: one run per results path (`lock`,
taken by `locked_run` before the input is read), an earlier run's finished rows
are not sent again (`--resume`), every finished row is journaled (group commit,
`commit`) and counts as done only once on disk, the rollback of a --diff run is
written before anything is sent and, once the sending ends, narrowed to the
rows that were sent, and the results workbook is written even when the run is
stopped, the key refused or the disk full. A plan's creates are sent before its
updates, by their own phase (`creates`: never twice); the call centers they made
are on the rollback workbook's created sheet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from bulkcc import __version__
from bulkcc.errors import RunStopped
from bulkcc.plan import Plan, PlannedRequest
from bulkcc.plan.compare import mismatched_fields
from bulkcc.plan.undo import AgentUndo
from bulkcc.run.answers import fields_problem, other_callcenter
from bulkcc.run.creates import CreatePhase, created_entries, maybe_created_note, run_creates
from bulkcc.run.deletes import all_deletes, deleted_sheet, run_deletes
from bulkcc.run.journal import Journal, Opener, body_hash, journal_path
from bulkcc.run.live import LiveState
from bulkcc.run.options import ApplyOptions, ApplyOutcome, exit_code
from bulkcc.run.progress import QuietProgress
from bulkcc.run.rollback import Rollback, check_earlier_rollback
from bulkcc.run.signals import install_stop_signals
from bulkcc.send.client import ApiResult
from bulkcc.send.connection import Connection, connected
from bulkcc.send.pool import patch_call, run_pool
from bulkcc.status import Status
from bulkcc.validate import Validation
from bulkcc.values import is_missing
from bulkcc.workbook.operator_results import OperatorResult
from bulkcc.workbook.results import ExtraSheet, RowResult, RunSummary, count_statuses, write_results


@dataclass(frozen=True)
class Source:
    """Where a run's requests come from, as the journal and the Summary sheet record it."""

    name: str  # the input workbook's name
    sha256: str  # its SHA-256
    plan: str | None = None  # a saved plan: "plan.json, SHA-256 …, made …"
    plan_sha256: str | None = None


@dataclass
class Run:
    """What one run collects while it goes."""

    results: dict[int, RowResult] = field(default_factory=dict)  # sent rows only once journaled
    answered: dict[int, RowResult] = field(default_factory=dict)  # every row the API answered
    deleted: dict[int, RowResult] = field(default_factory=dict)  # a rollback's deletes, by created-sheet row
    stopped_by: str | None = None
    refused: str | None = None  # why nothing was sent though the run went through (a create's name is live)
    rollback: Rollback | None = None
    start_times: list[float] = field(default_factory=list)  # clock() of every attempt's start

    def achieved_rate_per_min(self) -> float | None:
        """Starts per minute over the sending window: (n - 1) intervals between n starts."""
        times = sorted(self.start_times)
        if len(times) < 2 or times[-1] <= times[0]:
            return None
        return (len(times) - 1) / (times[-1] - times[0]) * 60

    def mark_unjournaled(self, note: str) -> None:
        """Rows the API answered but the journal could not record keep what the API said, and say so:
        --resume sends them again (their lines are not on disk), and the results must not hide it."""
        for row, result in self.answered.items():
            if row not in self.results:
                self.results[row] = replace(result, error=f"{result.error}; {note}" if result.error else note)

    def record_read_failures(self, state: LiveState, requests: list[PlannedRequest],
                             redact: Callable[[str], str]) -> None:
        """A call center whose live state could not be read is not sent: failed (or not sent, if never tried)."""
        by_row = {r.row: r for r in requests}
        for row, api in state.failures.items():
            self.results[row] = redacted(RowResult(
                row=row, id=by_row[row].id, status=Status.FAILED if api.attempts else Status.NOT_SENT,
                http_status=api.http_status, attempts=api.attempts,
                error=f"reading the live call center: {api.error}", duration_ms=api.duration_ms), redact)
            self.start_times.extend(api.started_at)

    def record_blocked(self, plan: Plan, requests: list[PlannedRequest], redact: Callable[[str], str]) -> None:
        """Rows whose routing would lose live settings: never sent, and failed rather than not_sent
        (the row needs the admin, not a retry)."""
        by_row = {r.row: r for r in requests}
        for row, why in plan.blocked.items():
            self.results[row] = redacted(RowResult(row=row, id=by_row[row].id, status=Status.FAILED, attempts=0,
                                                   error=why, changes=plan.changes_text(row)), redact)

    def record_fields(self, plan: Plan) -> None:
        """The requests about to be sent, with the live values before them, go into the rollback."""
        if self.rollback is not None:
            self.rollback.record_fields(plan.requests, plan.prior)

    def keep_created(self, the_plan: Plan) -> None:
        """The call centers the plan's creates made go on the rollback's created sheet."""
        if self.rollback is not None:
            self.rollback.add_created(created_entries(the_plan.creates, {**self.answered, **self.results}))

    async def save_created(self, the_plan: Plan, journal: Journal) -> None:
        """`keep_created`, and the rollback written at once (if that fails, the journal still holds them and
        the end of the run writes them)."""
        if self.rollback is not None:
            self.keep_created(the_plan)
            await self.rollback.save_now(journal)

    def narrow_rollback(self, journal: Journal) -> None:
        """Once sending ends, the rollback holds only what was sent."""
        if self.rollback is not None:
            self.rollback.narrow(self.sent_rows(), journal)

    def sent_rows(self) -> set[int]:
        return {row for row, result in {**self.answered, **self.results}.items() if result.attempts}


FirstPhase = Callable[[Connection, Plan, Run, QuietProgress, asyncio.Event], Awaitable[Plan]]


class OperatorPart(Protocol):
    """The agents' part of a run, sent after the call centers: an operators sheet's (`OperatorWork`) or a
    rollback's agents sheet (`AgentUndoWork`)."""

    @property
    def center_ids(self) -> list[int]: ...

    async def prepare(self, conn: Connection, run: Any, journal: Journal, *, concurrency: int,
                      progress: QuietProgress, stop: asyncio.Event) -> None: ...

    async def send(self, conn: Connection, run: Any, journal: Journal, *, concurrency: int,
                   progress: QuietProgress, stop: asyncio.Event) -> None: ...

    def agent_undos(self, sent_only: bool) -> list[AgentUndo]: ...

    def mark_unjournaled(self, note: str) -> None: ...

    def all_results(self, not_sent_error: str) -> list[OperatorResult]: ...

    def result_sheets(self, results: list[OperatorResult]) -> list[tuple[str, Callable[[Any], None]]]: ...


def result_of(request: PlannedRequest, api: ApiResult, changes: str | None = None) -> RowResult:
    if api.attempts == 0:
        status = Status.NOT_SENT
    elif not api.ok:
        status = Status.FAILED
    else:
        status = Status.UPDATED
    error = api.error
    if api.ok:
        status, error = _verified(request, api.data)
    return RowResult(row=request.row, id=request.id, status=status, http_status=api.http_status,
                     attempts=api.attempts, error=error, duration_ms=api.duration_ms, changes=changes)


def _verified(request: PlannedRequest, answer: dict[str, Any]) -> tuple[Status, str | None]:
    """A write is updated only if the answer is its call center and shows every field as sent."""
    problem = other_callcenter(answer, request.id) or fields_problem(answer)
    if problem is not None:
        return Status.MISMATCH, f"the API accepted, but {problem}"
    wrong = mismatched_fields(request.body, answer)
    if wrong:
        return Status.MISMATCH, "the API accepted but did not take: " + ", ".join(wrong)
    return Status.UPDATED, None


def redacted(result: RowResult, redact: Callable[[str], str]) -> RowResult:
    """The key out of a row's texts before they are journaled or written: the error quotes the
    answer (an id, a message) and the changes quote live values, either of which a server chose."""
    result.error = redact(result.error) if result.error else result.error
    result.changes = redact(result.changes) if result.changes else result.changes
    return result


async def _send_phase(conn: Connection, the_plan: Plan, options: ApplyOptions, run: Run, journal: Journal,
                      hashes: dict[int, str], progress: QuietProgress, stop: asyncio.Event) -> None:

    def on_result(request: PlannedRequest, api: ApiResult) -> None:
        result = result_of(request, api, the_plan.changes_text(request.row))
        if request.row in the_plan.notes:  # a rollback row that leaves fields changed since the run alone
            status, note = the_plan.notes[request.row]
            if result.status == Status.UPDATED:
                result.status, result.error = Status.of(status) or Status.STALE, note
            else:
                result.error = f"{result.error}; {note}" if result.error else note
        result = redacted(result, conn.client.redact)
        if run.rollback is not None and api.ok and isinstance(api.data, Mapping) and \
                other_callcenter(api.data, request.id) is None and fields_problem(api.data) is None:
            run.rollback.took(request.row, api.data)  # what the run left is what the API shows it stored
        run.start_times.extend(api.started_at)
        progress.advance(result.status, api.started_at)
        if result.status == Status.NOT_SENT:
            run.results[request.row] = result
            return
        run.answered[request.row] = result
        # Queued, not written here: the journal's writer fsyncs batches off the event loop, and
        # the row counts as done (results, --resume) only once its line is on disk.
        journal.record(result, hashes[request.row], on_synced=partial(run.results.__setitem__, request.row, result))

    progress.start(len(the_plan.requests), conn.target_label)
    try:
        # Requests never started have no result here: all_results reports them not_sent.
        await run_pool(conn.client, the_plan.requests, patch_call, on_result,
                       concurrency=options.connection.pool_size, stop=stop)
    finally:
        progress.close()


async def execute(the_plan: Plan, rows: set[int], options: ApplyOptions, source: Source, *,
                  progress: QuietProgress, stop: asyncio.Event, first_phase: FirstPhase | None = None,
                  prefilled: Mapping[int, RowResult] | None = None,
                  journal_opener: Opener | None = None, operators: OperatorPart | None = None,
                  conn: Connection | None = None) -> ApplyOutcome:
    """Send `the_plan` (its rows `rows` are this run's), after `first_phase` (the --diff read or
    the stale guard) has narrowed it; `prefilled` are results known before anything is sent;
    `operators` is the operators sheet's part, sent after the call centers; `conn` the connection names
    were looked up on. Call it under `locked_run`. `journal_opener` opens the journal (tests inject a full disk)."""
    started = datetime.now(UTC)
    header = {"target": options.target.name, "input": source.name, "input_sha256": source.sha256,
              "started": started.isoformat()}
    if source.plan_sha256:
        header["plan_sha256"] = source.plan_sha256
    if options.writes_rollback:
        check_earlier_rollback(options, journal_path(options.results_path))
    journal = Journal.open(journal_path(options.results_path), header, resume=options.resume,
                           restart=options.restart, opener=journal_opener,
                           resend_unknown=options.resend_maybe_created)
    # Ctrl-C and SIGTERM only set `stop` until the results are written: a second Ctrl-C while the run
    # winds down (people press it twice) must not cut the results, the exit code or the advice short.
    remove_signals = install_stop_signals(stop)
    try:
        return await _run_journaled(the_plan, rows, options, source, journal, started, progress=progress,
                                    stop=stop, first_phase=first_phase, prefilled=prefilled, operators=operators,
                                    conn=conn)
    finally:
        remove_signals()
        journal.close()


async def _run_journaled(the_plan: Plan, rows: set[int], options: ApplyOptions, source: Source, journal: Journal,
                         started: datetime, *, progress: QuietProgress, stop: asyncio.Event,
                         first_phase: FirstPhase | None, prefilled: Mapping[int, RowResult] | None,
                         operators: OperatorPart | None = None, conn: Connection | None = None) -> ApplyOutcome:
    validation = the_plan.validation
    # Resume: what an earlier run already did for the same call center and body is not
    # sent again. The hash is of the row's whole body, before any --diff, so that a
    # --diff run resumes like any other.
    hashes = {r.row: body_hash(r.body) for r in the_plan.requests}
    done = journal.done_rows(the_plan.requests, hashes)
    the_plan = the_plan.without(done)

    run = Run(results=dict(prefilled or {}))
    if options.writes_rollback:
        run.rollback = Rollback.for_run(options, journal.run_id, journal.path)
    journal.on_failure(lambda _exc: stop.set())  # a journal that cannot record: start no new request
    target_label = options.target.base_url
    diffed = options.diff or the_plan.diffed
    throttled = requests_sent = 0
    try:
        simulator_ids = [*validation.ids, *(operators.center_ids if operators is not None else ())]
        async with connected(options.connection, simulator_ids, conn) as conn:
            target_label = conn.target_label
            pool = options.connection.pool_size
            try:
                if first_phase is not None:
                    the_plan = await first_phase(conn, the_plan, run, progress, stop)
                if operators is not None:  # planned (and read, with --diff) before anything is sent
                    await operators.prepare(conn, run, journal, concurrency=pool, progress=progress, stop=stop)
                if run.rollback is not None:  # what undoes the run, on disk before its first write
                    run.rollback.agents = operators.agent_undos if operators is not None else None
                    await run.rollback.save_before_sending(journal)
                if the_plan.creates:  # creates first: then the updates (and what follows them)
                    run.refused = await run_creates(
                        CreatePhase(conn.client, journal, run.results, run.answered, run.start_times,
                                    conn.client.redact, progress, stop, lookup_wait_s=options.lookup_wait_s,
                                    resend_maybe=options.resend_maybe_created),
                        the_plan, concurrency=options.connection.pool_size, skip_invalid=options.skip_invalid,
                        target_label=conn.target_label, saved_plan=source.plan is not None)
                    await run.save_created(the_plan, journal)  # on the created sheet before anything else is sent
                if run.refused is None:
                    await _send_phase(conn, the_plan, options, run, journal, hashes, progress, stop)
                if operators is not None and run.refused is None:  # creates, updates, then operator changes
                    await operators.send(conn, run, journal, concurrency=pool, progress=progress, stop=stop)
                if the_plan.deletes and run.refused is None:
                    # A rollback's deletes come last: its operator rows may take agents out of the very
                    # centers it deletes, and a center deleted first answers those with a 404.
                    await run_deletes(conn.client, the_plan.deletes, allow=options.allow_delete, journal=journal,
                                      results=run.deleted, start_times=run.start_times, redact=conn.client.redact,
                                      progress=progress, stop=stop, concurrency=options.connection.pool_size,
                                      target_label=conn.target_label)
            except RunStopped as exc:
                run.stopped_by = str(exc)
            throttled, requests_sent = conn.client.throttled, conn.client.requests_sent
    finally:
        try:
            # Every queued line on disk before the results say anything; a Ctrl-C meanwhile
            # only sets `stop` again, so it cannot cut the last batch short.
            await journal.drain()
        finally:
            run.keep_created(the_plan)
            run.narrow_rollback(journal)  # only what was sent is rolled back
    if journal.failure is not None:
        run.stopped_by = journal.failure_message()
        run.mark_unjournaled(journal.unrecorded_note())
        if operators is not None:
            operators.mark_unjournaled(journal.unrecorded_note())
    elif stop.is_set() and run.stopped_by is None:
        run.stopped_by = "stopped by a signal (Ctrl-C or SIGTERM); requests in flight were let finish"

    not_sent_error = f"not sent: {run.stopped_by or run.refused or 'the run stopped first'}"
    results = all_results(validation, rows, the_plan, done, run.results, not_sent_error=not_sent_error)
    deletes = all_deletes(the_plan.deletes, run.deleted, not_sent_error)
    operator_results = operators.all_results(not_sent_error) if operators is not None else []
    summary = RunSummary(
        started=started, ended=datetime.now(UTC), target_url=target_label, input_name=source.name,
        input_sha256=source.sha256, version=__version__,
        achieved_rate_per_min=run.achieved_rate_per_min(),
        allowed_rate_per_min=options.connection.rate_per_min, requests_sent=requests_sent,
        throttled=throttled, simulator=options.target.simulator,
        note="; ".join(n for n in (run.stopped_by or run.refused, maybe_created_note(results)) if n) or None,
        plan=source.plan, operator_counts=count_statuses(operator_results) if operator_results else None)
    extra_sheets = [deleted_sheet(the_plan.deletes, deletes)] if the_plan.deletes else []
    written = _write_results(options, results, validation, summary, run, diffed, extra_sheets,
                             operators.result_sheets(operator_results) if operators is not None else ())
    code = exit_code({Status.of(r.status) for r in [*results, *deletes]} | {Status.of(r.status) for r in
                                                                           operator_results}, bool(run.stopped_by))
    if written and not run.stopped_by:
        # Only now is the run over: a plain rerun on these --results says so instead of asking for --resume.
        operator_counts = {f"operators {status}": n for status, n in (summary.operator_counts or {}).items()}
        journal.finish(summary.ended, {**count_statuses(results), **operator_counts}, code, options.results_path.name)
    extra = [run.rollback.path] if run.rollback is not None and run.rollback.written else []
    return ApplyOutcome(code, results, summary, validation, run.stopped_by or run.refused, extra,
                        results_written=written, deletes=deletes, operator_results=operator_results)


def _write_results(options: ApplyOptions, results: list[RowResult], validation: Validation, summary: RunSummary,
                   run: Run, diffed: bool, extra_sheets: Sequence[ExtraSheet],
                   more_sheets: Sequence[tuple[str, Any]] = ()) -> bool:
    """Write the results workbook; on a full disk say so (the journal keeps what was done) instead of a traceback."""
    try:
        write_results(options.results_path, results, validation.sheet.raw, summary, include_changes=diffed,
                      extra_sheets=extra_sheets, more_sheets=more_sheets)
    except OSError as exc:
        note = (f"the results workbook {options.results_path} could not be written ({exc.strerror or exc}); "
                "the journal keeps what was done: run the same command with --resume once there is space")
        run.stopped_by = f"{run.stopped_by}; {note}" if run.stopped_by else note
        return False
    return True


def carried_over(validation: Validation, row: int) -> RowResult:
    """A row --only-failed leaves alone keeps what the earlier results said of it."""
    cells = {str(name): value for name, value in validation.sheet.meta.loc[row].items()}
    result = RowResult.from_cells(row, cells)
    result.id = row_id(validation, row)
    return result


def row_id(validation: Validation, row: int) -> int | None:
    value: Any = validation.typed["id"].get(row) if "id" in validation.typed else None
    return None if is_missing(value) else int(value)


def all_results(validation: Validation, rows: set[int], the_plan: Plan, done: dict[int, RowResult],
                sent: dict[int, RowResult], not_sent_error: str) -> list[RowResult]:
    """One result per input row, in sheet order; a planned row with no result was never sent."""
    problems = validation.problems_by_row()
    skipped = {r.row: r for r in the_plan.skipped}
    file_problems = "; ".join(p.message for p in validation.file_problems)
    out = []
    for row in validation.sheet.rows:
        if row not in rows:
            out.append(carried_over(validation, row))
        elif row in validation.invalid_rows:
            messages = "; ".join(f"{p.column or 'row'}: {p.message}" for p in problems.get(row, []))
            out.append(RowResult(row=row, id=row_id(validation, row), status=Status.INVALID,
                                 error=messages or file_problems))
        elif row in skipped:
            out.append(RowResult(row=row, id=skipped[row].id, status=Status.SKIPPED, error="nothing to change"))
        elif row in sent:
            out.append(sent[row])
        elif row in done:
            out.append(done[row])
        else:
            out.append(RowResult(row=row, id=row_id(validation, row), status=Status.NOT_SENT, error=not_sent_error))
    return out
