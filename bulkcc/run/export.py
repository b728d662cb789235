"""`bulkcc export`: the live call centers as a workbook in the template's format.

Reads every call center (`GET /api/v2/callcenters`, following the cursor) or the
ones named by id, through the same paced, retrying client as apply, and writes
one row per call center: int64 strings as numbers (ids as text, all 16 digits
kept), hours as `08:00-18:00` text,
DTMF menus spread over their per-key columns. Fields the PATCH cannot set are
shown under `info.` columns, which validate and apply ignore, the office's name
beside its id (one listing of the offices). An unedited
export validates cleanly for --diff, and applying it with --diff changes
nothing, whatever the API returned: a value no cell can hold exactly is left
blank, with a note (Excel row, column, why) returned as `notes` and printed by
`bulkcc export` (see `export_cells`).

Any shape the official schema allows is coped with (every field is nullable,
`id` included): an item that cannot be a row is skipped and reported, never a
traceback; a listing that cannot be trusted whole (a page that is not a list,
a cursor that repeats) stops the export before anything is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulkcc.errors import LiveStateError, Problem
from bulkcc.plan.payload import PlannedRequest
from bulkcc.run.answers import answer_id, fields_problem, id_problem, kind_of, other_callcenter
from bulkcc.run.export_cells import CONTEXT_FIELDS, context_cells, live_cells, write_export
from bulkcc.run.export_operators import ExportedOperators, read_operators_for_export
from bulkcc.run.listing import list_pages
from bulkcc.send.client import ApiClient, ApiResult
from bulkcc.send.connection import ConnectionOptions, connect
from bulkcc.send.pool import get_call, run_pool

__all__ = ["CONTEXT_FIELDS", "ExportQuery", "Exported", "callcenter_row", "export", "export_async"]


@dataclass(frozen=True)
class ExportQuery:
    ids: tuple[int, ...] = ()
    office_id: int | None = None
    name_search: str | None = None


class Exported(list[dict[str, Any]]):
    """What export returns: the call centers written (a list, as always), and `notes`.

    `notes` are the cells left blank because no cell can hold the live value
    exactly, and the live routing entries no column holds: `Problem` records of
    the written workbook (Excel row, column or API path, live value, why).
    """

    def __init__(self, callcenters: list[dict[str, Any]], notes: list[Problem],
                 operators: ExportedOperators | None = None, office_note: str | None = None):
        super().__init__(callcenters)
        self.notes = notes
        self.operators = operators  # with --operators: the operators sheet's rows, their request count, notes
        self.office_note = office_note  # why the offices' names could not be shown, if they could not


def callcenter_row(callcenter: dict[str, Any]) -> dict[str, Any]:
    """One exported row: every settable field a cell can hold exactly, then the info. context."""
    return {**live_cells(callcenter)[0], **context_cells(callcenter)}


Report = Callable[[str], None]


@dataclass
class _Listed:
    """One call center as an answer held it, and where (for a message)."""

    where: str  # "page 2, item 5" or "call center 123"
    data: Any


async def _list_all(client: ApiClient, query: ExportQuery) -> list[_Listed]:
    params: dict[str, Any] = {}
    if query.office_id is not None:
        params["office_id"] = query.office_id
    if query.name_search:
        params["name_search"] = query.name_search
    listed: list[_Listed] = []
    try:
        async for page in list_pages(client, params):
            listed += [_Listed(f"page {page.number}, item {n}", item) for n, item in enumerate(page.items, start=1)]
    except LiveStateError as exc:
        raise LiveStateError(f"{exc}; nothing was written, since the export would be incomplete") from exc
    return listed


async def _get_each(client: ApiClient, ids: Sequence[int], concurrency: int) -> list[_Listed]:
    """GET each id through the same worker pool as apply; the first failure stops the export."""
    requests = [PlannedRequest(row=position, id=cc_id, body={}) for position, cc_id in enumerate(ids)]
    found: dict[int, dict[str, Any]] = {}
    failed: list[str] = []

    def on_result(request: PlannedRequest, result: ApiResult) -> None:
        error = result.error if not result.ok else other_callcenter(result.data, request.id)
        if error is None:
            found[request.id] = result.data
        elif not failed:
            failed.append(f"reading call center {request.id} failed: {error}")
            stop.set()

    stop = asyncio.Event()
    await run_pool(client, requests, get_call, on_result, concurrency=concurrency, stop=stop)
    if failed:
        raise LiveStateError(failed[0])
    return [_Listed(f"call center {cc_id}", found[cc_id]) for cc_id in ids]


def _rows(listed: Sequence[_Listed], report: Report) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The call centers that can be exported and their rows, in id order; each other one is reported."""
    kept: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    first_seen: dict[int, str] = {}
    for item in listed:
        if not isinstance(item.data, dict):
            report(f"{item.where}: skipped: it is {kind_of(item.data)}, not a call center")
            continue
        problem = id_problem(item.data)
        cc_id = answer_id(item.data.get("id"))
        if problem is not None or cc_id is None:
            report(f"{item.where}: skipped: {problem}, so no row could ever be applied to it")
            continue
        if cc_id in first_seen:
            report(f"{item.where}: skipped: call center {cc_id} was listed before ({first_seen[cc_id]})")
            continue
        first_seen[cc_id] = item.where
        problem = fields_problem(item.data)
        if problem is not None:
            report(f"{item.where} (call center {cc_id}): skipped: {problem}")
            continue
        kept[cc_id] = (item.data, callcenter_row(item.data))
    ordered = [kept[cc_id] for cc_id in sorted(kept)]
    return [cc for cc, _ in ordered], [row for _, row in ordered]


