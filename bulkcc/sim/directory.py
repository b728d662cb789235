"""The simulator's users and offices, as `dialpad-users-offices-openapi.json` describes them.

- `GET /api/v2/users`: the company's users by id, 100 a page (`limit` up to 100;
  more gives 100, as the spec says), cursor paging; `email` keeps the users that
  have it (case aside, as a mail address is), `state` those in it (`all`: every
  state, and so does no `state`).
- `GET /api/v2/users/{id}`: one user (404 for no user of the company).
- `GET /api/v2/offices`: every office the company has (the made-up regions', the
  ones `--offices` adds, and any its call centers are in), cursor paging;
  `active_only` keeps the active ones (all of them are).
- `GET /api/v2/offices/{id}`.

Users are `Company.user` (the pool, ids from USER_ID_BASE + 1: a name, an email
`user{n}@example.com`, and a state: a few are suspended or deleted); an office
is named after its region (EMEA, DACH, US West …), or `Office N`. Answers are
in wire form (int64 as JSON strings) and go through the server's pipeline (key,
rate limit, faults), like every endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bulkcc.sim import apispec
from bulkcc.sim.operators import ApiError
from bulkcc.sim.store import OFFICE_NAMES, OFFICES
from bulkcc.sim.wire import decode_cursor, encode_cursor, parse_id

if TYPE_CHECKING:
    from bulkcc.sim.server import Simulator

USERS = "/api/v2/users"
OFFICES_PATH = "/api/v2/offices"
USER_STATES = ("active", "all", "cancelled", "deleted", "pending", "suspended")


def register(router: web.UrlDispatcher, sim: Simulator) -> None:
    routes = _Directory(sim)
    router.add_get(USERS, routes.users)
    router.add_get(USERS + "/{user_id}", routes.user)
    router.add_get(OFFICES_PATH, routes.offices)
    router.add_get(OFFICES_PATH + "/{office_id}", routes.office)


def office_name(office_id: int) -> str:
    return OFFICE_NAMES.get(office_id, f"Office {office_id % 10_000}")


def _page(request: web.Request, items: Callable[[int | None], Iterator[tuple[int, dict[str, Any]]]],
          size: int) -> web.Response:
    """One page of (id, item) pairs in id order after the request's cursor; `items(after)` yields those after
    an id and is read only as far as the page needs (and one more, to know whether a cursor is due)."""
    try:
        after = decode_cursor(request.query["cursor"]) if request.query.get("cursor") else None
    except ValueError:
        raise ApiError(400, "Invalid cursor") from None
    limit = request.query.get("limit")
    if limit is not None:
        if not limit.isdigit() or int(limit) < 1:
            raise ApiError(400, "limit must be a positive integer")
        size = min(size, int(limit))
    page: list[tuple[int, dict[str, Any]]] = []
    more = False
    for item_id, item in items(after):
        if len(page) == size:
            more = True
            break
        page.append((item_id, item))
    answer: dict[str, Any] = {"items": [item for _, item in page]}
    if more:
        answer["cursor"] = encode_cursor(page[-1][0])
    return web.json_response(answer)


class _Directory:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def _offices(self) -> list[int]:
        return sorted(self.sim.company.known_offices(self.sim.store))

    def _office(self, office_id: int) -> dict[str, Any]:
        timezone, country = OFFICES.get(office_id, ("US/Pacific", "us"))
        office = {"id": office_id, "office_id": office_id, "name": office_name(office_id), "state": "active",
                  "timezone": timezone, "country": country, "availability_status": "open",
                  "is_primary_office": office_id == min(self._offices())}
        return apispec.to_wire(office, apispec.OFFICE)

    async def users(self, request: web.Request) -> web.Response:
        self.sim.state.sync(self.sim.store)
        query = request.query
        state = query.get("state", "all")
        if state not in USER_STATES:
            raise ApiError(400, f"state must be one of {', '.join(USER_STATES)}")
        email = query.get("email", "").strip().lower()
        company = self.sim.company

        def matching(after: int | None) -> Iterator[tuple[int, dict[str, Any]]]:
            for user_id in sorted({*company.user_ids(), *company.licensed}):
                if after is not None and user_id <= after:
                    continue  # before the cursor: not even made up
                user = company.user(user_id)
                if state != "all" and user["state"] != state:
                    continue
                if email and email not in {e.lower() for e in user["emails"]}:
                    continue
                yield user_id, apispec.to_wire(user, apispec.USER)

        return _page(request, matching, min(100, self.sim.config.page_size))

    async def user(self, request: web.Request) -> web.Response:
        self.sim.state.sync(self.sim.store)
        user_id = parse_id(request.match_info["user_id"])
        if not self.sim.company.is_user(user_id):
            raise ApiError(404, "User not found")
        assert user_id is not None
        return web.json_response(apispec.to_wire(self.sim.company.user(user_id), apispec.USER))

    async def offices(self, request: web.Request) -> web.Response:
        self.sim.state.sync(self.sim.store)
        active_only = request.query.get("active_only", "").lower() == "true"
        def listed(after: int | None) -> Iterator[tuple[int, dict[str, Any]]]:
            for office_id in self._offices():
                office = self._office(office_id)
                if (after is None or office_id > after) and (not active_only or office.get("state") == "active"):
                    yield office_id, office

        return _page(request, listed, self.sim.config.page_size)

    async def office(self, request: web.Request) -> web.Response:
        self.sim.state.sync(self.sim.store)
        office_id = parse_id(request.match_info["office_id"])
        if office_id is None or office_id not in self._offices():
            raise ApiError(404, "Office not found")
        return web.json_response(self._office(office_id))
