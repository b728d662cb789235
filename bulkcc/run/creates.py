"""The create phase of a run: POST each new call center exactly once, before the updates.

A create is not idempotent, so every step is about never making a call center twice:

1. A create an earlier run of these --results already made (the journal holds its
   result with an id, for the same office, name and body) is not sent again.
2. Each office a create names is listed once (`GET /api/v2/offices/{id}/callcenters`,
   every page). A create whose name is already live in its office is an invalid row
   (names compared exactly, after trimming outer blanks: `plan.creates.name_key`); with
   any such row and no --skip-invalid the whole run is refused before anything is
   sent, as it is for any invalid row. An earlier run's *open* intent (it stopped
   between journaling the intent and learning the outcome) is looked for there
   instead: found once, the row is created with that id and nothing is sent.
3. The intent (row, office, name, body hash) is journaled and fsynced before the POST.
4. The POST is never retried blindly (`idempotent=False`): when an attempt may have
   taken effect (timeout, dropped connection, 5xx, a 2xx that is no call center), the
   office is listed again; the call center found by name is the row's, and only when
   it is not there is the POST sent again, within the retry policy's attempts and
   budget. If the office cannot be read then, the row is failed and its intent stays
   open, so --resume looks again.

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

from bulkcc.errors import LiveStateError, RunStopped
from bulkcc.plan import Plan
from bulkcc.plan.compare import mismatched_fields
from bulkcc.plan.creates import CREATE_PATH, PlannedCreate, name_key
from bulkcc.run.answers import answer_id, id_problem
from bulkcc.run.journal import Journal, body_hash
from bulkcc.run.listing import list_pages, office_path
from bulkcc.run.progress import QuietProgress
from bulkcc.send.client import ApiClient, ApiResult
from bulkcc.send.pool import run_pool
from bulkcc.status import Status
from bulkcc.workbook.results import RowResult


@dataclass
class Office:
    """The live call centers of one office, by name as compared (`name_key`)."""

    names: dict[str, list[int]] = field(default_factory=dict)
    error: str | None = None  # why the listing could not be read


async def read_office(client: ApiClient, office_id: int) -> Office:
    """Every page of the office's listing; a listing that cannot be trusted is an Office with an error."""
    office = Office()
    try:
        async for page in list_pages(client, None, limit=None, path=office_path(office_id)):
            for item in page.items:
                if not isinstance(item, Mapping):
                    continue
                cc_id, name = answer_id(item.get("id")), item.get("name")
                elsewhere = item.get("office_id") is not None and answer_id(item.get("office_id")) != office_id
                if cc_id is not None and isinstance(name, str) and not elsewhere:
                    office.names.setdefault(name_key(name), []).append(cc_id)
    except LiveStateError as exc:
        office.error = str(exc)
    return office


def _verified(create: PlannedCreate, answer: Mapping[str, Any]) -> tuple[Status, str | None]:
    """Created only if the answer is a call center in the office asked, showing every field as sent."""
    wrong = mismatched_fields(create.body, answer)
    office = answer.get("office_id")
    if office is not None and answer_id(office) != create.office_id:
        wrong.append(f"office_id (the answer says {office})")
    if wrong:
        return Status.MISMATCH, "the API created it but did not take: " + ", ".join(wrong)
    return Status.CREATED, None


