"""Looking names up through the API: the users, offices and call centers a sheet names (`plan.lookups`).

On the run's one client, so every look-up is paced with, and counted against,
the same company budget as the rest of the run; each name once per run:

- users: `GET /api/v2/users?email=…` per email, or every page of
  `GET /api/v2/users` (100 a page), whichever needs fewer requests. The company's
  size is not known before its pages are read, so for two emails or more the
  listing is read first, but never past as many pages as there are emails: a
  listing that ends by then cost at most what the emails would (and is the least
  possible when it is shorter); one that does not is left, and the emails are
  looked up one by one. At worst twice the least possible; for one email, one
  request. A look-up reads one page: an answer that goes on, or holds a user
  without the address, shows the filter was not applied, and an email no
  look-up found may be one the filter matched in another case; either way the
  listing is then read to its end (on from where it stopped), once, and says
  for sure (and gives the close emails an unknown one may mean). Both ask for
  users in every state (`state=all`), so a suspended or deleted user is named
  as such, not as no user.
- offices: every page of `GET /api/v2/offices`, once, if any row names one.
- call centers: every page of `GET /api/v2/callcenters` (the listing --diff
  reads), once, if any operators row names one by name.

Answers are not believed blindly: a user is taken for an email only if the
answer's own `emails` hold it (a server that ignores the filter cannot hand over
someone else), items without a usable id are left out, ids may be JSON strings,
and a listing that cannot be trusted whole, or a look-up that fails, stops the
run before anything is sent (LiveStateError). Text the server chose (names,
emails, states) reaches a message only made printable, with the key redacted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from bulkcc.errors import Interrupted, LiveStateError
from bulkcc.operator_fields import email_key
from bulkcc.plan import Plan, make_plan
from bulkcc.plan.lookups import Center, Directory, Office, Resolution, User, Wanted, resolve, wanted
from bulkcc.run.answers import answer_id
from bulkcc.run.listing import LIST_PATH, list_pages
from bulkcc.run.live import LiveState, against_live
from bulkcc.run.progress import QuietProgress
from bulkcc.run.signals import install_stop_signals
from bulkcc.send.client import ApiClient
from bulkcc.send.connection import ConnectionOptions, connect
from bulkcc.validate import Validation

USERS_PATH = "/api/v2/users"
OFFICES_PATH = "/api/v2/offices"
ALL_STATES = {"state": "all"}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_user(item: Any) -> User | None:
    """A user of a listing or a look-up, or None when it has no usable id (no row could name it)."""
    if not isinstance(item, Mapping):
        return None
    user_id = answer_id(item.get("id"))
    if user_id is None:
        return None
    emails = item.get("emails")
    found = tuple(e for e in emails if isinstance(e, str)) if isinstance(emails, list) else ()
    name = _text(item.get("display_name")) or " ".join(
        t for t in (_text(item.get("first_name")), _text(item.get("last_name"))) if t) or None
    return User(user_id, found, name, _text(item.get("state")))


def parse_office(item: Any) -> Office | None:
    if not isinstance(item, Mapping):
        return None
    office_id = answer_id(item.get("id"))
    other = answer_id(item.get("office_id"))
    if office_id is None or (other is not None and other != office_id):
        return None  # no id, or two that disagree: no row may be given either
    return Office(office_id, _text(item.get("name")), _text(item.get("state")))


def parse_center(item: Any) -> Center | None:
    if not isinstance(item, Mapping):
        return None
    cc_id = answer_id(item.get("id"))
    return None if cc_id is None else Center(cc_id, _text(item.get("name")), answer_id(item.get("office_id")),
                                             _text(item.get("state")))


def _stopped(stop: asyncio.Event) -> None:
    if stop.is_set():
        raise Interrupted("stopped by a signal (Ctrl-C or SIGTERM) while names were looked up: nothing was sent")


async def _listing(client: ApiClient, path: str, what: str, stop: asyncio.Event, limit: int | None = 100
                   ) -> list[Any]:
    """Every item of a listing."""
    items: list[Any] = []
    try:
        async for page in list_pages(client, None, limit=limit, path=path, what=what):
            items += page.items
            _stopped(stop)
    except LiveStateError as exc:
        raise LiveStateError(f"looking names up: {exc}; nothing was sent") from exc
    return items


class _UsersListing:
    """Every user, page after page of `GET /api/v2/users` (100 a page): read in steps, each going on from
    where the last stopped (one cursor chain), so that no page is read twice."""

    def __init__(self, client: ApiClient) -> None:
        self._client = client
        self._pages = list_pages(client, ALL_STATES, path=USERS_PATH, what="users")
        self.items: list[Any] = []
        self.pages = 0
        self.requests = 0  # retries included
        self.ended = False

    async def read(self, stop: asyncio.Event, max_pages: int | None = None) -> bool:
        """Read on until the listing ends (True) or, with `max_pages`, that many pages in all were read and
        more follow (False)."""
        if self.ended or (max_pages is not None and self.pages >= max_pages):
            return self.ended
        before = self._client.requests_sent  # nothing else is sent meanwhile: one page after the other
        try:
            async for page in self._pages:
                self.items += page.items
                self.pages = page.number
                _stopped(stop)
                if not page.more:
                    break
                if max_pages is not None and page.number >= max_pages:
                    return False
        except LiveStateError as exc:
            raise LiveStateError(f"looking users up: {exc}; nothing was sent") from exc
        finally:
            self.requests += self._client.requests_sent - before
        self.ended = True
        return True

    async def close(self) -> None:
        await self._pages.aclose()

    def users(self, emails: Iterable[str]) -> tuple[dict[str, list[User]], list[str]]:
        """Each email's users (by `email_key`), and every email of the company (for suggestions)."""
        found: dict[str, list[User]] = {key: [] for key in emails}
        every: list[str] = []
        for user in _distinct(self.items):
            for key in {email_key(e) for e in user.emails}:
                if key in found:
                    found[key].append(user)
            every += user.emails
        return found, every


