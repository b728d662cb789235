"""The agents sheet of a rollback workbook, applied: each agent put back as it was before the run.

The engine (`execute`) calls it at the two points it calls an operators sheet's part
(`OperatorWork`), on the run's one connection and pacer: `prepare` before anything is sent (the
operators of every center the sheet names are read, one request each, and the skill level of each
agent that is there and whose level the sheet knows; each row is then decided by
`bulkcc.plan.undo.undo_agent`: unchanged, stale, failed, or the steps that put it back), and
`send` after the call centers' fields. Steps go through the operators sheet's own sender (the same
verification and read-back of a refused add): first every row's first step, then the level of 0
set through the skill endpoint for the agents just added at 1. Each finished row is journaled (by
call center and user, with the hash of the row), so --resume does not send it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import pandas as pd

from bulkcc.plan.undo import AgentUndo, AgentVerdict, skill_needed, undo_agent
from bulkcc.run.journal import Journal, body_hash
from bulkcc.run.operators import OperatorReads, read_centers, read_skills, send_requests
from bulkcc.run.progress import QuietProgress
from bulkcc.send.connection import Connection
from bulkcc.status import FINAL_STATUSES, Status
from bulkcc.workbook.operator_results import OperatorResult, write_operator_sheet

AGENTS_RESULTS = "Agents"  # the results workbook's sheet of the rollback's agents (not fed back as operators)
_OK_FIRST = (Status.ADDED, Status.UPDATED)  # a first step after which the level of 0 is set


def undo_hash(undo: AgentUndo) -> str:
    """What a row asks, for the journal: an edited row is decided again on --resume."""
    return body_hash({"undo": True, "before": None if undo.before is None else vars(undo.before),
                      "left": None if undo.left is None else vars(undo.left)})


@dataclass
class AgentUndoWork:
    """The agents sheet's part of a rollback run (see the module's docstring)."""

    agents: tuple[AgentUndo, ...]
    input_frame: pd.DataFrame | None = None  # the sheet's own cells, by Excel row
    results: dict[int, OperatorResult] = field(default_factory=dict)  # by agents-sheet row
    answered: dict[int, OperatorResult] = field(default_factory=dict)
    verdicts: dict[int, AgentVerdict] = field(default_factory=dict)  # rows with steps to send

    @property
    def center_ids(self) -> list[int]:
        return sorted({a.call_center_id for a in self.agents if a.problem is None and a.refused is None})

    def agent_undos(self, sent_only: bool) -> list[AgentUndo]:
        return []  # a rollback writes no rollback of its own

    def _result(self, undo: AgentUndo, status: Status, error: str | None = None, **more: Any) -> OperatorResult:
        return OperatorResult(undo.row, status, error=error, action=undo.describe(),
                              call_center_id=undo.call_center_id or None, user_id=undo.user_id or None, **more)

    async def prepare(self, conn: Connection, run: Any, journal: Journal, *, concurrency: int,
                      progress: QuietProgress, stop: asyncio.Event) -> None:
        """Read what the rows need and decide each (see the module's docstring)."""
        redact = conn.client.redact
        todo = []
        for undo in self.agents:
            earlier = journal.previous_operators.get(undo.key) if undo.problem is None else None
            if undo.problem is not None:
                self.results[undo.row or 0] = self._result(undo, Status.FAILED, undo.problem)
            elif undo.refused is not None:
                self.results[undo.row or 0] = self._result(undo, Status.NOT_SENT, undo.refused)
            elif earlier is not None and earlier[1] == undo_hash(undo) and Status.of(earlier[0].status) in \
                    FINAL_STATUSES:
                self.results[undo.row or 0] = replace(earlier[0], row=undo.row)  # done by the run that stopped
            else:
                todo.append(undo)
        reads = OperatorReads()
        try:
            centers = sorted({u.call_center_id for u in todo})
            if centers:
                progress.start(len(centers), conn.target_label, phase="reading operators")
                try:
                    await read_centers(conn.client, centers, reads, concurrency=concurrency, stop=stop,
                                       progress=progress)
                finally:
                    progress.close()
            pairs = [u.key for u in todo if u.call_center_id in reads.centers
                     and skill_needed(u, reads.centers[u.call_center_id])]
            if pairs and not stop.is_set():
                await read_skills(conn.client, list(dict.fromkeys(pairs)), reads, concurrency=concurrency, stop=stop)
        finally:
            run.start_times.extend(reads.started_at)
        live, why = reads.readable(), reads.unreadable()
        for undo in todo:
            row = undo.row or 0
            failure = reads.failures.get(undo.call_center_id)
            if failure is not None and failure.http_status == 404 and undo.before is None:
                # The center is gone (a rollback's delete, run before): the user is an operator of it no more.
                self.results[row] = self._result(undo, Status.UNCHANGED, f"call center {undo.call_center_id} is not "
                                                 f"there (404), so user {undo.user_id} is not an operator of it")
                continue
            if undo.call_center_id not in live:
                tried = failure is not None and failure.attempts > 0
                self.results[row] = self._result(
                    undo, Status.FAILED if tried else Status.NOT_SENT, redact(
                        f"reading the operators of call center {undo.call_center_id}: "
                        + why.get(undo.call_center_id, "not read: the run stopped first")),
                    http_status=failure.http_status if failure else None, attempts=failure.attempts if failure else 0)
                continue
            verdict = undo_agent(undo, live[undo.call_center_id])
            if verdict.unchanged is not None:
                self.results[row] = self._result(undo, Status.UNCHANGED, verdict.unchanged)
            elif verdict.stale is not None:
                self.results[row] = self._result(undo, Status.STALE, redact(verdict.stale))
            elif verdict.failed is not None:
                self.results[row] = self._result(undo, Status.FAILED, verdict.failed)
            else:
                self.verdicts[row] = verdict

    async def send(self, conn: Connection, run: Any, journal: Journal, *, concurrency: int,
                   progress: QuietProgress, stop: asyncio.Event) -> None:
        """Each row's first step, then the levels of 0 (see the module's docstring)."""
        if not self.verdicts or stop.is_set():
            return
        by_row = {undo.row or 0: undo for undo in self.agents}
        first: dict[int, OperatorResult] = {}

        def on_first(result: OperatorResult, started_at: list[float]) -> None:
            run.start_times.extend(started_at)
            progress.advance(result.status, started_at)
            first[result.row or 0] = result

        then: dict[int, OperatorResult] = {}

        def on_then(result: OperatorResult, started_at: list[float]) -> None:
            run.start_times.extend(started_at)
            then[result.row or 0] = result

        progress.start(len(self.verdicts), conn.target_label, phase="operators")
        try:
            await send_requests(conn.client, [v.steps[0] for v in self.verdicts.values()], on_first,
                                concurrency=concurrency, stop=stop)
            second = [v.steps[1] for row, v in self.verdicts.items() if len(v.steps) > 1 and row in first
                      and Status.of(first[row].status) in _OK_FIRST]
            if second and not stop.is_set():
                await send_requests(conn.client, second, on_then, concurrency=concurrency, stop=stop)
        finally:
            progress.close()
        for row, result in first.items():
            undo = by_row[row]
            final = _combined(self.verdicts[row], result, then.get(row))
            final.error = conn.client.redact(final.error) if final.error else final.error
            final.action = undo.describe()
            if final.status == Status.NOT_SENT:
                self.results[row] = final
                continue
            self.answered[row] = final
            journal.record_operator(final, undo_hash(undo), on_synced=partial(self.results.__setitem__, row, final))

    def mark_unjournaled(self, note: str) -> None:
        for row, result in self.answered.items():
            if row not in self.results:
                self.results[row] = replace(result, error=f"{result.error}; {note}" if result.error else note)

    def all_results(self, not_sent_error: str) -> list[OperatorResult]:
        """One result per row of the agents sheet, in order."""
        return [self.results.get(undo.row or 0) or self._result(undo, Status.NOT_SENT, not_sent_error)
                for undo in self.agents]

    def result_sheets(self, results: list[OperatorResult]) -> list[tuple[str, Callable[[Any], None]]]:
        return [(AGENTS_RESULTS, partial(write_operator_sheet, results=results, input_frame=self.input_frame))]


def _combined(verdict: AgentVerdict, first: OperatorResult, then: OperatorResult | None) -> OperatorResult:
    """One row's result of its steps: the first's, unless a second step was needed."""
    if len(verdict.steps) < 2:
        return first
    if then is None:
        if Status.of(first.status) in _OK_FIRST:
            level = verdict.steps[1].body.get("skill_level")
            return replace(first, status=Status.FAILED, error=f"added again at skill level 1, but the level {level} "
                                                              "was not set (the run stopped first): run it again")
        return first
    attempts = (first.attempts or 0) + (then.attempts or 0)
    if Status.of(then.status) == Status.UPDATED:
        return replace(first, status=Status.ADDED, attempts=attempts, error=None)
    return replace(then, attempts=attempts, error=f"added again at skill level 1, then setting its level "
                                                  f"failed: {then.error}")

