"""`bulkcc apply` end to end, against a real simulator (or a tiny scripted API) on loopback.

Library runs go through `apply_async`; what only the command line does (exit
codes, signals, refusals) runs `python -m bulkcc.cli apply` as a subprocess
while the simulator serves from this test's event loop. Retries and give-ups
per HTTP status are checked on `ApiClient` with a fast retry policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import signal
import sys
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import load_make_samples
from openpyxl import Workbook, load_workbook

from bulkcc.errors import (
    EXIT_ABORTED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    InvalidRowsError,
    KeyRefused,
    RetryBudgetSpent,
)
from bulkcc.plan.plans import make_plan
from bulkcc.run.apply import ApplyOptions, apply_async
from bulkcc.run.journal import journal_path, read_journal
from bulkcc.send.client import ApiClient
from bulkcc.send.connection import ConnectionOptions
from bulkcc.send.pacing import Pacer, RetryBudget, RetryPolicy
from bulkcc.send.pool import patch_call, run_pool
from bulkcc.send.target import Target
from bulkcc.sim.server import Simulator, SimulatorConfig, seed_store
from bulkcc.validate.validation import validate_file
from bulkcc.workbook.results import read_results
from bulkcc.workbook.xlsx import set_cell

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "callcenters.xlsx"
KEY = "sk-test-SECRET-1234567890"
WRONG_KEY = "sk-test-WRONG-0987654321"
CLI = [sys.executable, "-m", "bulkcc.cli", "apply"]
CLI_TIMEOUT = 60.0  # seconds one CLI run may take before the test gives up on it


SAMPLES = load_make_samples()


# ---------------------------------------------------------------- helpers

def realistic_rows(count: int) -> list[dict[str, Any]]:
    """Rows of ids 1001.. as admins fill them (every kind of change)."""
    rng = random.Random(SAMPLES.SEED)
    return [SAMPLES.realistic_row(i, rng) for i in range(count)]


def write_rows(path: Path, rows: Sequence[dict[str, Any]], header: Sequence[str] | None = None) -> Path:
    header = list(header or SAMPLES.used_columns(rows))
    return SAMPLES.write_workbook(path, header, [[row.get(c) for c in header] for row in rows])


def ids_of(rows: Sequence[dict[str, Any]]) -> list[int]:
    return [row["id"] for row in rows]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.asynccontextmanager
async def simulator(ids, **config: Any) -> AsyncIterator[Simulator]:
    settings = {"rate_limit_per_min": 6000, "random_seed": 1, **config}
    async with Simulator(SimulatorConfig(api_key=KEY, **settings), store=seed_store(ids, random.Random(0))) as sim:
        yield sim


def options(results: Path, base_url: str, *, rate: int = 6000, concurrency: int = 8, max_attempts: int = 3,
            timeout_s: float = 5.0, api_key: str = KEY, retry_policy: Any = None, retry_budget: Any = None,
            **kwargs: Any) -> ApplyOptions:
    connection = ConnectionOptions(target=Target(base_url), api_key=api_key, rate_per_min=rate,
                                   concurrency=concurrency, max_attempts=max_attempts, timeout_s=timeout_s)
    if retry_policy is not None:
        connection.retry_policy = retry_policy
    if retry_budget is not None:
        connection.retry_budget = retry_budget
    return ApplyOptions(results_path=results, connection=connection, **kwargs)


def patches(sim: Simulator) -> list:
    return [r for r in sim.requests if r.method == "PATCH"]


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most arrivals in any window [t, t + window) starting at an arrival."""
    times = sorted(times)
    return max((sum(1 for u in times[i:] if u < t + window) for i, t in enumerate(times)), default=0)


def fast_retries(max_attempts: int) -> RetryPolicy:
    """A retry policy that waits milliseconds instead of seconds (given to ConnectionOptions)."""
    return RetryPolicy(max_attempts=max_attempts, base_delay=0.01, max_delay=0.05)


class CliRun:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.code, self.stdout, self.stderr = code, stdout, stderr

    def __repr__(self) -> str:
        return f"<exit {self.code}\nstdout: {self.stdout}\nstderr: {self.stderr}>"


