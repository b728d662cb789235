"""`bulkcc apply`: validate, plan, send, journal, and write the results workbook.

The steps, each a function of its own module: check that the results folder
takes a file and lock the results path (one run per path), validate the sheet
(invalid rows are never sent), plan the bodies, skip what an earlier run
already did (`--resume`), send through the paced client, journal each finished
row, and write the results workbook, even when the run is stopped, the key
refused or the disk full (`execute`). A run that went through every row marks
its journal finished. INPUT may also be a saved plan (`bulkcc plan --out`): it is then
sent as saved, without reading any workbook (`apply_plan`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from bulkcc.errors import InputError, InvalidRowsError, UsageError
from bulkcc.plan import Plan, make_plan
from bulkcc.plan.lookups import Resolution
from bulkcc.plan.operators import OperatorPlan
from bulkcc.plan.planfile import is_plan_file
from bulkcc.run.deletes import journal_of, prove_created
from bulkcc.run.execute import Run, Source, execute
from bulkcc.run.journal import Opener
from bulkcc.run.live import LiveState, diff_with_live, prior_phase
from bulkcc.run.lock import creating
from bulkcc.run.operator_guard import DONE_NOTE
from bulkcc.run.operator_phase import ConfirmRemovals, OperatorWork
from bulkcc.run.options import ApplyOptions, ApplyOutcome
from bulkcc.run.outputs import check_output_paths, locked_run
from bulkcc.run.progress import QuietProgress
from bulkcc.run.resolve import look_up, simulator_ids
from bulkcc.send.connection import Connection, connect
from bulkcc.send.target import Target
from bulkcc.status import RESEND_STATUSES, Status
from bulkcc.validate import Validation, validate_file
from bulkcc.values import sha256_file
from bulkcc.workbook.created import CREATED_SHEET, CreatedRow, read_created
from bulkcc.workbook.results import RowResult
from bulkcc.workbook.rollback_book import is_rollback_workbook

__all__ = ["ApplyOptions", "ApplyOutcome", "apply", "apply_async", "check_output_paths", "prepare", "selected_rows"]


def selected_rows(validation: Validation, only_failed: bool) -> set[int]:
    """The rows this run is about: all of them, or with --only-failed those a results sheet marks failed."""
    rows = set(validation.sheet.rows)
    if not only_failed:
        return rows
    meta = validation.sheet.meta
    if "status" not in meta:
        raise UsageError("--only-failed needs a results workbook (its Results sheet has a status column)")
    return {row for row, status in zip(meta.index, meta["status"], strict=True) if Status.of(status) in RESEND_STATUSES}


def read_deletes(input_path: Path) -> list[CreatedRow]:
    """A rollback workbook's created sheet (none elsewhere): a row whose cell does not read carries why,
    and is never deleted; a sheet that cannot be read at all refuses the run before it starts."""
    rows, problems = read_created(input_path)
    if problems and not rows:
        shown = "; ".join(f"row {p.row}: {p.column or 'row'}: {p.message}" for p in problems[:5])
        raise InputError(f"{input_path.name}, sheet {CREATED_SHEET}: {shown}; nothing was sent")
    return rows


def prepare(validation: Validation, options: ApplyOptions) -> tuple[Plan, set[int]]:
    """The plan of the selected rows; raises InvalidRowsError unless invalid rows may be skipped
    (of either sheet: an invalid operator row stops the run too)."""
    rows = selected_rows(validation, options.only_failed)
    invalid_operators = set(validation.operators.invalid_rows) if validation.operators is not None else set()
    if options.only_failed and invalid_operators:
        # A row an earlier run finished is not this run's: one that is invalid now (its agent's email names
        # a user suspended since) does not stop the rows it re-sends.
        from bulkcc.run.operator_input import operator_input

        found = operator_input(validation)
        invalid_operators &= found.selected(True) if found is not None else set()
    if (validation.invalid_rows & rows or invalid_operators) and not options.skip_invalid:
        valid_operators = len(validation.operators.valid_rows) if validation.operators is not None else 0
        raise InvalidRowsError(validation, len(validation.invalid_rows) + len(invalid_operators),
                               len(set(rows) - validation.invalid_rows) + valid_operators)
    return make_plan(validation).only(rows), rows


def prepare_operators(validation: Validation, the_plan: Plan, options: ApplyOptions,
                      confirm_removals: ConfirmRemovals | None) -> OperatorWork | None:
    """The operators sheet's part of the run (None without one)."""
    from bulkcc.run.operator_input import operator_work

    return operator_work(validation, the_plan.values, only_failed=options.only_failed, diff=options.diff,
                         exact=options.exact_operators, confirm_removals=confirm_removals,
                         priors=options.writes_rollback)


