"""An office's call centers, read to know whether a create is there: before any POST, and after one
whose answer did not settle it.

`read_office` reads every page of `GET /api/v2/offices/{id}/callcenters` and keys
the call centers by their name as a person reads it (`bulkcc.names.name_key`), so
a store that keeps names NFC-normalised, or a name typed with a no-break space,
still finds its center. A listing that cannot be trusted is an `Office` with an
error, never a guess.

A listing may show a new call center only seconds after it was made. So after an
answer that does not settle a create (a timeout, a dropped connection, a 5xx, a
202, a 2xx that is no call center, an answer naming another center), the create
is never sent again: `OfficeLookups.find` lists its office a few times over a
bounded wait (`lookup_offsets`: at once, then after gaps that double from half a
second, the last at the wait, 10 s by default) and stops at the first listing
that shows a center of the name that was not there before the POST. Listings
are shared: every create of one office waiting at the same moment is answered
by one listing that started after each of them asked, so a slow API that leaves
a hundred creates unclear costs a few listings of the office, not a hundred.
What a listing that lags longer than the wait cannot show stays unknown: the
row says it may exist (`maybe_created`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from bulkcc.errors import LiveStateError
from bulkcc.names import name_key
from bulkcc.run.answers import answer_id
from bulkcc.run.listing import list_pages, office_path
from bulkcc.send.client import ApiClient

LOOKUP_WAIT_S = 10.0  # how long a create whose answer said nothing clear is looked for
FIRST_GAP_S = 0.5  # the first wait between two listings; each next one doubles


def lookup_offsets(wait_s: float) -> list[float]:
    """When to list an office after an unclear answer, in seconds from the first look: at once, then
    after gaps that double from half a second, the last at `wait_s` (0, 0.5, 1.5, 3.5, 7.5, 10 for 10 s)."""
    offsets = [0.0]
    gap = FIRST_GAP_S
    while offsets[-1] + gap < wait_s:
        offsets.append(offsets[-1] + gap)
        gap *= 2
    if wait_s > offsets[-1]:
        offsets.append(wait_s)
    return offsets


@dataclass
class Office:
    """The live call centers of one office: ids by name as compared (`name_key`), each id's name as listed."""

    office_id: int
    names: dict[str, list[int]] = field(default_factory=dict)
    listed: dict[int, str] = field(default_factory=dict)
    error: str | None = None  # why the listing could not be read
    items: dict[int, Mapping[str, Any]] = field(default_factory=dict)  # each id's call center as listed

    def found(self, ids: Collection[int]) -> dict[int, Mapping[str, Any]]:
        """The listed call centers of `ids` (what a create found by name is checked against)."""
        return {cc_id: self.items[cc_id] for cc_id in ids if cc_id in self.items}

    def named(self, key: str, exclude: Collection[int] = ()) -> list[int]:
        """The ids of the centers whose name reads as `key` (a `name_key`), less `exclude`."""
        return [cc_id for cc_id in self.names.get(key, []) if cc_id not in exclude]


async def read_office(client: ApiClient, office_id: int) -> Office:
    """Every page of the office's listing; a listing that cannot be trusted is an Office with an error."""
    office = Office(office_id)
    try:
        async for page in list_pages(client, None, limit=None, path=office_path(office_id)):
            for item in page.items:
                if not isinstance(item, Mapping):
                    continue
                cc_id, name = answer_id(item.get("id")), item.get("name")
                elsewhere = item.get("office_id") is not None and answer_id(item.get("office_id")) != office_id
                if cc_id is not None and isinstance(name, str) and not elsewhere:
                    office.names.setdefault(name_key(name), []).append(cc_id)
                    office.listed[cc_id] = name
                    office.items[cc_id] = item
    except LiveStateError as exc:
        office.error = str(exc)
    return office


@dataclass
class Lookup:
    """What looking for a create's call center found: the ids of new centers of its name (exactly
    one is the create's), or none, and why none when the office could not be read."""

    ids: list[int]
    looks: int  # listings read
    waited_s: float
    error: str | None = None  # the last listing could not be read
    stopped: bool = False  # the run was stopped before the wait was over
    items: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)  # each found id's call center as listed

    def words(self) -> str:
        """How it was looked for: "3 listings over 3.5 s"."""
        return f"{self.looks} listing{'' if self.looks == 1 else 's'} over {self.waited_s:.1f} s"


class OfficeLookups:
    """Fresh listings of offices, shared by every create that waits for one (see the module's docstring)."""

    def __init__(self, client: ApiClient, wait_s: float = LOOKUP_WAIT_S) -> None:
        self.client = client
        self.wait_s = wait_s
        self._latest: dict[int, tuple[float, asyncio.Future[Office]]] = {}

    async def listing_since(self, office_id: int, since: float) -> Office:
        """A listing of the office that started at `since` (client clock) or later: one already under
        way or done if there is one, else a new one."""
        latest = self._latest.get(office_id)
        if latest is None or latest[0] < since:
            latest = (self.client.clock(), asyncio.ensure_future(read_office(self.client, office_id)))
            self._latest[office_id] = latest
        return await asyncio.shield(latest[1])

    async def find(self, office_id: int, key: str, exclude: Collection[int], stop: asyncio.Event) -> Lookup:
        """Look for a center named `key` not in `exclude` (ids that are not this create's), listing the
        office at each of `lookup_offsets` until one shows it."""
        clock = self.client.clock
        start = clock()
        looks, error = 0, None
        for offset in lookup_offsets(self.wait_s):
            delay = start + offset - clock()
            if delay > 0 and await _stopped_within(stop, delay):
                return Lookup([], looks, clock() - start, error, stopped=True)
            office = await self.listing_since(office_id, start + offset)
            looks += 1
            error = office.error
            if error is None and (ids := office.named(key, exclude)):
                return Lookup(ids, looks, clock() - start, items=office.found(ids))
            if stop.is_set():
                return Lookup([], looks, clock() - start, error, stopped=True)
        return Lookup([], looks, clock() - start, error)


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds`, or less if the run is stopped meanwhile; True if it was."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()
