"""The operators sheet applied end to end: against the simulator (its company is the witness of the state
reached, its request log of what was sent), and against scripted APIs for what the simulator does not do.

Library runs (`apply_async`, `export_async`) and the CLI in a worker thread, so the simulator on the test's
loop keeps answering.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from openpyxl import Workbook, load_workbook
from support import ScriptedApi, edit_sheet, options

from bulkcc.cli import main
from bulkcc.errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE, LiveStateError, UsageError
from bulkcc.run.apply import apply_async
from bulkcc.run.export import ExportQuery, export_async
from bulkcc.run.progress import QuietProgress
from bulkcc.send.connection import ConnectionOptions
from bulkcc.send.target import KEY_ENV, Target
from bulkcc.sim.server import USER_ID_BASE, Simulator, SimulatorConfig, ids_for_demo, seed_store
from bulkcc.workbook.operator_results import read_operator_results
from bulkcc.workbook.opsheet import read_operator_rows

pytestmark = pytest.mark.timeout(60)

KEY = "operators-test-key"
FAST = 600_000  # requests per minute: loopback only
IDS = list(ids_for_demo(20))
USERS = [USER_ID_BASE + n for n in range(1, 201)]
WRITES = ("POST", "DELETE", "PATCH")
CLI_TIMEOUT_S = 30


def _sim(ids: Sequence[int] = IDS, **config: Any) -> Simulator:
    settings = {"users": len(USERS), "rate_limit_per_min": FAST, "random_seed": 1, **config}
    return Simulator(SimulatorConfig(api_key=KEY, **settings), store=seed_store(ids, random.Random(0)))


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """20 made-up call centers, each with 0-3 operators of its own, and a pool of 200 users."""
    async with _sim() as simulator:
        yield simulator


def _connection(base_url: str) -> ConnectionOptions:
    return ConnectionOptions(target=Target(base_url), api_key=KEY, rate_per_min=FAST, concurrency=16,
                             max_attempts=2, timeout_s=5)


def _options(sim: Simulator | ScriptedApi, results: Path, **kwargs: Any) -> Any:
    return options(results, sim.base_url, **{"api_key": KEY, "rate": FAST, "concurrency": 16, "max_attempts": 2,
                                             **kwargs})


def _workbook(path: Path, operators: Sequence[dict[str, Any]], centers: Sequence[dict[str, Any]] = ()) -> Path:
    """A workbook of `centers` (callcenters rows) and `operators` (operators rows), ids as text."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "callcenters"
    sheet.append(["id", "name", "office_id"])
    for center in centers:
        cc_id, office = center.get("id"), center.get("office_id")
        sheet.append([None if cc_id is None else str(cc_id), center.get("name"),
                      None if office is None else str(office)])
    columns = ["call_center_id", "call_center_name", "user_id", "role", "skill_level", "remove"]
    ops = workbook.create_sheet("operators")
    ops.append(columns)
    for row in operators:
        ops.append([str(row[c]) if c in ("call_center_id", "user_id") and c in row else row.get(c) for c in columns])
    workbook.save(path)
    return path


def _target_state(ids: Sequence[int] = IDS, per_center: int = 5) -> dict[int, dict[int, dict[str, Any]]]:
    """Each center with its own `per_center` users, roles and skill levels in turn."""
    roles = ("operator", "supervisor", "admin")
    state: dict[int, dict[int, dict[str, Any]]] = {}
    for i, cc_id in enumerate(ids):
        users = USERS[60 + i * per_center: 60 + (i + 1) * per_center]  # beyond the seeded operators' pool
        state[cc_id] = {u: {"role": roles[(i + n) % 3], "skill_level": 10 + (i * 7 + n * 13) % 90}
                        for n, u in enumerate(users)}
    return state


