"""The stale guard of a saved --diff plan's operator changes: has an agent moved since the plan was made?

Before `apply PLAN` sends its operator changes, each change's center is read again (and the skill
level of each operator whose level the plan recorded): a change whose operator is no longer as the
plan saw it is `stale`, not sent. On --resume an operator already as the change leaves it is the
change of the run that stopped, whose answer never reached the journal: it counts as done (with the
status that run would have written), not as stale, and it is in the rollback. A workbook's run that
resumes knows such a change by its rollback (`made_by_stopped_run`, `settle_unchanged` with --diff).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bulkcc.operator_fields import OperatorRow
from bulkcc.plan.operators import CenterIndex, CenterLive, LiveOperator, OperatorPlan, OperatorRequest, moved_since
from bulkcc.plan.undo import AgentState, AgentUndo, is_as, left_by
from bulkcc.run.operators import OperatorReads, read_centers, read_skills
from bulkcc.run.progress import QuietProgress
from bulkcc.send.client import ApiClient
from bulkcc.status import Status
from bulkcc.workbook.operator_results import OperatorResult

DONE_STATUS = {"add": Status.ADDED, "remove": Status.REMOVED, "skill": Status.UPDATED}
DONE_NOTE = ("already so when this run resumed: done by the run that stopped, whose answer did not reach the "
             "journal; not sent again")


@dataclass
class Guarded:
    """What the guard decided: the plan to send, and the changes it settled (stale, or done on --resume)."""

    plan: OperatorPlan
    reads: OperatorReads
    stale: list[tuple[OperatorRequest, str]] = field(default_factory=list)
    done: list[OperatorRequest] = field(default_factory=list)


async def guard_operators(client: ApiClient, label: str, plan: OperatorPlan, *, resumed: bool, concurrency: int,
                          progress: QuietProgress, stop: asyncio.Event) -> Guarded:
    """Read the plan's centers again and keep only the changes whose operator is as planned."""
    reads = OperatorReads()
    centers = sorted({r.center.id for r in plan.requests if r.center.id is not None})
    if centers:
        progress.start(len(centers), label, phase="reading operators")
        try:
            await read_centers(client, centers, reads, concurrency=concurrency, stop=stop, progress=progress)
        finally:
            progress.close()
    pairs = [(r.center.id, r.user_id) for r in plan.requests if r.center.id in reads.centers
             and r.user_id in reads.centers[r.center.id].operators
             and ((r.before is not None and r.before.skill_level is not None) or (resumed and r.kind != "remove"))]
    if pairs and not stop.is_set():
        await read_skills(client, list(dict.fromkeys(pairs)), reads, concurrency=concurrency, stop=stop)
    live, why = reads.readable(), reads.unreadable()
    guarded = Guarded(plan, reads)
    keep, unreadable = [], dict(plan.unreadable)
    for request in plan.requests:
        center = request.center.id
        if center is None:
            keep.append(request)  # created in this run: nothing was there to move
        elif center not in live:
            if request.row is not None:
                unreadable[request.row] = f"reading the operators of {request.center.label}: " + \
                    why.get(center, "not read: the run stopped first")
        elif (moved := moved_since(request, live[center])) is None:
            keep.append(request)
        elif resumed and is_as(left_by(request, AgentState.of(request.before)),
                               live[center].operators.get(request.user_id)):
            guarded.done.append(request)
        else:
            guarded.stale.append((request, moved))
    guarded.plan = replace(plan, requests=tuple(keep), unreadable=unreadable)
    return guarded


def done_result(request: OperatorRequest, status: Status | None = None) -> OperatorResult:
    """The result of a change the run that stopped made (see the module's docstring)."""
    return OperatorResult(request.row, status or DONE_STATUS[request.kind], attempts=0, error=DONE_NOTE,
                          action=request.describe(), call_center_id=request.center.id, user_id=request.user_id)


def made_by_stopped_run(requests: Sequence[OperatorRequest], found: Mapping[tuple[int, int], LiveOperator | None],
                        earlier: Mapping[tuple[int, int], AgentUndo]) -> list[tuple[OperatorRequest, Status]]:
    """--resume without --diff: the changes the run that stopped made but whose answers never reached the journal.
    Each agent `found` (read before this run sends anything) as that run's rollback (`earlier`) says it left
    it, and not as before, was changed by it: not sent again, with the status a run that never stopped gave
    (an add of an operator who was there, its role kept: refused, then only its level set, `updated`)."""
    out = []
    for request in requests:
        key = (request.center.id or 0, request.user_id)
        record = earlier.get(key)
        if record is None or key not in found or record.problem is not None:
            continue
        now = found[key]
        if is_as(record.before, now) or not is_as(record.left, now) or \
                not is_as(left_by(request, record.before), now):
            continue
        kept_role = request.kind == "add" and record.before is not None and now is not None and \
            now.role == record.before.role
        out.append((request, Status.UPDATED if kept_role else DONE_STATUS[request.kind]))
    return out


def settle_unchanged(plan: OperatorPlan, results: dict[Any, OperatorResult], rows: Mapping[int, OperatorRow],
                     index: CenterIndex, live: Mapping[int, CenterLive],
                     earlier: Mapping[tuple[int, int], AgentUndo]) -> OperatorPlan:
    """--resume with --diff: a row the plan finds unchanged because the run that stopped made it so (its rollback,
    `earlier`, shows it left the agent as live is now, not as before), but whose line a crash lost, gets the result
    a run that never stopped wrote (into `results`); the plan without it."""
    done = {}
    for number in plan.unchanged:
        row = rows.get(number)
        center = index.resolve(row) if row is not None else None
        center_id = None if center is None or isinstance(center, str) else center.id
        if row is None or center_id is None or center_id not in live:
            continue
        record, now = earlier.get((center_id, row.user_id)), live[center_id].operators.get(row.user_id)
        if record is None or record.problem is not None or is_as(record.before, now) or not is_as(record.left, now):
            continue
        status = Status.REMOVED if row.remove else Status.ADDED if record.before is None else Status.UPDATED
        done[number] = results[number] = OperatorResult(number, status, attempts=0, error=DONE_NOTE,
                                                        call_center_id=center_id, user_id=row.user_id)
    return replace(plan, unchanged={n: why for n, why in plan.unchanged.items() if n not in done})
