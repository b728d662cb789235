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
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkcc.sim import apispec
from bulkcc.sim.server import (
    Simulator,
    SimulatorConfig,
    ids_for_demo,
    load_seed_file,
    make_callcenter,
    seed_store,
    serve_forever,
)
from bulkcc.sim.store import RULE_SOURCES, apply_patch, merged_errors, reference_errors

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
    async with http.get(f"{sim.base_url}/api/v2/contacts", headers=AUTH) as resp:  # (users are served now)
        assert resp.status == 404 and (await resp.json())["error"]["code"] == 404
    async with http.put(_url(sim, IDS[0]), headers=AUTH) as resp:  # DELETE is an endpoint now
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

@settings(max_examples=examples(60), deadline=None)
@given(seed=st.integers(0, 2**32), cc_id=st.integers(1, 2**62))
def test_made_call_centers_are_valid_per_the_reference(seed: int, cc_id: int) -> None:
    callcenter = make_callcenter(cc_id, random.Random(seed))
    body = {k: v for k, v in callcenter.items() if k not in READ_ONLY}
    assert apispec.update_body_errors(body) == []
    assert reference_errors(body) == [] and merged_errors(body, callcenter) == []
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


# ---------------------------------------------------------------- the reference's rules between fields

async def _patch(sim: Simulator, http: aiohttp.ClientSession, body: Any, cc_id: int = IDS[0]) -> tuple[int, Any]:
    async with http.patch(_url(sim, cc_id), headers=AUTH, json=body) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("stored, body", [
    ({"max_hold_seconds": 300, "announce_position": False},
     {"hold_queue": {"announce_position": True, "max_hold_seconds": 60}}),  # both in the body
    ({"max_hold_seconds": 60, "announce_position": False}, {"hold_queue": {"announce_position": True}}),
    ({"max_hold_seconds": 300, "announce_position": True}, {"hold_queue": {"max_hold_seconds": 119}}),
], ids=["both-in-the-body", "announce-on-a-short-stored-hold", "short-hold-under-a-stored-announce"])
async def test_announce_position_needs_a_wait_of_2_minutes_whichever_side_sets_it(
        sim: Simulator, http: aiohttp.ClientSession, stored: dict, body: dict) -> None:
    sim.store[IDS[0]]["hold_queue"].update(stored)
    before = json.dumps(sim.store[IDS[0]], sort_keys=True)
    status, answer = await _patch(sim, http, body)
    assert status == 400, answer
    assert "hold_queue.announce_position" in answer["error"]["message"]
    assert "max_hold_seconds to 120 or more" in answer["error"]["message"]
    assert json.dumps(sim.store[IDS[0]], sort_keys=True) == before


async def test_announce_rule_allows_what_the_reference_allows(sim: Simulator, http: aiohttp.ClientSession) -> None:
    queue = sim.store[IDS[0]]["hold_queue"]
    queue.update(max_hold_seconds=60, announce_position=True)  # broken before we came: renaming still works
    assert (await _patch(sim, http, {"name": "Renamed"}))[0] == 200
    assert (await _patch(sim, http, {"hold_queue": {"announce_position": False, "max_hold_seconds": 30}}))[0] == 200
    assert (await _patch(sim, http, {"hold_queue": {"max_hold_seconds": 120, "announce_position": True}}))[0] == 200
    assert sim.store[IDS[0]]["hold_queue"]["announce_position"] is True


def _description(dotted: str) -> str:
    node = apispec.json_schema(apispec.UPDATE_MESSAGE)
    for part in dotted.split("."):
        node = node["properties"][part.removesuffix("[]")]
        if part.endswith("[]"):
            node = node["items"]
    return node["description"]


@pytest.mark.parametrize("field", sorted(RULE_SOURCES))
def test_each_rule_comes_from_words_of_the_openapi(field: str, spec_dir: Path) -> None:
    # The packaged OpenAPI the simulator reads, and the shared PATCH reference text, both say it.
    assert RULE_SOURCES[field] in _description(field)
    reference = spec_dir / "callcenters-patch-reference.txt"
    if reference.is_file():  # the shared spec folder (a clone on its own has only the packaged OpenAPI)
        assert RULE_SOURCES[field] in reference.read_text("utf-8")


# ---------------------------------------------------------------- hostile bodies, the key, query values

