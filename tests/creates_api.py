"""A small stateful API on loopback for the create tests: create, list an office, get, PATCH, delete.

It stores what it is sent and answers as the spec's examples do (ids as JSON
strings), and can misbehave on purpose after storing a create: drop the
connection, answer 500, or answer too late (the client times out), so the tests
see that a create that took effect is never made twice.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

FIRST_ID = 7_000_000_000_000_001


def _wire(cc: dict[str, Any]) -> dict[str, Any]:
    return {**cc, "id": str(cc["id"]), "office_id": str(cc["office_id"])}


def _merge(target: dict[str, Any], body: dict[str, Any]) -> None:
    for key, value in body.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


class CallCenterApi:
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

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    def count(self, method: str, prefix: str = "") -> int:
        return sum(1 for m, p in self.requests if m == method and p.startswith(prefix))

    def named(self, office: int, name: str) -> list[int]:
        return [i for i, cc in self.store.items() if cc["office_id"] == office and cc["name"] == name]

    async def __aenter__(self) -> CallCenterApi:
        app = web.Application()
        app.router.add_post("/api/v2/callcenters", self._create)
        app.router.add_get("/api/v2/offices/{office}/callcenters", self._office)
        app.router.add_get("/api/v2/callcenters", self._list)
        app.router.add_get("/api/v2/callcenters/{id}", self._get)
        app.router.add_patch("/api/v2/callcenters/{id}", self._patch)
        app.router.add_delete("/api/v2/callcenters/{id}", self._delete)
        app.middlewares.append(self._log)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._runner.cleanup()

    @web.middleware
    async def _log(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if request.method in ("POST", "PATCH"):
            raw = await request.read()
            self.bodies.append((request.method, request.path, json.loads(raw) if raw else None))
        return await handler(request)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        if not isinstance(body, dict) or not body.get("name") or not body.get("office_id"):
            return web.json_response({"error": {"message": "name and office_id are required"}}, status=400)
        if self.fail_before_store:
            self.fail_before_store -= 1
            return web.json_response({"error": {"message": "internal"}}, status=500)
        cc_id, self.next_id = self.next_id, self.next_id + 1
        self.store[cc_id] = {**body, "id": cc_id, "office_id": int(body["office_id"])}
        how = self.after_create.pop(0) if self.after_create else "ok"
        if how == "drop":
            request.transport.close()
            return web.Response(status=204)
        if how == "500":
            return web.json_response({"error": {"message": "internal"}}, status=500)
        if how == "late":
            await asyncio.sleep(self.late_s)
        return web.json_response(_wire(self.store[cc_id]))

    async def _office(self, request: web.Request) -> web.StreamResponse:
        if self.office_failures:
            self.office_failures -= 1
            return web.json_response({"error": {"message": "unavailable"}}, status=503)
        office = int(request.match_info["office"])
        after = int(request.query.get("cursor") or 0)
        matches = sorted(i for i, cc in self.store.items() if cc["office_id"] == office and i > after)
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
