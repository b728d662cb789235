"""`bulkcc plan --out` then `bulkcc apply PLAN`, against the simulator (run/apply_plan, run/execute).

Every test talks to a real `Simulator` on loopback; its request log is the
witness of what was read and sent. The CLI runs in a worker thread so the
simulator, on the test's event loop, keeps answering (as in test_export_diff).
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from openpyxl import load_workbook
from support import edit_sheet, invoke_in_thread, write_rows

from bulkcc.cli import main
from bulkcc.errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from bulkcc.fields import OPERATOR_ROUTINGS
from bulkcc.plan.planfile import canonical_text, read_plan_file
from bulkcc.run.apply import ApplyOptions, apply_async
from bulkcc.run.export import ExportQuery, export_async
from bulkcc.send.connection import ConnectionOptions
from bulkcc.send.target import KEY_ENV, Target
from bulkcc.sim.server import Simulator, SimulatorConfig, ids_for_demo, seed_store
from bulkcc.workbook.layout import DATA_SHEET
from bulkcc.workbook.results import read_results

pytestmark = pytest.mark.timeout(60)

KEY = "saved-plan-test-key"
FAST = 600_000  # requests per minute: loopback only
IDS = list(ids_for_demo(30))


def _sim(**config: Any) -> Simulator:
    return Simulator(SimulatorConfig(api_key=KEY, page_size=100, rate_limit_per_min=FAST, **config),
                     store=seed_store(IDS, random.Random(0)))


def _connection(sim: Simulator, concurrency: int = 8) -> ConnectionOptions:
    return ConnectionOptions(target=Target(sim.base_url), api_key=KEY, rate_per_min=FAST, concurrency=concurrency,
                             max_attempts=2, timeout_s=5)


def _target(sim: Simulator) -> list[str]:
    return ["--base-url", sim.base_url, "--rate-limit", str(FAST), "--concurrency", "8", "--max-attempts", "2",
            "--timeout", "5"]


async def _cli(*args: Any) -> Result:
    return await invoke_in_thread(*args, key=KEY)


def _edit(path: Path, cells: Mapping[tuple[int, str], Any], name: str = "edited.xlsx") -> Path:
    return edit_sheet(path, dict(cells), name)


def _other(value: int, low: int = 10, high: int = 45, step: int = 5) -> int:
    return value + step if value + step <= high else value - step


def _patches(sim: Simulator) -> list[tuple[int, Any]]:
    return sorted(((r.callcenter_id, r.body) for r in sim.requests if r.method == "PATCH"), key=lambda p: p[0])


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with _sim() as simulator:
        yield simulator


@pytest.fixture
async def exported(sim: Simulator, tmp_path: Path) -> Path:
    """The simulator's 30 call centers exported (row 2 is IDS[0] ...); the request log cleared."""
    path = tmp_path / "export.xlsx"
    await export_async(path, ExportQuery(), _connection(sim))
    sim.requests.clear()
    return path


def _three_edits(sim: Simulator, exported: Path) -> tuple[Path, dict[str, Any]]:
    """Rows 2, 3 and 5 edited: ring_seconds, name, hold_queue.max_hold_count."""
    store = sim.store
    a, b, c = IDS[0], IDS[1], IDS[3]
    new = {"ring": _other(store[a]["ring_seconds"]), "name": store[b]["name"] + " (edited)",
           "count": store[c]["hold_queue"]["max_hold_count"] + 1}
    edited = _edit(exported, {(2, "ring_seconds"): new["ring"], (3, "name"): new["name"],
                              (5, "hold_queue.max_hold_count"): new["count"]})
    return edited, {"a": a, "b": b, "c": c, **new}


async def _saved_diff_plan(sim: Simulator, exported: Path, tmp_path: Path) -> tuple[Path, Path, dict[str, Any]]:
    edited, edits = _three_edits(sim, exported)
    plan = tmp_path / "plan.json"
    result = await _cli("plan", edited, "--diff", "--out", plan, *_target(sim))
    assert result.exit_code == EXIT_OK, result.output
    sim.requests.clear()
    return plan, edited, edits


# ---- a saved plan is sent exactly ------------------------------------------------------