@pytest.mark.parametrize("raw", [
    b"[" * 1000 + b"]" * 1000,
    b'{"name": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    b"[" * 100_000,
    json.dumps({"hold_queue": json.loads("[" * 40 + "]" * 40)}).encode(),
], ids=["array-1000", "name-1000", "open-100000", "object-40"])
async def test_a_deeply_nested_body_is_a_400_and_the_key_is_checked_first(
        sim: Simulator, http: aiohttp.ClientSession, raw: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    async with http.patch(_url(sim, IDS[0]), headers=headers, data=raw) as resp:
        assert resp.status == 401
    assert sim.requests[-1].body is None  # not even parsed for a caller without the key
    async with http.patch(_url(sim, IDS[0]), headers={**AUTH, **headers}, data=raw) as resp:
        assert resp.status == 400
        assert "nested too deeply" in (await resp.json())["error"]["message"]


async def test_schema_messages_stay_short_for_a_huge_value(sim: Simulator, http: aiohttp.ClientSession) -> None:
    status, answer = await _patch(sim, http, {"ring_seconds": "9" * 100_000})
    assert status == 400 and "ring_seconds" in answer["error"]["message"]
    assert len(answer["error"]["message"]) < 1000


async def test_the_key_may_come_as_apikey_in_the_query(sim: Simulator, http: aiohttp.ClientSession) -> None:
    async with http.get(_url(sim, IDS[0], apikey=KEY)) as resp:
        assert resp.status == 200 and (await resp.json())["id"] == str(IDS[0])
    async with http.get(_url(sim, apikey=KEY)) as resp:  # not a filter: the whole list
        assert resp.status == 200 and len((await resp.json())["items"]) == len(IDS)
    async with http.patch(_url(sim, IDS[0], apikey=KEY), json={"ring_seconds": 15}) as resp:
        assert resp.status == 200
    async with http.get(_url(sim, IDS[0], apikey="wrong")) as resp:
        assert resp.status == 401
        assert "apikey" in (await resp.json())["error"]["message"]
    assert sim.store[IDS[0]]["ring_seconds"] == 15


async def test_the_access_log_never_shows_the_query_where_a_key_may_be(
        http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="aiohttp.access")
    async with Simulator(_config(), store=seed_store(IDS, random.Random(1)), access_log=True) as sim:
        async with http.get(_url(sim, IDS[0], apikey=KEY)) as resp:
            assert resp.status == 200
    logged = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert logged and f"GET /api/v2/callcenters/{IDS[0]}" in logged[0] and " 200 " in logged[0]
    assert not any(KEY in line or "apikey" in line for line in logged)


@pytest.mark.parametrize("office_id, status", [("-5", 200), ("0", 200), ("9223372036854775807", 200),
                                               ("9223372036854775808", 400), ("5.0", 400), ("٣", 400)])
async def test_office_id_is_read_as_the_int64_it_is(
        sim: Simulator, http: aiohttp.ClientSession, office_id: str, status: int) -> None:
    async with http.get(_url(sim), headers=AUTH, params={"office_id": office_id}) as resp:
        assert resp.status == status
        answer = await resp.json()
    if status == 200:
        assert answer == {"items": []}  # no office has that id
    else:
        assert answer["error"]["message"] == "office_id must be an integer"


# ---------------------------------------------------------------- other integrations' load, history

class _Steps:
    """A clock that moves `step` seconds each time the simulator reads it (once per request)."""

    def __init__(self, start: float, step: float) -> None:
        self.now, self.step = start - step, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def test_other_load_in_a_window_makes_429s_only_inside_it(http: aiohttp.ClientSession) -> None:
    # 10/s allowed; we send 5/s (a request each 0.2 s of the simulator's clock); the other
    # integrations send 8/s from 2 s to 4 s after the first request, so for a while only 2/s are ours.
    clock = _Steps(start=1000.0, step=0.2)
    config = _config(rate_limit_per_min=600, background_rps=8, background_window=(2.0, 4.0))
    async with Simulator(config, store=seed_store(IDS, random.Random(1)), clock=clock) as sim:
        for _ in range(40):  # 8 s of the simulator's clock
            async with http.get(_url(sim, IDS[0]), headers=AUTH) as resp:
                await resp.read()
    by_time = [(round(r.t - 1000.0, 1), r.status) for r in sim.requests]
    refused = [t for t, status in by_time if status == 429]
    assert refused, by_time
    # Inside the window, and the second after it while its last requests leave the 1 s window.
    assert all(2.0 < t < 5.0 for t in refused), by_time
    assert {status for t, status in by_time if not 2.0 < t < 5.0} == {200}


@pytest.mark.parametrize(("limiter", "expected"), [
    ("sliding-granted", [200, 429, 200, 429]),  # (0.2, 1.2] holds only the grant at 0
    ("sliding-all", [200, 429, 429, 429]),  # ... and the refused knock at 0.6: it counts
    ("token-bucket", [200, 429, 200, 429]),
    ("fixed-window", [200, 429, 200, 429]),
])
async def test_the_chosen_limiter_answers_the_requests(http: aiohttp.ClientSession, limiter: str,
                                                       expected: list[int]) -> None:
    clock = _Steps(start=1000.0, step=0.6)  # requests at 0, 0.6, 1.2 and 1.8 s: 1 a second allowed
    config = _config(rate_limit_per_min=60, limiter=limiter)
    async with Simulator(config, store=seed_store(IDS, random.Random(1)), clock=clock) as sim:
        statuses = []
        for _ in range(4):
            async with http.get(_url(sim, IDS[0]), headers=AUTH) as resp:
                statuses.append(resp.status)
                if resp.status == 429:
                    assert int(resp.headers["Retry-After"]) >= 1
    assert statuses == expected


async def test_other_load_in_bursts_refuses_the_second_after_each(http: aiohttp.ClientSession) -> None:
    clock = _Steps(start=1000.0, step=0.25)
    config = _config(rate_limit_per_min=600, background_rps=10, background_window=(1.0, 5.0), background_burst=20)
    async with Simulator(config, store=seed_store(IDS, random.Random(1)), clock=clock) as sim:
        for _ in range(28):  # 7 s of the simulator's clock, 4 requests a second of the 10 allowed
            async with http.get(_url(sim, IDS[0]), headers=AUTH) as resp:
                await resp.read()
    refused = sorted({int(r.t - 1000.0) for r in sim.requests if r.status == 429})
    assert refused == [1, 3]  # bursts of 20 at 1 s and at 3 s fill the window for a second each


async def test_the_request_history_is_bounded(http: aiohttp.ClientSession) -> None:
    assert _config().history == 10_000
    for history in (0, 3):
        async with Simulator(_config(history=history), store=seed_store(IDS, random.Random(1))) as sim:
            for cc_id in IDS[:6]:
                async with http.get(_url(sim, cc_id), headers=AUTH) as resp:
                    assert resp.status == 200
        assert [r.callcenter_id for r in sim.requests] == IDS[6 - history:6]


# ---------------------------------------------------------------- `bulkcc simulate`

def test_simulate_on_a_busy_port_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    import socket

    from click.testing import CliRunner

    from bulkcc.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = CliRunner().invoke(main, ["simulate", "--port", str(port), "--state", str(tmp_path / "s.jsonl")])
    assert run.exit_code == 2, run.output
    assert f"port {port} on 127.0.0.1 is in use" in run.stderr and "--port" in run.stderr
    assert "Traceback" not in run.output and isinstance(run.exception, SystemExit)


@pytest.mark.parametrize("args, expected", [
    (["--count", "10"], "add --reset to start it over from --count"),
    (["--other-load-window", "5,10"], "give its rate with --other-load"),
    (["--other-load-burst", "40"], "give its rate with --other-load"),
    (["--limiter", "leaky-bucket"], "sliding-granted"),
    (["--other-load", "5", "--other-load-window", "10,5"], "0 <= A < B"),
    (["--port", "70000"], "70000"),
])
def test_simulate_refuses_contradictions_before_serving(tmp_path: Path, args: list[str], expected: str) -> None:
    from click.testing import CliRunner

    from bulkcc.cli import main

    state = tmp_path / "s.jsonl"
    state.write_text('{"bulkcc_simulator_state":1}\n')
    run = CliRunner().invoke(main, ["simulate", "--state", str(state), *args])
    assert run.exit_code == 2, run.output
    assert expected in run.output + run.stderr
    assert state.read_text() == '{"bulkcc_simulator_state":1}\n'


async def test_simulate_serves_the_state_file_and_prints_how_to_use_it(tmp_path: Path) -> None:
    import os
    import signal
    import sys

    from bulkcc.sim.server import StateFile

    state_path = tmp_path / "company.jsonl"
    state = StateFile(state_path)
    store = state.load(lambda: seed_store(IDS, random.Random(0)))
    with state.changing(store):  # what an earlier `--simulator --simulator-state` command changed
        store[IDS[0]] = {**store[IDS[0]], "name": "Changed earlier"}
        state.record(store[IDS[0]])

    async def serve(cc_id: int, *args: str) -> tuple[str, int, dict[str, Any]]:
        env = {k: v for k, v in os.environ.items() if k != "DIALPAD_API_KEY"}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bulkcc.cli", "simulate", "--port", "0", "--state", str(state_path), *args,
            env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            lines: list[str] = []
            while not any("--base-url" in line for line in lines):
                line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
                assert line, f"simulate ended early: {lines}"
                lines.append(line.strip())
            url = next(line for line in lines if "--base-url" in line).rsplit(" ", 1)[-1]
            assert "export DIALPAD_API_KEY=simulator" in lines
            async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http, http.get(
                    f"{url}/api/v2/callcenters/{cc_id}", headers={"Authorization": "Bearer simulator"}) as resp:
                status, answer = resp.status, await resp.json()
        finally:
            process.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(process.wait(), 30)
        assert code == 0
        return "\n".join(lines), status, answer

    text, status, answer = await serve(IDS[0])
    assert f"kept in {state_path}" in text and f"with {len(IDS)} call centers" in text
    assert (status, answer["name"]) == (200, "Changed earlier")
    # --reset: the made-up company of 250 (its first id 4800000000000001), the earlier ones gone.
    text, status, answer = await serve(4_800_000_000_000_001, "--reset")
    assert "with 250 call centers" in text and status == 200
    assert sorted(StateFile(state_path).load(dict)) == list(ids_for_demo(250))
