"""The agents as they were before a run without --diff: read before its first write, for its rollback.

A run without --diff sends each operators row as it is (an add, or a removal), but its rollback must
know what each change replaced: whether the user was an operator of the center, with which role and
skill level (an API that takes an add of an operator who is there as an update changes both). So
before anything is sent, the operators of every existing center the sheet names are read (one
request each, as --diff does), and the skill level of each user the sheet names who is there (one
request each). A row whose center (or skill level) cannot be read is not sent: nothing could undo it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from bulkcc.operator_fields import OperatorRow
from bulkcc.plan.operators import CenterIndex, LiveOperator, OperatorPlan, centers_to_read
from bulkcc.plan.operators import resolved_rows as resolve
from bulkcc.run.operators import OperatorReads, read_centers_then_skills
from bulkcc.run.progress import QuietProgress
from bulkcc.send.client import ApiClient

Pair = tuple[int, int]  # (call center id, user id)


async def read_prior_operators(client: ApiClient, label: str, rows: Sequence[OperatorRow], index: CenterIndex, *,
                               concurrency: int, progress: QuietProgress, stop: asyncio.Event) -> OperatorReads:
    """The operators of each existing center `rows` name, and the skill level of each of the rows'
    users who is one of them (kept when stopped part way)."""
    reads = OperatorReads()

    def skills() -> list[Pair]:
        resolved, _, _ = resolve(rows, index)
        pairs = [(center.id, row.user_id) for row, center in resolved
                 if center.id in reads.centers and row.user_id in reads.centers[center.id].operators]
        return list(dict.fromkeys(pairs))

    await read_centers_then_skills(client, label, centers_to_read(rows, index), reads, skills,
                                   concurrency=concurrency, progress=progress, stop=stop)
    return reads


def with_prior_operators(plan: OperatorPlan, reads: OperatorReads
                         ) -> tuple[OperatorPlan, dict[Pair, LiveOperator | None]]:
    """The plan less the requests whose center (or a skill level) could not be read (`unreadable`,
    with why), and each remaining change's operator as it was (None: not an operator)."""
    live, why = reads.readable(), reads.unreadable()
    keep, unreadable = [], dict(plan.unreadable)
    before: dict[Pair, LiveOperator | None] = {}
    for request in plan.requests:
        center = request.center.id
        if center is None:
            keep.append(request)  # created in this run: it has no operators before
        elif center in live:
            keep.append(request)
            before[(center, request.user_id)] = live[center].operators.get(request.user_id)
        elif request.row is not None:
            unreadable[request.row] = (f"reading the operators of {request.center.label} before changing them "
                                       f"(for the rollback): {why.get(center, 'not read: the run stopped first')}")
    return replace(plan, requests=tuple(keep), unreadable=unreadable), before