async def test_a_saved_plan_sends_exactly_its_requests_without_reading_the_workbook(
        sim: Simulator, exported: Path, tmp_path: Path) -> None:
    before = copy.deepcopy(sim.store)
    plan, edited, edits = await _saved_diff_plan(sim, exported, tmp_path)
    document = json.loads(plan.read_text("utf-8"))
    edited.unlink()  # apply PLAN never reads the workbook again
    results = tmp_path / "results.xlsx"

    result = await _cli("apply", plan, "--results", results, "--yes", "--quiet", *_target(sim))

    assert result.exit_code == EXIT_OK, result.output
    assert _patches(sim) == sorted((r["id"], r["body"]) for r in document["requests"])
    assert _patches(sim) == [(edits["a"], {"ring_seconds": edits["ring"]}), (edits["b"], {"name": edits["name"]}),
                             (edits["c"], {"hold_queue": {"max_hold_count": edits["count"]}})]
    # The stale guard read each planned call center once; the unchanged ones are not read.
    assert sorted(r.callcenter_id for r in sim.requests if r.method == "GET") == sorted(
        [edits["a"], edits["b"], edits["c"]])
    statuses = {r.id: r.status for r in read_results(results)}
    assert {i: s for i, s in statuses.items() if s != "unchanged"} == {
        edits["a"]: "updated", edits["b"]: "updated", edits["c"]: "updated"}
    assert len(statuses) == 30  # every row of the plan's input is accounted for
    expected = copy.deepcopy(before)
    expected[edits["a"]]["ring_seconds"], expected[edits["b"]]["name"] = edits["ring"], edits["name"]
    expected[edits["c"]]["hold_queue"]["max_hold_count"] = edits["count"]
    assert sim.store == expected

    summary = dict(load_workbook(results)["Summary"].iter_rows(values_only=True, max_col=2))
    assert read_plan_file(plan).checksum in summary["Plan"]
    assert summary["Input file"] == "edited.xlsx"

    # The rollback of a plan run restores what it changed.
    undo = await apply_async(tmp_path / "results-rollback.xlsx",
                             ApplyOptions(results_path=tmp_path / "undo.xlsx", connection=_connection(sim)))
    assert undo.exit_code == EXIT_OK
    assert sim.store == before


async def test_a_plan_without_diff_sends_its_bodies_having_read_only_what_its_rollback_needs(
        sim: Simulator, exported: Path, tmp_path: Path) -> None:
    edited, edits = _three_edits(sim, exported)
    plan = tmp_path / "plan.json"
    made = await _cli("plan", edited, "--out", plan, "--base-url", sim.base_url)  # no key, no request
    assert made.exit_code == EXIT_OK, made.output
    assert sim.requests == []
    document = json.loads(plan.read_text("utf-8"))
    assert len(document["requests"]) == 30 and document["diff"] is False
    before = copy.deepcopy(sim.store)

    result = await _cli("apply", plan, "--results", tmp_path / "r.xlsx", "--yes", "--quiet", *_target(sim))

    assert result.exit_code == EXIT_OK, result.output
    # One page lists the 30 call centers before the first PATCH: the rollback's prior values.
    assert [r.method for r in sim.requests] == ["GET"] + ["PATCH"] * 30
    assert _patches(sim) == sorted((r["id"], r["body"]) for r in document["requests"])
    undo = await apply_async(tmp_path / "r-rollback.xlsx",
                             ApplyOptions(results_path=tmp_path / "undo.xlsx", connection=_connection(sim)))
    assert undo.exit_code == EXIT_OK, undo.message
    assert sim.store == before

    sim.requests.clear()  # --no-rollback: nothing is read, and no rollback is written or claimed
    blind = await _cli("apply", plan, "--results", tmp_path / "blind.xlsx", "--yes", "--no-rollback", *_target(sim))
    assert blind.exit_code == EXIT_OK, blind.output
    assert {r.method for r in sim.requests} == {"PATCH"}
    assert not (tmp_path / "blind-rollback.xlsx").exists() and "rollback" not in blind.output


# ---- the stale guard -------------------------------------------------------------------


