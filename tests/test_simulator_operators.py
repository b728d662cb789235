"""The simulator's create, delete, office listing, operators, skill levels, status and licenses.

Real aiohttp servers on loopback, talked to with a real aiohttp client; "a
restart" is a new `StateFile` and simulator on the same path.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bulkcc.sim.operators import FIRST_CREATED_ID
from bulkcc.sim.server import USER_ID_BASE, Simulator, SimulatorConfig, StateFile, seed_store

KEY = "ops-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
IDS = list(range(1001, 1011))
OFFICE = 5_100_000_000_000_002  # one of the made-up regions' offices (DACH)
USERS = [USER_ID_BASE + n for n in range(1, 11)]
TIMEOUT = aiohttp.ClientTimeout(total=5)
CC = "/api/v2/callcenters"


def _config(**overrides: Any) -> SimulatorConfig:
    return SimulatorConfig(api_key=KEY, random_seed=1, **{"rate_limit_per_min": 60_000, **overrides})


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """Ten made-up call centers without operators, 10 users, 1000 licenses."""
    config = _config(users=10, seeded_operators=(0, 0))
    async with Simulator(config, store=seed_store(IDS, random.Random(7))) as simulator:
        yield simulator


async def _call(http: aiohttp.ClientSession, sim: Simulator, method: str, path: str,
                body: Any = None, **query: str) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"headers": AUTH, "params": query}
    if body is not None:
        kwargs["json"] = body
    async with http.request(method, sim.base_url + path, **kwargs) as resp:
        return resp.status, await resp.json()


async def _create(http, sim, name: str = "Support Berlin", office: int = OFFICE, **fields: Any) -> tuple[int, Any]:
    return await _call(http, sim, "POST", CC, {"name": name, "office_id": office, **fields})


async def _add(http, sim, cc_id: int, user_id: int, **fields: Any) -> tuple[int, Any]:
    return await _call(http, sim, "POST", f"{CC}/{cc_id}/operators", {"user_id": user_id, **fields})


async def _operators(http, sim, cc_id: int) -> dict[int, str]:
    """user id: role in this call center, as a client reads it (group_details of this center)."""
    status, answer = await _call(http, sim, "GET", f"{CC}/{cc_id}/operators")
    assert status == 200 and answer["rooms"] == []
    return {int(user["id"]): next(g["role"] for g in user["group_details"] if g["group_id"] == str(cc_id))
            for user in answer["users"]}


# ---------------------------------------------------------------- create and delete

async def test_create_answers_the_new_center_in_wire_form_with_a_fresh_id(sim: Simulator, http) -> None:
    status, made = await _create(http, sim, ring_seconds=20, hold_queue={"max_hold_seconds": 600})
    assert status == 200
    assert made["id"] == str(FIRST_CREATED_ID) and made["office_id"] == str(OFFICE)
    assert (made["name"], made["ring_seconds"], made["hold_queue"]["max_hold_seconds"]) == (
        "Support Berlin", "20", "600")
    assert made["timezone"] == "Europe/Berlin" and made["state"] == "active"
    status, read = await _call(http, sim, "GET", f"{CC}/{made['id']}")
    assert (status, read) == (200, made)
    # The API may accept a second center of the same name in an office: so does the simulator.
    status, again = await _create(http, sim)
    assert status == 200 and int(again["id"]) == FIRST_CREATED_ID + 1


@pytest.mark.parametrize("body, expected", [
    ({"office_id": OFFICE}, "'name' is a required property"),
    ({"name": "X"}, "'office_id' is a required property"),
    ({"name": None, "office_id": OFFICE}, "name: None is not of type 'string'"),
    ({"name": "X", "office_id": str(OFFICE)}, "office_id: '5100000000000002' is not of type 'integer'"),
    ({"name": "X", "office_id": OFFICE, "id": 5}, "Additional properties are not allowed ('id'"),
    ({"name": "X", "office_id": OFFICE, "ring_seconds": 5}, "ring_seconds: 5 is outside 10 to 45"),
    ({"name": "  ", "office_id": OFFICE}, "name: must not be blank"),
    ({"name": "X", "office_id": OFFICE, "hold_queue": {"max_hold_seconds": 60}},
     "announce_position: true is not available with max_hold_seconds 60"),
])
async def test_create_refuses_a_body_the_spec_refuses(sim: Simulator, http, body: dict, expected: str) -> None:
    status, answer = await _call(http, sim, "POST", CC, body)
    assert (status, answer["error"]["code"]) == (400, 400)
    assert expected in answer["error"]["message"]
    assert len(sim.store) == len(IDS)


async def test_create_in_an_unknown_office_is_a_404_and_extra_offices_can_be_known(http) -> None:
    async with Simulator(_config(offices=(124,)), store={}) as sim:
        status, answer = await _create(http, sim, office=999)
        assert (status, answer["error"]["message"]) == (404, "Office 999 not found")
        assert (await _create(http, sim, office=124))[0] == 200
        assert (await _create(http, sim, office=OFFICE))[0] == 200  # the made-up regions' offices are known


async def test_delete_answers_the_center_then_it_is_gone(sim: Simulator, http) -> None:
    _, made = await _create(http, sim)
    assert (await _add(http, sim, int(made["id"]), USERS[0]))[0] == 200
    status, deleted = await _call(http, sim, "DELETE", f"{CC}/{made['id']}")
    assert (status, deleted) == (200, made)
    for method, path in [("GET", f"{CC}/{made['id']}"), ("DELETE", f"{CC}/{made['id']}"),
                         ("GET", f"{CC}/{made['id']}/operators"), ("DELETE", f"{CC}/12345")]:
        status, answer = await _call(http, sim, method, path)
        assert (status, answer["error"]["message"]) == (404, "Call center not found")
    _, next_one = await _create(http, sim)  # a deleted id is never handed out again
    assert int(next_one["id"]) == int(made["id"]) + 1


# ---------------------------------------------------------------- an office's call centers

async def test_office_listing_pages_with_cursors_and_holds_only_that_office(http) -> None:
    store = seed_store(range(2000, 2040), random.Random(3))
    async with Simulator(_config(page_size=4, seeded_operators=(0, 0)), store=store) as sim:
        for n in range(3):
            assert (await _create(http, sim, name=f"New {n}"))[0] == 200
        seen, cursor, pages = [], None, 0
        while pages < 50:
            status, page = await _call(http, sim, "GET", f"/api/v2/offices/{OFFICE}/callcenters",
                                       **({"cursor": cursor} if cursor else {}))
            assert status == 200 and len(page["items"]) <= 4
            seen += [int(item["id"]) for item in page["items"]]
            pages += 1
            cursor = page.get("cursor")
            if not cursor:
                break
        expected = sorted(cc_id for cc_id, cc in sim.store.items() if cc["office_id"] == OFFICE)
        assert seen == expected and len(expected) > 4 and FIRST_CREATED_ID + 2 in seen
        for path, query, status_wanted in [("/api/v2/offices/999/callcenters", {}, 404),
                                           ("/api/v2/offices/x/callcenters", {}, 404),
                                           (f"/api/v2/offices/{OFFICE}/callcenters", {"cursor": "junk!"}, 400)]:
            status, answer = await _call(http, sim, "GET", path, **query)
            assert status == status_wanted and answer["error"]["code"] == status_wanted


# ---------------------------------------------------------------- operators and skill levels

async def test_operators_add_list_remove_with_roles_and_skills(sim: Simulator, http) -> None:
    cc = IDS[0]
    status, user = await _add(http, sim, cc, USERS[0])
    assert status == 200 and user["id"] == str(USERS[0])
    assert user["group_details"] == [
        {"group_id": str(cc), "group_type": "callcenter", "role": "operator", "do_not_disturb": False}]
    assert (await _add(http, sim, cc, USERS[1], role="supervisor", skill_level=40,
                       license_type="lite_support_agents", keep_paid_numbers=False))[0] == 200
    assert (await _add(http, sim, IDS[1], USERS[1], role="admin"))[0] == 200
    assert await _operators(http, sim, cc) == {USERS[0]: "operator", USERS[1]: "supervisor"}
    assert await _operators(http, sim, IDS[1]) == {USERS[1]: "admin"}
    status, skill = await _call(http, sim, "GET", f"{CC}/{cc}/operators/{USERS[0]}/skill")
    assert (status, skill) == (200, {"call_center_id": str(cc), "user_id": str(USERS[0]), "skill_level": "100"})
    status, skill = await _call(http, sim, "PATCH", f"{CC}/{cc}/operators/{USERS[1]}/skill", {"skill_level": 0})
    assert (status, skill["skill_level"]) == (200, "0")
    assert (await _call(http, sim, "GET", f"{CC}/{cc}/operators/{USERS[1]}/skill"))[1]["skill_level"] == "0"

    status, answer = await _add(http, sim, cc, USERS[0])
    assert status == 400 and f"User {USERS[0]} is already an operator of call center {cc}" in answer["error"]["message"]
    status, removed = await _call(http, sim, "DELETE", f"{CC}/{cc}/operators", {"user_id": USERS[0]})
    assert status == 200 and removed["id"] == str(USERS[0]) and removed["group_details"] == []
    assert await _operators(http, sim, cc) == {USERS[1]: "supervisor"}
    status, answer = await _call(http, sim, "DELETE", f"{CC}/{cc}/operators", {"user_id": USERS[0]})
    assert (status, answer["error"]["message"]) == (404, f"User {USERS[0]} is not an operator of call center {cc}")
    status, answer = await _call(http, sim, "GET", f"{CC}/{cc}/operators/{USERS[0]}/skill")
    assert (status, answer["error"]["message"]) == (404, f"User {USERS[0]} is not an operator of call center {cc}")
    status, _ = await _call(http, sim, "GET", f"{CC}/{cc}/status")
    assert status == 200


async def test_unknown_center_or_user_is_a_404(sim: Simulator, http) -> None:
    outside = USER_ID_BASE + 11  # the pool has 10 users
    for method, path, body, message in [
        ("POST", f"{CC}/42/operators", {"user_id": USERS[0]}, "Call center not found"),
        ("GET", f"{CC}/42/operators", None, "Call center not found"),
        ("GET", f"{CC}/42/status", None, "Call center not found"),
        ("PATCH", f"{CC}/42/operators/{USERS[0]}/skill", {"skill_level": 5}, "Call center not found"),
        ("POST", f"{CC}/{IDS[0]}/operators", {"user_id": outside}, f"User {outside} not found"),
        ("DELETE", f"{CC}/{IDS[0]}/operators", {"user_id": IDS[1]}, f"User {IDS[1]} not found"),
        ("GET", f"{CC}/{IDS[0]}/operators/abc/skill", None, "User not found"),
    ]:
        status, answer = await _call(http, sim, method, path, body)
        assert (status, answer["error"]["message"]) == (404, message), (method, path)


@pytest.mark.parametrize("method, suffix, body, expected", [
    ("POST", "/operators", {}, "'user_id' is a required property"),
    ("POST", "/operators", {"user_id": None}, "user_id: None is not of type 'integer'"),
    ("POST", "/operators", {"user_id": str(USERS[0])}, "is not of type 'integer'"),
    ("POST", "/operators", {"user_id": USERS[0], "role": "boss"}, "role: 'boss' is not one of"),
    ("POST", "/operators", {"user_id": USERS[0], "license_type": "talk"}, "license_type: 'talk' is not one of"),
    ("POST", "/operators", {"user_id": USERS[0], "skill_level": 0}, "skill_level: 0 is outside 1 to 100"),
    ("POST", "/operators", {"user_id": USERS[0], "skill_level": 50.0}, "skill_level: 50.0 is not of type"),
    ("POST", "/operators", {"user_id": USERS[0], "skill": 5}, "Additional properties are not allowed"),
    ("DELETE", "/operators", {}, "'user_id' is a required property"),
    ("DELETE", "/operators", {"user_id": USERS[0], "role": "admin"}, "Additional properties are not allowed"),
    ("PATCH", f"/operators/{USERS[0]}/skill", {}, "'skill_level' is a required property"),
    ("PATCH", f"/operators/{USERS[0]}/skill", {"skill_level": 101}, "skill_level: 101 is outside 0 to 100"),
    ("PATCH", f"/operators/{USERS[0]}/skill", {"skill_level": True}, "is not of type 'integer'"),
    ("PATCH", f"/operators/{USERS[0]}/skill", [5], "is not of type 'object'"),
])
async def test_bodies_the_spec_refuses_are_400s(sim: Simulator, http, method: str, suffix: str, body: Any,
                                                expected: str) -> None:
    await _add(http, sim, IDS[0], USERS[0])
    before = json.dumps(sim.company.records())
    status, answer = await _call(http, sim, method, f"{CC}/{IDS[0]}{suffix}", body)
    assert (status, answer["error"]["code"]) == (400, 400)
    assert expected in answer["error"]["message"]
    assert json.dumps(sim.company.records()) == before


async def test_a_body_that_is_not_json_is_a_400(sim: Simulator, http) -> None:
    async with http.post(f"{sim.base_url}{CC}/{IDS[0]}/operators", data=b"{user_id", headers=AUTH) as resp:
        assert resp.status == 400 and "not valid JSON" in (await resp.json())["error"]["message"]


# ---------------------------------------------------------------- licenses

async def test_adding_a_user_without_a_license_takes_one_and_none_left_is_a_400(http) -> None:
    async with Simulator(_config(users=5, licenses=2, seeded_operators=(0, 0)),
                         store=seed_store(IDS[:3], random.Random(1))) as sim:
        assert (await _add(http, sim, IDS[0], USERS[0]))[0] == 200
        assert (await _add(http, sim, IDS[0], USERS[1], license_type="lite_support_agents"))[0] == 200
        assert sim.company.licensed == {USERS[0]: "agents", USERS[1]: "lite_support_agents"}
        status, answer = await _add(http, sim, IDS[0], USERS[2])
        message = answer["error"]["message"]
        assert (status, answer["error"]["code"]) == (400, 400)
        assert "license" in message and "available" in message and str(USERS[2]) in message
        # A user who holds a license takes none when added elsewhere.
        assert (await _add(http, sim, IDS[1], USERS[0]))[0] == 200
        # Removing does not release the license (the spec says so): still none for a third user.
        assert (await _call(http, sim, "DELETE", f"{CC}/{IDS[0]}/operators", {"user_id": USERS[0]}))[0] == 200
        assert (await _add(http, sim, IDS[2], USERS[2]))[0] == 400
        assert sim.company.licenses_used == 2 and sim.company.licenses_free == 0
        assert await _operators(http, sim, IDS[2]) == {}


async def test_made_up_centers_start_with_a_few_licensed_operators_the_same_in_every_simulator(http) -> None:
    async with Simulator(_config(), store=seed_store(IDS, random.Random(0))) as one:
        first = {cc_id: await _operators(http, one, cc_id) for cc_id in IDS}
        status, user = await _call(http, one, "GET", f"{CC}/{IDS[0]}/status")
    async with Simulator(_config(), store=seed_store([IDS[3], 9999], random.Random(0))) as two:
        assert await _operators(http, two, IDS[3]) == first[IDS[3]]
    assert all(len(ops) <= 3 for ops in first.values()) and sum(map(len, first.values())) > 0
    assert one.company.licenses_used == len({u for ops in first.values() for u in ops})
    assert status == 200 and user["capacity"] == str(len(first[IDS[0]]))


# ---------------------------------------------------------------- one budget, one pipeline

async def test_new_endpoints_share_the_key_check_and_the_one_rate_limit(http) -> None:
    async with Simulator(_config(rate_limit_per_min=60), store=seed_store(IDS, random.Random(1))) as sim:
        async with http.get(f"{sim.base_url}{CC}/{IDS[0]}/operators") as resp:
            assert resp.status == 401
        assert (await _call(http, sim, "GET", f"{CC}/{IDS[0]}"))[0] == 200
        before = json.dumps(sim.company.records())
        for method, path, body in [("POST", f"{CC}/{IDS[0]}/operators", {"user_id": USERS[5]}),
                                   ("POST", CC, {"name": "X", "office_id": OFFICE}),
                                   ("GET", f"/api/v2/offices/{OFFICE}/callcenters", None)]:
            status, answer = await _call(http, sim, method, path, body)
            assert (status, answer["error"]["code"]) == (429, 429), path
    assert [r.status for r in sim.requests] == [401, 200, 429, 429, 429]
    assert json.dumps(sim.company.records()) == before and len(sim.store) == len(IDS)


async def test_fail_rate_applies_to_new_endpoints_and_changes_nothing(http) -> None:
    async with Simulator(_config(fail_rate=1.0), store=seed_store(IDS, random.Random(1))) as sim:
        before = json.dumps(sim.company.records())
        async with http.post(f"{sim.base_url}{CC}/{IDS[0]}/operators", json={"user_id": USERS[6]},
                             headers=AUTH) as resp:
            assert resp.status in (500, 502, 503)
        assert json.dumps(sim.company.records()) == before


# ---------------------------------------------------------------- the state file

def _state_sim(path: Path, ids=(), **config: Any) -> Simulator:
    state = StateFile(path)
    store = state.load(lambda: seed_store(IDS, random.Random(0)), ids)
    return Simulator(_config(**config), store=store, state=state)


async def test_everything_survives_a_restart_with_the_state_file(tmp_path: Path, http) -> None:
    path = tmp_path / "state.jsonl"
    async with _state_sim(path, licenses=900, users=50) as sim:
        seeded = {cc_id: await _operators(http, sim, cc_id) for cc_id in IDS}
        _, made = await _create(http, sim)
        new_id = int(made["id"])
        assert (await _add(http, sim, new_id, USERS[9], role="supervisor", skill_level=33))[0] == 200
        assert (await _call(http, sim, "DELETE", f"{CC}/{IDS[1]}"))[0] == 200
        victim = next(iter(seeded[IDS[2]]), None)
        if victim is not None:
            assert (await _call(http, sim, "DELETE", f"{CC}/{IDS[2]}/operators", {"user_id": victim}))[0] == 200
        used = sim.company.licenses_used
    # A restart, naming the deleted id as a workbook would: it is not made up again.
    async with _state_sim(path, ids=[IDS[1]]) as again:
        assert IDS[1] not in again.store and new_id in again.store
        assert (again.company.users, again.company.licenses, again.company.licenses_used) == (50, 900, used)
        assert await _operators(http, again, new_id) == {USERS[9]: "supervisor"}
        skill = await _call(http, again, "GET", f"{CC}/{new_id}/operators/{USERS[9]}/skill")
        assert skill[1]["skill_level"] == "33"
        expected = {u: role for u, role in seeded[IDS[2]].items() if u != victim}
        assert await _operators(http, again, IDS[2]) == expected
        assert await _operators(http, again, IDS[3]) == seeded[IDS[3]]
        _, another = await _create(http, again)
        assert int(another["id"]) == new_id + 1


async def test_two_simulators_on_one_file_share_operators_and_licenses(tmp_path: Path, http) -> None:
    path = tmp_path / "state.jsonl"
    async with _state_sim(path) as first:
        used = first.company.licenses_used
    async with _state_sim(path, licenses=used + 1) as one, _state_sim(path) as two:
        assert (await _add(http, one, IDS[0], USERS[-1] + 100))[0] == 200  # a user with no license yet
        assert USERS[-1] + 100 in await _operators(http, two, IDS[0])
        status, answer = await _add(http, two, IDS[1], USERS[-1] + 101)
        assert status == 400 and "license" in answer["error"]["message"]


async def test_an_old_state_file_without_operators_still_loads(tmp_path: Path, http) -> None:
    path = tmp_path / "old.jsonl"
    old = seed_store(IDS[:3], random.Random(0))
    path.write_text('{"bulkcc_simulator_state":1,"generation":"x"}\n'
                    + "".join(json.dumps(old[cc_id]) + "\n" for cc_id in IDS[:3]))
    async with _state_sim(path) as sim:
        assert sorted(sim.store) == IDS[:3]
        assert (await _add(http, sim, IDS[0], USERS[-1] + 200))[0] == 200
    async with Simulator(_config(), store=seed_store(IDS[:3], random.Random(0))) as memory:
        assert await _operators(http, memory, IDS[1]) == {u: r for u, r in (await _state_ops(path, IDS[1])).items()}


async def _state_ops(path: Path, cc_id: int) -> dict[int, str]:
    state = StateFile(path)
    state.load(dict)
    return {u: op["role"] for u, op in state.company.operators.get(cc_id, {}).items()}


def test_simulate_help_lists_the_company_flags() -> None:
    from click.testing import CliRunner

    from bulkcc.cli import main

    run = CliRunner().invoke(main, ["simulate", "--help"])
    assert run.exit_code == 0
    for flag in ("--users", "--licenses", "--offices"):
        assert flag in run.output


async def test_a_rewrite_of_the_file_keeps_the_company_and_others_read_it_again(tmp_path: Path, http) -> None:
    path = tmp_path / "state.jsonl"
    async with _state_sim(path) as reader:
        async with _state_sim(path) as writer:
            assert (await _add(http, writer, IDS[0], USERS[-1] + 300, skill_level=1))[0] == 200
            for skill in range(2, 202):  # enough appended lines that closing rewrites the file
                status, _ = await _call(http, writer, "PATCH", f"{CC}/{IDS[0]}/operators/{USERS[-1] + 300}/skill",
                                        {"skill_level": skill % 101})
                assert status == 200
            expected = json.dumps(writer.company.records())
        lines = path.read_text().splitlines()
        assert len(lines) < 150  # rewritten: one line per call center and record
        status, skill = await _call(http, reader, "GET", f"{CC}/{IDS[0]}/operators/{USERS[-1] + 300}/skill")
        assert (status, skill["skill_level"]) == (200, str(201 % 101))
        assert json.dumps(reader.company.records()) == expected
