"""`bulkcc apply ROLLBACK.xlsx`: a rollback workbook applied exactly, whatever flags apply it.

A workbook with a `rollback` sheet is a rollback (`bulkcc.workbook.rollback_book`): the run it
undoes wrote it before its first write. Applying it needs no --diff (it always reads live state
first, as a saved --diff plan does) and --allow-delete only for its deletes. In order:

- its `callcenters` rows: each call center is read (the paged reads of --diff), and field by field
  (routing as one) what is still as the run left it is put back, what is as before is left
  (`unchanged`), what someone changed since is left as they set it (`stale`: the row is stale, and
  says which fields and what it put back); a row whose cells do not read is `invalid`, the rest go;
- its `agents` rows (`bulkcc.run.agent_undo`), after the fields;
- its `created` rows, last, and only with --allow-delete: only a call center the run's own journal
  shows that run created (its id, name and office; an edited sheet proves nothing), and only if,
  read just before, it still is that call center (`bulkcc.run.deletes`).

It writes no rollback of its own; applied twice, the second run finds everything as before the run
(`unchanged`) and changes nothing. A rollback made for one target is refused for another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bulkcc.errors import UsageError
from bulkcc.plan import Plan, PlannedRequest, make_plan
from bulkcc.plan.diff import same_value
from bulkcc.plan.payload import NOT_PATCHED, field_order, values_from_callcenter
from bulkcc.plan.plans import Change
from bulkcc.plan.undo import AgentUndo, FieldVerdict, undo_fields
from bulkcc.plan.undo_file import RollbackBook, read_rollback_book
from bulkcc.run.agent_undo import AgentUndoWork
from bulkcc.run.deletes import created_proven, journal_of, run_journal
from bulkcc.run.execute import Run, Source, execute
from bulkcc.run.journal import JournalState, Opener
from bulkcc.run.live import FEW_ROWS, LiveState, read_again, read_each
from bulkcc.run.options import ApplyOptions, ApplyOutcome
from bulkcc.run.outputs import locked_run
from bulkcc.run.progress import QuietProgress
from bulkcc.send.connection import Connection
from bulkcc.send.target import Target
from bulkcc.status import Status
from bulkcc.validate import validate_file
from bulkcc.values import sha256_file
from bulkcc.workbook.results import RowResult
from bulkcc.workbook.rollback_book import ROLLBACK_SHEET

NOT_WITH_A_ROLLBACK = {
    "--exact-operators": "a rollback puts back exactly the agents its run changed; drop --exact-operators",
    "--only-failed": "a rollback is applied whole (what is already put back is found unchanged): drop --only-failed",
}


def check_rollback(book: RollbackBook, options: ApplyOptions) -> None:
    """Refuse what must not apply this rollback (before anything is read or sent)."""
    for flag, on in (("--exact-operators", options.exact_operators), ("--only-failed", options.only_failed)):
        if on:
            raise UsageError(f"{flag} with a rollback workbook: {NOT_WITH_A_ROLLBACK[flag]}")
    made_for = book.about.get("target", "").strip()
    if not made_for:
        raise UsageError(f"{book.path.name}: its {ROLLBACK_SHEET} sheet names no target (its target row is blank "
                         "or gone: edited?), so nothing shows which API its values were read from; put the row "
                         f"back as bulkcc wrote it (target | {options.target.name}, if that is where the run went)")
    if made_for != options.target.name:
        target = Target(made_for, simulator=made_for == "simulator")
        raise UsageError(f"{book.path.name} undoes a run against {made_for}, not {options.target.name}: apply it "
                         f"with {target.flag()}")


async def _guard_phase(conn: Connection, plan: Plan, book: RollbackBook, options: ApplyOptions, run: Run,
                       progress: QuietProgress, stop: asyncio.Event) -> Plan:
    """Read each call center; keep, per row, only the fields still as the run left them."""
    state = await read_again(conn, plan.requests, concurrency=options.connection.pool_size, stop=stop,
                             progress=progress,
                             settle=lambda read: run.record_read_failures(read, plan.requests, conn.client.redact))
    verdicts = {r.row: _verdict(plan, book, r, state) for r in plan.requests if r.row in state.callcenters}
    # A listing may show a change a few seconds late: a row it shows as already put back, or as changed
    # since, is read again by its own GET before it is left alone.
    again = [r for r in plan.requests if len(plan.requests) > FEW_ROWS and r.row in verdicts
             and (verdicts[r.row].already or verdicts[r.row].stale or verdicts[r.row].cannot)]
    if again and not stop.is_set():
        for request in again:  # decided by the GET alone: one that fails leaves the row unread
            del state.callcenters[request.row], verdicts[request.row]
        progress.start(len(again), conn.target_label, phase="reading")
        try:
            await read_each(conn.client, again, state, progress, options.connection.pool_size, stop)
        finally:
            progress.close()
        verdicts.update({r.row: _verdict(plan, book, r, state) for r in again if r.row in state.callcenters})
        run.record_read_failures(state, plan.requests, conn.client.redact)
    to_send: list[PlannedRequest] = []
    notes: dict[int, tuple[str, str]] = {}
    changes: dict[int, list[Change]] = {}
    for request in plan.requests:
        live = state.callcenters.get(request.row)
        if live is None or request.row not in verdicts:
            continue  # not readable (recorded), or never read: the run stopped first
        verdict = verdicts[request.row]
        now = values_from_callcenter(live)
        changes[request.row] = [Change(p, now.get(p), verdict.put_back[p]) for p in
                                sorted(verdict.put_back, key=field_order) if not same_value(now.get(p),
                                                                                             verdict.put_back[p])]
        note = verdict.note()
        status = Status.STALE if verdict.stale else Status.FAILED
        if verdict.put_back:
            to_send.append(PlannedRequest(request.row, request.id, verdict.body))
            if note is not None:
                notes[request.row] = (str(status), note)
        else:
            run.results[request.row] = RowResult(row=request.row, id=request.id, changes="",
                                                 status=status if note else Status.UNCHANGED,
                                                 error=conn.client.redact(note) if note else None)
    return replace(plan, requests=to_send, notes=notes, changes=changes, diffed=True)


def _verdict(plan: Plan, book: RollbackBook, request: PlannedRequest, state: LiveState) -> FieldVerdict:
    restore = {p: v for p, v in plan.values[request.row].items() if p not in NOT_PATCHED}
    return undo_fields(restore, book.left.get(request.id), state.callcenters[request.row])


def _agents_frame(path: Path) -> Any:
    import pandas as pd

    from bulkcc.workbook.rollback_book import read_agent_cells

    rows = dict(read_agent_cells(path))
    return pd.DataFrame.from_dict(rows, orient="index") if rows else None


async def apply_rollback_async(input_path: Path, options: ApplyOptions, *, progress: QuietProgress | None = None,
                               confirm: Callable[[Plan, Target], bool] | None = None,
                               stop: asyncio.Event | None = None,
                               journal_opener: Opener | None = None) -> ApplyOutcome:
    """Apply the rollback workbook `input_path` (see the module's docstring)."""
    from bulkcc.run.apply import read_deletes

    book = read_rollback_book(input_path)
    check_rollback(book, options)
    options = replace(options, undoing=True, skip_invalid=True)
    with locked_run(options, input_path.name):
        validation = validate_file(input_path, diff=True)
        if validation.operators is not None:
            raise UsageError(f"{input_path.name} is a rollback workbook, whose agents are on its agents sheet: its "
                             "operators sheet is not applied. Remove that sheet, or apply it as a workbook of its own")
        the_plan = make_plan(validation)
        if the_plan.creates:
            rows = ", ".join(str(c.row) for c in the_plan.creates[:5])
            raise UsageError(f"{input_path.name} is a rollback workbook, which creates nothing: callcenters row(s) "
                             f"{rows} have no id. Give them their id, or remove them")
        # A row with no value to put back (every field it records was unset before the run) still goes
        # through the guard, which says why it cannot be put back: not `skipped` as if nothing were to do.
        recorded = [r for r in the_plan.skipped if r.id in book.left]
        if recorded:
            the_plan = replace(the_plan, requests=sorted([*the_plan.requests, *recorded], key=lambda r: r.row),
                               skipped=[r for r in the_plan.skipped if r.id not in book.left])
        journal = journal_of(input_path, book.about)
        state, why = run_journal(journal, book.run_id)
        deletes = created_proven(read_deletes(input_path), journal.name, state, why)
        the_plan, refused, book_agents = _proven(the_plan, book, state, why or f"its run's journal, {journal.name}, "
                                                 "does not hold this record: the workbook was edited by hand")
        the_plan = replace(the_plan, deletes=tuple(deletes), agents=book_agents)
        if confirm is not None and not confirm(the_plan, options.target):
            raise UsageError("not confirmed: nothing was sent")
        agents = AgentUndoWork(book_agents, _agents_frame(input_path)) if book_agents else None

        async def guard(conn: Connection, plan: Plan, run: Run, progress: QuietProgress, stop: asyncio.Event) -> Plan:
            return await _guard_phase(conn, plan, book, options, run, progress, stop)

        source = Source(name=input_path.name, sha256=sha256_file(input_path))
        return await execute(the_plan, set(validation.sheet.rows), options, source,
                             progress=progress or QuietProgress(), stop=stop or asyncio.Event(), first_phase=guard,
                             prefilled=refused, journal_opener=journal_opener, operators=agents)


def _proven(the_plan: Plan, book: RollbackBook, state: JournalState | None, why: str
            ) -> tuple[Plan, dict[int, RowResult], tuple[AgentUndo, ...]]:
    """The plan less the rows its run's journal does not prove (`bulkcc.plan.undo_proof`: a row edited, added or
    copied by hand), which are never sent (`blocked`, for the confirmation; not_sent, saying why); the agents,
    each not proven carrying why."""
    records = state.undo if state is not None else None
    keep, refused, blocked = [], {}, {}
    for request in the_plan.requests:
        restore = {p: v for p, v in the_plan.values[request.row].items() if p not in NOT_PATCHED}
        if records is not None and records.proves_fields(request.id, restore, book.left.get(request.id, {})):
            keep.append(request)
            continue
        blocked[request.row] = f"not sent: the callcenters and set_by_run rows of call center {request.id}: {why}"
        refused[request.row] = RowResult(row=request.row, id=request.id, status=Status.NOT_SENT,
                                         error=blocked[request.row])
    agents = tuple(undo if undo.problem is not None or (records is not None and records.proves_agent(undo)) else
                   replace(undo, refused=f"not sent: row {undo.row} of the agents sheet: {why}")
                   for undo in book.agents)
    return replace(the_plan, requests=keep, blocked={**the_plan.blocked, **blocked}), refused, agents
