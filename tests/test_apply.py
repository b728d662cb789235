"""`apply` as a library call, end to end against the simulator on loopback.

A run reads the call centers it changes before its first write (for its rollback); the tests of the
sending itself (pace, retries, answers) pass `no_rollback=True`, so that their servers see the sends only.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
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
    wait_until,
    write_rows,
)

from bulkcc.errors import (
    EXIT_ABORTED,
    EXIT_INVALID,
    EXIT_OK,
    InvalidRowsError,
    UsageError,
)
from bulkcc.plan.plans import make_plan
from bulkcc.run.apply import apply_async
from bulkcc.run.journal import Journal, journal_path, read_journal
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
        # One page of the listing first (the values before, for the rollback), then one PATCH per row.
        assert [r.method for r in sim.requests] == ["GET"] + ["PATCH"] * 20
        assert received == planned
        assert all(r.status == 200 for r in sim.requests)
        assert sim.store[1001]["ring_seconds"] == planned[1001]["ring_seconds"]

    assert outcome.exit_code == EXIT_OK
    assert outcome.summary.throttled == 0 and outcome.summary.requests_sent == 21
    assert outcome.extra_files == [tmp_path / "results-rollback.xlsx"]
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
        outcome = await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url, rate=600, concurrency=8,
                                                    no_rollback=True))
        arrivals = [r.t for r in patches(sim)]
        statuses = Counter(r.status for r in sim.requests)
    assert statuses == {200: 30}  # zero 429s
    assert max_in_window(arrivals) <= 10
    spread = max(arrivals) - min(arrivals)
    assert 29 / spread >= 0.9 * 10, f"only {29 / spread:.2f}/s of 10/s"
    assert outcome.exit_code == EXIT_OK and outcome.summary.throttled == 0
    assert outcome.summary.achieved_rate_per_min <= 600


async def test_adaptive_pacing_under_other_load_never_breaks_the_windows_and_takes_what_is_left(
        tmp_path: Path) -> None:
    # Another integration takes 6 of the 10 a second from the first request on, for 2 s.
    rows = realistic_rows(40)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows), rate_limit_per_min=600, latency_ms=(20, 60), background_rps=6,
                         background_window=(0.0, 2.0)) as sim:
        outcome = await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url, rate=600, concurrency=8,
                                                    max_attempts=10))
        ours = [r.t for r in sim.requests if r.method == "PATCH"]
    assert outcome.exit_code == EXIT_OK and {r.status for r in outcome.results} == {"updated"}
    assert outcome.summary.throttled > 0  # the other load did take its share
    assert max_in_window(ours) <= 10  # whatever the adaptation did, never over the limit
    assert max_in_window(ours, 60.0) <= 600


async def test_a_failing_api_leaves_rows_failed_after_max_attempts(tmp_path: Path) -> None:
    rows = realistic_rows(8)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows), fail_rate=1.0) as sim:
        outcome = await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url, max_attempts=2,
                                                    retry_policy=fast_retries, no_rollback=True))
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
                                                    api_key=WRONG_KEY, no_rollback=True))
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


async def test_a_retry_after_of_an_hour_stops_the_run_and_the_results_say_what_was_sent(tmp_path: Path) -> None:
    """Dialpad says "come back in an hour": the rest is not sent to be refused, and --resume sends it later."""
    rows = realistic_rows(30)
    source = write_rows(tmp_path / "in.xlsx", rows)
    refused = ("json", 429, {"error": {"message": "Rate limit exceeded"}}, {"Retry-After": "3600"})
    async with ScriptedApi({"*": [refused]}) as api:
        outcome = await apply_async(source, options(tmp_path / "r.xlsx", api.base_url, rate=1200, concurrency=4,
                                                    no_rollback=True))
    assert outcome.exit_code == EXIT_ABORTED
    assert "asks to wait 3,600 s" in outcome.message and "--resume" in outcome.message
    assert 1 <= api.total <= 4  # what was in flight when the first answer came
    results = read_results(tmp_path / "r.xlsx")
    statuses = Counter(r.status for r in results)
    assert statuses["failed"] == api.total and statuses["not_sent"] == 30 - api.total
    assert all(r.http_status == 429 and "too long to wait" in r.error for r in results if r.status == "failed")


async def test_a_spent_retry_budget_stops_the_run_with_a_clear_message(tmp_path: Path) -> None:
    rows = realistic_rows(12)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows), fail_rate=1.0) as sim:
        outcome = await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url, concurrency=2,
                                                    max_attempts=5, retry_policy=fast_retries,
                                                    retry_budget=lambda: RetryBudget(capacity=10, retry_cost=5),
                                                    no_rollback=True))
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
        outcome = await apply_async(tmp_path / "in.xlsx", options(tmp_path / "r.xlsx", api.base_url,
                                                                  no_rollback=True))
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
        outcome = await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url, rate=1000, concurrency=8,
                                                    no_rollback=True))
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



# ---------------------------------------------------------------- answers that are not what they seem

def _answering(answer_of) -> tuple:
    """A step that answers a PATCH with `answer_of(id asked for, body sent)`."""
    from aiohttp import web

    async def handler(request):
        asked = int(request.match_info["name"].rsplit("/", 1)[-1])
        return web.json_response(answer_of(asked, await request.json()))
    return ("call", handler)


async def test_a_200_that_is_not_json_is_failed_and_resume_sends_it_again(tmp_path: Path) -> None:
    rows = realistic_rows(4)
    source = write_rows(tmp_path / "in.xlsx", rows)
    results = tmp_path / "r.xlsx"
    login_page = ("raw", 200, b"<html><title>Sign in</title></html>", {"Content-Type": "text/html"})
    async with ScriptedApi({"*": [login_page]}) as api:
        outcome = await apply_async(source, options(results, api.base_url, max_attempts=2,
                                                    retry_policy=fast_retries, no_rollback=True))
        assert api.total == 4 * 2  # retried like a 5xx
        assert outcome.exit_code == EXIT_INVALID
        assert outcome.summary.requests_sent == 8
        for result in read_results(results):
            assert (result.status, result.http_status, result.attempts) == ("failed", 200, 2), result
            assert "not JSON" in result.error and "text/html" in result.error and "<title>Sign in" in result.error
        _, journaled = read_journal(journal_path(results))
        assert {r.status for r, _ in journaled.values()} == {"failed"}  # never journaled as done

        api.scripts["*"] = [_answering(lambda asked, body: {**body, "id": str(asked)})]  # the API is back
        again = await apply_async(source, options(results, api.base_url, resume=True, no_rollback=True))
        assert api.total == 8 + 4  # every row sent again
    assert again.exit_code == EXIT_OK
    assert {r.status for r in read_results(results)} == {"updated"}


ANSWERS = {
    "another call center": (lambda asked, body: {**body, "id": str(asked + 1)},
                            lambda asked: f"the answer is call center {asked + 1}, not {asked}"),
    "no id": (lambda asked, body: body, lambda asked: f"not call center {asked}: it has no id"),
    "null id": (lambda asked, body: {**body, "id": None}, lambda asked: f"not call center {asked}: its id is null"),
    "not an id": (lambda asked, body: {**body, "id": "12a"}, lambda asked: "its id '12a' is not a call center id"),
    "unreadable fields": (lambda asked, body: {**body, "id": str(asked), "ring_seconds": "thirty"},
                          lambda asked: "its fields cannot be read"),
}


async def test_an_answer_that_is_not_the_call_center_asked_for_is_a_mismatch(tmp_path: Path) -> None:
    header = ["id", "ring_seconds"]
    results = {}
    for n, (case, (answer_of, _)) in enumerate(ANSWERS.items()):
        source = SAMPLES.write_workbook(tmp_path / f"in{n}.xlsx", header, [[1001, 30]])
        async with ScriptedApi({"*": [_answering(answer_of)]}) as api:
            outcome = await apply_async(source, options(tmp_path / f"r{n}.xlsx", api.base_url, no_rollback=True))
            assert api.total == 1, case  # an accepted write is not retried
        assert outcome.exit_code == EXIT_INVALID, case
        (results[case],) = read_results(tmp_path / f"r{n}.xlsx")
    for case, (_, expected) in ANSWERS.items():
        result = results[case]
        assert (result.status, result.http_status, result.attempts) == ("mismatch", 200, 1), (case, result)
        assert result.error.startswith("the API accepted, but ") and expected(1001) in result.error, result.error

    # The id as the live API sends it (a JSON string) and as a number both verify.
    for n, as_sent in enumerate((str, int)):
        source = SAMPLES.write_workbook(tmp_path / f"ok{n}.xlsx", header, [[1001, 30]])
        async with ScriptedApi({"*": [_answering(lambda asked, body, f=as_sent: {**body, "id": f(asked)})]}) as api:
            outcome = await apply_async(source, options(tmp_path / f"ok{n}-r.xlsx", api.base_url, no_rollback=True))
        assert outcome.exit_code == EXIT_OK and [r.status for r in outcome.results] == ["updated"]


async def test_diff_reads_show_progress_and_requests_sent_counts_every_request(tmp_path: Path) -> None:
    from io import StringIO

    from bulkcc.run.progress import LineProgress

    source = SAMPLES.write_workbook(tmp_path / "in.xlsx", ["id", "ring_seconds"], [[1001, 44], [1002, 44], [1003, 44]])
    stream = StringIO()
    async with simulator([1001, 1002, 1003]) as sim:
        sim.store[1003]["ring_seconds"] = 44  # already as the sheet says
        sim.store[1001]["ring_seconds"] = sim.store[1002]["ring_seconds"] = 20
        outcome = await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url, diff=True),
                                    progress=LineProgress(stream))
        sent, url = len(sim.requests), sim.base_url
    assert sent == 3 + 2  # three reads, two writes
    assert outcome.summary.requests_sent == sent
    lines = stream.getvalue().splitlines()
    assert lines[0] == f"reading 3 live call centers from {url}", lines
    assert lines[1].startswith("3/3 done, 0 failed"), lines
    assert lines[2] == f"sending 2 requests to {url}", lines
    assert lines[3].startswith("2/2 done, 0 failed"), lines


async def test_a_diff_read_of_another_call_center_or_a_refused_key_fails_the_row(tmp_path: Path) -> None:
    from aiohttp import web

    def handler(request):
        asked = int(request.match_info["name"].rsplit("/", 1)[-1])
        if asked == 1002:
            return web.json_response({"error": {"message": "Invalid API key"}}, status=401)
        return web.json_response({"id": str(asked + 100), "ring_seconds": 20})

    source = SAMPLES.write_workbook(tmp_path / "in.xlsx", ["id", "ring_seconds"], [[1001, 44], [1002, 44]])
    async with ScriptedApi({"*": [("call", handler)]}) as api:
        outcome = await apply_async(source, options(tmp_path / "r.xlsx", api.base_url, diff=True, concurrency=1))
        assert api.total == 2  # two reads, nothing written
    assert outcome.exit_code == EXIT_ABORTED and "refused the key" in outcome.message
    first, second = read_results(tmp_path / "r.xlsx")
    assert (first.status, first.attempts) == ("failed", 1)
    assert first.error == "reading the live call center: the answer is call center 1101, not 1001, the one asked for"
    assert (second.status, second.http_status, second.attempts) == ("failed", 401, 1)
    assert outcome.summary.requests_sent == 2


async def test_the_progress_rate_stays_under_the_allowed_rate_of_a_real_run(tmp_path: Path) -> None:
    from bulkcc.run.progress import QuietProgress

    class Recording(QuietProgress):
        shown: list[float] = []

        def advance(self, status, started_at=()):
            super().advance(status, started_at)
            self.shown.append(self.rate_per_min())

    rows = realistic_rows(40)
    source = write_rows(tmp_path / "in.xlsx", rows)
    progress = Recording()
    async with simulator(ids_of(rows), latency_ms=(5, 60)) as sim:
        outcome = await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url, rate=1200, concurrency=16,
                                                    no_rollback=True), progress=progress)
    assert outcome.exit_code == EXIT_OK and len(progress.shown) == 40
    assert max(progress.shown) <= 1200, progress.shown


# ---------------------------------------------------------------- the journal on a failing or slow disk

class FaultyDisk:
    """Opens the real journal file; the writes after the first `good` ones meet a fault of the test's choice.

    It stands where `Journal` takes its opener (as the client takes its session). `full=True`: the
    failing write puts half its first line in the file, then the kernel itself answers ENOSPC (the rest goes
    to /dev/full), as a disk that fills up does. Otherwise the write waits on `release` first: a slow disk.
    """

    def __init__(self, good: int, *, full: bool) -> None:
        self.good, self.full = good, full
        self.writes = 0
        self.release = threading.Event()

    def __call__(self, path: Path, mode: str) -> FaultyDisk.File:
        return FaultyDisk.File(open(path, mode + "b", buffering=0), self)  # noqa: SIM115

    class File:
        def __init__(self, real, disk: FaultyDisk) -> None:
            self.real, self.disk = real, disk

        def write(self, data) -> int:
            self.disk.writes += 1
            if self.disk.writes > self.disk.good:
                if self.disk.full:
                    cut = bytes(data).index(b"\n") // 2  # mid-line, however many lines the batch holds
                    self.real.write(bytes(data[:cut]))
                    with open("/dev/full", "wb", buffering=0) as full:
                        full.write(bytes(data[cut:]))  # OSError: [Errno 28] No space left on device
                else:
                    self.disk.release.wait(10)
            return self.real.write(data)

        def flush(self) -> None:
            self.real.flush()

        def fileno(self) -> int:
            return self.real.fileno()

        def close(self) -> None:
            self.real.close()


async def test_a_full_disk_mid_run_stops_sending_keeps_the_journal_true_and_resume_completes(tmp_path: Path) -> None:
    rows = realistic_rows(30)
    source = write_rows(tmp_path / "in.xlsx", rows)
    results = tmp_path / "out.xlsx"
    concurrency = 4
    async with simulator(ids_of(rows), latency_ms=(20, 60)) as sim:
        disk = FaultyDisk(good=4, full=True)  # the header and three batches reach the disk
        outcome = await apply_async(source, options(results, sim.base_url, concurrency=concurrency),
                                    journal_opener=disk)
        first = {i: sim.patch_count(i) for i in ids_of(rows)}
        journal = journal_path(results)
        _, journaled = read_journal(journal)
        torn = not journal.read_bytes().endswith(b"\n")
        first_results = {r.id: r for r in read_results(results)}

        resumed = await apply_async(source, options(results, sim.base_url, concurrency=concurrency, resume=True))
        final = {i: sim.patch_count(i) for i in ids_of(rows)}

    assert outcome.exit_code == EXIT_ABORTED
    assert "No space left on device" in outcome.message and "--resume" in outcome.message
    assert "\n" not in outcome.message  # the CLI prints it as one line
    assert torn  # the failing write left half a line, as a full disk does
    assert 0 < sum(first.values()) < 30  # it stopped starting requests
    assert all(first[i] == 1 for i in journaled)  # what the journal says happened, happened
    unjournaled = {i for i, n in first.items() if n and i not in journaled}
    assert len(unjournaled) <= 2 * concurrency  # in flight, or answered in the batch that failed
    for cc_id, result in first_results.items():  # the results say what the API saw, and what the journal lacks
        if cc_id in unjournaled:
            assert result.status == "updated" and "journal could not record it" in result.error, result
        elif cc_id in journaled:
            assert result.status == "updated" and not result.error, result
        else:
            assert result.status == "not_sent" and first[cc_id] == 0, result

    assert resumed.exit_code == EXIT_OK, resumed.message
    assert {i for i, n in final.items() if n == 2} == unjournaled  # sent again: only what the journal lacked
    assert all(n >= 1 for n in final.values()) and max(final.values()) <= 2
    assert {(r.status, r.error) for r in read_results(results)} == {("updated", None)}


async def test_a_journal_that_cannot_be_written_stops_the_run_before_any_request(tmp_path: Path) -> None:
    rows = realistic_rows(3)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows)) as sim:
        with pytest.raises(UsageError, match="No space left on device.*nothing was sent"):
            await apply_async(source, options(tmp_path / "r.xlsx", sim.base_url),
                              journal_opener=FaultyDisk(good=0, full=True))
        assert sim.requests == []
    assert not (tmp_path / "r.xlsx").exists()


async def test_a_slow_journal_disk_does_not_hold_up_the_sends_and_rows_share_fsyncs(tmp_path: Path) -> None:
    rows = realistic_rows(20)
    source = write_rows(tmp_path / "in.xlsx", rows)
    results = tmp_path / "out.xlsx"
    disk = FaultyDisk(good=2, full=False)  # the header and the first batch, then the disk stalls
    async with simulator(ids_of(rows), latency_ms=(0, 10)) as sim:
        run = asyncio.create_task(apply_async(source, options(results, sim.base_url, concurrency=4),
                                              journal_opener=disk))
        answered = lambda: sum(r.status == 200 for r in patches(sim))  # noqa: E731
        try:
            await wait_until(lambda: disk.writes > disk.good or run.done(), what="the journal's disk to stall")
            on_disk = len(read_journal(journal_path(results))[1])
            await wait_until(lambda: answered() >= on_disk + 8 or run.done(),
                             what="PATCHes answered while the journal's disk is stalled")
            assert not run.done()  # sends went on while the write waited ...
            assert len(read_journal(journal_path(results))[1]) == on_disk  # ... and none of them is on disk yet
        finally:
            disk.release.set()
        outcome = await run
    assert outcome.exit_code == EXIT_OK
    assert len(read_journal(journal_path(results))[1]) == 20
    assert disk.writes < 1 + 20  # rows that finished during the stall went to disk together


async def test_leftovers_of_a_killed_run_do_not_block_or_stay(tmp_path: Path) -> None:
    """A journal with no finished row is started over; a killed save's temporary files are removed."""
    rows = realistic_rows(4)
    source = write_rows(tmp_path / "in.xlsx", rows)
    results = tmp_path / "out.xlsx"
    ours = [tempfile.mkstemp(prefix=f".{stem}-", suffix=".xlsx.tmp", dir=tmp_path)[1]
            for stem in ("out", "out-rollback")]  # named as save_atomic names them
    others = [tempfile.mkstemp(prefix=".out-b-", suffix=".xlsx.tmp", dir=tmp_path)[1],  # out-b.xlsx's
              str(tmp_path / ".out-notes.xlsx.tmp")]
    Path(others[1]).write_text("not a temporary file of ours")
    async with simulator(ids_of(rows)) as sim:
        # Killed before its first answer: a journal with a header and no row.
        Journal.open(journal_path(results), {"target": sim.base_url}, resume=False).close()
        first = await apply_async(source, options(results, sim.base_url))
        assert first.exit_code == EXIT_OK
    assert not any(Path(p).exists() for p in ours)
    assert all(Path(p).exists() for p in others)

    async with ScriptedApi({"*": [("json", 404, {"error": {"message": "Call center not found"}})]}) as api:
        failed = await apply_async(source, options(tmp_path / "failed.xlsx", api.base_url))
    assert failed.exit_code == EXIT_INVALID  # a journal of failures only: nothing was done
    async with simulator(ids_of(rows)) as sim:
        again = await apply_async(source, options(tmp_path / "failed.xlsx", sim.base_url))
        assert len(patches(sim)) == 4
    assert again.exit_code == EXIT_OK


async def test_a_journal_of_operator_changes_alone_refuses_a_plain_run_and_resumes_them(tmp_path: Path) -> None:
    from bulkcc.workbook.operator_results import OperatorResult

    path = journal_path(tmp_path / "results.xlsx")
    journal = Journal.open(path, {"target": "https://api.example"}, resume=False)
    added = OperatorResult(row=3, status="added", http_status=200, attempts=1, call_center_id=1001, user_id=42)
    failed = OperatorResult(row=4, status="failed", http_status=400, attempts=1, call_center_id=1001, user_id=43)
    journal.record_operator(added, "hash-a")
    journal.record_operator(failed, "hash-b")
    await journal.drain()
    journal.close()

    with pytest.raises(UsageError, match="1 row done"):  # the added one: a plain run would add it again
        Journal.open(path, {"target": "https://api.example"}, resume=False)
    resumed = Journal.open(path, {"target": "https://api.example"}, resume=True)
    resumed.close()
    assert resumed.previous_operators[(1001, 42)] == (added, "hash-a")
    assert resumed.previous_operators[(1001, 43)][0].status == "failed"
