"""Every run can be undone: the rollback workbook a run writes, applied as the README says, puts back
exactly what the run did (fields, routing, agents with their roles, created centers) and only that.

Library runs against the simulator on loopback; its store and company are the witness of live state.
The simulator is run both ways an API may take an add of an operator who is there: refused (400), or
as an update of its role and skill level.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from support import options

from bulkcc.errors import EXIT_INVALID, EXIT_OK
from bulkcc.run.apply import apply_async
from bulkcc.run.progress import QuietProgress
from bulkcc.sim.server import USER_ID_BASE, Simulator, SimulatorConfig, ids_for_demo, seed_store
from bulkcc.workbook.results import read_results

pytestmark = pytest.mark.timeout(60)

KEY = "rollback-test-key-0123456789"
FAST = 600_000
IDS = list(ids_for_demo(4))
A, B, C, D = IDS
OFFICE = 5_100_000_000_000_002  # one of the simulator's offices
U = [USER_ID_BASE + n for n in range(201)]
ROUTING = ("routing_options.open.action", "routing_options.open.try_dial_operators",
           "routing_options.closed.action", "routing_options.closed.try_dial_operators")
# The agents there before: a supervisor (re-skilled), one at 0 (re-skilled from 0), an admin (removed),
# one at 20 (re-skilled to 0).
AGENTS = ((A, U[50], "supervisor", 70), (A, U[51], "operator", 0), (B, U[52], "admin", 40), (B, U[53], "operator", 20))


def _sim(repeated_add: str = "refuse") -> Simulator:
    sim = Simulator(SimulatorConfig(api_key=KEY, users=200, rate_limit_per_min=FAST, random_seed=1,
                                    seeded_operators=(0, 0), repeated_add=repeated_add),
                    store=seed_store(IDS, random.Random(0)))
    for center, user, role, level in AGENTS:
        sim.company.apply(sim.store, {"kind": "license", "user_id": user, "license": "agents"})
        sim.company.apply(sim.store, {"kind": "operator", "callcenter_id": center, "user_id": user, "role": role,
                                      "skill_level": level})
    return sim


def _live(sim: Simulator) -> tuple[dict, dict]:
    """What a rollback must put back: every call center as stored, every operator with role and level."""
    return ({cc: copy.deepcopy(sim.store.get(cc)) for cc in IDS},
            {cc: copy.deepcopy(sim.company.operators.get(cc, {})) for cc in IDS})


def _opts(sim: Simulator, results: Path, **kwargs: Any) -> Any:
    return options(results, sim.base_url, **{"api_key": KEY, "rate": FAST, "concurrency": 8, "max_attempts": 2,
                                             **kwargs})


def _workbook(path: Path, centers: Sequence[Sequence[Any]], agents: Sequence[Sequence[Any]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "callcenters"
    sheet.append(["id", "name", "office_id", "ring_seconds", *ROUTING])
    for row in centers:
        sheet.append([None if v is None else str(v) if i in (0, 2) else v for i, v in enumerate(row)])
    operators = workbook.create_sheet("operators")
    operators.append(["call_center_id", "call_center_name", "user_id", "role", "skill_level", "remove"])
    for row in agents:
        operators.append([None if v is None else str(v) if i in (0, 2) else v for i, v in enumerate(row)])
    workbook.save(path)
    return path


def _every_kind_of_change(path: Path) -> Path:
    """Fields, routing, a create, agents added (to an existing and to the new center), removed, re-skilled
    to 0 and from 0, a supervisor re-skilled (no role on its row: an add taken as an update resets it)."""
    return _workbook(path, [
        (A, None, None, 17, "voicemail", True, "voicemail", False),
        (C, None, None, 23, None, None, None, None),
        (None, "Brand New", OFFICE, 30, None, None, None, None),
    ], [
        (A, None, U[50], None, 30, None),
        (A, None, U[51], None, 60, None),
        (B, None, U[52], None, None, True),
        (B, None, U[53], None, 0, None),  # 0 only changes a level (--diff); without, this row is invalid
        (C, None, U[60], "supervisor", 45, None),
        (None, "Brand New", U[61], None, 10, None),
    ])


@pytest.mark.parametrize("repeated_add", ["refuse", "update"])
@pytest.mark.parametrize("diff", [True, False], ids=["diff", "no-diff"])
async def test_every_kind_of_change_is_undone_exactly_and_a_second_rollback_changes_nothing(
        tmp_path: Path, diff: bool, repeated_add: str) -> None:
    async with _sim(repeated_add) as sim:
        start = _live(sim)
        source = _every_kind_of_change(tmp_path / "in.xlsx")
        run = await apply_async(source, _opts(sim, tmp_path / "results.xlsx", diff=diff, skip_invalid=not diff))
        assert run.exit_code == (EXIT_OK if diff else EXIT_INVALID), run.message  # without --diff: 0 is invalid
        assert [r.status for r in run.results] == ["updated", "updated", "created"]
        new_center = run.results[2].id
        assert _live(sim) != start and new_center in sim.store
        rollback = tmp_path / "results-rollback.xlsx"
        assert run.extra_files == [rollback]

        sim.requests.clear()  # as the README says: no --diff needed; --allow-delete for the created center
        back = await apply_async(rollback, _opts(sim, tmp_path / "rollback-results.xlsx", allow_delete=True))
        assert back.exit_code == EXIT_OK, (back.message, back.results, back.operator_results, back.deletes)
        assert _live(sim) == start  # fields, routing, agents with their roles and levels
        assert new_center not in sim.store and [r.status for r in back.deletes] == ["deleted"]
        # The skill endpoint puts levels back, never an add: an add only re-adds the removed admin and, where
        # the run's add was taken as an update (the supervisor's row has no role: it became an operator),
        # puts the supervisor's role back.
        adds = {r.body["user_id"]: (r.body["role"], r.body["skill_level"]) for r in sim.requests if r.method == "POST"}
        reset = not diff and repeated_add == "update"
        assert adds == {U[52]: ("admin", 40), **({U[50]: ("supervisor", 70)} if reset else {})}
        assert not (tmp_path / "rollback-results-rollback.xlsx").exists()  # a rollback writes none of its own

        sim.requests.clear()
        again = await apply_async(rollback, _opts(sim, tmp_path / "again.xlsx", allow_delete=True))
        assert again.exit_code == EXIT_OK
        assert {r.status for r in [*again.results, *again.operator_results, *again.deletes]} == {"unchanged"}
        assert [r for r in sim.requests if r.method != "GET"] == []  # nothing written the second time
        assert _live(sim) == start


async def test_what_someone_changed_since_the_run_is_stale_left_as_they_set_it_and_counted(tmp_path: Path) -> None:
    async with _sim() as sim:
        source = _workbook(tmp_path / "in.xlsx", [(A, "Renamed A", None, 17, None, None, None, None),
                                                  (C, None, None, 23, None, None, None, None)],
                           [(A, None, U[50], None, 30, None), (C, None, U[60], None, 45, None)])
        run = await apply_async(source, _opts(sim, tmp_path / "results.xlsx"))
        assert run.exit_code == EXIT_OK, run.message
        name_before = None if run.results[0].status != "updated" else sim.store[A]["name"]
        # Another admin, after the run: A's ring_seconds, and U[50]'s level.
        sim.store[A]["ring_seconds"] = 44
        sim.company.apply(sim.store, {"kind": "operator", "callcenter_id": A, "user_id": U[50], "role": "supervisor",
                                      "skill_level": 55})
        back = await apply_async(tmp_path / "results-rollback.xlsx", _opts(sim, tmp_path / "back.xlsx"))
        assert back.exit_code == EXIT_INVALID  # stale is not a success: the admin must look
        row_a, row_c = back.results
        assert row_a.status == "stale" and "ring_seconds: the run set 17, live is now 44" in row_a.error
        assert sim.store[A]["ring_seconds"] == 44 and sim.store[A]["name"] != name_before  # the name went back
        assert row_c.status == "updated" and sim.store[C]["ring_seconds"] != 23
        agents = {r.user_id: r for r in back.operator_results}
        assert agents[U[50]].status == "stale" and "skill 55 now, not supervisor, skill 30" in agents[U[50]].error
        assert sim.company.operators[A][U[50]] == {"role": "supervisor", "skill_level": 55}
        assert agents[U[60]].status == "removed" and U[60] not in sim.company.operators.get(C, {})
        workbook = load_workbook(tmp_path / "back.xlsx", read_only=True)
        summary = {row[0]: row[1] for row in workbook["Summary"].iter_rows(values_only=True) if row and row[0]}
        assert summary["stale"] == 1 and summary.get("operators stale", 1) == 1


async def test_a_hand_edited_created_sheet_deletes_nothing_bulkcc_did_not_create(tmp_path: Path) -> None:
    async with _sim() as sim:
        source = _workbook(tmp_path / "in.xlsx", [(None, "Brand New", OFFICE, 30, None, None, None, None),
                                                  (None, "Second", OFFICE, 31, None, None, None, None)], [])
        run = await apply_async(source, _opts(sim, tmp_path / "results.xlsx"))
        first, second = (r.id for r in run.results)
        rollback = tmp_path / "results-rollback.xlsx"

        # Without the journal beside it, nothing proves what the run created: nothing is deleted.
        journal = tmp_path / "results.journal.jsonl"
        journal.rename(tmp_path / "elsewhere.jsonl")
        orphan = await apply_async(rollback, _opts(sim, tmp_path / "orphan.xlsx", allow_delete=True))
        assert {r.status for r in orphan.deletes} == {"not_sent"} and {first, second} <= set(sim.store)
        assert all("results.journal.jsonl" in r.error and "is not there" in r.error for r in orphan.deletes)
        (tmp_path / "elsewhere.jsonl").rename(journal)

        workbook = load_workbook(rollback)
        sheet = workbook["created"]
        for row in sheet.iter_rows(min_row=2):
            if row[0].value == str(second):
                row[2].value = "not an office"  # a cell that does not read: that delete is refused
        victim = sim.store[A]  # someone else's call center, named as it really is
        sheet.append([str(A), victim["name"], str(victim["office_id"])])
        workbook.save(rollback)
        back = await apply_async(rollback, _opts(sim, tmp_path / "back.xlsx", allow_delete=True))
        assert A in sim.store and second in sim.store and first not in sim.store
        by_id = {r.id: r for r in back.deletes}
        assert by_id[first].status == "deleted"
        assert by_id[A].status == "not_sent" and "does not show that run creating call center" in by_id[A].error
        assert by_id[second].status == "not_sent" and "does not read" in by_id[second].error
        assert [r.callcenter_id for r in sim.requests if r.method == "DELETE"] == [first]
        assert back.exit_code == EXIT_INVALID


async def test_a_role_the_api_does_not_take_fails_its_row_only_and_a_level_0_is_put_back(tmp_path: Path) -> None:
    async with _sim() as sim:
        sim.company.apply(sim.store, {"kind": "operator", "callcenter_id": D, "user_id": U[70], "role": "lead",
                                      "skill_level": 50})
        start = _live(sim)
        source = _workbook(tmp_path / "in.xlsx", [(D, None, None, 19, None, None, None, None)],
                           [(D, None, U[70], None, None, True), (B, None, U[53], None, 0, None)])
        run = await apply_async(source, _opts(sim, tmp_path / "results.xlsx", diff=True))
        assert run.exit_code == EXIT_OK, run.message
        back = await apply_async(tmp_path / "results-rollback.xlsx", _opts(sim, tmp_path / "back.xlsx"))
        agents = {r.user_id: r for r in back.operator_results}
        assert agents[U[70]].status == "failed" and "'lead' is not one the API takes" in agents[U[70]].error
        assert agents[U[53]].status == "updated" and sim.company.operators[B][U[53]]["skill_level"] == 20
        assert [r.status for r in back.results] == ["updated"]  # the fields went back all the same
        assert sim.store[D] == start[0][D]
        assert back.exit_code == EXIT_INVALID


class _StopAfter(QuietProgress):
    """Sets `stop` (as Ctrl-C would) once `count` results of `phase` are in."""

    def __init__(self, stop: asyncio.Event, phase: str, count: int) -> None:
        super().__init__()
        self.stop_event, self.stop_phase, self.count, self.seen = stop, phase, count, 0

    def advance(self, status: str, started_at: Any = ()) -> None:
        super().advance(status, started_at)
        if self.phase == self.stop_phase:
            self.seen += 1
            if self.seen >= self.count:
                self.stop_event.set()


async def test_a_rollback_stopped_part_way_and_resumed_ends_as_one_that_never_stopped(tmp_path: Path) -> None:
    async with _sim() as sim:
        start = _live(sim)
        run = await apply_async(_every_kind_of_change(tmp_path / "in.xlsx"),
                                _opts(sim, tmp_path / "results.xlsx", diff=True))
        assert run.exit_code == EXIT_OK
        stop = asyncio.Event()
        rollback = tmp_path / "results-rollback.xlsx"
        first = await apply_async(rollback, _opts(sim, tmp_path / "back.xlsx", allow_delete=True, concurrency=1),
                                  stop=stop, progress=_StopAfter(stop, "operators", 2))
        assert first.message and "stopped" in first.message
        resumed = await apply_async(rollback, _opts(sim, tmp_path / "back.xlsx", allow_delete=True, resume=True))
        assert resumed.exit_code == EXIT_OK, resumed.message
        assert _live(sim) == start
        assert [r.status for r in resumed.operator_results] == ["updated", "updated", "added", "updated", "removed",
                                                                "removed"]
        assert [r.status for r in read_results(tmp_path / "back.xlsx")] == ["updated", "updated"]


def _outcome(outcome: Any) -> tuple[list, list]:
    """What a results workbook says of each row, as a run that never stopped would say it."""
    return ([(r.row, r.id, str(r.status)) for r in outcome.results],
            [(r.row, r.call_center_id, r.user_id, str(r.status)) for r in outcome.operator_results])


def _drop_last_lines(journal: Path, count: int) -> None:
    """A crash between the API's answers and the journal's fsync: the last lines never reached the disk."""
    lines = journal.read_text("utf-8").splitlines(keepends=True)
    kept = [line for line in lines if '"finished"' not in line]
    journal.write_text("".join(kept[:-count]), "utf-8")


async def test_a_resumed_exact_operators_run_reports_the_removals_made_before_it_stopped(tmp_path: Path) -> None:
    # The sheet lists one agent of A and one of B: --exact-operators removes the other two.
    source = _workbook(tmp_path / "in.xlsx", [], [(A, None, U[50], None, 30, None), (B, None, U[53], None, 25, None)])
    async with _sim() as sim:
        whole = await apply_async(source, _opts(sim, tmp_path / "whole.xlsx", diff=True, exact_operators=True))
        assert whole.exit_code == EXIT_OK
    async with _sim() as sim:
        start = _live(sim)
        stop = asyncio.Event()
        results = tmp_path / "results.xlsx"
        stopped = await apply_async(source, _opts(sim, results, diff=True, exact_operators=True, concurrency=1),
                                    stop=stop, progress=_StopAfter(stop, "operators", 3))
        assert stopped.message and [str(r.status) for r in stopped.operator_results].count("removed") == 1
        resumed = await apply_async(source, _opts(sim, results, diff=True, exact_operators=True, resume=True))
        assert resumed.exit_code == EXIT_OK, resumed.message
        assert _outcome(resumed) == _outcome(whole)  # the removal made before the stop is on the sheet too
        back = await apply_async(tmp_path / "results-rollback.xlsx", _opts(sim, tmp_path / "back.xlsx"))
        assert back.exit_code == EXIT_OK and _live(sim) == start


async def test_a_resumed_saved_diff_plan_does_not_call_its_own_changes_stale(tmp_path: Path) -> None:
    from support import invoke_in_thread

    source = _workbook(tmp_path / "in.xlsx", [(A, None, None, 17, None, None, None, None),
                                              (C, None, None, 23, None, None, None, None)],
                       [(A, None, U[50], None, 30, None), (B, None, U[53], None, 0, None),
                        (C, None, U[60], "admin", 45, None)])
    target = ["--base-url", None, "--rate-limit", str(FAST), "--max-attempts", "2"]
    async with _sim() as sim:
        target[1] = sim.base_url
        start = _live(sim)
        made = await invoke_in_thread("plan", source, "--diff", "--out", tmp_path / "plan.json", *target, key=KEY)
        assert made.exit_code == EXIT_OK, made.output
        stop = asyncio.Event()
        results = tmp_path / "results.xlsx"
        plan = tmp_path / "plan.json"
        stopped = await apply_async(plan, _opts(sim, results, concurrency=1), stop=stop,
                                    progress=_StopAfter(stop, "operators", 1))
        assert stopped.message
        # The crash lost the journal lines of the last PATCH and of the first agent: done, but not on record.
        _drop_last_lines(tmp_path / "results.journal.jsonl", 2)
        resumed = await apply_async(plan, _opts(sim, results, resume=True))
        assert resumed.exit_code == EXIT_OK, [(r.row, r.status, r.error) for r in resumed.operator_results]
        assert [str(r.status) for r in resumed.results] == ["updated", "updated"]
        assert [str(r.status) for r in resumed.operator_results] == ["updated", "updated", "added"]
        assert not [r for r in [*resumed.results, *resumed.operator_results] if r.status == "stale"]
        back = await apply_async(tmp_path / "results-rollback.xlsx", _opts(sim, tmp_path / "back.xlsx"))
        assert back.exit_code == EXIT_OK, (back.results, back.operator_results)
        assert _live(sim) == start


async def test_a_resumed_diff_run_whose_last_answers_never_reached_the_journal_reports_them_updated(
        tmp_path: Path) -> None:
    source = _workbook(tmp_path / "in.xlsx", [(A, None, None, 17, None, None, None, None),
                                              (C, None, None, 23, None, None, None, None)], [])
    async with _sim() as sim:
        start = _live(sim)
        results = tmp_path / "results.xlsx"
        whole = await apply_async(source, _opts(sim, results, diff=True))
        assert [str(r.status) for r in whole.results] == ["updated", "updated"]
        _drop_last_lines(tmp_path / "results.journal.jsonl", 1)  # a crash before the last line was on disk
        resumed = await apply_async(source, _opts(sim, results, diff=True, resume=True))
        assert [str(r.status) for r in resumed.results] == ["updated", "updated"], resumed.results
        assert len([r for r in sim.requests if r.method == "PATCH"]) == 2  # not sent again
        back = await apply_async(tmp_path / "results-rollback.xlsx", _opts(sim, tmp_path / "back.xlsx"))
        assert back.exit_code == EXIT_OK and _live(sim) == start
