"""--diff: read the live call centers, send only what differs, keep what it was.

For each planned row, the live call center is read first (paced and retried
like every call) and compared column by column with the row. Only the changed
fields are sent; a row with no difference is `unchanged` and not sent.
`routing_options` is the exception: the API takes it only whole (both states,
each with action and try_dial_operators, the DTMF menu as a whole list), so
when any routing cell changes, the routing is sent complete, its blank parts
filled from the live state: a blank cell leaves a setting as it is, with --diff
as everywhere, and the admin never retypes what stays the same. (To drop a DTMF
key, set its action to `disabled`.) Text compares without the leading and
trailing blanks a cell cannot keep (the reader strips them). The prior value of
every changed field is kept, to write the rollback workbook before anything is
sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .client import ApiClient, ApiResult
from .fields import FIELDS_BY_PATH
from .payload import PlannedRequest, body_from_values, cell_value, values_from_callcenter
from .runner import get_call, run_pool

ROUTING = "routing_options."


@dataclass
class RowDiff:
    """What a row would change on its live call center."""

    request: PlannedRequest  # the body holds only what differs (routing whole)
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)  # (column, live value, new value)
    prior: dict[str, Any] = field(default_factory=dict)  # column -> live value, to put back on rollback

    @property
    def unchanged(self) -> bool:
        return not self.changes

    def changes_text(self) -> str:
        return "; ".join(f"{path}: {_shown(path, old)} → {_shown(path, new)}" for path, old, new in self.changes)


def _shown(path: str, value: Any) -> str:
    if value is None:
        return "(not set)"
    rendered = cell_value(FIELDS_BY_PATH[path], value)
    if isinstance(rendered, bool):
        return "TRUE" if rendered else "FALSE"
    return str(rendered)


def _same(live: Any, new: Any) -> bool:
    """Equal as the sheet can tell: a cell cannot keep text's leading or trailing blanks."""
    if isinstance(live, str) and isinstance(new, str):
        return live.strip() == new
    return live == new


def diff_row(request: PlannedRequest, row: Mapping[str, Any], live: Mapping[str, Any]) -> RowDiff:
    """Compare a row's values (parsed cells) with its live call center (as the API returns it)."""
    live_values = values_from_callcenter(live)
    changes = [(path, live_values.get(path), new) for path, new in row.items()
               if path != "id" and not _same(live_values.get(path), new)]
    live_routing = {p: v for p, v in live_values.items() if p.startswith(ROUTING)}
    row_routing = {p: v for p, v in row.items() if p.startswith(ROUTING)}
    changed = {path for path, _, _ in changes}
    to_send = {path: row[path] for path in changed if not path.startswith(ROUTING)}
    prior = {path: live_values.get(path) for path in changed if not path.startswith(ROUTING)}
    if any(path.startswith(ROUTING) for path in changed):
        to_send.update({**live_routing, **row_routing})
        prior.update(live_routing)  # the rollback must restore routing whole too
    body = body_from_values(to_send)
    return RowDiff(PlannedRequest(request.row, request.id, body), changes, prior)


async def fetch_and_diff(client: ApiClient, requests: Sequence[PlannedRequest],
                         values_by_row: Mapping[int, Mapping[str, Any]], *, concurrency: int,
                         stop: asyncio.Event) -> tuple[dict[int, RowDiff], dict[int, ApiResult]]:
    """Read each request's live call center; return diffs by row, and the reads that failed by row."""
    diffs: dict[int, RowDiff] = {}
    failures: dict[int, ApiResult] = {}

    def on_result(request: PlannedRequest, result: ApiResult) -> None:
        if result.ok and isinstance(result.data, Mapping):
            diffs[request.row] = diff_row(request, values_by_row[request.row], result.data)
        else:
            failures[request.row] = result

    await run_pool(client, requests, get_call, on_result, concurrency=concurrency, stop=stop)
    return diffs, failures


def split_by_diff(requests: Sequence[PlannedRequest], diffs: Mapping[int, RowDiff]
                  ) -> tuple[list[PlannedRequest], list[PlannedRequest], dict[int, str]]:
    """(what to send: the diff bodies, the unchanged requests, changes text by row), in plan order.

    Requests whose live state could not be read are in neither list.
    """
    to_send, unchanged, changes = [], [], {}
    for request in requests:
        diff = diffs.get(request.row)
        if diff is None:
            continue
        if diff.unchanged:
            unchanged.append(request)
        else:
            to_send.append(diff.request)
            changes[request.row] = diff.changes_text()
    return to_send, unchanged, changes


def rollback_rows(diffs: Sequence[RowDiff]) -> list[dict[str, Any]]:
    """Rows of an input workbook that put every changed field back as it was."""
    rows = []
    for diff in sorted(diffs, key=lambda d: d.request.row):
        if diff.unchanged:
            continue
        row: dict[str, Any] = {"id": diff.request.id}
        for path, value in diff.prior.items():
            if value is not None:
                row[path] = cell_value(FIELDS_BY_PATH[path], value)
        rows.append(row)
    return rows


async def diff_plan(requests: Sequence[PlannedRequest], values_by_row: Mapping[int, Mapping[str, Any]],
                    options) -> tuple[dict[int, RowDiff], dict[int, ApiResult]]:
    """`plan --diff`: read the live state of every planned row and diff it; nothing is written."""
    from .connection import connect

    async with connect(options, simulator_ids=[r.id for r in requests]) as conn:
        return await fetch_and_diff(conn.client, requests, values_by_row, concurrency=options.pool_size,
                                    stop=asyncio.Event())


def read_rollback(path) -> list[dict[str, Any]]:
    """The rows of an existing rollback workbook, as cells (to merge on --resume)."""
    from .reader import read_sheet

    frame = read_sheet(path).frame
    return [{c: v for c, v in zip(frame.columns, values) if v is not None}
            for values in frame.itertuples(index=False, name=None)]


def merge_rollback(earlier: Sequence[Mapping[str, Any]], later: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One rollback of two runs: per call center and field, the value seen first (the true prior) wins."""
    merged: dict[int, dict[str, Any]] = {}
    for row in [*earlier, *later]:
        key = int(str(row["id"]).split(".")[0])  # ids are text; an old file may hold 1001.0
        merged[key] = {**row, **merged.get(key, {})}
    return list(merged.values())
