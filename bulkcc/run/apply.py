"""`bulkcc apply`: validate, plan, send, journal, and write the results workbook.

The steps, each a function of its own module: check that the results folder
takes a file and lock the results path (one run per path), validate the sheet
(invalid rows are never sent), plan the bodies, skip what an earlier run
already did (`--resume`), send through the paced client, journal each finished
row, and write the results workbook, even when the run is stopped, the key
refused or the disk full. A run that went through every row marks its journal
finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bulkcc import __version__
from bulkcc.errors import EXIT_ABORTED, EXIT_INVALID, EXIT_OK, InvalidRowsError, RunStopped, UsageError
from bulkcc.plan import Plan, PlannedRequest, make_plan
from bulkcc.plan.compare import mismatched_fields
from bulkcc.plan.diff import merge_rollback, plan_rollback, read_rollback
from bulkcc.run.answers import fields_problem, other_callcenter
from bulkcc.run.journal import Journal, Opener, body_hash, journal_path
from bulkcc.run.live import LiveState, diff_with_live
from bulkcc.run.lock import RunLock
from bulkcc.run.progress import QuietProgress
from bulkcc.send.client import ApiResult
from bulkcc.send.connection import Connection, ConnectionOptions, connect
from bulkcc.send.pool import patch_call, run_pool
from bulkcc.send.target import Target
from bulkcc.status import OK_STATUSES, RESEND_STATUSES, Status
from bulkcc.validate import Validation, validate_file
from bulkcc.values import is_missing, sha256_file
from bulkcc.workbook.results import RowResult, RunSummary, count_statuses, write_results
from bulkcc.workbook.xlsx import check_writable, remove_stale_temp_files


@dataclass
class ApplyOptions:
    results_path: Path
    connection: ConnectionOptions
    skip_invalid: bool = False
    only_failed: bool = False
    resume: bool = False
    restart: bool = False
    diff: bool = False
    rollback_path: Path | None = None  # with diff: default <results name>-rollback.xlsx

    @property
    def target(self) -> Target:
        return self.connection.target

    def rollback_file(self) -> Path:
        return self.rollback_path or self.results_path.with_name(f"{self.results_path.stem}-rollback.xlsx")


@dataclass
class ApplyOutcome:
    exit_code: int
    results: list[RowResult]
    summary: RunSummary
    validation: Validation
    message: str | None = None  # why the run stopped early, if it did
    extra_files: list[Path] = field(default_factory=list)
    results_written: bool = True  # False when the results workbook could not be saved (a full disk)


def selected_rows(validation: Validation, only_failed: bool) -> set[int]:
    """The rows this run is about: all of them, or with --only-failed those a results sheet marks failed."""
    rows = set(validation.sheet.rows)
    if not only_failed:
        return rows
    meta = validation.sheet.meta
    if "status" not in meta:
        raise UsageError("--only-failed needs a results workbook (its Results sheet has a status column)")
    return {row for row, status in zip(meta.index, meta["status"], strict=True) if Status.of(status) in RESEND_STATUSES}


def carried_over(validation: Validation, row: int) -> RowResult:
    """A row --only-failed leaves alone keeps what the earlier results said of it."""
    cells = {str(name): value for name, value in validation.sheet.meta.loc[row].items()}
    result = RowResult.from_cells(row, cells)
    result.id = _row_id(validation, row)
    return result


def _row_id(validation: Validation, row: int) -> int | None:
    value: Any = validation.typed["id"].get(row) if "id" in validation.typed else None
    return None if is_missing(value) else int(value)


def prepare(validation: Validation, options: ApplyOptions) -> tuple[Plan, set[int]]:
    """The plan of the selected rows; raises InvalidRowsError unless invalid rows may be skipped."""
    rows = selected_rows(validation, options.only_failed)
    if validation.invalid_rows & rows and not options.skip_invalid:
        raise InvalidRowsError(validation, len(validation.invalid_rows))
    return make_plan(validation).only(rows), rows


def _result_of(request: PlannedRequest, api: ApiResult, changes: str | None = None) -> RowResult:
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


def _redacted(result: RowResult, redact: Callable[[str], str]) -> RowResult:
    """The key out of a row's texts before they are journaled or written: the error quotes the
    answer (an id, a message) and the changes quote live values, either of which a server chose."""
    result.error = redact(result.error) if result.error else result.error
    result.changes = redact(result.changes) if result.changes else result.changes
    return result


@dataclass
class _Run:
    """What one run collects while it goes."""

    results: dict[int, RowResult] = field(default_factory=dict)  # sent rows only once journaled
    answered: dict[int, RowResult] = field(default_factory=dict)  # every row the API answered
    stopped_by: str | None = None
    extra_files: list[Path] = field(default_factory=list)
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


async def _diff_phase(conn: Connection, the_plan: Plan, options: ApplyOptions, run: _Run,
                      progress: QuietProgress, stop: asyncio.Event) -> Plan:
    """--diff: the plan of what differs from live; the rollback is written before anything is sent."""
    from bulkcc.workbook.template import build_workbook
    from bulkcc.workbook.xlsx import save_atomic

    by_row = {r.row: r for r in the_plan.requests}
    live = LiveState()
    progress.start(len(the_plan.requests), conn.target_label, phase="reading")
    try:
        diffed, _ = await diff_with_live(conn.client, the_plan, concurrency=options.connection.pool_size,
                                         stop=stop, progress=progress, state=live)
    finally:
        # Failed reads are recorded even when the reads were stopped (a refused key fails its read).
        for row, api in live.failures.items():
            run.results[row] = _redacted(RowResult(
                row=row, id=by_row[row].id, status=Status.FAILED if api.attempts else Status.NOT_SENT,
                http_status=api.http_status, attempts=api.attempts,
                error=f"reading the live call center: {api.error}", duration_ms=api.duration_ms), conn.client.redact)
            run.start_times.extend(api.started_at)
        progress.close()
    for row, why in diffed.blocked.items():
        # Never sent, and failed rather than not_sent: the row needs the admin, not a retry.
        run.results[row] = _redacted(RowResult(row=row, id=by_row[row].id, status=Status.FAILED, attempts=0,
                                               error=why, changes=diffed.changes_text(row)), conn.client.redact)
    rollback = plan_rollback(diffed)
    if options.resume and options.rollback_file().exists():
        # The first run's prior values are the ones to restore: rows it already changed
        # are not read again (or read as unchanged), so its rollback rows are kept.
        rollback = merge_rollback(read_rollback(options.rollback_file()), rollback)
    if rollback:
        try:
            run.extra_files.append(save_atomic(build_workbook(rows=rollback), options.rollback_file()))
        except OSError as exc:
            raise RunStopped(f"the rollback workbook {options.rollback_file()} could not be written "
                             f"({exc.strerror or exc}), so nothing was changed; free some space or pick another "
                             "--rollback path, then run again") from None
    for request in diffed.unchanged:
        run.results[request.row] = RowResult(row=request.row, id=request.id, status=Status.UNCHANGED, changes="")
    return diffed


async def _send_phase(conn: Connection, the_plan: Plan, options: ApplyOptions, run: _Run, journal: Journal,
                      hashes: dict[int, str], progress: QuietProgress, stop: asyncio.Event) -> None:

    def on_result(request: PlannedRequest, api: ApiResult) -> None:
        result = _redacted(_result_of(request, api, the_plan.changes_text(request.row)), conn.client.redact)
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
        # Requests never started have no result here: _all_results reports them not_sent.
        await run_pool(conn.client, the_plan.requests, patch_call, on_result,
                       concurrency=options.connection.pool_size, stop=stop)
    finally:
        progress.close()


def _install_stop_signals(stop: asyncio.Event) -> Callable[[], None]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)

    def remove() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return remove


async def apply_async(input_path: Path, options: ApplyOptions, *, progress: QuietProgress | None = None,
                      confirm: Callable[[Plan, Target], bool] | None = None,
                      stop: asyncio.Event | None = None, journal_opener: Opener | None = None) -> ApplyOutcome:
    """The whole of `bulkcc apply`, as a library call.

    Before the input is even read: the results folder (and the rollback's) must take a
    file, and the run takes the results path's lock for its whole length, so a second
    run on the same --results is refused at once (see `lock`). Temporary files a killed
    save left beside them are removed then, under the lock. `journal_opener` opens the
    journal file (tests inject a full disk there).
    """
    progress = progress or QuietProgress()
    stop = stop or asyncio.Event()
    written = [options.results_path] + ([options.rollback_file()] if options.diff else [])
    if any(path.resolve() == Path(input_path).resolve() for path in written):
        raise UsageError(f"--results (or --rollback) is the input file {input_path}: the input is never "
                         "overwritten; pick another path")
    if len({path.resolve() for path in written}) < len(written):
        raise UsageError("--rollback and --results name the same file; pick two paths")
    check_writable(options.results_path, "--results")
    if options.diff:
        check_writable(options.rollback_file(), "--rollback")
    with RunLock(options.results_path, input_name=Path(input_path).name):
        for path in {options.results_path, options.rollback_file()}:
            remove_stale_temp_files(path)
        return await _apply_locked(input_path, options, progress, confirm, stop, journal_opener)


async def _apply_locked(input_path: Path, options: ApplyOptions, progress: QuietProgress,
                        confirm: Callable[[Plan, Target], bool] | None, stop: asyncio.Event,
                        journal_opener: Opener | None) -> ApplyOutcome:
    validation = validate_file(input_path, diff=options.diff)
    the_plan, rows = prepare(validation, options)
    if confirm is not None and not confirm(the_plan, options.target):
        raise UsageError("not confirmed: nothing was sent")

    started = datetime.now(UTC)
    input_sha = sha256_file(input_path)
    journal = Journal.open(journal_path(options.results_path),
                           {"target": "simulator" if options.target.simulator else options.target.base_url,
                            "input": input_path.name, "input_sha256": input_sha, "started": started.isoformat()},
                           resume=options.resume, restart=options.restart, opener=journal_opener)
    try:
        return await _run_journaled(input_path, options, progress, stop, validation, the_plan, rows, journal,
                                    started, input_sha)
    finally:
        journal.close()


async def _run_journaled(input_path: Path, options: ApplyOptions, progress: QuietProgress, stop: asyncio.Event,
                         validation: Validation, the_plan: Plan, rows: set[int], journal: Journal,
                         started: datetime, input_sha: str) -> ApplyOutcome:
    # Resume: what an earlier run already did for the same call center and body is not
    # sent again. The hash is of the row's whole body, before any --diff, so that a
    # --diff run resumes like any other.
    hashes = {r.row: body_hash(r.body) for r in the_plan.requests}
    done = journal.done_rows(the_plan.requests, hashes)
    the_plan = the_plan.without(done)

    run = _Run()
    journal.on_failure(lambda _exc: stop.set())  # a journal that cannot record: start no new request
    remove_signals = _install_stop_signals(stop)
    target_label = options.target.base_url
    throttled = 0
    try:
        async with connect(options.connection, simulator_ids=validation.ids) as conn:
            target_label = conn.target_label
            try:
                if options.diff:
                    the_plan = await _diff_phase(conn, the_plan, options, run, progress, stop)
                await _send_phase(conn, the_plan, options, run, journal, hashes, progress, stop)
            except RunStopped as exc:
                run.stopped_by = str(exc)
            throttled, requests_sent = conn.client.throttled, conn.client.requests_sent
    finally:
        try:
            # Every queued line on disk before the results say anything; a Ctrl-C meanwhile
            # only sets `stop` again, so it cannot cut the last batch short.
            await journal.drain()
        finally:
            remove_signals()
    if journal.failure is not None:
        run.stopped_by = journal.failure_message()
        run.mark_unjournaled(journal.unrecorded_note())
    elif stop.is_set() and run.stopped_by is None:
        run.stopped_by = "stopped by a signal (Ctrl-C or SIGTERM); requests in flight were let finish"

    results = _all_results(validation, rows, the_plan, done, run.results,
                           not_sent_error=f"not sent: {run.stopped_by or 'the run stopped first'}")
    summary = RunSummary(
        started=started, ended=datetime.now(UTC), target_url=target_label, input_name=input_path.name,
        input_sha256=input_sha, version=__version__,
        achieved_rate_per_min=run.achieved_rate_per_min(),
        allowed_rate_per_min=options.connection.rate_per_min, requests_sent=requests_sent,
        throttled=throttled, simulator=options.target.simulator, note=run.stopped_by)
    written = _write_results(options, results, validation, summary, run)
    statuses = {Status.of(r.status) for r in results}
    if run.stopped_by:
        code = EXIT_ABORTED
    elif statuses <= OK_STATUSES:
        code = EXIT_OK
    else:
        code = EXIT_INVALID
    if written and not run.stopped_by:
        # Only now is the run over: a plain rerun on these --results says so instead of asking for --resume.
        journal.finish(summary.ended, count_statuses(results), code, options.results_path.name)
    return ApplyOutcome(code, results, summary, validation, run.stopped_by, run.extra_files, results_written=written)


def _write_results(options: ApplyOptions, results: list[RowResult], validation: Validation, summary: RunSummary,
                   run: _Run) -> bool:
    """Write the results workbook; on a full disk say so (the journal keeps what was done) instead of a traceback."""
    try:
        write_results(options.results_path, results, validation.sheet.raw, summary, include_changes=options.diff)
    except OSError as exc:
        note = (f"the results workbook {options.results_path} could not be written ({exc.strerror or exc}); "
                "the journal keeps what was done: run the same command with --resume once there is space")
        run.stopped_by = f"{run.stopped_by}; {note}" if run.stopped_by else note
        return False
    return True


def _all_results(validation: Validation, rows: set[int], the_plan: Plan, done: dict[int, RowResult],
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
            out.append(RowResult(row=row, id=_row_id(validation, row), status=Status.INVALID,
                                 error=messages or file_problems))
        elif row in skipped:
            out.append(RowResult(row=row, id=skipped[row].id, status=Status.SKIPPED, error="nothing to change"))
        elif row in sent:
            out.append(sent[row])
        elif row in done:
            out.append(done[row])
        else:
            out.append(RowResult(row=row, id=_row_id(validation, row), status=Status.NOT_SENT, error=not_sent_error))
    return out


def apply(input_path: Path, options: ApplyOptions, **kwargs) -> ApplyOutcome:
    """Synchronous wrapper of `apply_async`."""
    return asyncio.run(apply_async(input_path, options, **kwargs))
