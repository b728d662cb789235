"""Rolling back creates: `DELETE /api/v2/callcenters/{id}` for the created sheet of a rollback workbook.

This is the only module of bulkcc that sends a DELETE (a test holds every other
module to that), and it does so only when the run was given --allow-delete, and
only for a row the run that wrote the rollback is shown (by its own journal) to
have created: a row that carries a `problem` is never sent (`bulkcc.run.undo`).
Without --allow-delete the created sheet's rows are not sent, each says how to delete it,
and the run exits 1 (the rollback is not complete). Deletes go after the PATCH
rows of the same workbook (a rollback undoes the run in reverse: its updates
were sent after its creates), through the run's one client and pacer, and each
finished delete is journaled, so --resume does not send it again.

Before its DELETE, each call center is read: it is deleted only if it is still the
one the created sheet names (its id, name and office), so an edited sheet or a
center renamed since cannot turn a rollback into the loss of someone else's
call center. One that is gone already (404) is `unchanged`: nothing to delete.
A delete is verified like any write: the answer must be the call center asked
for (or name none). A 404 after a retry means the first attempt took it (the
answer was lost): deleted, and said so; a 404 on the first attempt is failed,
since that call center was not there to delete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from bulkcc.names import name_key
from bulkcc.run.answers import answer_id
from bulkcc.run.journal import Journal, JournalState
from bulkcc.run.progress import QuietProgress
from bulkcc.send.client import ApiClient, ApiResult
from bulkcc.send.pool import run_pool
from bulkcc.status import FINAL_STATUSES, Status
from bulkcc.workbook.created import CREATED_SHEET, CreatedRow
from bulkcc.workbook.results import RowResult

DELETE_BODY = "delete"  # the journal's body hash of a delete: it has no body
DELETES_SHEET = "Deleted"  # the results workbook's sheet of the created sheet's rows
NOT_ALLOWED = (f"not deleted: deleting a call center needs --allow-delete (run the same command with "
               f"--allow-delete to delete the call centers of the {CREATED_SHEET} sheet)")


@dataclass(frozen=True)
class DeleteRequest:
    item: CreatedRow

    @property
    def path(self) -> str:
        return f"/api/v2/callcenters/{self.item.id}"

    @property
    def body(self) -> dict[str, Any]:
        return {}


async def delete_call(client: ApiClient, request: DeleteRequest, stop: asyncio.Event) -> ApiResult:
    """The one DELETE of bulkcc: reached only from `run_deletes`, and that only with --allow-delete;
    sent only once a GET shows the call center the created sheet names. When it is not sent, the
    answer has 0 attempts and says why (a 404 of the GET: it is gone already)."""
    live = await client.call("GET", request.path, stop=stop)
    why = _not_to_delete(request.item, live)
    if why is not None:
        return replace(live, ok=False, attempts=0, data=None, error=why)
    return await client.call("DELETE", request.path, stop=stop)


def _not_to_delete(item: CreatedRow, live: ApiResult) -> str | None:
    """Why the live call center must not be deleted, or None when it is the one the created sheet names."""
    if live.http_status == 404:
        return f"call center {item.id} is not there (404): nothing to delete"
    if not live.ok or not isinstance(live.data, Mapping):
        return f"not deleted: call center {item.id} could not be read first ({live.error}); run again to retry"
    got = answer_id(live.data.get("id"))
    if got != item.id:
        return f"not deleted: reading call center {item.id} answered with call center {got}: check it in Dialpad"
    name = live.data.get("name")
    if name_key(name) != name_key(item.name):
        return (f"not deleted: call center {item.id} is now named {str(name)!r}, not {item.name!r} as the "
                f"{CREATED_SHEET} sheet says (renamed since, or the sheet was edited): delete it in Dialpad if "
                "it should go")
    office = answer_id(live.data.get("office_id"))
    if item.office_id is not None and office != item.office_id:
        return (f"not deleted: call center {item.id} is in office {office}, not {item.office_id} as the "
                f"{CREATED_SHEET} sheet says: delete it in Dialpad if it should go")
    return None


def journal_of(rollback: Path, about: Mapping[str, str] | None) -> Path:
    """The journal of the run a rollback workbook undoes: where its rollback sheet says, else beside it
    (the same name; for a rollback without that sheet, the journal of its results by bulkcc's naming)."""
    if about is not None and about.get("journal"):
        recorded = Path(about["journal"])
        return recorded if recorded.is_file() else rollback.with_name(recorded.name)
    stem = rollback.stem.removesuffix("-rollback")
    return rollback.with_name(f"{stem}.journal.jsonl")


def run_journal(journal: Path, run_id: str | None) -> tuple[JournalState | None, str]:
    """The journal of the run a rollback undoes, or None and why it proves nothing. `run_id` is the run
    the rollback names (None: a rollback written before runs had ids): a journal of another run proves
    nothing."""
    from bulkcc.run.journal import read_journal_state

    if run_id is not None and not run_id.strip():
        return None, ("the rollback sheet names no run (its run row is blank or gone: edited?), so no journal can "
                      "prove what that run did")
    if not journal.is_file():
        return None, (f"the journal of the run, {journal.name} (beside the rollback workbook, or where its rollback "
                      "sheet says), is not there, so nothing proves what that run did: put the journal back beside "
                      "the rollback workbook")
    try:
        state = read_journal_state(journal)
    except OSError as exc:
        return None, f"the journal {journal.name} cannot be read ({exc.strerror or exc})"
    if run_id is not None and str(state.header.get("run") or "") != run_id:
        return None, (f"the journal {journal.name} is another run's than the one this rollback undoes (its run id "
                      "differs), so it proves nothing of what that run did")
    return state, ""


def prove_created(items: Sequence[CreatedRow], journal: Path, run_id: str | None) -> list[CreatedRow]:
    """The created sheet's rows, each that the run's journal does not show that run creating (with its id,
    name and office) carrying why it is never deleted (see `run_journal`)."""
    return created_proven(items, journal.name, *run_journal(journal, run_id)) if items else []


def created_proven(items: Sequence[CreatedRow], journal_name: str, state: JournalState | None,
                   why: str) -> list[CreatedRow]:
    """`prove_created`, of a journal read already (`run_journal`)."""
    if state is None:
        return [item if item.problem is not None else replace(item, problem=f"not deleted: {why}") for item in items]
    made = {(result.id, office, name_key(name)) for (office, name), (result, _) in state.creates.items()
            if result.id is not None and result.status in (Status.CREATED, Status.MISMATCH)}
    out = []
    for item in items:
        if item.problem is None and (item.id, item.office_id, name_key(item.name)) not in made:
            item = replace(item, problem=(
                f"not deleted: the journal of the run this rollback undoes ({journal_name}) does not show that "
                f"run creating call center {item.id} named {item.name!r} in office {item.office_id}: a rollback "
                f"deletes only what its own run created (was the {CREATED_SHEET} sheet edited?)"))
        out.append(item)
    return out


def delete_result(item: CreatedRow, api: ApiResult) -> RowResult:
    result = RowResult(row=item.row, id=item.id, status=Status.FAILED, http_status=api.http_status,
                       attempts=api.attempts, error=api.error, duration_ms=api.duration_ms)
    if api.attempts == 0:  # the DELETE was not sent (the GET before it): gone already, or not ours to delete
        result.status = Status.UNCHANGED if api.http_status == 404 else Status.NOT_SENT
    elif api.ok:
        got = api.data.get("id") if isinstance(api.data, Mapping) else None
        if got is not None and answer_id(got) != item.id:
            result.status, result.error = Status.MISMATCH, (f"the API answered with call center {got}, not {item.id}, "
                                                            "the one asked to delete: check both in Dialpad")
        else:
            result.status, result.error = Status.DELETED, None
    elif api.http_status == 404 and api.attempts > 1:
        result.status = Status.DELETED
        result.error = "the first attempt's answer was lost and the retry found it gone (404): deleted by that attempt"
    return result


def delete_results(items: Sequence[CreatedRow], journal: Journal) -> dict[int, RowResult]:
    """The created sheet's rows an earlier run of these --results already deleted."""
    done = {}
    for item in items:
        earlier = journal.previous.get(item.id)
        if earlier and earlier[1] == DELETE_BODY and earlier[0].status in FINAL_STATUSES:
            done[item.row] = replace(earlier[0], row=item.row)
    return done


async def run_deletes(client: ApiClient, items: Sequence[CreatedRow], *, allow: bool, journal: Journal,
                      results: dict[int, RowResult], start_times: list[float], redact: Callable[[str], str],
                      progress: QuietProgress, stop: asyncio.Event, concurrency: int, target_label: str) -> None:
    """Delete the created sheet's call centers (only with `allow`, and never a row that carries a
    `problem`: a cell that does not read, or no proof that the run created it); `results` by
    created-sheet row."""
    for item in items:
        if item.problem is not None or not allow:
            results[item.row] = RowResult(row=item.row, id=item.id or None, status=Status.NOT_SENT,
                                          error=redact(item.problem) if item.problem is not None else NOT_ALLOWED)
    if not allow:
        return
    results.update(delete_results([item for item in items if item.problem is None], journal))
    to_send = [DeleteRequest(item) for item in items if item.row not in results]

    def on_result(request: DeleteRequest, api: ApiResult) -> None:
        result = delete_result(request.item, api)
        result.error = redact(result.error) if result.error else result.error
        start_times.extend(api.started_at)
        progress.advance(result.status, api.started_at)
        if result.status in (Status.NOT_SENT, Status.UNCHANGED):
            results[request.item.row] = result
            return
        if not journal.record(result, DELETE_BODY, on_synced=partial(results.__setitem__, request.item.row, result)):
            results[request.item.row] = replace(result, error=f"{result.error or 'deleted'}; "
                                                              f"{journal.unrecorded_note()}")

    if to_send and not stop.is_set():
        progress.start(len(to_send), target_label, phase="deleting")
        try:
            await run_pool(client, to_send, delete_call, on_result, concurrency=concurrency, stop=stop)
        finally:
            progress.close()


def all_deletes(items: Sequence[CreatedRow], results: Mapping[int, RowResult], not_sent_error: str) -> list[RowResult]:
    """One result per row of the created sheet (once the journal is drained): a row with none was not sent."""
    return [results.get(item.row) or RowResult(row=item.row, id=item.id, status=Status.NOT_SENT, error=not_sent_error)
            for item in items]


DELETED_COLUMNS = ("row", "id", "name", "office_id", "status", "http_status", "attempts", "error")


def deleted_sheet(items: Sequence[CreatedRow], results: Sequence[RowResult]) -> tuple[str, tuple[str, ...],
                                                                                         list[list[Any]]]:
    """The results workbook's Deleted sheet: each row of the created sheet and what became of it."""
    rows = [[item.row, str(item.id) if item.id else None, item.name,
             None if item.office_id is None else str(item.office_id),
             str(result.status), result.http_status, result.attempts, result.error]
            for item, result in zip(items, results, strict=True)]
    return DELETES_SHEET, DELETED_COLUMNS, rows