async def test_a_field_changed_live_since_the_plan_makes_its_row_stale_and_the_others_go(
        sim: Simulator, exported: Path, tmp_path: Path) -> None:
    plan, _, edits = await _saved_diff_plan(sim, exported, tmp_path)
    a = edits["a"]
    old_ring = sim.store[a]["ring_seconds"]
    someone_elses = next(v for v in range(10, 46, 5) if v not in (old_ring, edits["ring"]))
    sim.store[a]["ring_seconds"] = someone_elses  # changed in Dialpad after the plan was made
    before = copy.deepcopy(sim.store)
    results = tmp_path / "results.xlsx"

    result = await _cli("apply", plan, "--results", results, "--yes", "--quiet", *_target(sim))

    assert result.exit_code == EXIT_INVALID, result.output  # a stale row is not a success
    assert [cc_id for cc_id, _ in _patches(sim)] == sorted([edits["b"], edits["c"]])
    assert sim.store[a] == before[a]  # the change made meanwhile is kept
    read = {r.id: r for r in read_results(results)}
    assert read[a].status == "stale"
    moved = f"ring_seconds: planned {old_ring} → {edits['ring']}, live is now {someone_elses}"
    assert moved in read[a].error
    assert read[a].changes == f"ring_seconds: {old_ring} → {edits['ring']}"
    assert (read[edits["b"]].status, read[edits["c"]].status) == ("updated", "updated")
    assert f"row 2 (id {a}): stale" in result.output and moved in result.output

    # Rollback covers only what was sent.
    rollback = load_workbook(tmp_path / "results-rollback.xlsx")[DATA_SHEET]
    assert sorted(int(row[0]) for row in rollback.iter_rows(min_row=2, values_only=True)) == sorted(
        [edits["b"], edits["c"]])

    # --only-failed does not re-send a stale row: its body was planned against a state that is gone.
    sim.requests.clear()
    again = await _cli("apply", results, "--only-failed", "--results", tmp_path / "again.xlsx", "--yes", "--quiet",
                       *_target(sim))
    assert _patches(sim) == []
    assert again.exit_code == EXIT_INVALID, again.output
    assert {r.id: r.status for r in read_results(tmp_path / "again.xlsx")}[a] == "stale"


async def test_routing_is_sent_whole_so_any_routing_setting_changed_live_makes_the_row_stale(
        sim: Simulator, exported: Path, tmp_path: Path) -> None:
    cc_id = IDS[4]  # row 6
    old = sim.store[cc_id]["routing_options"]["open"]["operator_routing"]
    new = next(r for r in OPERATOR_ROUTINGS if r != old)
    edited = _edit(exported, {(6, "routing_options.open.operator_routing"): new})
    plan = tmp_path / "plan.json"
    assert (await _cli("plan", edited, "--diff", "--out", plan, *_target(sim))).exit_code == EXIT_OK
    closed = sim.store[cc_id]["routing_options"]["closed"]
    was = closed["action"]
    closed["action"] = "voicemail" if was != "voicemail" else "message"  # a field the plan does not change
    sim.requests.clear()

    result = await _cli("apply", plan, "--results", tmp_path / "r.xlsx", "--yes", "--quiet", *_target(sim))

    assert result.exit_code == EXIT_INVALID, result.output
    assert _patches(sim) == []
    (row,) = [r for r in read_results(tmp_path / "r.xlsx") if r.id == cc_id]
    assert row.status == "stale"
    assert f"routing_options.closed.action: planned to stay {was}, live is now {closed['action']}" in row.error


async def test_a_live_routing_entry_no_column_holds_added_since_the_plan_makes_the_row_stale(
        sim: Simulator, exported: Path, tmp_path: Path) -> None:
    cc_id = IDS[4]  # row 6
    old = sim.store[cc_id]["routing_options"]["open"]["operator_routing"]
    edited = _edit(exported, {(6, "routing_options.open.operator_routing"): next(
        r for r in OPERATOR_ROUTINGS if r != old)})
    plan = tmp_path / "plan.json"
    assert (await _cli("plan", edited, "--diff", "--out", plan, *_target(sim))).exit_code == EXIT_OK
    sim.store[cc_id]["routing_options"]["open"]["dtmf"].append({"input": "*", "options": {"action": "operator"}})
    before = copy.deepcopy(sim.store[cc_id])
    sim.requests.clear()

    result = await _cli("apply", plan, "--results", tmp_path / "r.xlsx", "--yes", "--quiet", *_target(sim))

    assert result.exit_code == EXIT_INVALID, result.output
    assert _patches(sim) == []  # the body would have dropped the key *
    assert sim.store[cc_id] == before
    (row,) = [r for r in read_results(tmp_path / "r.xlsx") if r.id == cc_id]
    assert row.status == "stale"
    assert "routing_options is sent whole and would lose the live routing_options.open.dtmf" in row.error
    assert "'*'" in row.error


