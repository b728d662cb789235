"""The simulator's endpoints beyond list, get and PATCH: create, delete, an office's call centers,
operators (list, add, remove), skill levels (get, patch) and status.

Each handler runs inside the server's pipeline (key, rate limit, body, faults,
delay, history), so these endpoints share the one company budget with the
others. A change is checked, then written to the state file as records
(`sim.operators`), then applied, all under the state's lock, and only then
answered. A refusal is an `ApiError`, which the pipeline answers as JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from bulkcc.sim import apispec, directory
from bulkcc.sim.operators import ApiError, Company
from bulkcc.sim.store import OFFICES, merged_errors, new_callcenter, reference_errors
from bulkcc.sim.wire import parse_body, parse_id

if TYPE_CHECKING:
    from bulkcc.sim.server import Simulator

API_PREFIX = "/api/v2/callcenters"
OFFICE_LISTING = "/api/v2/offices/{office_id}/callcenters"
_MAX_ERROR_CHARS = 300  # per message, as for PATCH


def register(router: web.UrlDispatcher, sim: Simulator) -> None:
    directory.register(router, sim)  # users and offices
    routes = _Routes(sim)
    router.add_post(API_PREFIX, routes.create)
    router.add_delete(API_PREFIX + "/{id}", routes.delete)
    router.add_get(API_PREFIX + "/{id}/status", routes.status)
    router.add_get(API_PREFIX + "/{id}/operators", routes.operators)
    router.add_post(API_PREFIX + "/{id}/operators", routes.add_operator)
    router.add_delete(API_PREFIX + "/{id}/operators", routes.remove_operator)
    router.add_get(API_PREFIX + "/{id}/operators/{user_id}/skill", routes.skill)
    router.add_patch(API_PREFIX + "/{id}/operators/{user_id}/skill", routes.set_skill)
    router.add_get(OFFICE_LISTING, routes.office_callcenters)


async def _body(request: web.Request, schema_name: str) -> Any:
    """The JSON body, checked against `schema_name` (the pipeline refused what is not JSON)."""
    body = parse_body(await request.read())
    errors = apispec.body_errors(body, schema_name)
    if errors:
        raise ApiError(400, "; ".join(e[:_MAX_ERROR_CHARS] for e in errors[:5]))
    return body


def _user_id(request: web.Request) -> int | None:
    return parse_id(request.match_info["user_id"])


class _Routes:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    @property
    def company(self) -> Company:
        return self.sim.company

    def _center(self, request: web.Request) -> int:
        cc_id = parse_id(request.match_info["id"])
        if cc_id is None or cc_id not in self.sim.store:
            raise ApiError(404, "Call center not found")
        return cc_id

    def _user(self, user_id: int) -> web.Response:
        return web.json_response(apispec.to_wire(self.company.user(user_id), apispec.USER))

    # ------------------------------------------------------------ call centers

    async def create(self, request: web.Request) -> web.Response:
        body = await _body(request, apispec.CREATE_MESSAGE)
        errors = reference_errors(body)
        if not body["name"].strip():
            errors.insert(0, "name: must not be blank")
        if errors:
            raise ApiError(400, "; ".join(errors))
        with self.sim.state.changing(self.sim.store):
            if body["office_id"] not in self.company.known_offices(self.sim.store):
                raise ApiError(404, f"Office {body['office_id']} not found")
            office = OFFICES.get(body["office_id"], ("US/Pacific", "us"))
            callcenter = new_callcenter(self.company.fresh_id(self.sim.store), body, office)
            errors = merged_errors(body, callcenter)
            if errors:
                raise ApiError(400, "; ".join(errors))
            self.sim.state.record(callcenter)  # on disk before it is in memory or answered
            self.sim.store[callcenter["id"]] = callcenter
            self.company.created(callcenter["id"])
        return web.json_response(apispec.to_wire(callcenter))

    async def delete(self, request: web.Request) -> web.Response:
        with self.sim.state.changing(self.sim.store):
            cc_id = self._center(request)
            callcenter = self.sim.store[cc_id]
            self.sim.commit([{"kind": "deleted", "id": cc_id}])
        return web.json_response(apispec.to_wire(callcenter))

    async def office_callcenters(self, request: web.Request) -> web.Response:
        office_id = parse_id(request.match_info["office_id"])
        self.sim.state.sync(self.sim.store)
        if office_id is None or office_id not in self.company.known_offices(self.sim.store):
            raise ApiError(404, "Office not found")
        return self.sim.page(request, lambda cc: cc.get("office_id") == office_id)

    async def status(self, request: web.Request) -> web.Response:
        self.sim.state.sync(self.sim.store)
        cc_id = self._center(request)
        status = self.sim.store[cc_id].get("availability_status") or "open"
        answer = {"availability": {"status": status}, "capacity": len(self.company.operators.get(cc_id, {})),
                  "longest_call_wait_time": 0, "on_duty_operators": 0, "pending": 0}
        return web.json_response(apispec.to_wire(answer, apispec.STATUS))

    # ------------------------------------------------------------ operators

    async def operators(self, request: web.Request) -> web.Response:
        self.sim.state.sync(self.sim.store)
        cc_id = self._center(request)
        users = [apispec.to_wire(self.company.user(user_id), apispec.USER)
                 for user_id in sorted(self.company.operators.get(cc_id, {}))]
        return web.json_response({"users": users, "rooms": []})

    async def add_operator(self, request: web.Request) -> web.Response:
        body = await _body(request, apispec.ADD_OPERATOR)
        with self.sim.state.changing(self.sim.store):
            cc_id = self._center(request)
            self.sim.commit(self.company.add_records(cc_id, body, repeated=self.sim.config.repeated_add))
        return self._user(body["user_id"])

    async def remove_operator(self, request: web.Request) -> web.Response:
        body = await _body(request, apispec.REMOVE_OPERATOR)
        with self.sim.state.changing(self.sim.store):
            cc_id = self._center(request)
            self.sim.commit(self.company.remove_records(cc_id, body["user_id"]))
        return self._user(body["user_id"])

    async def skill(self, request: web.Request) -> web.Response:
        self.sim.state.sync(self.sim.store)
        cc_id, user_id = self._center(request), _user_id(request)
        return self._skill(cc_id, user_id, self.company.operator_of(cc_id, user_id)["skill_level"])

    async def set_skill(self, request: web.Request) -> web.Response:
        body = await _body(request, apispec.UPDATE_SKILL)
        with self.sim.state.changing(self.sim.store):
            cc_id, user_id = self._center(request), _user_id(request)
            self.sim.commit(self.company.skill_records(cc_id, user_id, body["skill_level"]))
        return self._skill(cc_id, user_id, body["skill_level"])

    @staticmethod
    def _skill(cc_id: int, user_id: int | None, skill: int) -> web.Response:
        answer = {"call_center_id": cc_id, "user_id": user_id, "skill_level": skill}
        return web.json_response(apispec.to_wire(answer, apispec.SKILL_LEVEL))
