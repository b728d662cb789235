"""The create phase of a run: POST each new call center at most once, before the updates.

A create is not idempotent, so every step is about never making a call center twice:

1. A create an earlier run of these --results already made (the journal holds its
   result with an id, for the same office, name and body) is not sent again.
2. Each office a create names is listed once (`bulkcc.run.offices`). A create whose
   name reads as a live center's (`bulkcc.names.name_key`: case, blanks, invisible
   characters and Unicode forms aside) is an invalid row that shows both names; with
   any such row and no --skip-invalid the whole run is refused before anything is
   sent, as it is for any invalid row.
3. A create whose outcome an earlier run did not learn (an open intent in the journal
   on --resume, or a `maybe_created` row of a results workbook fed back, or of a plan
   saved from one: `PlannedCreate.maybe_made`) is looked for
   instead, over the bounded wait: found, the row is created with that id and nothing
   is sent; not found, it stays `maybe_created`, and only --resend-maybe-created sends
   it again (once).
4. The intent (row, office, name, body hash) is journaled and fsynced before the POST.
5. The POST is sent at most once per row and run, whatever comes back
   (`idempotent=False`: the client retries only a 429 or a connection never opened,
   where nothing was done). An answer that does not settle it (a timeout, a dropped
   connection, a 5xx, a 202, a 2xx that is no call center, an answer naming a center
   that is not this row's new one: `create_answers.answer_problem`) is followed by
   looking for the center by name over a bounded wait; found, the row is created with
   that id; not found, the row is `maybe_created`, saying what to do, and its intent
   stays open for --resume.

Every request goes through the run's one client: one pacer and one retry budget for
creates, reads and updates alike. The verified answer (its id, and every field as
sent) makes the row `created`; the new id is what the Results sheet's `id` holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from bulkcc.errors import RunStopped
from bulkcc.plan import Plan
from bulkcc.plan.creates import CREATE_PATH, PlannedCreate
from bulkcc.run.answers import answer_id
from bulkcc.run.create_answers import (
    RESEND_FLAG,
    ambiguous_note,
    answer_problem,
    clash_message,
    found_note,
    maybe_note,
    quoted,
    verified,
)
from bulkcc.run.journal import Journal, body_hash
from bulkcc.run.offices import LOOKUP_WAIT_S, Lookup, Office, OfficeLookups, read_office
from bulkcc.run.progress import QuietProgress
from bulkcc.send.client import ApiClient, ApiResult
from bulkcc.send.pool import run_pool
from bulkcc.status import Status
from bulkcc.values import counted, plural
from bulkcc.workbook.results import RowResult


@dataclass
class CreatePhase:
    """What the create phase of one run needs and collects."""

    client: ApiClient
    journal: Journal
    results: dict[int, RowResult]  # the run's results: a row counts once its line is on disk
    answered: dict[int, RowResult]  # every row the API answered or found, before its line syncs
    start_times: list[float]  # the run's attempt starts (its achieved rate)
    redact: Any
    progress: QuietProgress
    stop: asyncio.Event
    lookup_wait_s: float = LOOKUP_WAIT_S
    resend_maybe: bool = False  # --resend-maybe-created: a create whose outcome is unknown, not found, is sent
    offices: dict[int, Office] = field(default_factory=dict)  # as listed before any POST
    hashes: dict[int, str] = field(default_factory=dict)
    lookups: dict[int, tuple[Lookup | None, str]] = field(default_factory=dict)  # row -> (what looking found, why)
    claimed: dict[int, int] = field(default_factory=dict)  # call center id -> the row this run created it for
    _finder: OfficeLookups | None = None

    @property
    def finder(self) -> OfficeLookups:
        if self._finder is None:
            self._finder = OfficeLookups(self.client, self.lookup_wait_s)
        return self._finder

    def _record(self, create: PlannedCreate, result: RowResult, *, unsure: bool = False) -> RowResult:
        """Journal a create's result (`unsure`: whether it was made is not known, so its intent stays open)."""
        result.error = self.redact(result.error) if result.error else result.error
        if result.id is not None:
            self.claimed[result.id] = create.row
        if result.attempts or result.id is not None:
            # Known now, not only once its line syncs: the operators phase may start before the group
            # commit does, and a center found by name (no attempt of this run) must reach its agents too.
            self.answered[create.row] = result
        key = {"office_id": create.office_id, "name": create.key[1], **({"unsure": True} if unsure else {})}
        if not self.journal.record(result, self.hashes[create.row],
                                   on_synced=partial(self.results.__setitem__, create.row, result),
                                   extra={"create": key}):
            note = self.journal.unrecorded_note()
            self.results[create.row] = replace(result, error=f"{result.error}; {note}" if result.error else note)
        return result

    def _excluded(self, create: PlannedCreate) -> set[int]:
        """Ids that cannot be this create's: the office's before any POST of this run, other rows' of this run.
        (A create looked for again has no center of its name in that listing: it would have been found.)"""
        listed = self.offices.get(create.office_id)
        others = {cc_id for cc_id, row in self.claimed.items() if row != create.row}
        return (set(listed.listed) if listed is not None else set()) | others

    async def look(self, create: PlannedCreate) -> Lookup:
        return await self.finder.find(create.office_id, create.key[1], self._excluded(create), self.stop)

    async def call(self, client: ApiClient, create: PlannedCreate, stop: asyncio.Event) -> ApiResult:
        """Journal the intent, then POST once; an answer that does not settle it is followed by a look."""
        intent = {"row": create.row, "office_id": create.office_id, "name": create.key[1],
                  "body": self.hashes[create.row]}
        if not await self.journal.write_now({"intent": intent}):
            return ApiResult(False, None, 0, 0, error="not sent: the journal could not record the create first")
        api = await client.call("POST", CREATE_PATH, create.body, stop=stop, idempotent=False)
        if api.attempts == 0:
            return api
        if api.ok:
            problem = answer_problem(create, api.data, self.offices.get(create.office_id), self.claimed)
            if problem is None:
                return api
            api.ok, api.unsure, api.error = False, True, f"HTTP {api.http_status}, but {problem}"
        if not api.unsure:
            return api  # a clear refusal (a 4xx): nothing was made
        try:
            self.lookups[create.row] = (await self.look(create), api.error or "no answer")
        except RunStopped as exc:  # the key refused while looking: the create's outcome is still unknown
            self.lookups[create.row] = (None, f"{api.error}; not looked for: {exc.message}")
            raise type(exc)(exc.message, result=api) from exc
        return api

    def untaken(self, create: PlannedCreate, lookup: Lookup | None, why: str) -> tuple[Lookup | None, str]:
        """What looking found, less the centers another row holds (given it by its create's answer, in this
        run or an earlier one): never two rows on one center. One of the two was not what it seemed, so
        this row stays unknown rather than share it; `why` says which row holds which."""
        taken = {i: self.claimed[i] for i in (lookup.ids if lookup else ()) if self.claimed.get(i, create.row)
                 != create.row}
        if lookup is None or not taken:
            return lookup, why
        held = ", ".join(f"call center {i}, listed under this row's name, is row {row}'s (the API's answer to its "
                         "create named it)" for i, row in taken.items())
        return replace(lookup, ids=[i for i in lookup.ids if i not in taken]), f"{why}; {held}"

    def settle_found(self, create: PlannedCreate, lookup: Lookup, note: str, api: ApiResult | None = None) -> RowResult:
        """The row's call center (`lookup`'s one id) was found by name in its office: created, with that id, if
        the listing shows every field as sent (else mismatch: it exists, but did not take them all)."""
        cc_id = lookup.ids[0]
        status, wrong = verified(create, lookup.items[cc_id]) if cc_id in lookup.items else (Status.CREATED, None)
        return self._record(create, RowResult(row=create.row, id=cc_id, status=status,
                                       http_status=api.http_status if api else None,
                                       attempts=api.attempts if api else 0,
                                       error=f"{note}; {wrong.replace('the API created it', 'it was made')}"
                                       if wrong else note, duration_ms=api.duration_ms if api else None))

    def settle_unfound(self, create: PlannedCreate, lookup: Lookup | None, why: str,
                       api: ApiResult | None = None) -> RowResult:
        """Looked for and not found (or found twice): maybe_created (or failed), never an id."""
        result = RowResult(row=create.row, id=None, status=Status.MAYBE_CREATED,
                           http_status=api.http_status if api else None, attempts=api.attempts if api else 0,
                           duration_ms=api.duration_ms if api else None)
        if lookup is not None and len(lookup.ids) > 1:
            result.status, result.error = Status.FAILED, ambiguous_note(create, lookup.ids, why)
        else:
            result.error = maybe_note(create, lookup, why)
        return self._record(create, result, unsure=True)

    def on_result(self, create: PlannedCreate, api: ApiResult) -> None:
        self.start_times.extend(api.started_at)
        if create.row in self.lookups:
            lookup, why = self.lookups[create.row]
            lookup, why = self.untaken(create, lookup, why)
            if lookup is not None and len(lookup.ids) == 1:
                result = self.settle_found(create, lookup, found_note(create, lookup, why), api)
            else:
                result = self.settle_unfound(create, lookup, why, api)
        elif api.attempts == 0:
            result = self._record(create, RowResult(row=create.row, id=None, status=Status.NOT_SENT, error=api.error))
        elif not api.ok:
            result = self._record(create, RowResult(row=create.row, id=None, status=Status.FAILED,
                                                    http_status=api.http_status, attempts=api.attempts,
                                                    error=api.error, duration_ms=api.duration_ms))
        else:
            status, error = verified(create, api.data)
            result = self._record(create, RowResult(row=create.row, id=answer_id(api.data.get("id")), status=status,
                                                    http_status=api.http_status, attempts=api.attempts, error=error,
                                                    duration_ms=api.duration_ms))
        self.progress.advance(result.status, api.started_at)


