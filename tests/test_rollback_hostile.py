"""A rollback against servers that do not behave: a listing that shows a change late, an add whose answer
is lost after it took effect, server text that echoes the key. Small aiohttp servers of the tests' own."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from support import KEY, Proxy, ScriptedApi, fast_retries, options, write_rows

from bulkcc.errors import EXIT_INVALID, EXIT_OK
from bulkcc.plan.undo import AgentState, AgentUndo
from bulkcc.plan.undo_file import rollback_workbook
from bulkcc.plan.undo_proof import undo_entry
from bulkcc.run.apply import apply_async
from bulkcc.sim.server import Simulator, SimulatorConfig, seed_store
from bulkcc.workbook.xlsx import save_atomic

pytestmark = pytest.mark.timeout(60)

IDS = [1001, 1002, 1003, 1004, 1005]


class LateListing(Proxy):
    """A proxy in front of the simulator whose listing of call centers answers as it did at `freeze()`:
    the listing shows a change only seconds later, a GET of one call center at once."""

    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim, LateListing._frozen_listing)
        self.frozen: dict | None = None

    async def freeze(self) -> None:
        async with aiohttp.ClientSession() as session, session.get(
                f"{self.sim.base_url}/api/v2/callcenters?limit=100", headers={"Authorization": f"Bearer {KEY}"}) as got:
            self.frozen = await got.json()

    async def _frozen_listing(self, request: web.Request, data: bytes) -> web.StreamResponse | None:
        if request.method == "GET" and request.path == "/api/v2/callcenters" and self.frozen is not None:
            return web.json_response(self.frozen)
        return None


async def test_a_listing_that_shows_the_run_late_does_not_make_the_rollback_skip_it(tmp_path: Path) -> None:
    rows = [{"id": cc, "ring_seconds": 11 + n} for n, cc in enumerate(IDS)]
    source = write_rows(tmp_path / "in.xlsx", rows, header=["id", "ring_seconds"])
    config = SimulatorConfig(api_key=KEY, rate_limit_per_min=600_000, seeded_operators=(0, 0))
    async with Simulator(config, store=seed_store(IDS, random.Random(0))) as sim, LateListing(sim) as late:
        start = copy.deepcopy(sim.store)
        run = await apply_async(source, options(tmp_path / "r.xlsx", late.base_url))
        assert run.exit_code == EXIT_OK and all(sim.store[cc]["ring_seconds"] == 11 + n for n, cc in enumerate(IDS))
        sim.store[IDS[0]]["ring_seconds"] = start[IDS[0]]["ring_seconds"]  # put back by hand: truly as before
        await late.freeze()
        assert late.frozen is not None  # the listing still shows every value as before the run:
        late.frozen = {"items": [{**item, "ring_seconds": start[int(item["id"])]["ring_seconds"]}
                                 for item in late.frozen["items"]]}
        sim.requests.clear()
        back = await apply_async(tmp_path / "r-rollback.xlsx", options(tmp_path / "back.xlsx", late.base_url))
        assert back.exit_code == EXIT_OK, [(r.status, r.error) for r in back.results]
        assert [r.status for r in back.results] == ["unchanged"] + ["updated"] * 4
        assert sim.store == start
        gets = [r.path for r in sim.requests if r.method == "GET"]
        assert sorted(gets) == sorted(f"/api/v2/callcenters/{cc}" for cc in IDS)  # each read again by its GET


def _rollback(path: Path, target: str, agents: list[AgentUndo]) -> Path:
    """A rollback workbook of these agents, and the journal of its run, which records them as a run does."""
    journal = path.with_name("run.journal.jsonl")
    journal.write_text(json.dumps({"journal": "bulkcc-journal/1", "run": "r1"}) + "\n"
                       + json.dumps(undo_entry([], agents)) + "\n", "utf-8")
    about = [("run", "r1"), ("journal", str(journal)), ("target", target)]
    return save_atomic(rollback_workbook(about, [], agents, []), path)


def _users(center: int, *users: tuple[int, str]) -> tuple:
    return ("json", 200, {"users": [{"id": str(u), "group_details": [
        {"group_id": str(center), "group_type": "callcenter", "role": role}]} for u, role in users]})


async def test_a_re_add_whose_answer_is_lost_after_it_took_effect_is_added_once_and_server_text_is_redacted(
        tmp_path: Path) -> None:
    already = ("json", 400, {"error": {"message": "User 7 is already an operator of call center 11"}})
    scripts: dict[str, list[tuple]] = {
        # read before deciding (not there), the add (its answer lost: 500), the retry (already), the read back.
        "api/v2/callcenters/11/operators": [_users(11), ("json", 500, {"error": {"message": "oops"}}), already,
                                            _users(11, (7, "admin"))],
        # Someone made user 8 of center 12 something else since: its role, as the server tells it, is the key.
        "api/v2/callcenters/12/operators": [_users(12, (8, KEY))],
        "api/v2/callcenters/12/operators/8/skill": [("json", 200, {"user_id": "8", "skill_level": "40"})],
    }
    async with ScriptedApi(scripts) as api:
        book = _rollback(tmp_path / "rollback.xlsx", api.base_url, [
            AgentUndo(11, 7, AgentState("admin", 40), None),
            AgentUndo(12, 8, AgentState("operator", 40), AgentState("supervisor", 40))])
        outcome = await apply_async(book, options(tmp_path / "back.xlsx", api.base_url, retry_policy=fast_retries))
    added, stale = outcome.operator_results
    assert added.status == "added" and "earlier attempt went unanswered but took effect" in added.error
    assert [b["role"] for b in api.bodies["api/v2/callcenters/11/operators"] if b] == ["admin", "admin"]
    assert stale.status == "stale" and KEY not in stale.error and "****" in stale.error
    assert outcome.exit_code == EXIT_INVALID


async def test_a_rollback_made_for_another_target_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    from bulkcc.errors import UsageError

    book = _rollback(tmp_path / "rollback.xlsx", "simulator", [AgentUndo(11, 7, None, AgentState("admin", 40))])
    async with ScriptedApi({}) as api:
        with pytest.raises(UsageError, match="undoes a run against simulator"):
            await apply_async(book, options(tmp_path / "back.xlsx", api.base_url))
        assert api.total == 0



async def test_a_hand_edited_rollback_refuses_only_what_no_longer_reads(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from bulkcc.errors import InputError

    async with ScriptedApi({"api/v2/callcenters/11/operators": [_users(11, (7, "admin")),
                                                                ("json", 200, {"id": "7"})],  # the removal
                            "api/v2/callcenters/11/operators/7/skill": [("json", 200, {"skill_level": "40"})]}) as api:
        book = _rollback(tmp_path / "rollback.xlsx", api.base_url, [
            AgentUndo(11, 7, None, AgentState("admin", 40)), AgentUndo(11, 8, None, AgentState("admin", 40))])
        workbook = load_workbook(book)
        workbook["agents"]["H3"] = "forty"  # run_left_skill_level of the second agent: no longer a level
        workbook.save(book)
        outcome = await apply_async(book, options(tmp_path / "back.xlsx", api.base_url))
        removed, unread = outcome.operator_results
        assert removed.status == "removed"
        assert unread.status == "failed" and "does not read" in unread.error and "'forty'" in unread.error
        assert [b["user_id"] for b in api.bodies["api/v2/callcenters/11/operators"] if b] == [7]

        workbook["rollback"]["B1"] = "bulkcc-rollback/9"  # not a format this bulkcc wrote: nothing is read
        workbook.save(book)
        with pytest.raises(InputError, match="not a rollback workbook bulkcc wrote"):
            await apply_async(book, options(tmp_path / "again.xlsx", api.base_url))