def _rows_of(state: dict[int, dict[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [{"call_center_id": cc, "user_id": u, **op} for cc, ops in state.items() for u, op in ops.items()]


def _writes(sim: Simulator) -> list:
    return [r for r in sim.requests if r.method in WRITES]


def _state(sim: Simulator, ids: Sequence[int] = IDS) -> dict[int, dict[int, dict[str, Any]]]:
    return {cc: copy.deepcopy(sim.company.operators.get(cc, {})) for cc in ids}


async def _cli(*args: Any) -> Result:
    call = asyncio.to_thread(CliRunner().invoke, main, [str(a) for a in args], env={KEY_ENV: KEY})
    return await asyncio.wait_for(call, CLI_TIMEOUT_S)


def _target_args(base_url: str) -> list[str]:
    return ["--base-url", base_url, "--rate-limit", str(FAST), "--concurrency", "16", "--max-attempts", "2",
            "--timeout", "5"]


# ---- 20 centers x 5 operators --------------------------------------------------------


async def test_twenty_centers_of_five_operators_end_in_exactly_that_state(tmp_path: Path) -> None:
    target = _target_state()
    async with _sim(seeded_operators=(0, 0)) as sim:
        source = _workbook(tmp_path / "ops.xlsx", _rows_of(target))
        outcome = await apply_async(source, _options(sim, tmp_path / "results.xlsx"))

        assert outcome.exit_code == EXIT_OK, outcome.message
        assert len(outcome.operator_results) == 100
        assert {r.status for r in outcome.operator_results} == {"added"}
        assert [r.method for r in _writes(sim)] == ["POST"] * 100  # one add each, nothing else written
        assert _state(sim) == target
        back = read_operator_results(tmp_path / "results.xlsx")
        assert [r.row for r in back] == list(range(2, 102))
        assert all(r.action.startswith("add user ") for r in back)


async def test_twenty_centers_created_and_given_five_operators_each_in_one_run(tmp_path: Path) -> None:
    office = 5_100_000_000_000_002  # one of the simulator's offices
    roles = ("operator", "supervisor", "admin")
    wanted = {f"Migrated {n:02d}": {USERS[60 + n * 5 + k]: {"role": roles[(n + k) % 3], "skill_level": 10 + n + k}
                                    for k in range(5)} for n in range(20)}
    centers = [{"name": name, "office_id": office} for name in wanted]
    centers.append({"name": "Nowhere", "office_id": 999})  # an office the API does not know: not created
    operators = [{"call_center_name": name, "user_id": u, **op} for name, ops in wanted.items()
                 for u, op in ops.items()] + [{"call_center_name": "Nowhere", "user_id": USERS[0]}]
    async with _sim([], seeded_operators=(0, 0)) as sim:
        source = _workbook(tmp_path / "migrate.xlsx", operators, centers)
        outcome = await apply_async(source, _options(sim, tmp_path / "results.xlsx"))

        assert outcome.exit_code == EXIT_INVALID  # the one center that could not be created
        created = {r.row: r for r in outcome.results}
        assert [created[row].status for row in range(2, 22)] == ["created"] * 20
        assert created[22].status == "failed"
        ids = {name: created[row].id for row, name in enumerate(wanted, start=2)}
        assert {cc: sim.company.operators.get(cc, {}) for cc in ids.values()} == \
            {ids[name]: ops for name, ops in wanted.items()}
        statuses = [r.status for r in outcome.operator_results]
        assert statuses == ["added"] * 100 + ["not_sent"]
        assert outcome.operator_results[-1].error.startswith(
            "the call center 'Nowhere' of callcenters row 22 was not created (failed: ")
        assert "Office not found" in outcome.operator_results[-1].error
        assert "fix that row and re-run with --only-failed" in outcome.operator_results[-1].error
        # Each operator was sent once its center existed: the creates first, then the operators (the
        # center of an unknown office is refused when its office is listed, before any POST).
        posts = [r for r in sim.requests if r.method == "POST"]
        assert [r.path for r in posts[:20]] == ["/api/v2/callcenters"] * 20
        assert len(posts) == 120 and all(r.path.endswith("/operators") for r in posts[20:])

        # The results workbook holds the new ids: applied again with --diff, its names resolve to them and
        # no operator is sent again.
        sim.requests.clear()
        again = await apply_async(tmp_path / "results.xlsx", _options(sim, tmp_path / "again.xlsx", diff=True))
        assert [r.status for r in again.operator_results[:100]] == ["unchanged"] * 100
        assert not [r for r in _writes(sim) if r.path.endswith("/operators")]
        assert {cc: sim.company.operators.get(cc, {}) for cc in ids.values()} == \
            {ids[name]: ops for name, ops in wanted.items()}


async def test_one_rollback_takes_the_agents_out_of_created_centers_then_deletes_them(tmp_path: Path) -> None:
    office = 5_100_000_000_000_002
    centers = [{"name": name, "office_id": office} for name in ("New A", "New B")]
    operators = [{"call_center_name": name, "user_id": USERS[60 + n], "role": "operator", "skill_level": 50}
                 for n, name in enumerate(["New A", "New A", "New B"])]
    async with _sim([], seeded_operators=(0, 0)) as sim:
        source = _workbook(tmp_path / "migrate.xlsx", operators, centers)
        outcome = await apply_async(source, _options(sim, tmp_path / "results.xlsx", diff=True))
        assert outcome.exit_code == EXIT_OK, outcome.message
        created = [int(r.id) for r in outcome.results]

        sim.requests.clear()
        back = await apply_async(tmp_path / "results-rollback.xlsx",
                                 _options(sim, tmp_path / "rollback.xlsx", allow_delete=True))
        assert back.exit_code == EXIT_OK, back.message
        assert [r.status for r in back.operator_results] == ["removed"] * 3
        assert [r.status for r in back.deletes] == ["deleted"] * 2
        # The agents are taken out before their centers go: no answer of the rollback was a 404.
        writes = _writes(sim)
        assert [r.method for r in writes] == ["DELETE"] * 5
        assert all(r.path.endswith("/operators") for r in writes[:3])
        assert sorted(r.path for r in writes[3:]) == sorted(f"/api/v2/callcenters/{cc}" for cc in created)
        assert all(cc not in sim.store for cc in created)


async def test_diff_with_exact_operators_brings_seeded_centers_to_exactly_the_sheet(sim: Simulator,
                                                                                   tmp_path: Path) -> None:
    seeded = _state(sim)
    assert sum(map(len, seeded.values())) > 10  # the made-up centers start with operators of their own
    target = _target_state()
    source = _workbook(tmp_path / "ops.xlsx", _rows_of(target))
    outcome = await apply_async(source, _options(sim, tmp_path / "results.xlsx", diff=True, exact_operators=True))

    assert outcome.exit_code == EXIT_OK, outcome.message
    assert _state(sim) == target
    removed = [r for r in outcome.operator_results if r.row is None]
    assert {r.status for r in removed} == {"removed"}
    assert {(r.call_center_id, r.user_id) for r in removed} == {(cc, u) for cc, ops in seeded.items() for u in ops}
    # The rollback puts every removed operator back, with its role and skill level, and removes the added.
    rollback = tmp_path / "results-rollback.xlsx"
    undo = await apply_async(rollback, _options(sim, tmp_path / "undo.xlsx", diff=True))
    assert undo.exit_code == EXIT_OK, undo.message
    assert _state(sim) == seeded


# ---- export --operators, then apply --diff ---------------------------------------------


@pytest.fixture
async def exported(sim: Simulator, tmp_path: Path) -> Path:
    """The 20 centers exported with their operators; the request log is cleared afterwards."""
    path = tmp_path / "export.xlsx"
    done = await export_async(path, ExportQuery(ids=tuple(IDS)), _connection(sim.base_url), operators=True)
    operators = sum(map(len, _state(sim).values()))
    assert done.operators is not None and len(done.operators.rows) == operators
    # One GET per center, one list of operators per center, one skill level per operator; the offices once.
    assert len(sim.requests) == 20 + 20 + operators + 1 == done.operators.requests + 20 + 1
    sim.requests.clear()
    return path


async def test_apply_diff_of_an_unedited_export_with_operators_sends_nothing(exported: Path, sim: Simulator,
                                                                           tmp_path: Path) -> None:
    before = _state(sim)
    for exact in (False, True):
        outcome = await apply_async(exported, _options(sim, tmp_path / f"results-{exact}.xlsx", diff=True,
                                                       exact_operators=exact))
        assert outcome.exit_code == EXIT_OK, outcome.message
        assert {r.status for r in outcome.results} == {"unchanged"}
        assert {r.status for r in outcome.operator_results} == {"unchanged"}
        assert _writes(sim) == []
        operators = sum(map(len, before.values()))
        named = sum(1 for ops in before.values() if ops)  # a center with no operator has no operators row
        # Reads only: one page listing the 20 centers, the operators of each center the sheet names, a
        # skill level per operator.
        assert len(sim.requests) == 1 + named + operators
        sim.requests.clear()
    assert _state(sim) == before
    assert not (tmp_path / "results-True-rollback.xlsx").exists()  # nothing changed: nothing to roll back


def _edit_operators(path: Path, cells: dict[tuple[int, str], Any], name: str = "edited.xlsx") -> Path:
    return edit_sheet(path, cells, name, sheet_name="operators")


async def test_three_edited_operator_cells_send_three_requests_and_roll_back(exported: Path, sim: Simulator,
                                                                           tmp_path: Path) -> None:
    before = _state(sim)
    rows = read_operator_rows(exported)
    assert len(rows) >= 3
    skill_row, other_row, user_row = rows[0], rows[1], rows[2]
    new_skill, other_skill = (5 if r["skill_level"] != 5 else 6 for r in (skill_row, other_row))
    fresh_user = USERS[-1]  # a user in place of another: added (the other stays, without --exact-operators)
    edited = _edit_operators(exported, {(2, "skill_level"): new_skill, (3, "skill_level"): other_skill,
                                        (4, "user_id"): str(fresh_user)})
    outcome = await apply_async(edited, _options(sim, tmp_path / "results.xlsx", diff=True))

    assert outcome.exit_code == EXIT_OK, outcome.message
    writes = _writes(sim)
    skill = "/api/v2/callcenters/{call_center_id}/operators/{user_id}/skill"
    assert sorted((r.method, r.path, r.body) for r in writes) == sorted([
        ("PATCH", skill.format(**skill_row), {"skill_level": new_skill}),
        ("PATCH", skill.format(**other_row), {"skill_level": other_skill}),
        ("POST", f"/api/v2/callcenters/{user_row['call_center_id']}/operators",
         {"user_id": fresh_user, "role": user_row["role"], "skill_level": user_row["skill_level"]})])
    by_row = {r.row: r for r in outcome.operator_results}
    assert (by_row[2].status, by_row[3].status, by_row[4].status) == ("updated", "updated", "added")
    assert {r.status for row, r in by_row.items() if row not in (2, 3, 4)} == {"unchanged"}
    name = sim.store[int(skill_row["call_center_id"])]["name"]  # the callcenters sheet names the center
    email = f"user{int(skill_row['user_id']) - USER_ID_BASE}@example.com"  # the live operator's, beside the id
    assert by_row[2].action == (f"set the skill level of user {skill_row['user_id']} ({email}) in '{name}': "
                                f"{skill_row['skill_level']} → {new_skill}")

    sim.requests.clear()
    rollback = tmp_path / "results-rollback.xlsx"
    undo = await apply_async(rollback, _options(sim, tmp_path / "undo.xlsx", diff=True))
    assert undo.exit_code == EXIT_OK, undo.message
    assert len(_writes(sim)) == 3
    assert _state(sim) == before


async def test_exact_operators_removes_those_the_sheet_leaves_out(exported: Path, sim: Simulator,
                                                                tmp_path: Path) -> None:
    before = _state(sim)
    workbook = load_workbook(exported)
    sheet = workbook["operators"]
    dropped = [(int(sheet.cell(row=r, column=1).value), int(sheet.cell(row=r, column=3).value)) for r in (2, 3)]
    sheet.delete_rows(2, 2)
    workbook.save(tmp_path / "fewer.xlsx")

    plain = await apply_async(tmp_path / "fewer.xlsx", _options(sim, tmp_path / "plain.xlsx", diff=True))
    assert plain.exit_code == EXIT_OK and _writes(sim) == []  # never by default

    outcome = await apply_async(tmp_path / "fewer.xlsx", _options(sim, tmp_path / "exact.xlsx", diff=True,
                                                                  exact_operators=True))
    assert outcome.exit_code == EXIT_OK, outcome.message
    assert sorted((r.method, r.body["user_id"]) for r in _writes(sim)) == sorted(("DELETE", u) for _, u in dropped)
    assert {(r.call_center_id, r.user_id, r.status) for r in outcome.operator_results if r.row is None} == \
        {(cc, u, "removed") for cc, u in dropped}
    assert all(before[cc].get(u) is not None and u not in sim.company.operators.get(cc, {}) for cc, u in dropped)

    undo = await apply_async(tmp_path / "exact-rollback.xlsx", _options(sim, tmp_path / "undo.xlsx", diff=True))
    assert undo.exit_code == EXIT_OK, undo.message
    assert _state(sim) == before  # re-added with their roles and skill levels


# ---- licenses ----------------------------------------------------------------------------


async def test_a_license_error_is_reported_in_plain_words_and_not_retried(tmp_path: Path) -> None:
    async with _sim(seeded_operators=(0, 0)) as sim:
        sim.company.licenses = 2  # two users get a license; the third finds none
        rows = [{"call_center_id": IDS[0], "user_id": u} for u in USERS[:3]] + \
               [{"call_center_id": IDS[1], "user_id": USERS[0]}]  # licensed already: no new license needed
        outcome = await apply_async(_workbook(tmp_path / "ops.xlsx", rows),
                                    _options(sim, tmp_path / "results.xlsx", max_attempts=5))

        assert outcome.exit_code == EXIT_INVALID
        statuses = {r.row: (r.status, r.attempts) for r in outcome.operator_results}
        assert statuses == {2: ("added", 1), 3: ("added", 1), 4: ("failed", 1), 5: ("added", 1)}
        failed = next(r for r in outcome.operator_results if r.row == 4)
        assert failed.http_status == 400
        assert failed.error.startswith("no call center license is available: free one or buy more, then re-run "
                                       "with --only-failed")
        assert sum(1 for r in sim.requests if r.method == "POST" and r.body["user_id"] == USERS[2]) == 1

        # Freed up (bought one more), --only-failed sends just that row.
        sim.company.licenses = 3
        sim.requests.clear()
        again = await apply_async(tmp_path / "results.xlsx", _options(sim, tmp_path / "again.xlsx",
                                                                      only_failed=True))
        assert again.exit_code == EXIT_OK, again.message
        assert [(r.method, r.body["user_id"]) for r in _writes(sim)] == [("POST", USERS[2])]
        assert {r.row: r.status for r in again.operator_results}[4] == "added"


async def test_a_license_error_answered_403_fails_its_row_and_is_no_refused_key(tmp_path: Path) -> None:
    license_403 = ("json", 403, {"error": {"message": "No call center license is available"}})
    scripts = {"api/v2/callcenters/11/operators": [license_403],
               "api/v2/callcenters/12/operators": [("json", 200, {"id": "7", "name": "Ada"})]}
    async with ScriptedApi(scripts) as api:
        rows = [{"call_center_id": 11, "user_id": 7}, {"call_center_id": 12, "user_id": 7}]
        # The scripts answer the sends only: no reads before them for a rollback (--no-rollback).
        outcome = await apply_async(_workbook(tmp_path / "ops.xlsx", rows),
                                    _options(api, tmp_path / "r.xlsx", no_rollback=True))
    assert outcome.message is None  # the run went on: the key was not refused
    assert outcome.exit_code == EXIT_INVALID
    assert [(r.status, r.attempts, r.http_status) for r in outcome.operator_results] == [
        ("failed", 1, 403), ("added", 1, 200)]
    assert outcome.operator_results[0].error.startswith("no call center license is available")
    assert len(api.arrivals["api/v2/callcenters/11/operators"]) == 1  # never retried


async def test_a_403_about_seats_fails_its_row_and_the_run_goes_on(tmp_path: Path) -> None:
    """A 403 whose message is about seats, not a license: the key works for other calls (a check of it
    answers 2xx), so it is that row's failure; the other row is added and the run is not stopped."""
    from aiohttp import web

    def center_11(request: web.Request) -> web.Response:
        if request.method == "POST":
            return web.json_response({"error": {"message": "No seats remain for this user"}}, status=403)
        return web.json_response({"users": []})  # read back: not an operator

    scripts = {"api/v2/callcenters/11/operators": [("call", center_11)],
               "api/v2/callcenters/12/operators": [("json", 200, {"id": "7", "name": "Ada"})],
               "api/v2/callcenters": [("json", 200, {"items": []})]}
    async with ScriptedApi(scripts) as api:
        rows = [{"call_center_id": 11, "user_id": 7}, {"call_center_id": 12, "user_id": 7}]
        outcome = await apply_async(_workbook(tmp_path / "ops.xlsx", rows), _options(api, tmp_path / "r.xlsx"))
    assert outcome.message is None and outcome.exit_code == EXIT_INVALID
    assert [(r.status, r.http_status) for r in outcome.operator_results] == [("failed", 403), ("added", 200)]
    assert "No seats remain" in outcome.operator_results[0].error
    assert "the key works for other calls" in outcome.operator_results[0].error


# ---- answers not taken at their word ------------------------------------------------------


def _listing(*users: tuple[int, str], center: int = 11) -> tuple:
    return ("json", 200, {"users": [{"id": str(u), "group_details": [
        {"group_id": str(center), "group_type": "callcenter", "role": role}]} for u, role in users]})


@pytest.mark.parametrize(("row", "listed", "skill", "expected"), [
    ({"role": "supervisor"}, "supervisor", None, ("unchanged", "already supervisor")),
    ({"role": "admin"}, "supervisor", None, ("failed", "no API endpoint changes an operator's role")),
    ({"skill_level": 80}, "operator", 80, ("unchanged", "skill 80: nothing changed")),
    ({"skill_level": 80}, "operator", 40, ("updated", "its skill level was set, 40 → 80")),
], ids=["same-role", "other-role", "same-skill", "other-skill"])
async def test_an_add_answered_already_an_operator_is_read_back(tmp_path: Path, row: dict, listed: str,
                                                               skill: int | None, expected: tuple) -> None:
    already = ("json", 400, {"error": {"message": "User 7 is already an operator of call center 11"}})
    scripts = {"api/v2/callcenters/11/operators": [already, _listing((7, listed))],
               "api/v2/callcenters/11/operators/7/skill": [
                   ("json", 200, {"call_center_id": "11", "user_id": "7", "skill_level": str(skill)}),
                   ("json", 200, {"call_center_id": "11", "user_id": "7", "skill_level": "80"})]}
    async with ScriptedApi(scripts) as api:
        outcome = await apply_async(_workbook(tmp_path / "ops.xlsx", [{"call_center_id": 11, "user_id": 7, **row}]),
                                    _options(api, tmp_path / "r.xlsx", no_rollback=True))
    result = outcome.operator_results[0]
    assert result.status == expected[0]
    assert expected[1] in result.error


async def test_a_removal_answered_not_an_operator_is_unchanged_only_if_read_back_absent(tmp_path: Path) -> None:
    gone = ("json", 404, {"error": {"message": "User 7 is not an operator of call center 11"}})
    scripts = {"api/v2/callcenters/11/operators": [gone, _listing((8, "operator"))],
               "api/v2/callcenters/12/operators": [gone, _listing((7, "operator"), center=12)]}
    async with ScriptedApi(scripts) as api:
        rows = [{"call_center_id": 11, "user_id": 7, "remove": True},
                {"call_center_id": 12, "user_id": 7, "remove": True}]
        outcome = await apply_async(_workbook(tmp_path / "ops.xlsx", rows),
                                    _options(api, tmp_path / "r.xlsx", no_rollback=True))
    assert [r.status for r in outcome.operator_results] == ["unchanged", "failed"]
    assert "was not an operator" in outcome.operator_results[0].error


async def test_an_accepted_add_whose_answer_is_another_user_is_a_mismatch(tmp_path: Path) -> None:
    scripts = {"api/v2/callcenters/11/operators": [("json", 200, {"id": "8", "name": "Ben"})]}
    async with ScriptedApi(scripts) as api:
        outcome = await apply_async(_workbook(tmp_path / "ops.xlsx", [{"call_center_id": 11, "user_id": 7}]),
                                    _options(api, tmp_path / "r.xlsx"))
    assert outcome.exit_code == EXIT_INVALID
    assert outcome.operator_results[0].status == "mismatch"
    assert "its answer is user '8', not 7" in outcome.operator_results[0].error


async def test_a_center_whose_operators_cannot_be_read_gets_nothing_sent(tmp_path: Path) -> None:
    scripts = {"api/v2/callcenters/11/operators": [("json", 200, {"users": "everyone"})]}
    async with ScriptedApi(scripts) as api:
        rows = [{"call_center_id": 11, "user_id": 7}, {"call_center_id": 11, "user_id": 8, "remove": True}]
        outcome = await apply_async(_workbook(tmp_path / "ops.xlsx", rows),
                                    _options(api, tmp_path / "r.xlsx", diff=True, exact_operators=True))
    assert [r.status for r in outcome.operator_results] == ["failed", "failed"]
    assert "its users are a string, not a list" in outcome.operator_results[0].error
    assert set(api.arrivals) == {"api/v2/callcenters/11/operators"}  # read once, nothing written


async def test_an_operators_list_that_gives_a_cursor_is_not_exported_as_if_whole(tmp_path: Path) -> None:
    """The operators list has no pages: one that says it has more would leave operators out of the export,
    and --exact-operators would then remove them. Nothing is written; --diff reads it as unreadable."""
    first = {"id": "7", "group_details": [{"group_id": "11", "role": "admin"}]}
    scripts = {"api/v2/callcenters": [("json", 200, {"items": [{"id": "11", "name": "A"}]})],
               "api/v2/callcenters/11/operators": [("json", 200, {"users": [first], "cursor": "page2"})],
               "api/v2/callcenters/11/operators/7/skill": [("json", 200, {"skill_level": "50"})]}
    async with ScriptedApi(scripts) as api:
        with pytest.raises(LiveStateError, match="gives a cursor"):
            await export_async(tmp_path / "export.xlsx", ExportQuery(), _connection(api.base_url), operators=True)
        assert not (tmp_path / "export.xlsx").exists()
        rows = [{"call_center_id": 11, "user_id": 8}]
        outcome = await apply_async(_workbook(tmp_path / "ops.xlsx", rows),
                                    _options(api, tmp_path / "r.xlsx", diff=True, exact_operators=True))
    assert [r.status for r in outcome.operator_results] == ["failed"]
    assert "gives a cursor" in outcome.operator_results[0].error
    assert len(api.arrivals["api/v2/callcenters/11/operators"]) == 2  # the export's read, the run's: no add


async def test_an_operators_list_naming_a_user_twice_with_two_roles_is_not_believed(tmp_path: Path) -> None:
    """Which of two roles is live would be a guess: the export would write one of them. Nothing is written."""
    twice = [{"id": "7", "group_details": [{"group_id": "11", "role": role}]} for role in ("admin", "operator")]
    scripts = {"api/v2/callcenters": [("json", 200, {"items": [{"id": "11", "name": "A"}]})],
               "api/v2/callcenters/11/operators": [("json", 200, {"users": twice})],
               "api/v2/callcenters/11/operators/7/skill": [("json", 200, {"skill_level": "50"})]}
    async with ScriptedApi(scripts) as api:
        with pytest.raises(LiveStateError, match="user 7 is listed twice, as admin and as operator"):
            await export_async(tmp_path / "export.xlsx", ExportQuery(), _connection(api.base_url), operators=True)
    assert not (tmp_path / "export.xlsx").exists()


# ---- a stopped run, resumed ----------------------------------------------------------


class _StopAfter(QuietProgress):
    """Sets the run's stop event once `count` operator changes are done (as a Ctrl-C would)."""

    def __init__(self, stop: asyncio.Event, count: int) -> None:
        super().__init__()
        self.stop, self.count = stop, count

    def advance(self, status: str, started_at: Any = ()) -> None:
        super().advance(status, started_at)
        if self.phase == "operators" and self.done >= self.count:
            self.stop.set()


async def test_resume_never_sends_a_finished_operator_change_again(tmp_path: Path) -> None:
    target = _target_state(IDS[:4])
    async with _sim(IDS[:4], seeded_operators=(0, 0)) as sim:
        source = _workbook(tmp_path / "ops.xlsx", _rows_of(target))
        stop = asyncio.Event()
        first = await apply_async(source, _options(sim, tmp_path / "results.xlsx", concurrency=1),
                                  progress=_StopAfter(stop, 5), stop=stop)
        assert first.message and "stopped" in first.message
        added = {(r.body["user_id"]) for r in _writes(sim)}
        assert 5 <= len(added) < 20
        sim.requests.clear()

        resumed = await apply_async(source, _options(sim, tmp_path / "results.xlsx", resume=True))
        assert resumed.exit_code == EXIT_OK, resumed.message
        again = [r.body["user_id"] for r in _writes(sim)]
        assert len(again) == 20 - len(added) and not set(again) & added
        assert {r.status for r in resumed.operator_results} == {"added"}
        assert _state(sim, IDS[:4]) == target


# ---- the command line ---------------------------------------------------------------


async def test_plan_shows_operator_changes_apart_in_words(sim: Simulator, tmp_path: Path) -> None:
    source = _workbook(tmp_path / "ops.xlsx", [
        {"call_center_name": "Support Berlin", "user_id": USERS[150], "role": "supervisor", "skill_level": 80},
        {"call_center_id": IDS[1], "user_id": USERS[151], "remove": True}],
        centers=[{"id": IDS[0], "name": "Support Berlin"}])
    result = await _cli("plan", source)
    assert result.exit_code == EXIT_OK, result.output
    assert f"operators row 2: POST /api/v2/callcenters/{IDS[0]}/operators" in result.stdout
    assert f"add user {USERS[150]} to 'Support Berlin' as supervisor, skill 80" in result.stdout
    assert f"remove user {USERS[151]} from call center {IDS[1]}" in result.stdout
    assert "operators: 1 add, 0 skill level changes, 1 removal" in result.stdout

    diffed = await _cli("plan", source, "--diff", "--exact-operators", *_target_args(sim.base_url))
    assert diffed.exit_code == EXIT_OK, diffed.output
    assert f"operators row 3: unchanged: user {USERS[151]} is not an operator of call center {IDS[1]}" in \
        diffed.stdout
    seeded = sorted(sim.company.operators.get(IDS[0], {}))
    for user in seeded:
        email = f"user{user - USER_ID_BASE}@example.com"  # the live operator's email, beside its id
        assert f"remove user {user} ({email}) from 'Support Berlin' (not on the sheet: --exact-operators)" in \
            diffed.stdout
    assert _writes(sim) == []


async def test_cli_exact_operators_needs_diff_and_export_says_its_request_count(sim: Simulator,
                                                                               tmp_path: Path) -> None:
    source = _workbook(tmp_path / "ops.xlsx", [{"call_center_id": IDS[0], "user_id": USERS[150]}])
    refused = await _cli("apply", source, "--exact-operators", "--yes", "--results", tmp_path / "r0.xlsx",
                         *_target_args(sim.base_url))
    assert refused.exit_code == EXIT_USAGE
    assert "--exact-operators needs --diff" in refused.output
    assert sim.requests == []

    exported = await _cli("export", "-o", tmp_path / "export.xlsx", "--ids", f"{IDS[0]},{IDS[1]}", "--operators",
                          *_target_args(sim.base_url))
    assert exported.exit_code == EXIT_OK, exported.output
    operators = len(sim.company.operators.get(IDS[0], {})) + len(sim.company.operators.get(IDS[1], {}))
    assert (f"exported {operators} operators of 2 call centers, read in {2 + operators} requests "
            f"(2 operator lists, {operators} skill levels, retries included)") in exported.stdout

    applied = await _cli("apply", tmp_path / "export.xlsx", "--diff", "--results", tmp_path / "r.xlsx", "--yes",
                         *_target_args(sim.base_url))
    assert applied.exit_code == EXIT_OK, applied.output
    assert f"{operators} operator rows: {operators} unchanged" in applied.stdout


# ---- saved plans and their review ------------------------------------------------------


async def test_a_saved_diff_plan_sends_its_operator_changes_less_the_stale_ones(exported: Path, sim: Simulator,
                                                                              tmp_path: Path) -> None:
    import json

    rows = read_operator_rows(exported)
    first, second = rows[0], rows[1]
    edited = _edit_operators(exported, {(2, "skill_level"): 3, (3, "skill_level"): 4,
                                        (4, "user_id"): str(USERS[-1])})
    plan_file, review = tmp_path / "plan.json", tmp_path / "review.xlsx"
    made = await _cli("plan", edited, "--diff", "--out", plan_file, "--report", review, *_target_args(sim.base_url))
    assert made.exit_code == EXIT_OK, made.output
    document = json.loads(plan_file.read_text())
    assert [(r["row"], r["method"]) for r in document["operators"]["requests"]] == [
        (2, "PATCH"), (3, "PATCH"), (4, "POST")]
    assert document["operators"]["requests"][0]["before"] == {"role": first["role"],
                                                              "skill_level": first["skill_level"]}
    sheet = load_workbook(review)["Operators"]
    changes = [sheet.cell(row=r, column=4).value for r in range(2, 5)]
    assert changes[0].startswith(f"set the skill level of user {first['user_id']} "
                                 f"(user{int(first['user_id']) - USER_ID_BASE}@example.com) in ")
    assert changes[2].startswith(f"add user {USERS[-1]} to ")

    # Someone changes the second operator's level meanwhile: that change is stale, not sent.
    cc, user = int(second["call_center_id"]), int(second["user_id"])
    sim.company.operators[cc][user]["skill_level"] = 99
    sim.requests.clear()
    outcome = await apply_async(plan_file, _options(sim, tmp_path / "results.xlsx"))
    assert outcome.exit_code == EXIT_INVALID
    by_row = {r.row: r for r in outcome.operator_results}
    assert (by_row[2].status, by_row[3].status, by_row[4].status) == ("updated", "stale", "added")
    assert "the skill level of user" in by_row[3].error and "is 99 now" in by_row[3].error
    assert sorted(r.method for r in _writes(sim)) == ["PATCH", "POST"]
    assert sim.company.operators[cc][user]["skill_level"] == 99


async def test_a_plan_whose_operator_request_was_edited_by_hand_is_refused(sim: Simulator, tmp_path: Path) -> None:
    import json

    source = _workbook(tmp_path / "ops.xlsx", [{"call_center_id": IDS[0], "user_id": USERS[150], "skill_level": 50}])
    made = await _cli("plan", source, "--out", tmp_path / "plan.json")
    assert made.exit_code == EXIT_OK, made.output
    document = json.loads((tmp_path / "plan.json").read_text())
    document["operators"]["requests"][0]["body"]["skill_level"] = 500
    (tmp_path / "plan.json").write_text(json.dumps(document))
    refused = await _cli("apply", tmp_path / "plan.json", "--yes", "--results", tmp_path / "r.xlsx",
                         *_target_args(sim.base_url))
    assert refused.exit_code == EXIT_USAGE
    assert "operators.requests[0].body.skill_level: expected a whole number of 1-100, not 500" in refused.output
    assert sim.requests == []


async def test_the_results_operators_sheet_is_outcome_then_input_and_feeds_back(tmp_path: Path) -> None:
    target = _target_state(IDS[:2], per_center=2)
    async with _sim(IDS[:2], seeded_operators=(0, 0)) as sim:
        source = _workbook(tmp_path / "ops.xlsx", _rows_of(target))
        outcome = await apply_async(source, _options(sim, tmp_path / "results.xlsx"))
        assert outcome.exit_code == EXIT_OK, outcome.message
        sheet = load_workbook(tmp_path / "results.xlsx")["Operators"]
        header = [c.value for c in sheet[1]]
        assert header == ["row", "status", "http_status", "attempts", "error", "duration_ms", "action",
                          "call_center_id", "call_center_name", "user_id", "role", "skill_level", "remove"]
        assert sheet.cell(row=2, column=8).value == str(IDS[0])  # ids stay text
        summary = {r[0]: r[1] for r in load_workbook(tmp_path / "results.xlsx")["Summary"].iter_rows(values_only=True)}
        assert summary["Operator rows"] == "4: 4 added"

        sim.requests.clear()
        again = await apply_async(tmp_path / "results.xlsx", _options(sim, tmp_path / "again.xlsx", diff=True))
        assert again.exit_code == EXIT_OK, again.message
        assert {r.status for r in again.operator_results} == {"unchanged"} and _writes(sim) == []


async def test_exact_removals_are_asked_for_once_read_and_a_no_sends_nothing(sim: Simulator, tmp_path: Path) -> None:
    before = _state(sim)
    center = next(cc for cc, ops in before.items() if ops)
    source = _workbook(tmp_path / "ops.xlsx", [{"call_center_id": center, "user_id": USERS[150]}])
    asked: list[list[str]] = []

    def refuse(plan: Any) -> bool:
        asked.append([r.describe() for r in plan.exact_removals])
        return False

    with pytest.raises(UsageError, match="not confirmed: nothing was sent"):
        await apply_async(source, _options(sim, tmp_path / "results.xlsx", diff=True, exact_operators=True),
                          confirm_removals=refuse)
    assert len(asked) == 1 and len(asked[0]) == len(before[center])
    assert all("(not on the sheet: --exact-operators)" in line for line in asked[0])
    assert _writes(sim) == [] and _state(sim) == before
    assert not (tmp_path / "results-rollback.xlsx").exists()


async def test_the_confirmation_shows_operator_changes_apart(tmp_path: Path) -> None:
    source = _workbook(tmp_path / "ops.xlsx", [
        {"call_center_id": 1001, "user_id": 42, "role": "supervisor", "skill_level": 80},
        {"call_center_id": 1001, "user_id": 43, "remove": True}])
    result = await _cli("apply", source, "--base-url", "https://dialpad.example", "--diff", "--exact-operators",
                        "--results", tmp_path / "results.xlsx")
    assert result.exit_code == EXIT_USAGE
    assert "No terminal to confirm on: pass --yes to send" in result.output
    assert ("Operator changes, sent after the call centers: 1 add, 0 skill level changes, 1 removal (with --diff "
            "only what differs from live is sent).") in result.stdout
    assert "add user 42 to call center 1001 as supervisor, skill 80" in result.stdout
    assert "--exact-operators: the operators that the sheet does not list are removed" in result.stdout


@pytest.mark.parametrize("key", ["user_id", "call_center_id"])
async def test_a_plan_whose_operator_ids_were_edited_beyond_int64_is_refused(sim: Simulator, tmp_path: Path,
                                                                             key: str) -> None:
    """A cell of 2^64 is refused (over 2^63): a plan edited to that id is refused as well, never sent."""
    import json

    source = _workbook(tmp_path / "ops.xlsx", [{"call_center_id": IDS[0], "user_id": USERS[150]}])
    made = await _cli("plan", source, "--out", tmp_path / "plan.json", *_target_args(sim.base_url))
    assert made.exit_code == EXIT_OK, made.output
    document = json.loads((tmp_path / "plan.json").read_text())
    request = document["operators"]["requests"][0]
    old, big = request[key], 2**64
    request[key] = big
    request["body"] = {k: big if k == key else v for k, v in request["body"].items()}
    request["path"] = request["path"].replace(str(old), str(big))
    request["action"] = request["action"].replace(str(old), str(big))
    (tmp_path / "plan.json").write_text(json.dumps(document))
    refused = await _cli("apply", tmp_path / "plan.json", "--yes", "--results", tmp_path / "r.xlsx",
                         *_target_args(sim.base_url))
    assert refused.exit_code == EXIT_USAGE, refused.output
    assert f"operators.requests[0].{key}: expected a whole number of 1-9223372036854775807" in refused.output
    assert _writes(sim) == []