def cli_env(key: str | None = KEY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DIALPAD_API_KEY"}
    if key is not None:
        env["DIALPAD_API_KEY"] = key
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def start_cli(*args: str, cwd: Path, key: str | None = KEY) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *CLI, *map(str, args), cwd=cwd, env=cli_env(key), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def finish(process: asyncio.subprocess.Process) -> CliRun:
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError("bulkcc apply did not finish in time") from None
    return CliRun(process.returncode, stdout.decode(), stderr.decode())


async def run_cli(*args: str, cwd: Path, key: str | None = KEY) -> CliRun:
    """`python -m bulkcc.cli apply ARGS`, asynchronously: a simulator in this loop keeps serving meanwhile."""
    return await finish(await start_cli(*args, cwd=cwd, key=key))


async def wait_until(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class ScriptedApi:
    """A tiny aiohttp app for what the simulator does not do: exact statuses, redirects, odd messages.

    `scripts` maps a path (without the leading slash; "*" for any other) to the
    steps answered one per request, the last repeated forever. A step is
    ("json", status, payload[, headers]), ("text", status, text[, headers]),
    ("drop",) to close the connection without an answer, or ("sleep", seconds, step).
    """

    def __init__(self, scripts: dict[str, list[tuple]]) -> None:
        self.scripts = {name: list(steps) for name, steps in scripts.items()}
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.bodies: dict[str, list[Any]] = defaultdict(list)
        self.base_url = ""

    async def __aenter__(self) -> ScriptedApi:
        app = web.Application()
        app.router.add_route("*", "/{name:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        raw = await request.read()
        self.arrivals[name].append(time.monotonic())
        self.bodies[name].append(json.loads(raw) if raw else None)
        script = self.scripts.get(name, self.scripts.get("*"))
        if script is None:
            return web.json_response({"error": {"message": "not scripted"}}, status=404)
        step = script.pop(0) if len(script) > 1 else script[0]
        return await self._answer(request, step)

    async def _answer(self, request: web.Request, step: tuple) -> web.StreamResponse:
        kind = step[0]
        if kind == "sleep":
            await asyncio.sleep(step[1])
            return await self._answer(request, step[2])
        if kind == "drop":
            request.transport.close()
            return web.Response(status=204)  # never sent: the connection is gone
        headers = step[3] if len(step) > 3 else None
        if kind == "json":
            return web.json_response(step[2], status=step[1], headers=headers)
        return web.Response(status=step[1], text=step[2], headers=headers)


@contextlib.asynccontextmanager
async def api_client(base_url: str, *, max_attempts: int = 3, timeout_s: float = 2.0, rate: int = 6000,
                     budget: RetryBudget | None = None, key: str = KEY) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
        yield ApiClient(session, base_url, Pacer(rate),
                        policy=RetryPolicy(max_attempts=max_attempts, base_delay=0.01, max_delay=0.05),
                        budget=budget or RetryBudget(), timeout_s=timeout_s, rng=random.Random(0))


OK_ANSWER = ("json", 200, {"id": "1", "name": "x"})


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
    assert len(results) == 6 and {r.status for r in results} == {"not_sent"}


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


# ---------------------------------------------------------------- retries and give-ups per status

RETRIED_5XX = [
    ("500", [("json", 500, {"error": {"message": "Internal error"}})], "HTTP 500: Internal error"),
    ("502", [("text", 502, "502 Bad Gateway")], "HTTP 502: 502 Bad Gateway"),
    ("503", [("json", 503, {"message": "Service unavailable"})], "HTTP 503: Service unavailable"),
]


@pytest.mark.parametrize(("name", "script", "error"), RETRIED_5XX, ids=[c[0] for c in RETRIED_5XX])
async def test_5xx_is_retried_then_given_up(name: str, script: list[tuple], error: str) -> None:
    async with ScriptedApi({name: script}) as api, api_client(api.base_url, max_attempts=3) as client:
        result = await client.call("PATCH", f"/{name}", {"ring_seconds": 30})
    assert not result.ok and result.attempts == 3 and result.http_status == int(name)
    assert result.error == f"{error} (gave up after 3 attempts)"
    assert len(api.arrivals[name]) == 3


async def test_a_5xx_then_success_is_a_success_after_two_attempts() -> None:
    async with ScriptedApi({"x": [("json", 503, {}), OK_ANSWER]}) as api, api_client(api.base_url) as client:
        result = await client.call("PATCH", "/x", {"ring_seconds": 30})
    assert result.ok and result.attempts == 2 and result.http_status == 200 and result.error is None
    assert result.data == {"id": "1", "name": "x"}


NEVER_RETRIED_4XX = [
    ("400", ("json", 400, {"error": {"code": 400, "message": "ring_seconds: 99 is outside 10 to 45"}}),
     "HTTP 400: ring_seconds: 99 is outside 10 to 45"),
    ("404", ("json", 404, {"error": {"code": 404, "message": "Call center not found"}}),
     "HTTP 404: Call center not found"),
    ("409", ("json", 409, {"message": "conflict"}), "HTTP 409: conflict"),
    ("422", ("text", 422, "unprocessable"), "HTTP 422: unprocessable"),
]


@pytest.mark.parametrize(("name", "step", "error"), NEVER_RETRIED_4XX, ids=[c[0] for c in NEVER_RETRIED_4XX])
async def test_other_4xx_is_never_retried_and_keeps_the_apis_message(name: str, step: tuple, error: str) -> None:
    async with ScriptedApi({name: [step]}) as api, api_client(api.base_url, max_attempts=5) as client:
        result = await client.call("PATCH", f"/{name}", {"ring_seconds": 99})
    assert not result.ok and result.attempts == 1 and result.http_status == int(name)
    assert result.error == error
    assert len(api.arrivals[name]) == 1


async def test_the_simulators_404_and_400_messages_reach_the_result() -> None:
    async with simulator([1001]) as sim, api_client(sim.base_url, max_attempts=5) as client:
        missing = await client.call("PATCH", "/api/v2/callcenters/999", {"ring_seconds": 30})
        wrong = await client.call("PATCH", "/api/v2/callcenters/1001", {"ring_seconds": 99})
        assert len(sim.requests) == 2
    assert (missing.attempts, missing.http_status, missing.error) == (1, 404, "HTTP 404: Call center not found")
    assert (wrong.attempts, wrong.http_status) == (1, 400)
    assert wrong.error == "HTTP 400: ring_seconds: 99 is outside 10 to 45"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_a_failure_naming_its_location_and_is_not_followed(status: int) -> None:
    async with ScriptedApi({"moved": [("text", status, "", {"Location": "PLACEHOLDER"})]}) as api:
        location = f"{api.base_url}/elsewhere"
        api.scripts["moved"] = [("text", status, "", {"Location": location})]
        async with api_client(api.base_url) as client:
            result = await client.call("PATCH", "/moved", {"ring_seconds": 30})
    assert not result.ok and result.attempts == 1 and result.http_status == status
    assert location in result.error and f"HTTP {status}" in result.error
    assert api.arrivals["elsewhere"] == []  # the PATCH body went nowhere else


async def test_429_waits_for_retry_after_and_slows_the_whole_run() -> None:
    scripts = {"busy": [("json", 429, {"error": {"message": "Rate limit exceeded"}}, {"Retry-After": "1"}),
                        OK_ANSWER],
               "other": [OK_ANSWER]}
    async with ScriptedApi(scripts) as api, api_client(api.base_url) as client:
        busy = asyncio.ensure_future(client.call("PATCH", "/busy", {"ring_seconds": 30}))
        await wait_until(lambda: api.arrivals["busy"], what="the first attempt")
        await asyncio.sleep(0.1)
        other = await client.call("PATCH", "/other", {"ring_seconds": 30})  # a call started during the pause
        result = await busy
    assert result.ok and result.attempts == 2
    assert result.started_at[1] - result.started_at[0] >= 1.0
    first, second = api.arrivals["busy"]
    assert second - first >= 1.0 - 0.005
    assert other.ok and api.arrivals["other"][0] - first >= 1.0 - 0.005  # every start waited
    assert client.throttled == 1 and client.pacer.pauses == 1


async def test_a_retry_after_too_long_to_wait_fails_the_row() -> None:
    step = ("json", 429, {"message": "slow down"}, {"Retry-After": "3600"})
    async with ScriptedApi({"busy": [step]}) as api, api_client(api.base_url) as client:
        result = await client.call("PATCH", "/busy", {})
    assert not result.ok and result.attempts == 1 and result.http_status == 429
    assert "too long to wait" in result.error


@pytest.mark.parametrize("status", [401, 403])
async def test_401_and_403_raise_at_once(status: int) -> None:
    step = ("json", status, {"error": {"message": "Invalid or missing API key"}})
    async with ScriptedApi({"x": [step]}) as api, api_client(api.base_url, max_attempts=5) as client:
        with pytest.raises(KeyRefused) as caught:
            await client.call("PATCH", "/x", {})
    assert len(api.arrivals["x"]) == 1
    assert caught.value.exit_code == EXIT_ABORTED and f"HTTP {status}" in str(caught.value)
    assert KEY not in str(caught.value)


async def test_a_dropped_connection_is_retried() -> None:
    async with ScriptedApi({"x": [("drop",), OK_ANSWER]}) as api, api_client(api.base_url) as client:
        result = await client.call("PATCH", "/x", {"ring_seconds": 30})
    assert result.ok and result.attempts == 2 and len(api.arrivals["x"]) == 2


async def test_connections_the_simulator_always_drops_are_given_up() -> None:
    async with simulator([1001], drop_rate=1.0) as sim, api_client(sim.base_url, max_attempts=3) as client:
        result = await client.call("PATCH", "/api/v2/callcenters/1001", {"ring_seconds": 30})
        assert len(sim.requests) == 3
    assert not result.ok and result.attempts == 3 and result.http_status is None
    assert result.error.startswith("connection failed") and "gave up after 3 attempts" in result.error


async def test_timeouts_are_retried_then_given_up() -> None:
    async with simulator([1001], slow_rate=1.0, slow_ms=2000) as sim:
        async with api_client(sim.base_url, max_attempts=3, timeout_s=0.2) as client:
            started = time.monotonic()
            result = await client.call("PATCH", "/api/v2/callcenters/1001", {"ring_seconds": 30})
            elapsed = time.monotonic() - started
        assert len(sim.requests) == 3
    assert not result.ok and result.attempts == 3 and result.http_status is None
    assert result.error.startswith("timed out after 0.2 s") and "gave up after 3 attempts" in result.error
    assert elapsed < 3 * 0.2 + 1.0  # each attempt cut at the timeout, not at the 2 s answer


async def test_a_spent_retry_budget_raises_and_bounds_the_requests() -> None:
    async with simulator(range(1, 21), fail_rate=1.0) as sim:
        async with api_client(sim.base_url, max_attempts=5,
                              budget=RetryBudget(capacity=10, retry_cost=5)) as client:
            from bulkcc.plan.payload import PlannedRequest

            requests = [PlannedRequest(row=i + 1, id=i, body={"ring_seconds": 30}) for i in range(1, 21)]
            with pytest.raises(RetryBudgetSpent) as caught:
                await run_pool(client, requests, patch_call, lambda *_: None, concurrency=2,
                               stop=asyncio.Event())
        sent = len(sim.requests)
    message = str(caught.value)
    assert "retry budget" in message and "most requests are failing" in message and "HTTP 50" in message
    assert caught.value.exit_code == EXIT_ABORTED
    assert sent <= 2 + 10 // 5  # one first attempt per worker, then two retries' worth of budget
    assert len(caught.value.not_started) >= 20 - 2


# ---------------------------------------------------------------- the command line

def _statuses(path: Path) -> Counter:
    return Counter(r.status for r in read_results(path))


async def _interrupt_then_resume(tmp_path: Path, sig: int) -> None:
    """Start apply, stop it with `sig` mid-run, check nothing is lost, then --resume to the end."""
    rows = realistic_rows(40)
    source = write_rows(tmp_path / "in.xlsx", rows)
    results = tmp_path / "out.xlsx"
    concurrency = 4
    async with simulator(ids_of(rows), rate_limit_per_min=600, latency_ms=(200, 300)) as sim:
        args = [source, "--results", results, "--base-url", sim.base_url, "--rate-limit", "600",
                "--concurrency", str(concurrency), "--quiet"]
        process = await start_cli(*args, cwd=tmp_path)
        # The signal must land mid-run: once some rows are done (the CLI's start-up time varies).
        await wait_until(lambda: sum(r.status == 200 for r in patches(sim)) >= 6 or process.returncode is not None,
                         what="the first answered PATCHes")
        in_flight = sum(1 for r in patches(sim) if r.status is None)
        assert in_flight <= concurrency
        process.send_signal(sig)
        first = await finish(process)
        await asyncio.sleep(0.5)  # after kill -9, let the server finish what it had in flight
        before = {i: sim.patch_count(i) for i in ids_of(rows)}

        journal = journal_path(results)
        assert journal.is_file()
        _, journaled = read_journal(journal)
        assert journaled and all(r.status == "updated" for r, _ in journaled.values())
        journaled_ids = {r.id for r, _ in journaled.values()}
        assert all(before[i] == 1 for i in journaled_ids)  # what the journal says happened, happened

        if sig == signal.SIGINT:
            assert first.code == EXIT_ABORTED, first
            assert "stopped" in first.stderr
            statuses = _statuses(results)
            assert set(statuses) == {"updated", "not_sent"} and sum(statuses.values()) == 40, statuses
            for result in read_results(results):  # nothing lost: the results say what the API saw
                assert before[result.id] == (1 if result.status == "updated" else 0), result
            assert {r.id for r in read_results(results) if r.status == "updated"} == journaled_ids
        else:
            assert first.code == -signal.SIGKILL, first
            assert not results.exists()  # killed before it could write: the journal is what remains

        assert sum(before.values()) < 40  # it was stopped mid-run
        second = await run_cli(*args, "--resume", cwd=tmp_path)
        assert second.code == EXIT_OK, second
        counts = {i: sim.patch_count(i) for i in ids_of(rows)}
        statuses = [r.status for r in sim.requests]

    assert 429 not in statuses
    assert all(count >= 1 for count in counts.values())  # no row lost
    assert all(counts[i] == 1 for i in journaled_ids)  # journaled rows are not sent again
    assert sum(counts.values()) <= 40 + concurrency
    assert sum(1 for c in counts.values() if c > 1) <= concurrency  # only rows in flight at the stop, if any
    final = read_results(results)
    assert [r.id for r in final] == ids_of(rows) and {r.status for r in final} == {"updated"}


async def test_ctrl_c_stops_sending_writes_results_and_resume_completes(tmp_path: Path) -> None:
    await _interrupt_then_resume(tmp_path, signal.SIGINT)


async def test_after_kill_9_resume_sends_only_what_is_left(tmp_path: Path) -> None:
    await _interrupt_then_resume(tmp_path, signal.SIGKILL)


async def test_sigterm_stops_like_ctrl_c(tmp_path: Path) -> None:
    rows = realistic_rows(20)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows), rate_limit_per_min=600, latency_ms=(200, 300)) as sim:
        process = await start_cli(source, "--results", tmp_path / "out.xlsx", "--base-url", sim.base_url,
                                  "--rate-limit", "600", "--concurrency", "4", "--quiet", cwd=tmp_path)
        await wait_until(lambda: patches(sim) or process.returncode is not None, what="the first PATCH")
        process.send_signal(signal.SIGTERM)
        run = await finish(process)
    assert run.code == EXIT_ABORTED, run
    assert "not_sent" in _statuses(tmp_path / "out.xlsx")


async def test_a_second_run_without_resume_is_refused_naming_resume(tmp_path: Path) -> None:
    rows = realistic_rows(3)
    source = write_rows(tmp_path / "in.xlsx", rows)
    results = tmp_path / "out.xlsx"
    async with simulator(ids_of(rows)) as sim:
        args = [source, "--results", results, "--base-url", sim.base_url, "--quiet"]
        first = await run_cli(*args, cwd=tmp_path)
        assert first.code == EXIT_OK, first
        assert "sending" not in first.stderr  # --quiet: no progress
        written = results.stat().st_mtime_ns
        sent = len(sim.requests)
        again = await run_cli(*args, cwd=tmp_path)
        assert len(sim.requests) == sent  # nothing sent
    assert again.code == EXIT_USAGE, again
    assert "--resume" in again.stderr
    assert results.stat().st_mtime_ns == written


async def test_only_failed_resends_the_fixed_failed_rows_and_the_key_never_leaks(tmp_path: Path) -> None:
    rows = realistic_rows(10)
    source = write_rows(tmp_path / "in.xlsx", rows)
    first_results, second_results = tmp_path / "r1.xlsx", tmp_path / "r2.xlsx"
    unknown = {1003, 1007}  # the first API does not know them: 404
    async with simulator([i for i in ids_of(rows) if i not in unknown]) as sim:
        first = await run_cli(source, "--results", first_results, "--base-url", sim.base_url, cwd=tmp_path)
    assert first.code == EXIT_INVALID, first
    assert "sending 10 requests to" in first.stderr  # plain progress lines when not on a terminal
    failed = {r.id: r for r in read_results(first_results) if r.status == "failed"}
    assert set(failed) == unknown
    assert all(r.http_status == 404 and r.error == "HTTP 404: Call center not found" for r in failed.values())

    # Fix a failed row in place in the results workbook, then send only the failed rows.
    workbook = load_workbook(first_results)
    sheet = workbook["Results"]
    header = [c.value for c in sheet[1]]
    for excel_row in range(2, sheet.max_row + 1):
        if str(sheet.cell(excel_row, header.index("id") + 1).value) == "1003":
            sheet.cell(excel_row, header.index("name") + 1).value = "Fixed name"
    workbook.save(first_results)

    async with simulator(ids_of(rows)) as sim:
        second = await run_cli(first_results, "--only-failed", "--results", second_results,
                               "--base-url", sim.base_url, cwd=tmp_path)
        sent = {r.callcenter_id: r.body for r in patches(sim)}
    assert second.code == EXIT_OK, second
    assert set(sent) == unknown  # only the failed rows
    assert sent[1003]["name"] == "Fixed name"
    final = read_results(second_results)
    assert [r.id for r in final] == ids_of(rows)
    assert {r.status for r in final} == {"updated"}
    carried = [r for r in final if r.id not in unknown]
    assert all(r.http_status == 200 and r.attempts == 1 for r in carried)

    # The key appears in no file written and in no output.
    for run in (first, second):
        assert KEY not in run.stdout and KEY not in run.stderr
    written = [p for p in tmp_path.iterdir() if p.is_file()]
    assert {p.name for p in written} >= {"r1.xlsx", "r2.xlsx", "r1.journal.jsonl", "r2.journal.jsonl"}
    for path in written:
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    assert KEY.encode() not in archive.read(member), f"{path.name}:{member}"
        else:
            assert KEY.encode() not in path.read_bytes(), path.name


async def test_a_refused_key_exits_3_and_does_not_print_the_key(tmp_path: Path) -> None:
    rows = realistic_rows(5)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows)) as sim:
        run = await run_cli(source, "--results", tmp_path / "r.xlsx", "--base-url", sim.base_url,
                            "--rate-limit", "600", key=WRONG_KEY, cwd=tmp_path)
        assert len(sim.requests) == 1
    assert run.code == EXIT_ABORTED, run
    assert "refused the key" in run.stderr
    assert WRONG_KEY not in run.stdout + run.stderr
    assert _statuses(tmp_path / "r.xlsx") == {"not_sent": 5}