async def _list_offices(phase: CreatePhase, creates: list[PlannedCreate], target_label: str) -> None:
    offices = sorted({c.office_id for c in creates})
    phase.progress.start(len(offices), target_label, phase="listing")
    try:
        for office_id in offices:
            if phase.stop.is_set():
                break
            phase.offices[office_id] = office = await read_office(phase.client, office_id)
            phase.progress.advance("read" if office.error is None else Status.FAILED)
    finally:
        phase.progress.close()


async def _look_again(phase: CreatePhase, creates: list[PlannedCreate]) -> list[PlannedCreate]:
    """Creates an earlier run did not learn the outcome of, not in the first listing: looked for over the
    bounded wait (the listing may lag); found, created; not found, sent again only with --resend-maybe-created."""
    why = "an earlier run sent it and stopped, or got no answer that settles it, before it knew whether it was made"
    found = await asyncio.gather(*(phase.look(c) for c in creates), return_exceptions=True)
    to_send = []
    stopped: RunStopped | None = None
    for create, lookup in zip(creates, found, strict=True):
        if isinstance(lookup, RunStopped):  # the key refused, the API down: still unknown, and said so
            stopped = stopped or lookup
            phase.settle_unfound(create, None, f"{why}; not looked for again: {lookup.message}")
        elif isinstance(lookup, BaseException):
            raise lookup
        else:
            looked, held = phase.untaken(create, lookup, why)
            assert looked is not None
            if len(looked.ids) == 1:
                phase.settle_found(create, looked, f"{why}; {found_note(create, looked, 'looked again')}")
            elif not looked.ids and held == why and looked.error is None and not looked.stopped and phase.resend_maybe:
                to_send.append(create)
            else:
                phase.settle_unfound(create, looked, held)
    if stopped is not None:
        raise stopped
    return to_send