async def test_a_row_blocked_when_planned_is_left_out_of_the_plan_and_reported_failed(
        sim: Simulator, exported: Path, tmp_path: Path) -> None:
    """--diff blocks a routing edit that would drop a live DTMF key no column holds (`*`): such a
    row is never in a plan; the plan is saved only with --skip-invalid, and lists it."""
    star, other = IDS[4], IDS[5]  # rows 6 and 7
    sim.store[star]["routing_options"]["open"]["dtmf"].append({"input": "*", "options": {"action": "operator"}})
    old = sim.store[star]["routing_options"]["open"]["operator_routing"]
    edited = _edit(exported, {(6, "routing_options.open.operator_routing"): next(
        r for r in OPERATOR_ROUTINGS if r != old), (7, "ring_seconds"): _other(sim.store[other]["ring_seconds"])})
    plan = tmp_path / "plan.json"

    refused = await _cli("plan", edited, "--diff", "--out", plan, *_target(sim))
    assert refused.exit_code == EXIT_INVALID, refused.output
    assert "plan file not written: 1 row is blocked" in refused.stderr and not plan.exists()
    saved = await _cli("plan", edited, "--diff", "--out", plan, "--skip-invalid", *_target(sim))
    assert saved.exit_code == EXIT_INVALID, saved.output
    (left,) = json.loads(plan.read_text("utf-8"))["left_out"]
    assert (left["row"], left["id"], left["reason"]) == (6, star, "blocked")
    sim.requests.clear()

    result = await _cli("apply", plan, "--results", tmp_path / "r.xlsx", "--yes", "--quiet", *_target(sim))

    assert result.exit_code == EXIT_INVALID, result.output
    assert [cc_id for cc_id, _ in _patches(sim)] == [other]
    read = {r.id: r for r in read_results(tmp_path / "r.xlsx")}
    assert (read[star].status, read[star].attempts) == ("failed", 0)
    assert read[star].error.startswith("left out of the plan when it was made: not sent: its routing cannot")
    assert read[other].status == "updated"


async def test_a_stopped_plan_run_resumes_without_sending_any_row_twice(sim: Simulator, exported: Path,
                                                                        tmp_path: Path) -> None:
    rows = {cc_id: row for row, cc_id in enumerate(IDS, start=2)}
    edited = _edit(exported, {(rows[i], "ring_seconds"): _other(sim.store[i]["ring_seconds"]) for i in IDS[:10]})
    plan = tmp_path / "plan.json"
    assert (await _cli("plan", edited, "--diff", "--out", plan, *_target(sim))).exit_code == EXIT_OK
    sim.requests.clear()
    sim.config.latency_ms = (5, 10)
    results = tmp_path / "results.xlsx"
    stop = asyncio.Event()

    async def stop_after_three_patches() -> None:
        while len(_patches(sim)) < 3:
            await asyncio.sleep(0.002)
        stop.set()

    stopper = asyncio.create_task(stop_after_three_patches())
    first = await apply_async(plan, ApplyOptions(results_path=results, connection=_connection(sim, 1)), stop=stop)
    stopper.cancel()
    assert first.exit_code == 3, first.message
    # The rollback written before sending is narrowed to what was sent when the run stops.
    sent_first = {r.id for r in first.results if r.attempts}
    assert 3 <= len(sent_first) < 10
    rollback = load_workbook(tmp_path / "results-rollback.xlsx")[DATA_SHEET]
    assert {int(row[0]) for row in rollback.iter_rows(min_row=2, values_only=True)} == sent_first
    resumed = await apply_async(plan, ApplyOptions(results_path=results, connection=_connection(sim, 1),
                                                   resume=True))

    assert resumed.exit_code == EXIT_OK, [(r.id, r.status, r.error) for r in resumed.results]
    assert {i: sim.patch_count(i) for i in IDS} == {i: 1 if i in IDS[:10] else 0 for i in IDS}
    assert {r.id: r.status for r in read_results(results) if r.id in IDS[:10]} == dict.fromkeys(IDS[:10], "updated")


# ---- refusals: nothing is read or sent ----------------------------------------------------


