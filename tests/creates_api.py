"""A small stateful API on loopback for the create tests: create, list an office, get, PATCH, delete,
and a center's operators (list, add, remove, skill level).

It stores what it is sent and answers as the spec's examples do (ids as JSON strings), and can
misbehave on purpose around a create (`after_create`, one per create, in order): drop the
connection, answer 500 (after storing it whole, or without its ring_seconds: "500, ring dropped"),
answer too late (the client times out), take its time before storing ("slow"), answer 202 with no
body or 303 (see the new center there), answer a 2xx that is no call center ("nobody"), answer with
another center's id ("foreign": one listed before; "elsewhere": one of another office, "elsewhere,
no office" with its office left out; "the row before's": the center made for the create before,
under this row's name; "foreign only": one listed before, and nothing made), or refuse before
storing ("refuse": a 500, nothing made). A listing may show a new center only `listing_lag_s` after
it was stored; `normalise` stores names NFC, as some databases do; `echo` is appended to every text
of every answer (ids aside), as a server that echoes what it should not. So the tests see that a
create that took effect is never made twice, and what a hostile answer can and cannot reach.
"""

from __future__ import annotations

import asyncio
import json
import time
import unicodedata
from typing import Any

from aiohttp import web
from support import LoopbackServer

FIRST_ID = 7_000_000_000_000_001
FOREIGN_ID = 6_900_000_000_000_009  # a center of another office, answered by "elsewhere"
ID_KEYS = frozenset({"id", "office_id", "group_id", "user_id", "call_center_id", "cursor", "skill_level"})


def echoed(value: Any, echo: str, keep: frozenset[str] = ID_KEYS) -> Any:
    """Every text of an answer with `echo` appended (ids, numbers and the keys `keep` as they are)."""
    if isinstance(value, dict):
        return {k: (v if k in keep else echoed(v, echo, keep)) for k, v in value.items()}
    if isinstance(value, list):
        return [echoed(v, echo, keep) for v in value]
    return value + echo if isinstance(value, str) else value


def _wire(cc: dict[str, Any]) -> dict[str, Any]:
    return {**cc, "id": str(cc["id"]), "office_id": str(cc["office_id"])}


def _merge(target: dict[str, Any], body: dict[str, Any]) -> None:
    for key, value in body.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