async def run_creates(phase: CreatePhase, plan: Plan, *, concurrency: int, skip_invalid: bool,
                      target_label: str, saved_plan: bool = False) -> str | None:
    """Send the plan's creates (see the module's docstring). Returns why the run is refused, or None.

    Rows are settled into `phase.results`: done by an earlier run, found, invalid (a name already
    live), failed (an office that cannot be read), maybe_created, created."""
    phase.hashes = {c.row: body_hash(c.body) for c in plan.creates}
    pending = []
    for create in plan.creates:
        earlier = phase.journal.created.get(create.key)
        if earlier is not None and earlier[0].id is not None and earlier[1] == phase.hashes[create.row]:
            phase.results[create.row] = replace(earlier[0], row=create.row)
            phase.claimed[earlier[0].id] = create.row
        else:
            pending.append(create)
    if not pending:
        return None
    unknown_rows = {c.row for c in pending if c.key in phase.journal.intents or c.maybe_made}
    try:
        await _list_offices(phase, pending, target_label)
    except RunStopped as exc:  # a create whose outcome is not known stays so (never not_sent: resent blind)
        for create in pending:
            if create.row in unknown_rows:
                phase.settle_unfound(create, None, f"an earlier run's create; not looked for again: {exc.message}")
        raise
    to_send, recheck, clashes = [], [], 0
    for create in pending:
        listed = phase.offices.get(create.office_id)
        unknown = create.row in unknown_rows
        if listed is None:
            if unknown:
                phase.settle_unfound(create, None, "an earlier run's create; not looked for again: the run was "
                                                   "stopped first")
            continue  # stopped before its office was read: not sent
        if listed.error is not None:
            why = (f"the call centers of office {create.office_id} could not be read, so whether "
                   f"{quoted(create.name)} already exists is not known ({listed.error})")
            if unknown:
                phase.settle_unfound(create, Lookup([], 1, 0.0, listed.error), why)
            else:
                phase.results[create.row] = RowResult(row=create.row, id=None, status=Status.FAILED,
                                                      error=phase.redact(f"not sent: {why}"))
            continue
        ids = listed.named(create.key[1])
        if unknown:  # an earlier run's create whose outcome it did not learn: looked for, not sent blindly
            found, why = phase.untaken(create, Lookup(ids, 1, 0.0, items=listed.found(ids)), "an earlier run's create")
            assert found is not None
            if len(found.ids) == 1:
                phase.settle_found(create, found, "made by an earlier run that stopped before it knew (found "
                                                  f"by name in office {create.office_id}); not sent again")
            elif found.ids or len(found.ids) < len(ids):
                phase.settle_unfound(create, found, why)
            else:
                recheck.append(create)
        elif ids:
            clashes += 1
            phase.results[create.row] = RowResult(row=create.row, id=None, status=Status.INVALID,
                                                  error=phase.redact(clash_message(create, ids, listed)))
        else:
            to_send.append(create)
    if clashes and not skip_invalid:
        for create in recheck:  # still unknown, and said so: not_sent would let a later run send it blind
            phase.settle_unfound(create, None, "an earlier run's create; not looked for again: other rows' names "
                                               "are already live, so nothing was sent")
        rows = f"{counted(clashes, 'row')} create{'s' if clashes == 1 else ''} " + (
            "a call center whose name already exists" if clashes == 1 else "call centers whose names already exist")
        fix = ("the plan is out of date: make a new one with `bulkcc plan`" if saved_plan else
               "fix them, or pass --skip-invalid to send the other rows")  # a plan takes no --skip-invalid
        return f"{rows} in the office: nothing was sent ({fix})"
    if recheck and not phase.stop.is_set():
        to_send += await _look_again(phase, recheck)
    if to_send and not phase.stop.is_set():
        phase.progress.start(len(to_send), target_label, phase="creating")
        try:
            await run_pool(phase.client, to_send, phase.call, phase.on_result, concurrency=concurrency,
                           stop=phase.stop)
        finally:
            phase.progress.close()
    return None


