"""What a rollback must survive beyond the walk of `test_rollback.py`: a kill between the first write and
the rollback's last save, a field that was not set before the run, output paths that would replace the
run's own record, a rollback sheet edited by hand. Against the simulator, and a proxy of the tests' own in
front of it that holds or changes answers.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from openpyxl import Workbook, load_workbook
from support import KEY, Proxy, ScriptedApi, options, write_rows

from bulkcc.errors import EXIT_INVALID, EXIT_OK, InputError, UsageError
from bulkcc.plan.payload import values_from_callcenter
from bulkcc.run.apply import apply_async
from bulkcc.sim.server import USER_ID_BASE, Simulator, SimulatorConfig, seed_store

pytestmark = pytest.mark.timeout(60)

IDS = [1001, 1002, 1003, 1004, 1005]
U = [USER_ID_BASE + n for n in range(60)]


def _sim(**config: Any) -> Simulator:
    return Simulator(SimulatorConfig(api_key=KEY, rate_limit_per_min=600_000, seeded_operators=(0, 0), users=60,
                                     **config), store=seed_store(IDS, random.Random(0)))


def _operator(sim: Simulator, center: int, user: int, role: str, level: int) -> None:
    sim.company.apply(sim.store, {"kind": "license", "user_id": user, "license": "agents"})
    sim.company.apply(sim.store, {"kind": "operator", "callcenter_id": center, "user_id": user, "role": role,
                                  "skill_level": level})


def _operators_sheet(path: Path, agents: list[tuple[int, int, int]]) -> Path:
    workbook = Workbook()
    workbook.active.title = "callcenters"
    workbook.active.append(["id", "ring_seconds"])
    sheet = workbook.create_sheet("operators")
    sheet.append(["call_center_id", "user_id", "skill_level"])
    for center, user, level in agents:
        sheet.append([str(center), str(user), level])
    workbook.save(path)
    return path


@pytest.mark.parametrize("repeated_add", ["refuse", "update"])
async def test_a_run_killed_after_its_agent_changes_leaves_a_rollback_that_puts_them_back(
        tmp_path: Path, repeated_add: str) -> None:
    # A supervisor re-skilled by a row with no role, without --diff: an add, which one API refuses (bulkcc then
    # sets only the level) and another takes as an update (the role becomes operator). The rollback on disk
    # while the answer is held is the one a kill -9 leaves: it must undo either outcome.
    async with _sim(repeated_add=repeated_add) as sim:
        _operator(sim, 1001, U[50], "supervisor", 70)
        start = copy.deepcopy(sim.company.operators)
        held, release = asyncio.Event(), asyncio.Event()

        async def hold(proxy: Proxy, request: web.Request, data: bytes) -> web.StreamResponse | None:
            if request.method in ("POST", "PATCH") and "/operators" in request.path:
                answer = await proxy.forward(request, data)  # the change is made ...
                held.set()
                await release.wait()  # ... and its answer held: the run is killed meanwhile
                return answer
            return None

        async with Proxy(sim, hold) as proxy:
            source = _operators_sheet(tmp_path / "in.xlsx", [(1001, U[50], 30)])
            run = asyncio.create_task(apply_async(source, options(tmp_path / "r.xlsx", proxy.base_url)))
            await asyncio.wait_for(held.wait(), 20)
            await asyncio.sleep(0.2)  # the skill PATCH of a refused add follows the read back
            shutil.copy(tmp_path / "r-rollback.xlsx", tmp_path / "killed-rollback.xlsx")
            release.set()
            assert (await run).exit_code == EXIT_OK
            assert sim.company.operators[1001][U[50]]["skill_level"] == 30
            proxy.hook = None
            back = await apply_async(tmp_path / "killed-rollback.xlsx", options(tmp_path / "back.xlsx",
                                                                                proxy.base_url))
        assert back.exit_code == EXIT_OK, [(r.status, r.error) for r in back.operator_results]
        assert sim.company.operators == start  # supervisor, 70 again


async def test_a_field_that_was_not_set_before_the_run_fails_its_rollback_row_saying_why(tmp_path: Path) -> None:
    async with _sim() as sim:
        del sim.store[1001]["ring_seconds"]  # not set before the run: its callcenters row holds only the id
        source = write_rows(tmp_path / "in.xlsx", [{"id": 1001, "ring_seconds": 11}, {"id": 1002, "ring_seconds": 12}],
                            header=["id", "ring_seconds"])
        assert (await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url))).exit_code == EXIT_OK
        back = await apply_async(tmp_path / "r-rollback.xlsx", options(tmp_path / "back.xlsx", sim.base_url))
    unset, put_back = back.results
    assert unset.status == "failed" and "ring_seconds was not set before the run" in unset.error  # not `skipped`
    assert put_back.status == "updated"
    assert back.exit_code == EXIT_INVALID


async def test_a_rollback_whose_callcenters_sheet_was_deleted_is_refused_saying_so(tmp_path: Path) -> None:
    async with _sim() as sim:
        source = write_rows(tmp_path / "in.xlsx", [{"id": 1001, "ring_seconds": 11}], header=["id", "ring_seconds"])
        assert (await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url))).exit_code == EXIT_OK
        edited = load_workbook(tmp_path / "r-rollback.xlsx")
        del edited["callcenters"]
        edited.save(tmp_path / "edited.xlsx")
        sim.requests.clear()
        # It read as an ordinary workbook: "no 'id' column in row 1 of sheet rollback".
        with pytest.raises(InputError, match="is a rollback workbook without its callcenters sheet"):
            await apply_async(tmp_path / "edited.xlsx", options(tmp_path / "back.xlsx", sim.base_url))
        assert sim.requests == []


@pytest.mark.parametrize("rollback", ["r.journal.jsonl", "r.journal.lock", "r-rollback.csv"])
async def test_a_rollback_path_that_would_replace_the_runs_own_record_is_refused_before_anything_is_sent(
        tmp_path: Path, rollback: str) -> None:
    source = write_rows(tmp_path / "in.xlsx", [{"id": 1001, "ring_seconds": 11}], header=["id", "ring_seconds"])
    async with ScriptedApi({}) as api:
        with pytest.raises(UsageError, match="--rollback"):
            await apply_async(source, options(tmp_path / "r.xlsx", api.base_url,
                                              rollback_path=tmp_path / rollback))
        assert api.total == 0


async def test_a_rollback_sheet_whose_target_or_run_was_blanked_applies_nowhere_and_deletes_nothing(
        tmp_path: Path) -> None:
    async with _sim() as sim:
        source = write_rows(tmp_path / "in.xlsx", [{"id": 1001, "ring_seconds": 11},
                                                   {"name": "Brand New", "office_id": "5100000000000002"}],
                            header=["id", "ring_seconds", "name", "office_id"])
        run = await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url))
        assert run.exit_code == EXIT_OK, run.results
        new = run.results[1].id
        rollback = tmp_path / "r-rollback.xlsx"
        book = load_workbook(rollback)
        rows = {row[0].value: row for row in book["rollback"].iter_rows(min_row=2)}
        rows["target"][1].value = None
        book.save(rollback)
        with pytest.raises(UsageError, match="names no target"):
            await apply_async(rollback, options(tmp_path / "back.xlsx", sim.base_url, allow_delete=True))
        rows["target"][1].value, rows["run"][1].value = sim.base_url, None  # no run: no journal proves a create
        book.save(rollback)
        back = await apply_async(rollback, options(tmp_path / "back.xlsx", sim.base_url, allow_delete=True))
        assert [r.status for r in back.deletes] == ["not_sent"] and "names no run" in back.deletes[0].error
        assert new in sim.store


ROUTING = ("routing_options.open.action", "routing_options.open.try_dial_operators",
           "routing_options.closed.action", "routing_options.closed.try_dial_operators")


async def _store_in_its_own_form(proxy: Proxy, request: web.Request, data: bytes) -> web.StreamResponse | None:
    """A server that stores what it is sent in its own form: ring_seconds in steps of 5, and routing with its
    default `operator_routing` where the body gives none (its answers, and later reads, show that)."""
    if request.method != "PATCH" or not data:
        return None
    body = json.loads(data)
    if "ring_seconds" in body:
        body["ring_seconds"] -= body["ring_seconds"] % 5
    for state in (body.get("routing_options") or {}).values():
        state.setdefault("operator_routing", "longestidle")
    return await proxy.forward(request, json.dumps(body).encode())


@pytest.mark.parametrize("diff", [False, True], ids=["no-diff", "diff"])
async def test_a_server_that_stores_values_in_its_own_form_is_rolled_back_as_it_stored_them(
        tmp_path: Path, diff: bool) -> None:
    async with _sim() as sim, Proxy(sim, _store_in_its_own_form) as proxy:
        sim.store[1002]["routing_options"] = {state: {"action": "message", "try_dial_operators": state == "closed",
                                                      "operator_routing": "fixedorder", "dtmf": []}
                                              for state in ("open", "closed")}
        start = copy.deepcopy(sim.store)
        source = write_rows(tmp_path / "in.xlsx", [
            {"id": 1001, "ring_seconds": 17},
            {"id": 1002, ROUTING[0]: "voicemail", ROUTING[1]: True, ROUTING[2]: "voicemail", ROUTING[3]: False}],
            header=["id", "ring_seconds", *ROUTING])
        run = await apply_async(source, options(tmp_path / "r.xlsx", proxy.base_url, diff=diff))
        assert [r.status for r in run.results] == ["mismatch", "updated"], run.results  # 17 was stored as 15
        # Without --diff the routing is sent as the row gives it: the server fills its default in.
        assert sim.store[1002]["routing_options"]["open"]["operator_routing"] == ("fixedorder" if diff else
                                                                                  "longestidle")
        back = await apply_async(tmp_path / "r-rollback.xlsx", options(tmp_path / "back.xlsx", proxy.base_url))
        assert back.exit_code == EXIT_OK, [(r.status, r.error) for r in back.results]
        # As the API shows them (an empty DTMF menu and none are the same routing).
        assert {cc: values_from_callcenter(sim.store[cc]) for cc in IDS} == \
            {cc: values_from_callcenter(start[cc]) for cc in IDS}


async def _fails_after_its_effect(proxy: Proxy, request: web.Request, data: bytes) -> web.StreamResponse | None:
    """A 500 after the PATCH took effect: the row is failed, but the call center changed."""
    if request.method == "PATCH":
        await proxy.forward(request, data)
        return web.json_response({"error": {"message": "internal error"}}, status=500)
    return None


@pytest.mark.parametrize("again", ["plain", "restart", "no-rollback"])
async def test_a_run_again_on_the_same_results_keeps_the_earlier_runs_rollback_in_its_own(
        tmp_path: Path, again: str) -> None:
    # The first run's PATCHes all answer 500 after their effect (a plain run may start over: nothing is done),
    # or all go through (only --restart starts over). The second run, of a wider sheet, finds them as the first
    # left them: its own rollback alone would not know the values before, and it is saved where the first was.
    # With --no-rollback the second (of the same sheet) writes none: the first's still applies, proven.
    async with _sim() as sim, Proxy(sim, None if again == "restart" else _fails_after_its_effect) as proxy:
        start = copy.deepcopy(sim.store)
        rows = [{"id": cc, "ring_seconds": 11 + n} for n, cc in enumerate(IDS)]
        first = await apply_async(write_rows(tmp_path / "first.xlsx", rows[:2], header=["id", "ring_seconds"]),
                                  options(tmp_path / "r.xlsx", proxy.base_url, max_attempts=1))
        assert [sim.store[cc]["ring_seconds"] for cc in IDS[:2]] == [11, 12]
        assert {r.status for r in first.results} == ({"updated"} if again == "restart" else {"failed"})
        proxy.hook = None
        second = await apply_async(write_rows(tmp_path / "second.xlsx", rows[:2] if again == "no-rollback" else rows,
                                              header=["id", "ring_seconds"]),
                                   options(tmp_path / "r.xlsx", proxy.base_url, restart=again == "restart",
                                           no_rollback=again == "no-rollback"))
        assert second.exit_code == EXIT_OK
        back = await apply_async(tmp_path / "r-rollback.xlsx", options(tmp_path / "back.xlsx", proxy.base_url))
        assert back.exit_code == EXIT_OK, [(r.status, r.error) for r in back.results]
        assert sim.store == start


async def test_another_runs_rollback_is_never_saved_over_and_restart_keeps_the_proof_of_its_creates(
        tmp_path: Path) -> None:
    async with _sim() as sim:
        create = write_rows(tmp_path / "in.xlsx", [{"name": "Brand New", "office_id": "5100000000000002"}],
                            header=["id", "name", "office_id"])
        made = await apply_async(create, options(tmp_path / "a.xlsx", sim.base_url))
        assert made.exit_code == EXIT_OK
        source = write_rows(tmp_path / "more.xlsx", [{"id": 1001, "ring_seconds": 11}], header=["id", "ring_seconds"])
        sim.requests.clear()
        with pytest.raises(UsageError, match="holds the rollback of another run"):
            await apply_async(source, options(tmp_path / "b.xlsx", sim.base_url,
                                              rollback_path=tmp_path / "a-rollback.xlsx"))
        with pytest.raises(UsageError, match="--restart would replace a.journal.jsonl"):
            await apply_async(source, options(tmp_path / "a.xlsx", sim.base_url, restart=True))
        assert sim.requests == []
        back = await apply_async(tmp_path / "a-rollback.xlsx", options(tmp_path / "back.xlsx", sim.base_url,
                                                                        allow_delete=True))
        assert [r.status for r in back.deletes] == ["deleted"]
        # The refusal's advice, followed: applied, the rollback stays, so --restart is still refused until
        # the rollback and the journal are moved away together.
        with pytest.raises(UsageError, match="then move a-rollback.xlsx and a.journal.jsonl away together"):
            await apply_async(source, options(tmp_path / "a.xlsx", sim.base_url, restart=True))
        (tmp_path / "done").mkdir()
        for name in ("a-rollback.xlsx", "a.journal.jsonl"):
            (tmp_path / name).rename(tmp_path / "done" / name)
        again = await apply_async(source, options(tmp_path / "a.xlsx", sim.base_url, restart=True))
        assert again.exit_code == EXIT_OK, again.message


async def test_a_hand_edited_rollback_sends_nothing_its_run_did_not_do(tmp_path: Path) -> None:
    from bulkcc.workbook.rollback_book import AGENT_COLUMNS

    async with _sim() as sim:
        _operator(sim, 1003, U[52], "operator", 70)
        _operator(sim, 1001, U[53], "operator", 20)
        _operator(sim, 1002, U[51], "operator", 10)
        source = write_rows(tmp_path / "in.xlsx", [{"id": 1001, "ring_seconds": 11}, {"id": 1002, "ring_seconds": 12}],
                            header=["id", "ring_seconds"])
        workbook = load_workbook(source)
        workbook.create_sheet("operators").append(["call_center_id", "user_id", "skill_level"])
        workbook["operators"].append(["1001", str(U[53]), 30])
        workbook["operators"].append(["1002", str(U[51]), 25])
        workbook.save(source)
        assert (await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url))).exit_code == EXIT_OK
        changed = copy.deepcopy(sim.store), copy.deepcopy(sim.company.operators)

        rollback = tmp_path / "r-rollback.xlsx"
        book = load_workbook(rollback)
        agents = book["agents"]
        assert [c.value for c in agents[1]] == list(AGENT_COLUMNS)
        # Added by hand: make a user an admin of 1002, remove an operator of 1003 the run never touched.
        agents.append(["1002", None, str(U[54]), None, "TRUE", "admin", 100, "FALSE", None, None, "x"])
        agents.append(["1003", None, str(U[52]), None, "FALSE", None, None, "TRUE", "operator", 70, "x"])
        agents["G2"] = 90  # the genuine agent's level before, edited
        for name in ("callcenters", "set_by_run"):  # a call center the run never touched, on both sheets
            book[name].append(["1004", sim.store[1004]["ring_seconds"] + 5 if name == "callcenters" else
                               sim.store[1004]["ring_seconds"]])
        book["callcenters"]["B3"] = 44  # the genuine value before of 1002, edited
        book.save(rollback)
        back = await apply_async(rollback, options(tmp_path / "back.xlsx", sim.base_url))
        assert [(r.id, r.status) for r in back.results] == [(1001, "updated"), (1002, "not_sent"), (1004, "not_sent")]
        assert "does not hold this record" in back.results[1].error
        assert [str(r.status) for r in back.operator_results] == ["not_sent", "updated", "not_sent", "not_sent"]
        assert sim.store[1002] == changed[0][1002] and sim.store[1004] == changed[0][1004]
        assert sim.company.operators == {**changed[1], 1002: {U[51]: {"role": "operator", "skill_level": 10}}}
        assert back.exit_code == EXIT_INVALID

        (tmp_path / "r.journal.jsonl").unlink()  # no journal: nothing proves any row
        gone = await apply_async(rollback, options(tmp_path / "gone.xlsx", sim.base_url))
        assert {str(r.status) for r in [*gone.results, *gone.operator_results]} == {"not_sent"}
        assert "is not there" in gone.results[0].error


@pytest.mark.parametrize(("repeated_add", "diff"), [("refuse", False), ("update", False), ("refuse", True)])
async def test_a_run_killed_before_its_agents_lines_reached_the_journal_resumes_as_if_never_stopped(
        tmp_path: Path, repeated_add: str, diff: bool) -> None:
    async with _sim(repeated_add=repeated_add) as sim:
        _operator(sim, 1001, U[50], "supervisor", 70)  # re-skilled by a row with no role
        _operator(sim, 1002, U[52], "operator", 20)  # removed
        start = copy.deepcopy(sim.company.operators)
        held, release = asyncio.Event(), asyncio.Event()

        async def hold_first(proxy: Proxy, request: web.Request, data: bytes) -> web.StreamResponse | None:
            if request.method in ("POST", "DELETE") and "/operators" in request.path and not held.is_set():
                held.set()
                await release.wait()
            return None

        source = _operators_sheet(tmp_path / "in.xlsx", [(1001, U[50], 30), (1001, U[51], 40), (1002, U[52], None)])
        workbook = load_workbook(source)
        workbook["operators"]["D1"], workbook["operators"]["D4"] = "remove", True
        workbook.save(source)
        async with Proxy(sim, hold_first) as proxy:
            results = tmp_path / "r.xlsx"
            run = asyncio.create_task(apply_async(source, options(results, proxy.base_url, concurrency=1, diff=diff)))
            await asyncio.wait_for(held.wait(), 20)
            shutil.copy(tmp_path / "r-rollback.xlsx", tmp_path / "before-sending.xlsx")  # what a kill -9 leaves
            release.set()
            whole = await run
            assert whole.exit_code == EXIT_OK
            # Killed once every change was made, before any agent's line was on disk or the rollback narrowed.
            journal = tmp_path / "r.journal.jsonl"
            journal.write_text("".join(line for line in journal.read_text("utf-8").splitlines(keepends=True)
                                       if '"operator"' not in line and '"finished"' not in line), "utf-8")
            shutil.copy(tmp_path / "before-sending.xlsx", tmp_path / "r-rollback.xlsx")
            proxy.hook = None
            sim.requests.clear()
            resumed = await apply_async(source, options(results, proxy.base_url, resume=True, diff=diff))
            assert [(r.row, str(r.status)) for r in resumed.operator_results] == \
                [(r.row, str(r.status)) for r in whole.operator_results]
            assert [r for r in sim.requests if r.method != "GET"] == []  # none sent again
            back = await apply_async(tmp_path / "r-rollback.xlsx", options(tmp_path / "back.xlsx", proxy.base_url))
        assert back.exit_code == EXIT_OK, [(r.status, r.error) for r in back.operator_results]
        assert sim.company.operators == start