class CallCenterApi(LoopbackServer):
    """`async with CallCenterApi() as api: api.base_url ...`; `api.store` id -> call center."""

    def __init__(self, store: dict[int, dict[str, Any]] | None = None, page_size: int = 3) -> None:
        self.store: dict[int, dict[str, Any]] = store or {}
        self.page_size = page_size
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.bodies: list[tuple[str, str, object]] = []  # (method, path, JSON body) of every write
        # Misbehaviour after a create is stored, one per create, in order: "drop", "500", "late", "ok".
        self.after_create: list[str] = []
        self.late_s = 1.0
        self.office_failures = 0  # office listings answered 503 before they work
        self.fail_before_store = 0  # creates answered 500 before anything is stored
        self.next_id = FIRST_ID
        self.listing_lag_s = 0.0  # a new center shows in its office's listing only this long after it is stored
        self.normalise = False  # names are stored NFC
        self.echo: str | None = None  # appended to every text of every answer
        self.echo_keeps: frozenset[str] = ID_KEYS  # the keys whose values are never echoed
        self.stored_at: dict[int, float] = {}
        self.released = asyncio.Event()  # lets the creates of "hold" answer
        # call center -> user -> {"role", "skill_level"}; users whose add is refused: user -> (status, message)
        self.operators: dict[int, dict[int, dict[str, Any]]] = {}
        self.refuse_add: dict[int, tuple[int, str]] = {}
        self.refuse_remove: dict[int, tuple[int, str]] = {}

    def count(self, method: str, prefix: str = "") -> int:
        return sum(1 for m, p in self.requests if m == method and p.startswith(prefix))

    @property
    def creates(self) -> int:
        """The POSTs of creates that arrived (operator adds aside)."""
        return sum(1 for m, p in self.requests if m == "POST" and p == "/api/v2/callcenters")

    def named(self, office: int, name: str) -> list[int]:
        return [i for i, cc in self.store.items() if cc["office_id"] == office and cc["name"] == name]

    def in_office(self, office: int) -> dict[str, list[int]]:
        """Each name stored in the office, with its ids (one each, when nothing was made twice)."""
        found: dict[str, list[int]] = {}
        for cc_id, cc in sorted(self.store.items()):
            if cc["office_id"] == office:
                found.setdefault(cc["name"], []).append(cc_id)
        return found

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v2/callcenters", self._create)
        app.router.add_get("/api/v2/offices/{office}/callcenters", self._office)
        app.router.add_get("/api/v2/callcenters", self._list)
        app.router.add_get("/api/v2/callcenters/{id}", self._get)
        app.router.add_patch("/api/v2/callcenters/{id}", self._patch)
        app.router.add_delete("/api/v2/callcenters/{id}", self._delete)
        app.router.add_get("/api/v2/callcenters/{id}/operators", self._operators)
        app.router.add_post("/api/v2/callcenters/{id}/operators", self._add_operator)
        app.router.add_delete("/api/v2/callcenters/{id}/operators", self._remove_operator)
        app.router.add_get("/api/v2/callcenters/{id}/operators/{user}/skill", self._skill)
        app.router.add_patch("/api/v2/callcenters/{id}/operators/{user}/skill", self._skill)
        app.middlewares.append(self._log)

    @web.middleware
    async def _log(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if request.method in ("POST", "PATCH", "DELETE"):
            raw = await request.read()
            self.bodies.append((request.method, request.path, json.loads(raw) if raw else None))
        response = await handler(request)
        if self.echo and isinstance(response, web.Response) and response.content_type == "application/json":
            body = json.loads(response.body)  # type: ignore[arg-type]
            return web.json_response(echoed(body, self.echo, self.echo_keeps), status=response.status)
        return response

    async def _create(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        if not isinstance(body, dict) or not body.get("name") or not body.get("office_id"):
            return web.json_response({"error": {"message": "name and office_id are required"}}, status=400)
        how = self.after_create.pop(0) if self.after_create else "ok"
        if self.fail_before_store or how == "refuse":
            self.fail_before_store = max(0, self.fail_before_store - 1)
            return web.json_response({"error": {"message": "internal"}}, status=500)
        if how == "the row before's":  # nothing made: the center made for the create before, under this name
            await asyncio.sleep(0.1)  # that create's center is stored by then
            return web.json_response({**_wire(self.store[self.next_id - 1]), "name": body["name"]})
        if how == "foreign only":  # nothing made: the answer is the center the office had first
            other = min(i for i, cc in self.store.items() if cc["office_id"] == int(body["office_id"]))
            return web.json_response(_wire(self.store[other]))
        if how == "slow":  # the work takes longer than the client waits: stored after it gave up
            await asyncio.sleep(self.late_s)
        if how == "hold":  # answered only once the test lets it (at most 10 s)
            await asyncio.wait_for(self.released.wait(), 10)
        cc_id, self.next_id = self.next_id, self.next_id + 1
        name = unicodedata.normalize("NFC", body["name"]) if self.normalise else body["name"]
        self.store[cc_id] = {**body, "name": name, "id": cc_id, "office_id": int(body["office_id"])}
        if how == "500, ring dropped":  # stored without ring_seconds, then 500
            del self.store[cc_id]["ring_seconds"]
            how = "500"
        self.stored_at[cc_id] = time.monotonic()
        if how == "drop":
            request.transport.close()
            return web.Response(status=204)
        if how == "500":
            return web.json_response({"error": {"message": "internal"}}, status=500)
        if how == "late":
            await asyncio.sleep(self.late_s)
        if how == "202":
            return web.Response(status=202)
        if how == "303":  # done: see the new center there (POST, redirect, GET)
            return web.Response(status=303, headers={"Location": f"/api/v2/callcenters/{cc_id}"})
        if how == "nobody":
            return web.json_response({"status": "accepted"})
        if how == "foreign":  # the center the office had first
            other = min(i for i, cc in self.store.items() if cc["office_id"] == int(body["office_id"]))
            return web.json_response(_wire(self.store[other]))
        if how == "elsewhere":
            return web.json_response({**_wire(self.store[cc_id]), "id": str(FOREIGN_ID), "office_id": "999"})
        if how == "elsewhere, no office":  # another office's center of the same name, its office left out
            return web.json_response({k: v for k, v in {**_wire(self.store[cc_id]), "id": str(FOREIGN_ID)}.items()
                                      if k != "office_id"})
        return web.json_response(_wire(self.store[cc_id]))

    async def _office(self, request: web.Request) -> web.StreamResponse:
        if self.office_failures:
            self.office_failures -= 1
            return web.json_response({"error": {"message": "unavailable"}}, status=503)
        office = int(request.match_info["office"])
        after = int(request.query.get("cursor") or 0)
        shown_since = time.monotonic() - self.listing_lag_s
        matches = sorted(i for i, cc in self.store.items() if cc["office_id"] == office and i > after
                         and self.stored_at.get(i, 0.0) <= shown_since)
        page = matches[: self.page_size]
        answer: dict[str, Any] = {"items": [_wire(self.store[i]) for i in page]}
        if len(matches) > len(page):
            answer["cursor"] = str(page[-1])
        return web.json_response(answer)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"items": [_wire(cc) for _, cc in sorted(self.store.items())]})

    def _find(self, request: web.Request) -> dict[str, Any] | None:
        return self.store.get(int(request.match_info["id"]))

    async def _get(self, request: web.Request) -> web.StreamResponse:
        found = self._find(request)
        if found is None:
            return web.json_response({"error": {"message": "not found"}}, status=404)
        return web.json_response(_wire(found))

    async def _patch(self, request: web.Request) -> web.StreamResponse:
        found = self._find(request)
        if found is None:
            return web.json_response({"error": {"message": "not found"}}, status=404)
        _merge(found, json.loads(await request.read()))
        return web.json_response(_wire(found))

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        found = self.store.pop(int(request.match_info["id"]), None)
        if found is None:
            return web.json_response({"error": {"message": "not found"}}, status=404)
        return web.json_response(_wire(found))

    # ---- operators

    def _center(self, request: web.Request) -> int | None:
        cc_id = int(request.match_info["id"])
        return cc_id if cc_id in self.store else None

    async def _operators(self, request: web.Request) -> web.StreamResponse:
        cc_id = self._center(request)
        if cc_id is None:
            return web.json_response({"error": {"message": "not found"}}, status=404)
        users = [{"id": str(user), "display_name": f"User {user}",
                  "group_details": [{"group_id": str(cc_id), "group_type": "callcenter", "role": op["role"]}]}
                 for user, op in sorted(self.operators.get(cc_id, {}).items())]
        return web.json_response({"users": users})

    async def _add_operator(self, request: web.Request) -> web.StreamResponse:
        cc_id = self._center(request)
        body = json.loads(await request.read())
        user = int(body["user_id"])
        if cc_id is None:
            return web.json_response({"error": {"message": "not found"}}, status=404)
        if user in self.refuse_add:
            status, message = self.refuse_add[user]
            return web.json_response({"error": {"message": message}}, status=status)
        if user in self.operators.get(cc_id, {}):
            return web.json_response({"error": {"message": "already an operator"}}, status=400)
        self.operators.setdefault(cc_id, {})[user] = {"role": body.get("role", "operator"),
                                                      "skill_level": body.get("skill_level", 100)}
        return web.json_response({"id": str(user), "display_name": f"User {user}"})

    async def _remove_operator(self, request: web.Request) -> web.StreamResponse:
        cc_id = self._center(request)
        user = int(json.loads(await request.read())["user_id"])
        if user in self.refuse_remove:
            status, message = self.refuse_remove[user]
            return web.json_response({"error": {"message": message}}, status=status)
        if cc_id is None or user not in self.operators.get(cc_id, {}):
            return web.json_response({"error": {"message": "not an operator"}}, status=400)
        del self.operators[cc_id][user]
        return web.json_response({"id": str(user), "display_name": f"User {user}"})

    async def _skill(self, request: web.Request) -> web.StreamResponse:
        cc_id, user = self._center(request), int(request.match_info["user"])
        op = self.operators.get(cc_id or 0, {}).get(user)
        if op is None:
            return web.json_response({"error": {"message": "not an operator"}}, status=404)
        if request.method == "PATCH":
            op["skill_level"] = json.loads(await request.read())["skill_level"]
        return web.json_response({"call_center_id": str(cc_id), "user_id": str(user),
                                  "skill_level": op["skill_level"]})


def migration_book(path: Any, centers: list[dict[str, Any]], operators: list[dict[str, Any]] = ()) -> Any:
    """A workbook of callcenters rows (id, name, office_id, ring_seconds) and operators rows, ids as text."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "callcenters"
    sheet.append(["id", "name", "office_id", "ring_seconds"])
    for center in centers:
        sheet.append([None if center.get("id") is None else str(center["id"]), center.get("name"),
                      None if center.get("office_id") is None else str(center["office_id"]),
                      center.get("ring_seconds")])
    if operators:
        columns = ["call_center_id", "call_center_name", "user_id", "role", "skill_level", "remove"]
        ops = workbook.create_sheet("operators")
        ops.append(columns)
        for row in operators:
            ops.append([str(row[c]) if c in ("call_center_id", "user_id") and c in row else row.get(c)
                        for c in columns])
    workbook.save(path)
    return path