def maybe_created_note(results: list[RowResult]) -> str | None:
    """The Summary's word on creates whose outcome is not known (None when there are none)."""
    rows = [r.row for r in results if r.status == Status.MAYBE_CREATED]
    if not rows:
        return None
    shown = ", ".join(map(str, rows[:10])) + (" …" if len(rows) > 10 else "")
    made = plural(len(rows), "its call center", "their call centers")
    return (f"{counted(len(rows), 'create')} may or may not have made {made} (maybe_created, rows {shown}): none "
            "was sent again. Check in Dialpad, then run "
            f"the same command with --resume: it looks again; only {RESEND_FLAG} sends one that is still not "
            "listed once more")


def created_entries(creates: list[PlannedCreate], results: Mapping[int, RowResult]) -> list[dict[str, Any]]:
    """The created sheet's rows: each create whose call center exists (created, or created but mismatched)."""
    entries = []
    for create in creates:
        result = results.get(create.row)
        if result is not None and result.id is not None and result.status in (Status.CREATED, Status.MISMATCH):
            entries.append({"id": result.id, "name": create.name, "office_id": create.office_id})
    return entries


async def name_clashes(client: ApiClient, creates: list[PlannedCreate]) -> dict[int, str]:
    """`plan --diff`: each create whose name reads as a live center's in its office (or whose office
    cannot be read), with why; one listing per office."""
    offices = {office_id: await read_office(client, office_id) for office_id in sorted({c.office_id for c in creates})}
    clashes = {}
    for create in creates:
        office = offices[create.office_id]
        ids = office.named(create.key[1])
        if office.error is not None:
            clashes[create.row] = (f"the call centers of office {create.office_id} could not be read, so whether "
                                   f"{quoted(create.name)} already exists is not known ({office.error})")
        elif ids:
            clashes[create.row] = clash_message(create, ids, office).replace("nothing was sent", "it would not be sent")
    return clashes