@dataclass
class CreatePhase:
    """What the create phase of one run needs and collects."""

    client: ApiClient
    journal: Journal
    results: dict[int, RowResult]  # the run's results: a row counts once its line is on disk
    answered: dict[int, RowResult]  # every row the API answered (kept if the journal fails)
    start_times: list[float]  # the run's attempt starts (its achieved rate)
    redact: Any
    progress: QuietProgress
    stop: asyncio.Event
    offices: dict[int, Office] = field(default_factory=dict)
    hashes: dict[int, str] = field(default_factory=dict)
    found: dict[int, int] = field(default_factory=dict)  # row -> id found by name after an unsure POST

    def _record(self, create: PlannedCreate, result: RowResult, *, unsure: bool = False) -> None:
        result = _redacted(result, self.redact)
        if result.attempts:
            self.answered[create.row] = result
        key = {"office_id": create.office_id, "name": create.key[1], **({"unsure": True} if unsure else {})}
        if not self.journal.record(result, self.hashes[create.row],
                                   on_synced=partial(self.results.__setitem__, create.row, result),
                                   extra={"create": key}):
            self.results[create.row] = replace(result, error=_joined(result.error, self.journal.unrecorded_note()))

    async def call(self, client: ApiClient, create: PlannedCreate, stop: asyncio.Event) -> ApiResult:
        """Journal the intent, then POST; an unsure answer is settled by name before any second POST."""
        intent = {"row": create.row, "office_id": create.office_id, "name": create.key[1],
                  "body": self.hashes[create.row]}
        if not await self.journal.write_now({"intent": intent}):
            return ApiResult(False, None, 0, 0, error="not sent: the journal could not record the create first")
        total = ApiResult(False, None, 0, 0)
        for _ in range(max(1, client.policy.max_attempts)):
            api = await client.call("POST", CREATE_PATH, create.body, stop=stop, idempotent=False)
            total.attempts += api.attempts
            total.started_at += api.started_at
            total.duration_ms += api.duration_ms
            total.http_status, total.error, total.data, total.ok = api.http_status, api.error, api.data, api.ok
            if api.ok and id_problem(api.data) is not None:
                total.ok, total.error = False, f"the API answered, but {id_problem(api.data)}"
                api.unsure = True
            if not api.unsure:
                total.unsure = False
                return total
            try:
                found = await self._look_up(client, create, total)
            except RunStopped as exc:  # the key refused mid-look-up: the create's outcome is still unknown
                total.unsure = True
                total.error = f"{total.error}; not looked up by name: {exc.message}"
                raise type(exc)(exc.message, result=total) from exc
            if found is not None or stop.is_set():
                return found or total
            if not client.budget.take(timeout=api.http_status is None):
                break
            await asyncio.sleep(client.policy.delay(total.attempts, client.rng))
        return total

    async def _look_up(self, client: ApiClient, create: PlannedCreate, total: ApiResult) -> ApiResult | None:
        """After an unsure POST: the call center found by name is this row's (an ApiResult as if answered);
        None when it is not there (so it was not made); unsure when the office cannot be read."""
        office = await read_office(client, create.office_id)
        ids = office.names.get(create.key[1], [])
        total.unsure = True
        if office.error is not None:
            total.error = (f"{total.error}; the office's call centers could not be read to find out whether it was "
                           f"made ({office.error}): run the same command with --resume to look again")
            return total
        if len(ids) > 1:
            total.error = (f"{total.error}; office {create.office_id} now has {len(ids)} call centers named "
                           f"{create.key[1]!r} (ids {', '.join(map(str, ids))}): check them in Dialpad")
            return total
        if not ids:
            total.unsure = False
            return None
        total.ok, total.unsure = True, False
        self.found[create.row] = ids[0]
        total.error = f"found by name in office {create.office_id} after the POST got no clear answer: {total.error}"
        return total

    def settle_found(self, create: PlannedCreate, cc_id: int, note: str, api: ApiResult | None = None) -> None:
        """The row's call center was found by name in its office: created, with that id (no POST of it now)."""
        self._record(create, RowResult(row=create.row, id=cc_id, status=Status.CREATED,
                                       http_status=api.http_status if api else None,
                                       attempts=api.attempts if api else 0, error=note,
                                       duration_ms=api.duration_ms if api else None))

    def on_result(self, create: PlannedCreate, api: ApiResult) -> None:
        self.progress.advance(Status.CREATED if api.ok else Status.FAILED, api.started_at)
        self.start_times.extend(api.started_at)
        if create.row in self.found:
            self.settle_found(create, self.found.pop(create.row), api.error or "", api)
            return
        result = RowResult(row=create.row, id=None, status=Status.FAILED, http_status=api.http_status,
                           attempts=api.attempts, error=api.error, duration_ms=api.duration_ms)
        if api.attempts == 0:
            result.status = Status.NOT_SENT
            self._record(create, result)  # closes the intent: nothing went out
        elif not api.ok:
            self._record(create, result, unsure=api.unsure)
        else:
            result.id = answer_id(api.data.get("id"))
            result.status, result.error = _verified(create, api.data)
            listed = self.offices.get(create.office_id)
            if listed is not None and any(result.id in ids for ids in listed.names.values()):
                # Not a new call center: the office listed it before the POST. Failed, so the created
                # sheet never lists it (a rollback with --allow-delete would delete a center it did not make).
                result.status = Status.FAILED
                result.error = (f"the API answered with call center {result.id}, which office {create.office_id} "
                                "already had before this create: not taken as created (check the office in Dialpad)")
            self._record(create, result)


def _joined(*texts: str | None) -> str | None:
    shown = [t for t in texts if t]
    return "; ".join(shown) if shown else None


def _redacted(result: RowResult, redact: Any) -> RowResult:
    result.error = redact(result.error) if result.error else result.error
    return result