async def _users_by_email(client: ApiClient, emails: Mapping[str, str], concurrency: int,
                          stop: asyncio.Event) -> tuple[dict[str, list[User]], bool]:
    """Each email's users, one look-up each (in parallel, paced): only users whose own emails hold it; and
    whether an answer showed that the filter was not applied (it went on past one page, or held someone
    else), which no more look-ups can make up for: a server that hands over the whole company would be
    read through once per email."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(key: str, email: str) -> tuple[str, list[User], bool]:
        async with gate:
            _stopped(stop)
            pages = list_pages(client, {"email": email, **ALL_STATES}, path=USERS_PATH, what=f"users of {email!r}")
            try:
                page = await anext(pages)
            except LiveStateError as exc:
                raise LiveStateError(f"looking up the user of {email!r}: {exc}; nothing was sent") from exc
            finally:
                await pages.aclose()
        users = _distinct(page.items)
        own = [u for u in users if key in {email_key(e) for e in u.emails}]
        return key, own, page.more or len(own) < len(users)

    tasks = [asyncio.ensure_future(one(key, email)) for key, email in emails.items()]
    try:
        answers = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:  # one failed (or the key was refused): the others stop too
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return {key: users for key, users, _ in answers}, any(unfiltered for _, _, unfiltered in answers)


async def _read_users(client: ApiClient, emails: Mapping[str, str], directory: Directory, concurrency: int,
                      stop: asyncio.Event) -> None:
    """The users of `emails` into `directory` (see the module's docstring), and the requests they took."""
    listing = _UsersListing(client)
    try:
        if len(emails) > 1 and await listing.read(stop, max_pages=len(emails)):
            directory.users, directory.all_emails = listing.users(emails)
            directory.users_by = "listing"
        else:
            before = client.requests_sent
            try:
                directory.users, unfiltered = await _users_by_email(client, emails, concurrency, stop)
            finally:
                directory.requests["email look-up"] = client.requests_sent - before
            directory.users_by = "email"
            if unfiltered or not all(directory.users.values()):
                # An email no look-up found, or a filter not applied: the listing says for sure (whatever
                # case the server's filter matches in), and gives the close emails an unknown one may mean.
                await listing.read(stop)
                listed, directory.all_emails = listing.users(emails)
                directory.users = {key: _distinct_users([*directory.users[key], *listed[key]]) for key in emails}
                directory.users_by = "listing"
    finally:
        await listing.close()
        if listing.requests:  # the pages first, as they were read first (or alone)
            directory.requests = {"user page": listing.requests, **directory.requests}


def _distinct_users(users: Iterable[User]) -> list[User]:
    seen: dict[int, User] = {}
    for user in users:
        seen.setdefault(user.id, user)
    return list(seen.values())


def _distinct(items: Iterable[Any]) -> list[User]:
    """The users of an answer, each once (a listing that repeats a user across pages is no second user)."""
    users: dict[int, User] = {}
    for user in map(parse_user, items):
        if user is not None:
            users.setdefault(user.id, user)
    return list(users.values())


async def read_directory(client: ApiClient, want: Wanted, *, concurrency: int, stop: asyncio.Event,
                         progress: QuietProgress | None = None, label: str = "") -> Directory:
    """Read what `want` needs (see the module's docstring), counting the requests each part took."""
    directory = Directory()
    progress = progress or QuietProgress()
    progress.start(len(want.emails) + int(want.offices) + int(want.centers), label, phase="looking up")
    try:
        if want.emails:
            await _read_users(client, want.emails, directory, concurrency, stop)
            for _ in want.emails:
                progress.advance("read")
        if want.offices:
            before = client.requests_sent
            items = await _listing(client, OFFICES_PATH, "offices", stop, limit=None)
            offices: dict[int, Office] = {}
            for office in map(parse_office, items):  # an office listed twice (on two pages) is one office
                if office is not None:
                    offices.setdefault(office.id, office)
            directory.offices = list(offices.values())
            directory.requests["office page"] = client.requests_sent - before
            progress.advance("read")
        if want.centers:
            before = client.requests_sent
            items = await _listing(client, LIST_PATH, "call centers", stop)
            directory.centers = [c for c in map(parse_center, items) if c is not None]
            directory.requests["call center page"] = client.requests_sent - before
            progress.advance("read")
    finally:
        progress.close()
    return directory


async def look_up(client: ApiClient, validation: Validation, *, concurrency: int, stop: asyncio.Event,
                  progress: QuietProgress | None = None, label: str = "") -> Resolution:
    """`validation` with its names looked up (`plan.lookups.resolve`); what a server said reaches the
    problems' messages with the key redacted."""
    remove = install_stop_signals(stop)  # Ctrl-C: no new look-up starts, and nothing is sent
    try:
        directory = await read_directory(client, wanted(validation), concurrency=concurrency, stop=stop,
                                         progress=progress, label=label)
        _stopped(stop)
    finally:
        remove()
    return resolve(validation, directory, redact=client.redact)


def offline(validation: Validation) -> Resolution:
    """`validation` as far as the sheet alone resolves it (plan without a key): rows naming what only the
    API knows wait (`Resolution.waiting`)."""
    return resolve(validation, Directory())


def simulator_ids(validation: Validation) -> list[int]:
    """The call center ids a sheet names by id (the simulator makes up those it lacks)."""
    return [*validation.ids, *(r.call_center_id for r in validation.operator_rows if r.call_center_id)]


async def plan_with_names_async(validation: Validation, options: ConnectionOptions, progress: QuietProgress, *,
                                diff: bool, look: bool, operators_of: Callable[[Plan], Any] | None = None
                                ) -> tuple[Plan, LiveState | None, Any]:
    """`plan` with a target, on one connection: the names looked up (if `look`), the plan made, and with
    `diff` read against live state (`operators_of(plan)`: the operators sheet's live part, or None).
    Returns the plan, what was read of the call centers (diff), and the operators' part."""
    async with connect(options, simulator_ids=simulator_ids(validation)) as conn:
        resolution = None
        if look:
            resolution = await look_up(conn.client, validation, concurrency=options.pool_size, stop=asyncio.Event(),
                                       progress=progress, label=conn.target_label)
            validation = resolution.validation
        the_plan = replace(make_plan(validation), lookups=resolution)
        if not diff:
            return the_plan, None, None
        also = operators_of(the_plan) if operators_of is not None else None
        diffed, state = await against_live(conn, the_plan, options.pool_size, progress, also)
        return diffed, state, also


def plan_with_names(validation: Validation, options: ConnectionOptions, progress: QuietProgress, *, diff: bool,
                    look: bool, operators_of: Callable[[Plan], Any] | None = None
                    ) -> tuple[Plan, LiveState | None, Any]:
    return asyncio.run(plan_with_names_async(validation, options, progress, diff=diff, look=look,
                                             operators_of=operators_of))


def offline_plan(validation: Validation) -> Plan:
    """`plan` without a key: the rows the sheet alone resolves; the others wait, and the plan says so."""
    resolution = offline(validation)
    return replace(make_plan(resolution.validation), lookups=resolution)
