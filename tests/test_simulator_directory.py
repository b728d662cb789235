"""The simulator's users and offices, as the official users/offices OpenAPI describes them.

A real aiohttp client against the simulator on loopback; every answer is checked against the spec's
schema (int64 ids as JSON strings, as the live API sends them).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from bulkcc.sim import apispec
from bulkcc.sim.server import USER_ID_BASE, Simulator, SimulatorConfig, seed_store

KEY = "directory-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _check(answer: Any, schema: str) -> None:
    """The answer is an instance of the spec's schema, int64 fields sent as strings."""
    assert list(Draft202012Validator(apispec.json_schema(schema)).iter_errors(apispec.from_wire(answer, schema))) \
        == []


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    config = SimulatorConfig(api_key=KEY, rate_limit_per_min=60_000, users=250, offices=(5_100_000_000_000_099,))
    async with Simulator(config, store=seed_store([1001, 1002], random.Random(1))) as simulator:
        yield simulator


async def _get(sim: Simulator, path: str, **query: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(sim.base_url + path, headers=AUTH, params=query) as resp:
        return resp.status, await resp.json()


async def test_users_come_in_pages_of_100_by_cursor_and_filter_by_email_and_state(sim: Simulator) -> None:
    seen: list[str] = []
    cursor: dict[str, str] = {}
    for _ in range(5):
        status, page = await _get(sim, "/api/v2/users", limit="100", **cursor)
        assert status == 200
        _check(page, "schemas.user.UserCollection")
        seen += [user["id"] for user in page["items"]]
        if not page.get("cursor"):
            break
        cursor = {"cursor": page["cursor"]}
    assert seen == [str(USER_ID_BASE + n) for n in range(1, 251)]  # 3 pages, each user once, ids as strings

    status, found = await _get(sim, "/api/v2/users", email=" USER42@Example.com", state="all")
    assert status == 200 and [u["id"] for u in found["items"]] == [str(USER_ID_BASE + 42)]
    states = {u["id"]: u["state"] for u in (await _get(sim, "/api/v2/users", limit="100"))[1]["items"]}
    assert (states[str(USER_ID_BASE + 97)], states[str(USER_ID_BASE + 98)]) == ("suspended", "deleted")
    suspended = (await _get(sim, "/api/v2/users", state="suspended"))[1]["items"]
    assert [u["id"] for u in suspended] == [str(USER_ID_BASE + 97), str(USER_ID_BASE + 197)]
    assert (await _get(sim, "/api/v2/users", state="sleeping"))[0] == 400
    user = (await _get(sim, f"/api/v2/users/{USER_ID_BASE + 5}"))[1]
    _check(user, apispec.USER)
    assert user["emails"] == ["user5@example.com"] and user["display_name"]
    assert (await _get(sim, f"/api/v2/users/{USER_ID_BASE + 251}"))[0] == 404


async def test_offices_are_listed_with_their_names(sim: Simulator) -> None:
    status, answer = await _get(sim, "/api/v2/offices")
    assert status == 200
    _check(answer, "schemas.office.OfficeCollection")
    names = {office["id"]: office["name"] for office in answer["items"]}
    assert names[str(5_100_000_000_000_002)] == "DACH" and names[str(5_100_000_000_000_099)] == "Office 99"
    status, office = await _get(sim, "/api/v2/offices/5100000000000002")
    assert status == 200 and office["name"] == "DACH"
    assert (await _get(sim, "/api/v2/offices/42"))[0] == 404