async def test_a_plan_for_another_target_is_refused(sim: Simulator, exported: Path, tmp_path: Path) -> None:
    plan, _, _ = await _saved_diff_plan(sim, exported, tmp_path)
    async with _sim() as other:
        result = await _cli("apply", plan, "--results", tmp_path / "r.xlsx", "--yes", *_target(other))
        assert other.requests == []
        other_url = other.base_url
    simulator = await _cli("apply", plan, "--results", tmp_path / "s.xlsx", "--yes", "--simulator")

    assert result.exit_code == EXIT_USAGE, result.output
    assert f"was made for {sim.base_url}, not {other_url}" in result.stderr
    assert f"--base-url {sim.base_url}" in result.stderr  # how to send it where it belongs
    assert simulator.exit_code == EXIT_USAGE and f"made for {sim.base_url}, not simulator" in simulator.stderr
    assert sim.requests == []
    assert not list(tmp_path.glob("r*.xlsx")) and not list(tmp_path.glob("*.jsonl"))


@pytest.mark.parametrize("content, expected", [
    pytest.param("not json at all", "not JSON", id="not-json"),
    pytest.param('{"items": []}', 'no "format" key', id="other-json"),
    pytest.param('{"format": "bulkcc-plan/2"}', "bulkcc-plan/2 is a plan format this bulkcc does not read",
                 id="newer-format"),
    pytest.param('{"journal": "bulkcc-journal/1", "format": "bulkcc-journal/1"}', "not a plan file", id="journal"),
])
async def test_a_file_that_is_not_a_plan_is_refused(sim: Simulator, tmp_path: Path, content: str,
                                                    expected: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content, "utf-8")
    result = await _cli("apply", path, "--results", tmp_path / "r.xlsx", "--yes", *_target(sim))

    assert result.exit_code == EXIT_USAGE, result.output
    assert expected in result.stderr and "plan.json is not a" in result.stderr
    assert "Traceback" not in result.output
    assert sim.requests == [] and not (tmp_path / "r.xlsx").exists()


async def test_a_plan_older_than_max_age_is_refused_unless_widened(sim: Simulator, exported: Path,
                                                                   tmp_path: Path) -> None:
    plan, _, _ = await _saved_diff_plan(sim, exported, tmp_path)
    document = json.loads(plan.read_text("utf-8"))
    made = datetime.now(UTC) - timedelta(hours=30)
    document["created"] = made.isoformat(timespec="seconds").replace("+00:00", "Z")
    plan.write_text(canonical_text(document), "utf-8")

    refused = await _cli("apply", plan, "--results", tmp_path / "r.xlsx", "--yes", *_target(sim))
    assert refused.exit_code == EXIT_USAGE, refused.output
    assert "was made 30h ago, more than --max-age 24h" in refused.stderr
    assert "pass --max-age 32h to apply it anyway" in refused.stderr  # an hour to spare
    assert sim.requests == []

    narrower = await _cli("apply", plan, "--results", tmp_path / "r.xlsx", "--yes", "--max-age", "90m",
                          *_target(sim))
    assert narrower.exit_code == EXIT_USAGE and "more than --max-age 90m" in narrower.stderr
    widened = await _cli("apply", plan, "--results", tmp_path / "r.xlsx", "--yes", "--quiet", "--max-age", "2d",
                         *_target(sim))
    assert widened.exit_code == EXIT_OK, widened.output
    assert len(_patches(sim)) == 3


async def test_an_input_whose_checksum_is_not_the_plans_is_refused(sim: Simulator, exported: Path,
                                                                   tmp_path: Path) -> None:
    plan, edited, _ = await _saved_diff_plan(sim, exported, tmp_path)
    changed_since = _edit(edited, {(7, "name"): "Edited after planning"}, name="edited-again.xlsx")

    refused = await _cli("apply", plan, "--input", changed_since, "--results", tmp_path / "r.xlsx", "--yes",
                         *_target(sim))
    assert refused.exit_code == EXIT_USAGE, refused.output
    assert "edited-again.xlsx is not the input plan.json was made from" in refused.stderr
    assert sim.requests == []

    accepted = await _cli("apply", plan, "--input", edited, "--results", tmp_path / "r.xlsx", "--yes", "--quiet",
                          *_target(sim))
    assert accepted.exit_code == EXIT_OK, accepted.output
    assert len(_patches(sim)) == 3