async def _office_names(client: ApiClient) -> tuple[dict[int, str], str | None]:
    """Each office's name, for the `info.office_name` column beside `info.office_id` (one listing), and a note
    if it cannot be read: only context, so the column is then left out, and the note says why."""
    from bulkcc.run.resolve import OFFICES_PATH, parse_office

    try:
        items = [item async for page in list_pages(client, None, limit=None, path=OFFICES_PATH, what="offices")
                 for item in page.items]
    except LiveStateError as exc:
        return {}, f"the offices' names are not shown (info.office_name): {exc}"
    return {office.id: office.name for office in map(parse_office, items) if office is not None and office.name}, \
        None


async def export_async(output: Path, query: ExportQuery, options: ConnectionOptions,
                       report: Report | None = None, operators: bool = False) -> Exported:
    """Read the call centers and write the workbook; returns the call centers written, with the notes.

    A listed item that cannot be a row (not an object, no usable id, listed
    twice, fields that do not read) is skipped and told to `report`, one line
    each; an answer that makes the whole listing doubtful raises LiveStateError.
    With `operators`, each call center's operators fill the operators sheet
    (`export_operators`: any read that fails stops the export).
    """
    report = report or (lambda _line: None)
    # The simulator serves the ids asked for (made up if it lacks them), besides its demo company.
    async with connect(options, simulator_ids=query.ids) as conn:
        if query.ids:
            listed = await _get_each(conn.client, query.ids, options.pool_size)
        else:
            listed = await _list_all(conn.client, query)
        callcenters, _ = _rows(listed, report)
        office_names, office_note = await _office_names(conn.client) if callcenters else ({}, None)
        exported = None
        if operators:
            ids = [answer_id(cc.get("id")) for cc in callcenters]
            names = {cc_id: cc["name"] for cc_id, cc in zip(ids, callcenters, strict=True)
                     if cc_id is not None and isinstance(cc.get("name"), str)}
            exported = await read_operators_for_export(conn.client, [i for i in ids if i is not None],
                                                       concurrency=options.pool_size, names=names)
    # The rows again, checked by reading them back.
    notes = write_export(output, callcenters, exported.rows if exported is not None else None, office_names)
    return Exported(callcenters, notes, exported, office_note)


def export(output: Path, query: ExportQuery, options: ConnectionOptions,
           report: Report | None = None, operators: bool = False) -> Exported:
    return asyncio.run(export_async(output, query, options, report, operators))
