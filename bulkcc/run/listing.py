"""Listing call centers page by page (`GET /api/v2/callcenters`, cursor paging).

Export reads every page; --diff reads pages only until every row's call
center has been seen. Both go through `list_pages`, which asks for `limit`
call centers a page (the spec's pagination note) and refuses a listing that
cannot be trusted whole: a page that is not a list, a cursor that is not text,
that repeats (a loop) or that is far too long, a listing that never ends.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from bulkcc.errors import LiveStateError
from bulkcc.run.answers import kind_of
from bulkcc.send.client import ApiClient

LIST_PATH = "/api/v2/callcenters"
PAGE_LIMIT = 100  # call centers asked for per page
MAX_PAGES = 10_000  # a cursor that never ends is the API's bug, not a reason to loop forever
# Dialpad's cursors are a few dozen characters. Every cursor is kept (to see a loop) and sent back in the
# next URL: a listing whose cursors grow without end would fill memory and URLs long before MAX_PAGES.
MAX_CURSOR = 2_000


@dataclass
class Page:
    number: int  # from 1
    items: list[Any]
    started_at: list[float] = field(default_factory=list)  # the call's attempt starts (for progress)
    more: bool = False  # the answer gave a cursor: another page follows


def _page_items(data: Mapping[str, Any], page: int, what: str = "call centers") -> list[Any]:
    items = data.get("items")
    if items is None:  # the schema allows a null list: an empty page
        return []
    if not isinstance(items, list):
        raise LiveStateError(f"listing {what}: page {page} is not a list of {what} (its items "
                             f"are {kind_of(items)})")
    return items


def office_path(office_id: int) -> str:
    """An office's call centers (`GET /api/v2/offices/{office_id}/callcenters`, cursor paging, no limit)."""
    return f"/api/v2/offices/{office_id}/callcenters"


async def list_pages(client: ApiClient, params: Mapping[str, Any] | None = None,
                     limit: int | None = PAGE_LIMIT, path: str = LIST_PATH, what: str = "call centers"
                     ) -> AsyncGenerator[Page, None]:
    """Each page of the listing at `path` (of `what`, for messages), in order; LiveStateError when the
    listing cannot be trusted. `limit` None: the endpoint takes none (an office's listing)."""
    base = {**(params or {}), **({"limit": limit} if limit is not None else {})}
    cursor = None
    seen: dict[str, int] = {}  # cursor -> the page that gave it
    for number in range(1, MAX_PAGES + 1):
        query = {**base, **({"cursor": cursor} if cursor else {})}
        result = await client.call("GET", f"{path}?{urlencode(query)}" if query else path)
        if not result.ok or not isinstance(result.data, dict):
            raise LiveStateError(f"listing {what} failed at page {number}: {result.error}")
        yield Page(number, _page_items(result.data, number, what), result.started_at,
                   more=bool(result.data.get("cursor")))
        cursor = result.data.get("cursor")
        if not cursor:
            return
        if not isinstance(cursor, str):
            raise LiveStateError(f"listing {what}: page {number} gives a cursor that is {kind_of(cursor)}, "
                                 "not text")
        if len(cursor) > MAX_CURSOR:
            raise LiveStateError(f"listing {what}: page {number} gives a cursor of {len(cursor):,} characters, over "
                                 f"the {MAX_CURSOR:,} a cursor may have, so the listing cannot be trusted whole")
        if cursor in seen:
            raise LiveStateError(f"listing {what} loops: page {number} gives the same cursor as page "
                                 f"{seen[cursor]}, so the listing would never end")
        seen[cursor] = number
    raise LiveStateError(f"listing {what} did not end after {MAX_PAGES} pages")