async def test_only_the_approved_plan_is_sent_when_its_checksum_is_given(sim: Simulator, exported: Path,
                                                                         tmp_path: Path) -> None:
    plan, _, _ = await _saved_diff_plan(sim, exported, tmp_path)
    approved = read_plan_file(plan).checksum
    document = json.loads(plan.read_text("utf-8"))
    document["requests"].pop()  # a plan edited after its review: still a valid plan, but not the approved one
    plan.write_text(canonical_text(document), "utf-8")

    refused = await _cli("apply", plan, "--plan-sha256", approved, "--results", tmp_path / "r.xlsx", "--yes",
                         *_target(sim))
    assert refused.exit_code == EXIT_USAGE, refused.output
    assert f"not {approved}: it is not the plan that was approved" in refused.stderr
    assert sim.requests == []
    accepted = await _cli("apply", plan, "--plan-sha256", read_plan_file(plan).checksum.upper(), "--results",
                          tmp_path / "r.xlsx", "--yes", "--quiet", *_target(sim))
    assert accepted.exit_code == EXIT_OK, accepted.output
    assert len(_patches(sim)) == 2


@pytest.mark.parametrize("flag", ["--diff", "--only-failed", "--skip-invalid"])
async def test_options_that_do_not_fit_a_plan_are_refused(sim: Simulator, exported: Path, tmp_path: Path,
                                                          flag: str) -> None:
    plan, _, _ = await _saved_diff_plan(sim, exported, tmp_path)
    result = await _cli("apply", plan, flag, "--results", tmp_path / "r.xlsx", "--yes", *_target(sim))
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"{flag} with a plan file" in result.stderr
    assert sim.requests == []


def test_input_check_is_only_for_plans(tmp_path: Path, write_xlsx) -> None:
    workbook = write_xlsx(["id", "ring_seconds"], [["1001", 20]])
    result = CliRunner().invoke(main, ["apply", str(workbook), "--input", str(workbook), "--simulator", "--yes",
                                       "--results", str(tmp_path / "r.xlsx")])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "--input checks a plan file; input.xlsx is not one" in result.stderr


# ---- the confirmation shows what changes ---------------------------------------------------


def test_the_confirmation_lists_each_field_and_how_many_call_centers_it_changes(tmp_path: Path,
                                                                                 write_xlsx) -> None:
    workbook = write_xlsx(["id", "ring_seconds", "name"], [["1001", 20, "A"], ["1002", 25, None], ["1003", 30, None]])
    plan = tmp_path / "plan.json"
    target = ["--base-url", "https://api.example.invalid"]
    runner = CliRunner(env={KEY_ENV: KEY})
    assert runner.invoke(main, ["plan", str(workbook), "--out", str(plan), *target]).exit_code == EXIT_OK

    result = runner.invoke(main, ["apply", str(plan), "--results", str(tmp_path / "r.xlsx"), *target])

    assert result.exit_code == EXIT_USAGE, result.output  # no terminal to confirm on, no --yes
    assert "About to send 3 PATCH requests to https://api.example.invalid from the plan plan.json" in result.stderr
    assert "ring_seconds  3 call centers" in result.stdout
    assert "name          1 call center\n" in result.stdout
    assert not (tmp_path / "r.xlsx").exists()


async def test_a_run_that_changed_nothing_says_why_it_wrote_no_rollback(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.xlsx", [{"id": IDS[0], "ring_seconds": 11}], header=["id", "ring_seconds"])
    async with _sim() as sim:
        first = await _cli("apply", source, "--results", tmp_path / "first.xlsx", "--yes", *_target(sim))
        assert first.exit_code == 0 and (tmp_path / "first-rollback.xlsx").exists(), first.output
        assert "no rollback workbook" not in first.output
        again = await _cli("apply", source, "--results", tmp_path / "again.xlsx", "--yes", *_target(sim))
    assert again.exit_code == 0, again.output
    assert not (tmp_path / "again-rollback.xlsx").exists()  # the same value sent again: nothing to undo
    assert "no rollback workbook: this run changed nothing that needs undoing" in again.output


async def test_a_sheet_with_no_valid_row_is_not_told_to_skip_the_invalid_ones(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.xlsx", [{"id": IDS[0], "ring_seconds": 99}], header=["id", "ring_seconds"])
    async with _sim() as sim:
        result = await _cli("apply", source, "--results", tmp_path / "r.xlsx", "--yes", *_target(sim))
        assert _patches(sim) == []
    assert result.exit_code == 1, result.output
    assert "1 invalid row: nothing was sent (fix them: no row is valid, so --skip-invalid would send nothing)" in (
        " ".join(result.output.split()))