async def _diff_phase(conn: Connection, the_plan: Plan, options: ApplyOptions, run: Run, progress: QuietProgress,
                      stop: asyncio.Event) -> Plan:
    """--diff: the plan of what differs from live; the rollback is written before anything is sent."""
    live = LiveState()
    progress.start(len(the_plan.requests), conn.target_label, phase="reading")
    try:
        diffed, _ = await diff_with_live(conn.client, the_plan, concurrency=options.connection.pool_size,
                                         stop=stop, progress=progress, state=live)
    finally:
        # Failed reads are recorded even when the reads were stopped (a refused key fails its read).
        run.record_read_failures(live, the_plan.requests, conn.client.redact)
        progress.close()
    run.record_blocked(diffed, the_plan.requests, conn.client.redact)
    run.record_fields(diffed)
    for request in diffed.unchanged:
        run.results[request.row] = RowResult(row=request.row, id=request.id, status=Status.UNCHANGED, changes="")
        if options.resume and run.rollback is not None and \
                run.rollback.made_by_earlier(request.id, the_plan.values.get(request.row, {})):
            # The run this one resumes made it so, but its answer never reached the journal: say what a run
            # that never stopped would have said (its rollback keeps the values before).
            run.results[request.row] = RowResult(row=request.row, id=request.id, status=Status.UPDATED, changes="",
                                                 error=DONE_NOTE)
    return diffed


async def apply_async(input_path: Path, options: ApplyOptions, *, progress: QuietProgress | None = None,
                      confirm: Callable[[Plan, Target], bool] | None = None,
                      stop: asyncio.Event | None = None, journal_opener: Opener | None = None,
                      confirm_removals: Callable[[OperatorPlan], bool] | None = None) -> ApplyOutcome:
    """The whole of `bulkcc apply`, as a library call. INPUT may be a workbook or a saved plan.
    `confirm_removals` is asked before --exact-operators removes operators (once they are known).

    Before the input is even read: the results folder (and the rollback's) must take a
    file, and the run takes the results path's lock for its whole length, so a second
    run on the same --results is refused at once (see `lock`). `journal_opener` opens the
    journal file (tests inject a full disk there).
    """
    input_path = Path(input_path)
    check_output_paths(input_path, options)
    if is_plan_file(input_path):
        from bulkcc.plan.planfile import read_plan_file
        from bulkcc.run.apply_plan import apply_plan_async

        return await apply_plan_async(read_plan_file(input_path), options, progress=progress, confirm=confirm,
                                      stop=stop, journal_opener=journal_opener)
    if is_rollback_workbook(input_path):
        from bulkcc.run.undo import apply_rollback_async

        return await apply_rollback_async(input_path, options, progress=progress, confirm=confirm, stop=stop,
                                          journal_opener=journal_opener)
    if options.input_check is not None or options.plan_sha256 is not None:
        flag = "--input" if options.input_check is not None else "--plan-sha256"
        raise UsageError(f"{flag} checks a plan file; {input_path.name} is not one "
                         "(plan files are written by `bulkcc plan INPUT --out PLAN.json`)")
    with locked_run(options, input_path.name):
        validation = validate_file(input_path, diff=options.diff)
        progress, stop = progress or QuietProgress(), stop or asyncio.Event()
        run = _Workbook(input_path, options, progress, stop, confirm, confirm_removals, journal_opener)
        if not validation.needs_lookups:
            return await run.apply(validation)
        # Names first, on the connection the run then goes on with: one pacer, one budget.
        async with connect(options.connection, simulator_ids=simulator_ids(validation)) as conn:
            resolution = await look_up(conn.client, validation, concurrency=options.connection.pool_size, stop=stop,
                                       progress=progress, label=conn.target_label)
            return await run.apply(resolution.validation, conn, resolution)


@dataclass
class _Workbook:
    """A workbook's run once validated (and its names looked up): plan, confirm, execute."""

    input_path: Path
    options: ApplyOptions
    progress: QuietProgress
    stop: asyncio.Event
    confirm: Callable[[Plan, Target], bool] | None
    confirm_removals: Callable[[OperatorPlan], bool] | None
    journal_opener: Opener | None

    async def apply(self, validation: Validation, conn: Connection | None = None,
                    resolution: Resolution | None = None) -> ApplyOutcome:
        input_path, options = self.input_path, self.options
        the_plan, rows = prepare(validation, options)
        # A created sheet outside a rollback workbook (one from before rollbacks had their own sheet): its
        # rows are deleted only as the journal beside it proves.
        deletes = prove_created(read_deletes(input_path), journal_of(input_path, None), None)
        the_plan = replace(the_plan, deletes=tuple(deletes), lookups=resolution)
        operators = prepare_operators(validation, the_plan, options, self.confirm_removals)
        with creating(options, the_plan, input_path.name):
            if self.confirm is not None and not self.confirm(the_plan, options.target):
                raise UsageError("not confirmed: nothing was sent")
            source = Source(name=input_path.name, sha256=sha256_file(input_path))
            first_phase = None
            if options.diff:
                async def first_phase(conn: Connection, plan: Plan, run: Run, progress: QuietProgress,
                                      stop: asyncio.Event) -> Plan:
                    return await _diff_phase(conn, plan, options, run, progress, stop)
            elif options.writes_rollback:
                first_phase = partial(prior_phase, concurrency=options.connection.pool_size)
            return await execute(the_plan, rows, options, source, progress=self.progress, stop=self.stop,
                                 first_phase=first_phase, journal_opener=self.journal_opener, operators=operators,
                                 conn=conn)


def apply(input_path: Path, options: ApplyOptions, **kwargs) -> ApplyOutcome:
    """Synchronous wrapper of `apply_async`."""
    return asyncio.run(apply_async(input_path, options, **kwargs))
