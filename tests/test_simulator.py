"""The Dialpad simulator, talked to over HTTP on loopback with a real aiohttp client."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkcc.sim import apispec
from bulkcc.sim.server import (
    Simulator,
    SimulatorConfig,
    SlidingWindowLimiter,
    load_seed_file,
    make_callcenter,
    seed_store,
    serve_forever,
)
from bulkcc.sim.store import apply_patch, reference_errors

KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
IDS = list(range(1001, 1011))
CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=5)
READ_ONLY = (
    "id", "office_id", "timezone", "country", "phone_numbers", "state", "availability_status",
    "first_action", "no_operators_action",
)


def _config(**overrides: Any) -> SimulatorConfig:
    return SimulatorConfig(api_key=KEY, random_seed=1, **overrides)


def _routing() -> dict[str, Any]:
    return {
        "open": {"action": "menu", "try_dial_operators": True,
                 "dtmf": [{"input": "1", "options": {"action": "directory"}}]},
        "closed": {"action": "voicemail", "try_dial_operators": False},
    }


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session:
        yield session


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(_config(), store=seed_store(IDS, random.Random(7))) as simulator:
        yield simulator


def _url(sim: Simulator, cc_id: Any = None, **query: str) -> str:
    url = f"{sim.base_url}/api/v2/callcenters" + ("" if cc_id is None else f"/{cc_id}")
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


# ---------------------------------------------------------------- auth and routing

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
async def test_401_without_the_right_key(sim: Simulator, http: aiohttp.ClientSession, headers: dict) -> None:
    async with http.get(_url(sim, IDS[0]), headers=headers) as resp:
        assert resp.status == 401
        answer = await resp.json()
    assert answer["error"]["code"] == 401
    assert KEY not in json.dumps(answer) and "wrong" not in json.dumps(answer)
    assert sim.requests[-1].status == 401


@pytest.mark.parametrize("cc_id", [999, "abc", "12.5"])
async def test_404_for_an_unknown_or_non_integer_id(sim: Simulator, http: aiohttp.ClientSession, cc_id: Any) -> None:
    async with http.get(_url(sim, cc_id), headers=AUTH) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == 404
    async with http.patch(_url(sim, cc_id), headers=AUTH, json={"ring_seconds": 20}) as resp:
        assert resp.status == 404


async def test_unknown_paths_and_methods_answer_json_errors(sim: Simulator, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{sim.base_url}/api/v2/users", headers=AUTH) as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == 404
    async with http.delete(_url(sim, IDS[0]), headers=AUTH) as resp:
        assert resp.status == 405 and (await resp.json())["error"]["code"] == 405


# ---------------------------------------------------------------- PATCH

@pytest.mark.parametrize("body, expected", [
    ({"routing_options": {"open": {"action": "voicemail", "try_dial_operators": True}}},
     "routing_options: 'closed' is a required property"),
    ({"routing_options": {**_routing(), "open": {"action": "nope", "try_dial_operators": True}}},
     "routing_options.open.action: 'nope' is not one of"),
    ({"ring_seconds": 5}, "ring_seconds: 5 is outside 10 to 45"),
    ({"ring_seconds": "25"}, "ring_seconds: '25' is not of type"),
    ({"hold_queue": {"max_hold_seconds": 18001}}, "hold_queue.max_hold_seconds"),
    ({"hold_queue": {"max_hold_count": 0}}, "hold_queue.max_hold_count"),
    ({"alerts": {"cc_service_level": 101}}, "alerts.cc_service_level"),
    ({"name": "Support\nEMEA"}, "name: must be a single line"),
    ({"name": "x" * 101}, "name: longer than 100"),
    ({"group_description": "x" * 257}, "group_description: longer than 256"),
    ({"monday_hours": ["08:00"]}, "monday_hours: needs an even number"),
    ({"monday_hours": ["18:00", "08:00"]}, "monday_hours: times must be in ascending order"),
    ({"friday_hours": ["8:00", "18:00"]}, "friday_hours: times must be \"HH:MM\""),
    ({"hold_queue": {"queue_escape_dtmf": "A"}}, "hold_queue.queue_escape_dtmf"),
    ({"id": 5}, "Additional properties are not allowed"),
])
async def test_400_for_a_body_the_api_refuses(
    sim: Simulator, http: aiohttp.ClientSession, body: dict, expected: str
) -> None:
    before = json.dumps(sim.store[IDS[0]], sort_keys=True)
    async with http.patch(_url(sim, IDS[0]), headers=AUTH, json=body) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["code"] == 400 and expected in error["message"]
    assert json.dumps(sim.store[IDS[0]], sort_keys=True) == before
    assert sim.patch_count(IDS[0]) == 0 and sim.patch_count(IDS[0], applied_only=False) == 1


async def test_400_for_a_body_that_is_not_json(sim: Simulator, http: aiohttp.ClientSession) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    async with http.patch(_url(sim, IDS[0]), headers=headers, data=b"{not json") as resp:
        assert resp.status == 400 and "JSON" in (await resp.json())["error"]["message"]


async def test_a_valid_patch_merges_and_answers_in_wire_form(sim: Simulator, http: aiohttp.ClientSession) -> None:
    cc_id = IDS[0]
    old_hold_queue = dict(sim.store[cc_id]["hold_queue"])
    body = {"ring_seconds": 25, "hold_queue": {"max_hold_count": 77}, "monday_hours": ["07:00", "19:00"],
            "name": "Support EMEA 1", "routing_options": _routing()}
    async with http.patch(_url(sim, cc_id), headers=AUTH, json=body) as resp:
        assert resp.status == 200
        answer = await resp.json()
    assert answer["ring_seconds"] == "25" and answer["id"] == str(cc_id)
    assert answer["hold_queue"]["max_hold_count"] == "77"
    assert answer["hold_queue"]["max_hold_seconds"] == str(old_hold_queue["max_hold_seconds"])  # merged, kept
    assert answer["monday_hours"] == ["07:00", "19:00"] and answer["name"] == "Support EMEA 1"
    # Each routing state is replaced whole: the old operator_routing is gone.
    assert answer["routing_options"] == _routing()
    async with http.get(_url(sim, cc_id), headers=AUTH) as resp:
        assert resp.status == 200 and await resp.json() == answer
    assert sim.store[cc_id]["ring_seconds"] == 25  # internal form keeps ints
    assert sim.patch_count(cc_id) == 1
    assert sim.requests[-2].method == "PATCH" and sim.requests[-2].body == body


async def test_ignored_fields_are_accepted_but_not_stored(http: aiohttp.ClientSession) -> None:
    store = seed_store(IDS, random.Random(7))
    old_ring, old_routing = store[IDS[0]]["ring_seconds"], store[IDS[0]]["routing_options"]["open"]["operator_routing"]
    ignored = frozenset({"ring_seconds", "routing_options.open.operator_routing"})
    async with Simulator(_config(ignored_fields=ignored), store=store) as sim:
        body = {"ring_seconds": 10 if old_ring != 10 else 45, "name": "Renamed",
                "routing_options": {**_routing(), "open": {**_routing()["open"], "operator_routing": "random"}}}
        async with http.patch(_url(sim, IDS[0]), headers=AUTH, json=body) as resp:
            assert resp.status == 200
            answer = await resp.json()
    assert answer["ring_seconds"] == str(old_ring) and answer["name"] == "Renamed"
    assert store[IDS[0]]["ring_seconds"] == old_ring
    assert store[IDS[0]]["routing_options"]["open"]["operator_routing"] == old_routing
    assert store[IDS[0]]["routing_options"]["open"]["action"] == "menu"


def test_apply_patch_treats_null_as_not_given_and_leaves_the_input_alone() -> None:
    stored = make_callcenter(1, random.Random(3))
    snapshot = json.dumps(stored, sort_keys=True)
    merged = apply_patch(stored, {"name": None, "alerts": {"cc_service_level": 50, "cc_service_level_seconds": None}})
    assert merged["name"] == stored["name"] and merged["alerts"]["cc_service_level"] == 50
    assert merged["alerts"]["cc_service_level_seconds"] == stored["alerts"]["cc_service_level_seconds"]
    assert json.dumps(stored, sort_keys=True) == snapshot


# ---------------------------------------------------------------- list

async def _all_pages(sim: Simulator, http: aiohttp.ClientSession, **query: str) -> list[dict[str, Any]]:
    pages, cursor = [], None
    while True:
        params = {**query, **({"cursor": cursor} if cursor else {})}
        async with http.get(_url(sim), headers=AUTH, params=params) as resp:
            assert resp.status == 200
            page = await resp.json()
        pages.append(page)
        cursor = page.get("cursor")
        if not cursor:
            return pages


async def test_paging_over_250_call_centers(http: aiohttp.ClientSession) -> None:
    ids = list(range(5000, 5250))
    async with Simulator(_config(page_size=100), store=seed_store(ids, random.Random(1))) as sim:
        pages = await _all_pages(sim, http)
    assert [len(p["items"]) for p in pages] == [100, 100, 50]
    assert "cursor" not in pages[-1]
    seen = [int(item["id"]) for p in pages for item in p["items"]]
    assert seen == ids  # every id once, sorted


async def test_filters(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.store[IDS[3]]["name"] = "Cool Call Center 2049"
    office = sim.store[IDS[0]]["office_id"]
    [page] = await _all_pages(sim, http, name_search="cOOL")
    assert [item["id"] for item in page["items"]] == [str(IDS[3])]
    [page] = await _all_pages(sim, http, office_id=str(office))
    expected = [str(i) for i in IDS if sim.store[i]["office_id"] == office]
    assert [item["id"] for item in page["items"]] == expected
    assert all(item["office_id"] == str(office) for item in page["items"])


@pytest.mark.parametrize("query", [{"cursor": "garbage!"}, {"cursor": "YWZ0ZXI6eA"}, {"office_id": "x"}])
async def test_400_for_a_bad_cursor_or_office_id(sim: Simulator, http: aiohttp.ClientSession, query: dict) -> None:
    async with http.get(_url(sim), headers=AUTH, params=query) as resp:
        assert resp.status == 400


# ---------------------------------------------------------------- rate limit and faults

async def test_429_with_retry_after_over_the_per_second_limit(http: aiohttp.ClientSession) -> None:
    async with Simulator(_config(rate_limit_per_min=60), store=seed_store(IDS, random.Random(1))) as sim:
        statuses, retry_after = [], []
        for _ in range(3):
            async with http.get(_url(sim, IDS[0]), headers=AUTH) as resp:
                statuses.append(resp.status)
                if resp.status == 429:
                    retry_after.append(int(resp.headers["Retry-After"]))
                    assert (await resp.json())["error"]["code"] == 429
    assert statuses == [200, 429, 429]
    assert retry_after == [1, 1]


def test_sliding_windows_are_half_open() -> None:
    limiter = SlidingWindowLimiter(per_minute=60)  # 1 per second
    assert limiter.admit(0.0) is None
    assert limiter.admit(0.4) == pytest.approx(0.6)
    assert limiter.admit(1.0) is None  # (0, 1] no longer holds t=0
    minute = SlidingWindowLimiter(per_minute=3)
    assert [minute.admit(t) for t in (0.0, 1.5, 3.0)] == [None, None, None]
    assert minute.admit(4.5) == pytest.approx(55.5)
    assert minute.admit(60.0) is None


def test_background_traffic_takes_its_share() -> None:
    limiter = SlidingWindowLimiter(per_minute=120, background_rps=1)  # 2/s, 1 of them taken
    assert limiter.admit(0.0) is None
    assert limiter.admit(0.1) is not None


async def test_fail_rate_gives_5xx_and_changes_nothing(http: aiohttp.ClientSession) -> None:
    store = seed_store(IDS, random.Random(1))
    before = json.dumps(store, sort_keys=True)
    async with Simulator(_config(fail_rate=1.0), store=store) as sim:
        for _ in range(6):
            async with http.patch(_url(sim, IDS[0]), headers=AUTH, json={"ring_seconds": 20}) as resp:
                assert resp.status in (500, 502, 503)
                await resp.read()
    assert json.dumps(store, sort_keys=True) == before


async def test_drop_rate_closes_the_connection(http: aiohttp.ClientSession) -> None:
    async with Simulator(_config(drop_rate=1.0), store=seed_store(IDS, random.Random(1))) as sim:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.patch(_url(sim, IDS[0]), headers=AUTH, json={"ring_seconds": 20}):
                pass
    assert [(r.method, r.status) for r in sim.requests] == [("PATCH", None)]


async def test_a_slow_answer_trips_the_client_timeout_but_the_change_is_stored(http: aiohttp.ClientSession) -> None:
    store = seed_store(IDS, random.Random(1))
    async with Simulator(_config(slow_rate=1.0, slow_ms=400), store=store) as sim:
        with pytest.raises(asyncio.TimeoutError):
            async with http.patch(_url(sim, IDS[0]), headers=AUTH, json={"ring_seconds": 11},
                                  timeout=aiohttp.ClientTimeout(total=0.1)):
                pass
        assert store[IDS[0]]["ring_seconds"] == 11


async def test_latency_is_added_to_every_answer(http: aiohttp.ClientSession) -> None:
    async with Simulator(_config(latency_ms=(60, 80)), store=seed_store(IDS, random.Random(1))) as sim:
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with http.get(_url(sim, IDS[0]), headers=AUTH) as resp:
            assert resp.status == 200
        assert loop.time() - start >= 0.055


# ---------------------------------------------------------------- seed data and serving

@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), cc_id=st.integers(1, 2**62))
def test_made_call_centers_are_valid_per_the_reference(seed: int, cc_id: int) -> None:
    callcenter = make_callcenter(cc_id, random.Random(seed))
    body = {k: v for k, v in callcenter.items() if k not in READ_ONLY}
    assert apispec.update_body_errors(body) == []
    assert reference_errors(body) == []
    assert set(body) == set(apispec.json_schema(apispec.UPDATE_MESSAGE)["properties"])  # every settable field
    assert len(body["hold_queue"]) == 10 and len(body["advanced_settings"]["auto_call_recording"]) == 3
    if body["hold_queue"]["max_hold_seconds"] < 120:
        assert body["hold_queue"]["announce_position"] is False
    for state in body["routing_options"].values():
        for options in [state] + [item["options"] for item in state["dtmf"]]:
            assert ("action_target_type" in options) == ("action_target_id" in options)


def test_load_seed_file_accepts_wire_and_internal_form(tmp_path: Path) -> None:
    store = seed_store([7, 8], random.Random(2))
    wire = tmp_path / "wire.json"
    wire.write_text(json.dumps({"items": [apispec.to_wire(cc) for cc in store.values()]}))
    internal = tmp_path / "internal.json"
    internal.write_text(json.dumps(list(store.values())))
    assert load_seed_file(wire) == store
    assert load_seed_file(internal) == store


@pytest.mark.parametrize("content", ["[{\"id\": 1}, {\"id\": \"1\"}]", "[{\"name\": \"x\"}]", "{\"a\": 1}", "not json"])
def test_load_seed_file_refuses_bad_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "seed.json"
    path.write_text(content)
    with pytest.raises(ValueError):
        load_seed_file(path)


async def test_serve_forever_announces_its_url_and_stops_on_cancel(http: aiohttp.ClientSession) -> None:
    announced: asyncio.Queue[str] = asyncio.Queue()
    task = asyncio.create_task(serve_forever(_config(), seed_store(IDS, random.Random(1)), 0, announced.put_nowait))
    url = await asyncio.wait_for(announced.get(), timeout=5)
    assert url.startswith("http://127.0.0.1:")
    async with http.get(f"{url}/api/v2/callcenters/{IDS[0]}", headers=AUTH) as resp:
        assert resp.status == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(f"{url}/api/v2/callcenters", headers=AUTH):
            pass
