"""`bulkcc export`: the live call centers as a workbook in the template's format.

Reads every call center (`GET /api/v2/callcenters`, following the cursor) or the
ones named by id, through the same paced, retrying client as apply, and writes
one row per call center: int64 strings as numbers (ids as text, all 16 digits
kept), hours as `08:00-18:00` text,
DTMF menus spread over their per-key columns. Fields the PATCH cannot set are
shown under `info.` columns, which validate and apply ignore. An unedited
export validates cleanly, and applying it with --diff changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bulkcc.errors import LiveStateError
from bulkcc.fields import FIELDS
from bulkcc.plan.payload import PlannedRequest, cell_value, values_from_callcenter
from bulkcc.send.client import ApiClient, ApiResult
from bulkcc.send.connection import ConnectionOptions, connect, demo_ids
from bulkcc.send.pool import get_call, run_pool
from bulkcc.workbook.layout import CONTEXT_PREFIX
from bulkcc.workbook.template import build_workbook
from bulkcc.workbook.xlsx import save_atomic

LIST_PATH = "/api/v2/callcenters"
# Read-only fields shown for context; no PATCH ever carries them.
CONTEXT_FIELDS = ("office_id", "timezone", "state", "country", "phone_numbers", "availability_status")
MAX_PAGES = 10_000  # a cursor that never ends is the API's bug, not a reason to loop forever


@dataclass(frozen=True)
class ExportQuery:
    ids: tuple[int, ...] = ()
    office_id: int | None = None
    name_search: str | None = None


def callcenter_row(callcenter: dict[str, Any]) -> dict[str, Any]:
    """One exported row: every settable field as a cell, then the info. context."""
    values = values_from_callcenter(callcenter)
    row = {f.path: cell_value(f, values[f.path]) for f in FIELDS if f.path in values}
    for name in CONTEXT_FIELDS:
        value = callcenter.get(name)
        if value is not None:
            row[CONTEXT_PREFIX + name] = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return row


async def _list_all(client: ApiClient, query: ExportQuery) -> list[dict[str, Any]]:
    params: dict[str, Any] = {}
    if query.office_id is not None:
        params["office_id"] = query.office_id
    if query.name_search:
        params["name_search"] = query.name_search
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(MAX_PAGES):
        page_params = {**params, **({"cursor": cursor} if cursor else {})}
        path = LIST_PATH + (f"?{urlencode(page_params)}" if page_params else "")
        result = await client.call("GET", path)
        if not result.ok or not isinstance(result.data, dict):
            raise LiveStateError(f"listing call centers failed: {result.error}")
        items.extend(result.data.get("items") or [])
        cursor = result.data.get("cursor")
        if not cursor:
            return items
    raise LiveStateError(f"listing call centers did not end after {MAX_PAGES} pages")


async def _get_each(client: ApiClient, ids: Sequence[int], concurrency: int) -> list[dict[str, Any]]:
    """GET each id through the same worker pool as apply; the first failure stops the export."""
    requests = [PlannedRequest(row=position, id=cc_id, body={}) for position, cc_id in enumerate(ids)]
    found: dict[int, dict[str, Any]] = {}
    failed: list[str] = []

    def on_result(request: PlannedRequest, result: ApiResult) -> None:
        if result.ok and isinstance(result.data, dict):
            found[request.id] = result.data
        elif not failed:
            failed.append(f"reading call center {request.id} failed: {result.error}")
            stop.set()

    stop = asyncio.Event()
    await run_pool(client, requests, get_call, on_result, concurrency=concurrency, stop=stop)
    if failed:
        raise LiveStateError(failed[0])
    return [found[cc_id] for cc_id in ids]


async def export_async(output: Path, query: ExportQuery, options: ConnectionOptions) -> list[dict[str, Any]]:
    """Read the call centers and write the workbook; returns the call centers read."""
    # The simulator serves the ids asked for, or a demo company of 250 call centers.
    async with connect(options, simulator_ids=query.ids or demo_ids()) as conn:
        if query.ids:
            callcenters = await _get_each(conn.client, query.ids, options.pool_size)
        else:
            callcenters = await _list_all(conn.client, query)
    callcenters.sort(key=lambda cc: int(cc.get("id", 0)))
    rows = [callcenter_row(cc) for cc in callcenters]
    context = [CONTEXT_PREFIX + name for name in CONTEXT_FIELDS if any(CONTEXT_PREFIX + name in r for r in rows)]
    save_atomic(build_workbook(rows=rows, context_columns=context), output)
    return callcenters


def export(output: Path, query: ExportQuery, options: ConnectionOptions) -> list[dict[str, Any]]:
    return asyncio.run(export_async(output, query, options))
