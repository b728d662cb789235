"""The simulator's state file (`bulkcc.sim.state`): kept between commands, shared by several at once.

Simulators are real aiohttp servers on loopback; "another command" is another
`StateFile` on the same path (in a thread where they must race), read back the
way the next command would.
"""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bulkcc.sim.server import Simulator, SimulatorConfig, StateError, StateFile, seed_store

KEY = "state-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
IDS = list(range(1001, 1011))
TIMEOUT = aiohttp.ClientTimeout(total=5)


def _initial(ids=IDS):
    return lambda: seed_store(ids, random.Random(0))


def _read_back(path: Path) -> dict[int, dict[str, Any]]:
    """The call centers the next command would see."""
    return StateFile(path).load(_initial([]))


def _sim(path: Path, ids=(), **config: Any) -> Simulator:
    state = StateFile(path)
    store = state.load(_initial(), ids)
    return Simulator(SimulatorConfig(api_key=KEY, rate_limit_per_min=60_000, **config), store=store, state=state)


async def _patch(session: aiohttp.ClientSession, sim: Simulator, cc_id: int, body: Any) -> int:
    async with session.patch(f"{sim.base_url}/api/v2/callcenters/{cc_id}", json=body, headers=AUTH) as resp:
        await resp.read()
        return resp.status


async def _get(session: aiohttp.ClientSession, sim: Simulator, cc_id: int) -> dict[str, Any]:
    async with session.get(f"{sim.base_url}/api/v2/callcenters/{cc_id}", headers=AUTH) as resp:
        assert resp.status == 200
        return await resp.json()


# ---------------------------------------------------------------- one command after the other

def test_first_use_creates_it_and_named_ids_get_the_same_made_up_call_centers(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    store = StateFile(path).load(_initial(), ids=[5001, 1001])
    assert sorted(store) == sorted([*IDS, 5001])
    in_memory = seed_store([*IDS, 5001], random.Random(0))  # what a simulator without a file serves
    assert store == in_memory
    assert _read_back(path) == in_memory
    assert json.loads(path.read_text().splitlines()[0])["bulkcc_simulator_state"] == 1


async def test_a_patch_answered_200_is_in_the_file_before_the_answer_arrives(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    async with _sim(path) as sim, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        assert await _patch(session, sim, 1003, {"ring_seconds": 44, "hold_queue": {"max_hold_count": 7}}) == 200
        assert await _patch(session, sim, 1004, {"ring_seconds": 99}) == 400  # refused: not written
        seen = _read_back(path)  # while the simulator still runs
    assert seen[1003]["ring_seconds"] == 44 and seen[1003]["hold_queue"]["max_hold_count"] == 7
    assert seen[1004] == seed_store([1004], random.Random(0))[1004]
    assert _read_back(path) == seen


async def test_two_simulators_on_one_file_see_and_keep_each_others_changes(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    async with _sim(path) as first, _sim(path) as second, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        assert await _patch(session, first, 1001, {"name": "Changed by the first"}) == 200
        assert (await _get(session, second, 1001))["name"] == "Changed by the first"
        # The same call center, other fields, from each: the merge is under the lock, so both stay.
        assert await _patch(session, second, 1001, {"ring_seconds": 12}) == 200
        assert await _patch(session, first, 1001, {"hold_queue": {"max_hold_count": 3}}) == 200
        async with session.get(f"{first.base_url}/api/v2/callcenters", headers=AUTH) as resp:
            listed = {item["id"]: item for item in (await resp.json())["items"]}
    assert listed["1001"]["ring_seconds"] == "12" and listed["1001"]["name"] == "Changed by the first"
    final = _read_back(path)[1001]
    assert (final["name"], final["ring_seconds"], final["hold_queue"]["max_hold_count"]) == (
        "Changed by the first", 12, 3)


def test_reset_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    state = StateFile(path)
    store = state.load(_initial())
    with state.changing(store):
        store[1001] = {**store[1001], "name": "Changed"}
        state.record(store[1001])
    assert _read_back(path)[1001]["name"] == "Changed"
    assert StateFile(path).load(_initial(), reset=True) == seed_store(IDS, random.Random(0))
    assert _read_back(path) == seed_store(IDS, random.Random(0))


# ---------------------------------------------------------------- what must never happen to it

def test_concurrent_writers_never_corrupt_it_or_lose_a_change(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    StateFile(path).load(_initial())
    rounds, errors = 60, []

    def writer(ids: list[int], label: str) -> None:
        try:
            state = StateFile(path)
            store = state.load(_initial())
            for n in range(rounds):
                for cc_id in ids:
                    with state.changing(store):
                        store[cc_id] = {**store[cc_id], "name": f"{label} {n}",
                                        "history": [*store[cc_id].get("history", []), label]}
                        state.record(store[cc_id])
                if n % 20 == 0:
                    state.close(store)  # a rewrite of the whole file while the other appends
        except Exception as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(IDS[:4], "even")),
               threading.Thread(target=writer, args=(IDS[2:6], "odd"))]  # 1003 and 1004 in both
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads) and errors == []

    final = _read_back(path)
    assert sorted(final) == IDS
    assert all(final[i]["name"] == f"even {rounds - 1}" for i in IDS[:2])
    assert all(final[i]["name"] == f"odd {rounds - 1}" for i in IDS[4:6])
    for cc_id in IDS[2:4]:  # written by both: every change of each is there, none overwritten
        assert sorted(final[cc_id]["history"]) == sorted(["even"] * rounds + ["odd"] * rounds)
    lines = path.read_text().splitlines()
    assert all(json.loads(line) for line in lines)
    assert len(lines) <= 1 + 3 * len(IDS) + 64 + 2 * rounds  # compaction keeps it from growing without end


def test_an_append_cut_short_by_a_crash_is_skipped_then_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    StateFile(path).load(_initial())
    with path.open("ab") as file:
        file.write(b'{"id":1001,"name":"never answe')  # a crash mid-write: no newline
    state = StateFile(path)
    store = state.load(_initial())
    assert store[1001] == seed_store([1001], random.Random(0))[1001]
    with state.changing(store):
        store[1002] = {**store[1002], "name": "After the crash"}
        state.record(store[1002])
    assert b"never answe" not in path.read_bytes()
    assert _read_back(path)[1002]["name"] == "After the crash"


@pytest.mark.parametrize("content", [b"", b"id,name\n1,x\n", b'{"items": []}\n'])
def test_a_file_that_is_not_a_state_is_refused_and_never_overwritten(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "results.xlsx"
    path.write_bytes(content)
    for reset in (False, True):
        with pytest.raises(StateError, match="not a bulkcc simulator state file"):
            StateFile(path).load(_initial(), reset=reset)
    assert path.read_bytes() == content


def test_a_damaged_line_names_the_line_and_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    StateFile(path).load(_initial())
    lines = path.read_text().splitlines()
    lines[3] = "{oops"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(StateError, match=r"line 4 is not JSON: delete the file or run `bulkcc simulate --reset"):
        StateFile(path).load(_initial())


async def test_a_file_removed_while_running_is_written_back(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    async with _sim(path) as sim, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        path.unlink()
        assert await _patch(session, sim, 1005, {"name": "Still here"}) == 200
    final = _read_back(path)
    assert sorted(final) == IDS and final[1005]["name"] == "Still here"


def test_a_lock_held_too_long_is_a_clear_error(tmp_path: Path) -> None:
    from filelock import FileLock

    path = tmp_path / "state.jsonl"
    with FileLock(f"{path}.lock"):
        with pytest.raises(StateError, match="stayed locked"):
            StateFile(path, lock_timeout=0.05).load(_initial())
