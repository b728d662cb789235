"""`apply` as a library call, end to end against the simulator on loopback."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from support import (
    SAMPLE,
    SAMPLES,
    WRONG_KEY,
    ScriptedApi,
    fast_retries,
    ids_of,
    max_in_window,
    options,
    patches,
    realistic_rows,
    sha256,
    simulator,
    write_rows,
)

from bulkcc.errors import (
    EXIT_ABORTED,
    EXIT_INVALID,
    EXIT_OK,
    InvalidRowsError,
)
from bulkcc.plan.plans import make_plan
from bulkcc.run.apply import apply_async
from bulkcc.run.journal import journal_path, read_journal
from bulkcc.send.pacing import RetryBudget
from bulkcc.validate.validation import validate_file
from bulkcc.workbook.results import read_results
from bulkcc.workbook.xlsx import set_cell

# ---------------------------------------------------------------- library runs on the simulator

async def test_the_sample_workbook_sends_exactly_the_planned_bodies(tmp_path: Path) -> None:
    source = tmp_path / "callcenters.xlsx"
    source.write_bytes(SAMPLE.read_bytes())
    before = sha256(source)
    planned = {r.id: json.loads(json.dumps(r.body)) for r in make_plan(validate_file(source)).requests}
    assert len(planned) == 20

    async with simulator(planned) as sim:
        outcome = await apply_async(source, options(tmp_path / "results.xlsx", sim.base_url))
        received = {r.callcenter_id: r.body for r in patches(sim)}
        assert len(patches(sim)) == 20  # one PATCH per row, nothing else
        assert received == planned
        assert all(r.status == 200 for r in sim.requests)
        assert sim.store[1001]["ring_seconds"] == planned[1001]["ring_seconds"]

    assert outcome.exit_code == EXIT_OK
    assert outcome.summary.throttled == 0 and outcome.summary.requests_sent == 20
    results = read_results(tmp_path / "results.xlsx")
    assert [r.row for r in results] == list(range(2, 22))  # one per input row, in sheet order
    assert [r.id for r in results] == list(planned)
    assert all(r.status == "updated" and r.http_status == 200 and r.attempts == 1 and r.error is None
               for r in results), results
    assert all(r.duration_ms is not None and r.duration_ms >= 0 for r in results)
    assert sha256(source) == before  # the input is never modified

    workbook = load_workbook(tmp_path / "results.xlsx")
    assert workbook.sheetnames == ["Results", "Summary"]
    header = [c.value for c in workbook["Results"][1]]
    assert header[:7] == ["row", "id", "status", "http_status", "attempts", "error", "duration_ms"]
    assert "ring_seconds" in header[7:]  # then the input's columns
    counts = {row[0]: row[1] for row in workbook["Summary"].iter_rows(min_row=2, max_row=6, values_only=True)}
    assert counts == {"updated": 20, "failed": 0, "invalid": 0, "skipped": 0, "not_sent": 0}
    assert journal_path(tmp_path / "results.xlsx").is_file()  # the journal sits next to the results


async def test_the_pace_holds_at_the_simulators_limit(tmp_path: Path) -> None:
    rows = realistic_rows(30)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows), rate_limit_per_min=600, latency_ms=(20, 80)) as sim:
        outcome = await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url, rate=600, concurrency=8))
        arrivals = [r.t for r in patches(sim)]
        statuses = Counter(r.status for r in sim.requests)
    assert statuses == {200: 30}  # zero 429s
    assert max_in_window(arrivals) <= 10
    spread = max(arrivals) - min(arrivals)
    assert 29 / spread >= 0.9 * 10, f"only {29 / spread:.2f}/s of 10/s"
    assert outcome.exit_code == EXIT_OK and outcome.summary.throttled == 0
    assert outcome.summary.achieved_rate_per_min <= 600


async def test_a_failing_api_leaves_rows_failed_after_max_attempts(tmp_path: Path) -> None:
    rows = realistic_rows(8)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows), fail_rate=1.0) as sim:
        outcome = await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url, max_attempts=2,
                                                    retry_policy=fast_retries))
        assert len(sim.requests) == 8 * 2
    assert outcome.exit_code == EXIT_INVALID
    results = read_results(tmp_path / "r.xlsx")
    assert {r.status for r in results} == {"failed"}
    for result in results:
        assert result.attempts == 2 and result.http_status in (500, 502, 503)
        assert result.error.startswith(f"HTTP {result.http_status}") and "gave up after 2 attempts" in result.error


async def test_a_wrong_key_stops_the_run_after_one_request(tmp_path: Path) -> None:
    rows = realistic_rows(6)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows)) as sim:
        outcome = await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url, rate=600, concurrency=4,
                                                    api_key=WRONG_KEY))
        assert len(sim.requests) == 1 and sim.requests[0].status == 401  # no hammering
    assert outcome.exit_code == EXIT_ABORTED
    assert "refused the key" in outcome.message and WRONG_KEY not in outcome.message
    results = read_results(tmp_path / "r.xlsx")
    # The refused request went out: it is failed with its 401 and one attempt, and counted as sent.
    refused = [r for r in results if r.status == "failed"]
    assert [(r.http_status, r.attempts) for r in refused] == [(401, 1)]
    assert refused[0].error.startswith("HTTP 401: ")
    assert len(results) == 6 and Counter(r.status for r in results) == {"failed": 1, "not_sent": 5}
    assert outcome.summary.requests_sent == 1
    _, journaled = read_journal(journal_path(tmp_path / "r.xlsx"))
    assert [r.status for r, _ in journaled.values()] == ["failed"]  # --resume sends it again


async def test_a_spent_retry_budget_stops_the_run_with_a_clear_message(tmp_path: Path) -> None:
    rows = realistic_rows(12)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows), fail_rate=1.0) as sim:
        outcome = await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url, concurrency=2,
                                                    max_attempts=5, retry_policy=fast_retries,
                                                    retry_budget=lambda: RetryBudget(capacity=10, retry_cost=5)))
        seen = {i: sim.patch_count(i, applied_only=False) for i in ids_of(rows)}
        sent = len(sim.requests)
    assert outcome.exit_code == EXIT_ABORTED
    assert "retry budget" in outcome.message and "--resume" in outcome.message
    assert sent <= 2 + 10 // 5  # a first attempt per worker, then only what the budget allows
    results = read_results(tmp_path / "r.xlsx")
    assert len(results) == 12 and Counter(r.status for r in results)["not_sent"] >= 12 - 2
    # A row that was sent and spent the budget is failed, not "not sent": the results say
    # exactly what the API saw, row by row.
    failed = [r for r in results if r.status == "failed"]
    assert failed, Counter(r.status for r in results)
    for result in results:
        assert result.attempts == seen[result.id], result
        if result.attempts:
            assert result.status == "failed" and result.http_status in (500, 502, 503), result
        else:
            assert result.status == "not_sent", result
    assert max(r.attempts for r in failed) >= 2  # the row that retried until the budget ran out
    assert outcome.summary.requests_sent == sent
    _, journaled = read_journal(journal_path(tmp_path / "r.xlsx"))
    assert {r.id for r, _ in journaled.values()} == {r.id for r in failed}  # --resume re-sends them


async def test_invalid_rows_stop_the_run_before_any_request(tmp_path: Path) -> None:
    header = ["id", "name", "ring_seconds"]
    table = [[1001, "Support", 25], [1002, None, 60], [1003, None, None], [1004, "Sales", None]]
    source = SAMPLES.write_workbook(tmp_path / "in.xlsx", header, table)
    async with simulator([1001, 1002, 1003, 1004]) as sim:
        with pytest.raises(InvalidRowsError) as caught:
            await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url))
        assert caught.value.exit_code == EXIT_INVALID
        assert sim.requests == []

        outcome = await apply_async(source, options(tmp_path / "r2.xlsx", sim.base_url, skip_invalid=True))
        assert sorted(r.callcenter_id for r in patches(sim)) == [1001, 1004]  # not the invalid nor the id-only row
        assert sim.patch_count(1003) == 0
    assert outcome.exit_code == EXIT_INVALID
    results = read_results(tmp_path / "r2.xlsx")
    assert [(r.row, r.status) for r in results] == [(2, "updated"), (3, "invalid"), (4, "skipped"), (5, "updated")]
    assert "ring_seconds" in results[1].error and results[1].attempts == 0


async def test_rows_with_nothing_to_change_are_skipped_and_the_run_is_ok(tmp_path: Path) -> None:
    source = SAMPLES.write_workbook(tmp_path / "in.xlsx", ["id", "ring_seconds"], [[1001, 30], [1002, None]])
    async with simulator([1001, 1002]) as sim:
        outcome = await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url))
        assert [r.callcenter_id for r in patches(sim)] == [1001]
    assert outcome.exit_code == EXIT_OK
    assert [r.status for r in read_results(tmp_path / "r.xlsx")] == ["updated", "skipped"]


async def test_formula_looking_api_messages_and_cells_stay_text(tmp_path: Path) -> None:
    wb = Workbook()
    sheet = wb.active
    sheet.title = "callcenters"
    sheet.append(["id", "name", "ring_seconds"])
    sheet.append([1001, None, 25])
    set_cell(sheet["B2"], '=HYPERLINK("http://evil.example","click")')  # typed as text, as Excel keeps it
    wb.save(tmp_path / "in.xlsx")
    message = "=cmd|' /C calc'!A0"
    async with ScriptedApi({"*": [("json", 400, {"error": {"message": message}})]}) as api:
        outcome = await apply_async(tmp_path / "in.xlsx", options(tmp_path / "r.xlsx", api.base_url))
        assert sum(len(a) for a in api.arrivals.values()) == 1  # a 400 is never retried
        (body,) = api.bodies["api/v2/callcenters/1001"]
        assert body == {"name": '=HYPERLINK("http://evil.example","click")', "ring_seconds": 25}
    assert outcome.exit_code == EXIT_INVALID
    sheet = load_workbook(tmp_path / "r.xlsx")["Results"]
    header = [c.value for c in sheet[1]]
    error = sheet.cell(row=2, column=header.index("error") + 1)
    assert error.value == f"HTTP 400: {message}" and error.data_type == "s"
    name = sheet.cell(row=2, column=header.index("name") + 1)
    assert name.value == '=HYPERLINK("http://evil.example","click")' and name.data_type == "s"
    assert name.quotePrefix
    (result,) = read_results(tmp_path / "r.xlsx")
    assert (result.status, result.http_status, result.attempts) == ("failed", 400, 1)



# ---------------------------------------------------------------- regressions of the review's fixes

async def test_resume_after_re_sorting_the_sheet_matches_by_call_center_not_row(tmp_path: Path) -> None:
    """A journal entry belongs to a call center: after a re-sort, row 2 is another call center, not done."""
    ids = list(range(1001, 1021))
    header = ["id", "ring_seconds"]
    first = SAMPLES.write_workbook(tmp_path / "first.xlsx", header, [[i, 44] for i in ids[:6]])
    resorted = SAMPLES.write_workbook(tmp_path / "resorted.xlsx", header, [[i, 44] for i in reversed(ids)])
    results = tmp_path / "out.xlsx"
    async with simulator(ids) as sim:
        for cc_id in ids:
            sim.store[cc_id]["ring_seconds"] = 20  # so that a call center left out shows
        done = await apply_async(first, options(results, sim.base_url))
        assert done.exit_code == EXIT_OK
        assert Counter(r.callcenter_id for r in patches(sim)) == {i: 1 for i in ids[:6]}

        outcome = await apply_async(resorted, options(results, sim.base_url, resume=True))
        per_id = Counter(r.callcenter_id for r in patches(sim))
        rings = {i: sim.store[i]["ring_seconds"] for i in ids}

    assert rings == {i: 44 for i in ids}  # every call center got its change
    assert per_id == {i: 1 for i in ids}  # the six journaled ones were not sent again, the rest once
    assert outcome.exit_code == EXIT_OK
    final = read_results(results)
    assert [(r.row, r.id) for r in final] == list(zip(range(2, 22), reversed(ids), strict=False))
    assert {r.status for r in final} == {"updated"}


async def test_1000_per_minute_starts_at_most_16_in_any_second(tmp_path: Path) -> None:
    """1000/min allows floor(1000/60) = 16 a second: the pacer must never start a 17th."""
    rows = realistic_rows(40)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows), rate_limit_per_min=1000, latency_ms=(5, 20)) as sim:
        outcome = await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url, rate=1000, concurrency=8))
        arrivals = [r.t for r in sim.requests]
        statuses = Counter(r.status for r in sim.requests)
    assert statuses == {200: 40}, statuses  # zero 429s
    assert max_in_window(arrivals) <= 16
    assert outcome.exit_code == EXIT_OK and outcome.summary.throttled == 0


async def test_unknown_columns_are_carried_to_the_results_so_a_rename_resends_them(tmp_path: Path) -> None:
    source = SAMPLES.write_csv(tmp_path / "in.csv", ["id", "name", "max_hold_secs"],
                               [[1001, "Support", 300], [1002, "Sales", 600]])
    first, second = tmp_path / "r1.xlsx", tmp_path / "r2.xlsx"
    async with simulator([1001, 1002]) as sim:
        outcome = await apply_async(source, options(first, sim.base_url, skip_invalid=True))
        assert patches(sim) == []
        assert outcome.exit_code == EXIT_INVALID
        assert [(r.id, r.status) for r in read_results(first)] == [(1001, "invalid"), (1002, "invalid")]

        workbook = load_workbook(first)
        sheet = workbook["Results"]
        header = [c.value for c in sheet[1]]
        assert "max_hold_secs" in header  # the misnamed column is not lost
        column = header.index("max_hold_secs") + 1
        assert [str(sheet.cell(row, column).value) for row in (2, 3)] == ["300", "600"]
        sheet.cell(1, column).value = "hold_queue.max_hold_seconds"  # fixed in place
        workbook.save(first)

        again = await apply_async(first, options(second, sim.base_url, only_failed=True))
        sent = {r.callcenter_id: r.body for r in patches(sim)}
        held = {i: sim.store[i]["hold_queue"]["max_hold_seconds"] for i in (1001, 1002)}
        names = {i: sim.store[i]["name"] for i in (1001, 1002)}
    assert again.exit_code == EXIT_OK
    assert [(r.id, r.status) for r in read_results(second)] == [(1001, "updated"), (1002, "updated")]
    assert sent == {1001: {"name": "Support", "hold_queue": {"max_hold_seconds": 300}},
                    1002: {"name": "Sales", "hold_queue": {"max_hold_seconds": 600}}}
    assert held == {1001: 300, 1002: 600} and names == {1001: "Support", 1002: "Sales"}

