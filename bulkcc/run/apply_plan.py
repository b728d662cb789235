"""`bulkcc apply PLAN`: send a saved plan exactly as saved, once it is shown to still hold.

Before anything is read or sent, the plan must be for the chosen target, no
older than --max-age, and (with --input) made from that very input. A --diff
plan then reads every call center again, paced like --diff, and keeps the
stale guard (`bulkcc.plan.stale`): a row whose live state moved since the plan
was made is `stale` and not sent, the others go with their planned bodies. No
workbook is read: the Results sheet's input columns are the plans' bodies.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

from bulkcc.errors import InputError, UsageError
from bulkcc.plan import Plan
from bulkcc.plan.planfile import SavedPlan
from bulkcc.plan.stale import already_as_sent, stale_fields
from bulkcc.run.execute import Run, Source, execute, redacted
from bulkcc.run.journal import Opener
from bulkcc.run.live import prior_phase, read_again
from bulkcc.run.lock import creating
from bulkcc.run.options import ApplyOptions, ApplyOutcome
from bulkcc.run.outputs import check_output_paths, locked_run
from bulkcc.run.progress import QuietProgress
from bulkcc.send.connection import Connection
from bulkcc.send.target import Target
from bulkcc.status import Status
from bulkcc.values import sha256_file
from bulkcc.workbook.results import RowResult

# Two machines' clocks may disagree a little; a plan from further ahead than this is refused.
FUTURE_SKEW = timedelta(minutes=10)

_NOT_WITH_A_PLAN = {
    "--diff": "a plan file is sent as it was made; a plan made with `plan --diff` checks live state itself "
              "(rows changed since are not sent). Drop --diff, or make a --diff plan",
    "--only-failed": "--only-failed re-sends the failed rows of a results workbook; a plan file is sent whole "
                     "(rows an earlier run finished are skipped with --resume)",
    "--skip-invalid": "a plan file holds no invalid rows (those left out when it was made are listed in it); "
                      "drop --skip-invalid",
}


def duration_text(delta: timedelta) -> str:
    """A duration as --max-age takes it: 45s, 20m, 2.5h, 26h."""
    seconds = abs(delta.total_seconds())
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m"
    hours = seconds / 3600
    return f"{hours:.1f}h" if hours < 10 else f"{hours:.0f}h"


def limit_text(delta: timedelta) -> str:
    """A limit as it was most likely given: 24h, 48h, 90m, 45s, 14d (hours up to a week)."""
    seconds = round(delta.total_seconds())
    if seconds >= 7 * 86400 and seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def plan_line(saved: SavedPlan, now: datetime | None = None) -> str:
    """The plan as the Summary sheet and the terminal name it."""
    made = saved.created.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    name = saved.path.name if saved.path else "plan"
    kind = "compared with live state (--diff)" if saved.diff else "not compared with live state"
    return f"{name}, SHA-256 {saved.checksum}, made {made} ({duration_text(saved.age(now))} ago), {kind}"


def check_plan(saved: SavedPlan, options: ApplyOptions, now: datetime) -> None:
    """Refuse a plan this run must not send (nothing is read or sent before this passes)."""
    name = saved.path.name if saved.path else "the plan"
    for flag, on in (("--diff", options.diff), ("--only-failed", options.only_failed),
                     ("--skip-invalid", options.skip_invalid)):
        if on:
            raise UsageError(f"{flag} with a plan file: {_NOT_WITH_A_PLAN[flag]}")
    if options.plan_sha256 is not None and options.plan_sha256.strip().lower() != saved.checksum:
        raise UsageError(f"{name} has the SHA-256 {saved.checksum}, not {options.plan_sha256.strip()}: it is not the "
                         "plan that was approved (or it was changed since); apply the approved file")
    chosen = options.target.name
    if saved.target != chosen:
        made_for = Target(saved.target, simulator=saved.target == "simulator")
        raise UsageError(f"{name} was made for {saved.target}, not {chosen}: a plan is sent only to the target "
                         f"it was made for. Apply it with {made_for.flag()}, or make a new plan for {chosen}")
    age = saved.age(now)
    if age < -FUTURE_SKEW:
        raise UsageError(f"{name} says it was made at {saved.created.isoformat()}, {duration_text(age)} from now: "
                         "the clock of the machine that made it (or of this one) is wrong; make a new plan")
    if age > options.max_age:
        wider = f"{math.ceil(age.total_seconds() / 3600) + 1}h"
        raise UsageError(f"{name} was made {duration_text(age)} ago, more than --max-age "
                         f"{limit_text(options.max_age)}: live state may have moved since. Make a new plan, "
                         f"or pass --max-age {wider} to apply it anyway")
    if options.input_check is not None:
        check = options.input_check
        if not check.is_file():
            raise InputError(f"--input {check}: no such file")
        digest = sha256_file(check)
        if digest != saved.input_sha256:
            raise UsageError(f"--input {check.name} is not the input {name} was made from: its SHA-256 is "
                             f"{digest[:16]}…, the plan's input ({saved.input_name}) had {saved.input_sha256[:16]}…. "
                             "The workbook changed since the plan was made: make a new plan from it")


async def _guard_phase(conn: Connection, plan: Plan, options: ApplyOptions, run: Run, progress: QuietProgress,
                       stop: asyncio.Event) -> Plan:
    """Read live state again; only the requests whose overwritten fields are as planned go."""
    state = await read_again(conn, plan.requests, concurrency=options.connection.pool_size, stop=stop,
                             progress=progress,
                             settle=lambda read: run.record_read_failures(read, plan.requests, conn.client.redact))
    to_send = []
    for request in plan.requests:
        live = state.callcenters.get(request.row)
        if live is None:
            continue  # not readable (recorded), or never read: the run stopped first
        moved = stale_fields(plan, request, live)
        if moved and options.resume and already_as_sent(request, live):
            # The run that stopped made this change, but its answer never reached the journal: sent again
            # (a PATCH of the same body changes nothing), so the results say what a run that never stopped
            # would have said, and the rollback (from the plan's values before) covers it.
            to_send.append(request)
        elif moved:
            run.results[request.row] = redacted(RowResult(
                row=request.row, id=request.id, status=Status.STALE, changes=plan.changes_text(request.row),
                error="not sent: live state changed since the plan was made: " + "; ".join(moved)),
                conn.client.redact)  # the error quotes live values, which a server chose
        else:
            to_send.append(request)
    guarded = replace(plan, requests=to_send)
    run.record_fields(guarded)
    return guarded


async def apply_plan_async(saved: SavedPlan, options: ApplyOptions, *, progress: QuietProgress | None = None,
                           confirm: Callable[[Plan, Target], bool] | None = None,
                           stop: asyncio.Event | None = None, now: datetime | None = None,
                           journal_opener: Opener | None = None) -> ApplyOutcome:
    """Send a saved plan: its requests exactly, less (with --diff) the rows gone stale."""
    if saved.path is not None:
        check_output_paths(saved.path, options)
    check_plan(saved, options, now or datetime.now(UTC))
    name = saved.path.name if saved.path else saved.input_name
    with locked_run(options, name), creating(options, saved.plan, name):
        return await _apply_locked(saved, options, progress=progress, confirm=confirm, stop=stop, now=now,
                                   journal_opener=journal_opener)


async def _apply_locked(saved: SavedPlan, options: ApplyOptions, *, progress: QuietProgress | None,
                        confirm: Callable[[Plan, Target], bool] | None, stop: asyncio.Event | None,
                        now: datetime | None, journal_opener: Opener | None) -> ApplyOutcome:
    plan = saved.plan
    if confirm is not None and not confirm(plan, options.target):
        raise UsageError("not confirmed: nothing was sent")
    prefilled = {row: RowResult(row=row, id=plan.values.get(row, {}).get("id"), status=Status.NOT_SENT,
                                error=f"left out of the plan when it was made: {why}")
                 for row, why in plan.unreadable.items()}
    # Blocked: failed rather than not_sent, as apply --diff has it: the row needs the admin, not a retry.
    prefilled.update({row: RowResult(row=row, id=plan.values.get(row, {}).get("id"), status=Status.FAILED,
                                     error=f"left out of the plan when it was made: {why}")
                      for row, why in plan.blocked.items()})
    prefilled.update({r.row: RowResult(row=r.row, id=r.id, status=Status.UNCHANGED, changes="")
                      for r in plan.unchanged})
    source = Source(name=saved.input_name, sha256=saved.input_sha256, plan=plan_line(saved, now),
                    plan_sha256=saved.checksum)

    async def guard(conn: Connection, the_plan: Plan, run: Run, progress: QuietProgress, stop: asyncio.Event) -> Plan:
        return await _guard_phase(conn, the_plan, options, run, progress, stop)

    operators = None
    if saved.operators is not None:
        from bulkcc.run.operator_input import saved_operator_work

        operators = saved_operator_work(saved.operators, priors=options.writes_rollback)
    first_phase = guard if saved.diff else \
        partial(prior_phase, concurrency=options.connection.pool_size) if options.writes_rollback else None
    return await execute(plan, set(plan.validation.sheet.rows), options, source,
                         progress=progress or QuietProgress(), stop=stop or asyncio.Event(),
                         first_phase=first_phase, prefilled=prefilled, journal_opener=journal_opener,
                         operators=operators)


def apply_plan(saved: SavedPlan, options: ApplyOptions, **kwargs) -> ApplyOutcome:
    """Synchronous wrapper of `apply_plan_async`."""
    return asyncio.run(apply_plan_async(saved, options, **kwargs))