async def test_invalid_rows_exit_1_from_the_command_line_with_nothing_sent(tmp_path: Path) -> None:
    source = SAMPLES.write_workbook(tmp_path / "in.xlsx", ["id", "ring_seconds"], [[1001, 25], [1002, 60]])
    async with simulator([1001, 1002]) as sim:
        run = await run_cli(source, "--results", tmp_path / "r.xlsx", "--base-url", sim.base_url, cwd=tmp_path)
        assert sim.requests == []
        skipping = await run_cli(source, "--results", tmp_path / "r2.xlsx", "--base-url", sim.base_url,
                                 "--skip-invalid", cwd=tmp_path)
        assert [r.callcenter_id for r in patches(sim)] == [1001]
    assert run.code == EXIT_INVALID, run
    assert "--skip-invalid" in run.stderr
    assert skipping.code == EXIT_INVALID, skipping
    assert _statuses(tmp_path / "r2.xlsx") == {"updated": 1, "invalid": 1}


async def test_the_command_line_refuses_unsafe_targets_before_connecting(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.xlsx", realistic_rows(2))
    cases = {
        "plain http off loopback": ([source, "--base-url", "http://dialpad.example.com"], "plain http"),
        "over Dialpad's limit": ([source, "--rate-limit", "5000"], "over Dialpad's limit"),
        "no terminal, no --yes": ([source, "--base-url", "https://api.example.invalid"], "--yes"),
        "key as a flag": ([source, "--api-key", KEY], "No such option"),
    }
    runs = await asyncio.gather(*(run_cli(*args, "--results", tmp_path / f"r{i}.xlsx", cwd=tmp_path)
                                  for i, (args, _) in enumerate(cases.values())))
    for (case, (_, expected)), run in zip(cases.items(), runs, strict=False):
        assert run.code == EXIT_USAGE, (case, run)
        assert expected in run.stderr, (case, run)
    assert not list(tmp_path.glob("r*.xlsx")) and not list(tmp_path.glob("*.jsonl"))  # nothing was started
    assert "About to send 2 PATCH requests to https://api.example.invalid" in runs[2].stderr


async def test_plain_http_to_loopback_is_allowed(tmp_path: Path) -> None:
    rows = realistic_rows(2)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows)) as sim:
        url = sim.base_url.replace("127.0.0.1", "localhost")
        run = await run_cli(source, "--results", tmp_path / "r.xlsx", "--base-url", url, cwd=tmp_path)
        assert len(patches(sim)) == 2
    assert run.code == EXIT_OK, run
    assert "2 updated" in run.stdout


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