def clash_message(create: PlannedCreate, ids: list[int]) -> str:
    which = f"id {ids[0]}" if len(ids) == 1 else "ids " + ", ".join(map(str, ids))
    return (f"office {create.office_id} already has a call center named {create.key[1]!r} ({which}): nothing was "
            "sent for this row. To change that call center, put its id in the id column; to make another one, "
            "give this row another name")


async def run_creates(phase: CreatePhase, plan: Plan, *, concurrency: int, skip_invalid: bool,
                      target_label: str) -> str | None:
    """Send the plan's creates (see the module's docstring). Returns why the run is refused, or None.

    Rows are settled into `phase.results`: done by an earlier run, found after a crash, invalid
    (a name already live), failed (an office that cannot be read), created."""
    phase.hashes = {c.row: body_hash(c.body) for c in plan.creates}
    pending = []
    for create in plan.creates:
        earlier = phase.journal.created.get(create.key)
        if earlier is not None and earlier[0].id is not None and earlier[1] == phase.hashes[create.row]:
            phase.results[create.row] = replace(earlier[0], row=create.row)
        else:
            pending.append(create)
    if not pending:
        return None
    offices = sorted({c.office_id for c in pending})
    phase.progress.start(len(offices), target_label, phase="listing")
    try:
        for office_id in offices:
            if phase.stop.is_set():
                break
            phase.offices[office_id] = office = await read_office(phase.client, office_id)
            phase.progress.advance("read" if office.error is None else Status.FAILED)
    finally:
        phase.progress.close()
    to_send, clashes = [], 0
    for create in pending:
        listed = phase.offices.get(create.office_id)
        if listed is None:
            continue  # stopped before its office was read: not sent
        if listed.error is not None:
            phase.results[create.row] = RowResult(row=create.row, id=None, status=Status.FAILED, error=_redact(
                phase, f"not sent: the call centers of office {create.office_id} could not be read, so whether "
                       f"{create.key[1]!r} already exists is not known ({listed.error})"))
            continue
        ids = listed.names.get(create.key[1], [])
        if create.key in phase.journal.intents:  # an earlier run stopped not knowing whether it was made
            if len(ids) == 1:
                phase.settle_found(create, ids[0], "made by an earlier run that stopped before it knew (found by "
                                                   f"name in office {create.office_id}); not sent again")
                continue
            if not ids:
                to_send.append(create)
                continue
        if ids:
            clashes += 1
            phase.results[create.row] = RowResult(row=create.row, id=None, status=Status.INVALID,
                                                  error=_redact(phase, clash_message(create, ids)))
        else:
            to_send.append(create)
    if clashes and not skip_invalid:
        rows = "1 row creates a call center whose name" if clashes == 1 else \
            f"{clashes} rows create call centers whose names"
        return (f"{rows} already exist{'s' if clashes == 1 else ''} in the office: nothing was sent (fix them, or "
                "pass --skip-invalid to send the other rows)")
    if to_send and not phase.stop.is_set():
        phase.progress.start(len(to_send), target_label, phase="creating")
        try:
            await run_pool(phase.client, to_send, phase.call, phase.on_result, concurrency=concurrency,
                           stop=phase.stop)
        finally:
            phase.progress.close()
    return None


def _redact(phase: CreatePhase, text: str) -> str:
    return phase.redact(text)


def created_entries(creates: list[PlannedCreate], results: Mapping[int, RowResult]) -> list[dict[str, Any]]:
    """The created sheet's rows: each create whose call center exists (created, or created but mismatched)."""
    entries = []
    for create in creates:
        result = results.get(create.row)
        if result is not None and result.id is not None and result.status in (Status.CREATED, Status.MISMATCH):
            entries.append({"id": result.id, "name": create.name, "office_id": create.office_id})
    return entries


async def name_clashes(client: ApiClient, creates: list[PlannedCreate]) -> dict[int, str]:
    """`plan --diff`: each create whose name is already live in its office (or whose office cannot be
    read), with why; one listing per office."""
    offices = {office_id: await read_office(client, office_id) for office_id in sorted({c.office_id for c in creates})}
    clashes = {}
    for create in creates:
        office = offices[create.office_id]
        ids = office.names.get(create.key[1], [])
        if office.error is not None:
            clashes[create.row] = (f"the call centers of office {create.office_id} could not be read, so whether "
                                   f"{create.key[1]!r} already exists is not known ({office.error})")
        elif ids:
            clashes[create.row] = clash_message(create, ids).replace("nothing was sent", "it would not be sent")
    return clashes
