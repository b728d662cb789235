"""The retrying client, on scripted APIs and the simulator: what is retried, what is given up, what stops a run."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import time

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict
from support import (
    KEY,
    OK_ANSWER,
    ScriptedApi,
    api_client,
    gzip_bomb,
    max_in_window,
    simulator,
    wait_until,
)

from bulkcc.errors import (
    EXIT_ABORTED,
    KeyRefused,
    RetryBudgetSpent,
    ThrottledTooLong,
)
from bulkcc.plan.payload import PlannedRequest
from bulkcc.send.client import MAX_ANSWER_BYTES, ApiClient, is_license_error, retry_after_seconds
from bulkcc.send.pacing import Pacer, RetryBudget, RetryPolicy
from bulkcc.send.pool import patch_call, run_pool

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
               "other": [OK_ANSWER], "first": [OK_ANSWER]}
    async with ScriptedApi(scripts) as api, api_client(api.base_url) as client:
        full_rate = client.pacer.adaptive.rate
        # A granted call first: the cut follows what the API granted (with nothing granted, a lone 429 is no rate).
        assert (await client.call("PATCH", "/first", {"ring_seconds": 30})).ok
        busy = asyncio.ensure_future(client.call("PATCH", "/busy", {"ring_seconds": 30}))
        await wait_until(lambda: api.arrivals["busy"], what="the first attempt")
        await asyncio.sleep(0.1)
        other = await client.call("PATCH", "/other", {"ring_seconds": 30})  # a call started meanwhile
        result = await busy
    assert result.ok and result.attempts == 2
    first, second = api.arrivals["busy"]
    assert second - first >= 1.0 - 0.005  # the throttled request waited its Retry-After
    assert other.ok and api.arrivals["other"][0] - first < 1.0  # the others went on, at the cut rate
    assert client.pacer.adaptive.rate < full_rate  # the whole run is slower
    assert client.throttled == 1 and client.pacer.pauses == 1


def _http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


TOO_LONG = [  # (Retry-After, how the message says it)
    ("3600", "3,600 s"),
    ("120.4", "120.4 s"),  # over the 120 s waited: not "120 s"
    ("1e400", "more than 100 days"),  # inf
    ("1e300", "more than 100 days"),  # not a 300-digit number
    ("http-date", "86,400 s"),  # a day after the answer's Date
]


@pytest.mark.parametrize(("status", "retry_after", "shown"), [(429, *c) for c in TOO_LONG] + [(503, "3600", "3,600 s")],
                         ids=[c[0] for c in TOO_LONG] + ["503"])
async def test_a_retry_after_too_long_to_wait_fails_the_row_and_stops_the_run(
        status: int, retry_after: str, shown: str) -> None:
    """Every other request would be refused the same: it sent them all at full pace, each to be refused."""
    def answer(request: web.Request) -> web.Response:
        date = _http_date(-7200)  # the server's clock two hours behind ours: its Date is what counts
        after = email.utils.formatdate(email.utils.parsedate_to_datetime(date).timestamp() + 86400, usegmt=True)
        return web.json_response({"message": "slow down"}, status=status, headers={
            "Date": date, "Retry-After": after if retry_after == "http-date" else retry_after})

    async with ScriptedApi({"*": [("call", answer)]}) as api, api_client(api.base_url, rate=1200) as client:
        requests = [PlannedRequest(row=i + 1, id=i, body={"ring_seconds": 30}) for i in range(1, 41)]
        recorded: list = []
        with pytest.raises(ThrottledTooLong) as caught:
            await run_pool(client, requests, patch_call, lambda item, result: recorded.append(result),
                           concurrency=4, stop=asyncio.Event())
    stopped = caught.value
    assert stopped.exit_code == EXIT_ABORTED
    assert f"asks to wait {shown} before sending again" in stopped.message and "--resume" in stopped.message
    assert api.total <= 4  # what was in flight, not the 40
    failed = stopped.result
    assert not failed.ok and failed.attempts == 1 and failed.http_status == status
    assert f"Retry-After {shown} is too long to wait" in failed.error
    assert sum(r.attempts for r in recorded) == api.total and failed in recorded  # each sent is a failed row
    assert not any(r.ok for r in recorded) and len(stopped.not_started) + len(recorded) == 40


async def test_two_retry_after_headers_ask_for_the_longer_wait() -> None:
    step = ("call", lambda request: web.Response(status=429, text="slow down", headers=CIMultiDict(
        [("Retry-After", "1"), ("Retry-After", "3600")])))
    async with ScriptedApi({"busy": [step]}) as api, api_client(api.base_url) as client:
        with pytest.raises(ThrottledTooLong):
            await client.call("PATCH", "/busy", {})
    assert api.total == 1


async def test_a_create_answered_503_with_a_long_retry_after_stays_unsure_for_its_caller_to_look_for() -> None:
    """A 503 may come after the work was done: the create is looked for by name (maybe_created), never recorded
    as failed by the stop (a --resume would then POST it again)."""
    step = ("json", 503, {"message": "maintenance"}, {"Retry-After": "3600"})
    async with ScriptedApi({"create": [step]}) as api, api_client(api.base_url) as client:
        result = await client.call("POST", "/create", {"name": "x"}, idempotent=False)
    assert result.unsure and not result.ok and result.attempts == 1 and api.total == 1
    assert "not sent again" in result.error


async def test_a_stop_while_the_key_is_checked_records_the_calls_own_403() -> None:
    scripts = {"row": [("json", 403, {"message": "forbidden"})],
               "api/v2/callcenters": [("json", 429, {"message": "slow down"}, {"Retry-After": "3600"})]}
    async with ScriptedApi(scripts) as api, api_client(api.base_url) as client:
        with pytest.raises(ThrottledTooLong) as caught:
            await client.call("PATCH", "/row", {})
    own = caught.value.result
    assert own.http_status == 403 and "forbidden" in own.error and own.attempts == 1


@pytest.mark.parametrize("skew", [-3600, 3600])
@pytest.mark.parametrize("status", [429, 503])
async def test_a_retry_after_date_is_read_against_the_answers_date_not_this_machines_clock(
        status: int, skew: float) -> None:
    """A server whose clock is an hour behind ours says "in 2 s" as its Date + 2 s: that is a wait of 2 s, not
    none (and an hour ahead, not an hour and a failed row)."""
    def answer(request: web.Request) -> web.Response:
        date = _http_date(skew)
        after = email.utils.formatdate(email.utils.parsedate_to_datetime(date).timestamp() + 2, usegmt=True)
        return web.json_response({"message": "busy"}, status=status, headers={"Date": date, "Retry-After": after})

    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    async with ScriptedApi({"busy": [("call", answer), OK_ANSWER]}) as api, aiohttp.ClientSession() as session:
        client = ApiClient(session, api.base_url, Pacer(1200), sleep=no_sleep, rng=random.Random(0),
                           policy=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05))
        result = await client.call("PATCH", "/busy", {})
    assert result.ok and result.attempts == 2, result
    assert waits == [pytest.approx(2.0, abs=0.01)]


def test_retry_after_values_of_every_kind() -> None:
    date = "Sun, 06 Dec 2026 08:00:00 GMT"
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds("-5") == 0.0 and retry_after_seconds("nan") == 0.0
    assert retry_after_seconds("Sun, 06 Dec 2026 08:00:30 GMT", date=date) == 30.0
    assert retry_after_seconds("Sun, 06 Dec 2026 07:59:00 GMT", date=date) == 0.0  # past
    assert retry_after_seconds("Sun, 06 Dec 2026 08:00:30", date=date) == 30.0  # no zone: HTTP dates are GMT
    for garbage in ("soon", "2, 3", "Sun, 99 Foo 2026 08:00:30 GMT", "Sun, 06 Dec 99999 08:00:30 GMT", "\x00", ""):
        assert retry_after_seconds(garbage, date=date) is None, garbage


@pytest.mark.parametrize("status", [401, 403])
async def test_401_and_403_raise_at_once(status: int) -> None:
    step = ("json", status, {"error": {"message": "Invalid or missing API key"}})
    async with ScriptedApi({"x": [step], "*": [step]}) as api, api_client(api.base_url, max_attempts=5) as client:
        with pytest.raises(KeyRefused) as caught:
            await client.call("PATCH", "/x", {})
    assert len(api.arrivals["x"]) == 1
    assert caught.value.exit_code == EXIT_ABORTED and f"HTTP {status}" in str(caught.value)
    assert KEY not in str(caught.value)


@pytest.mark.parametrize("message", ["No call center license is available for user 7",
                                     "no call center licenses left", "Insufficient licenses"])
async def test_a_license_error_answered_403_is_no_refused_key_and_is_not_retried(message: str) -> None:
    step = ("json", 403, {"error": {"message": message}})
    async with ScriptedApi({"x": [step]}) as api, api_client(api.base_url, max_attempts=5) as client:
        result = await client.call("POST", "/x", {"user_id": 7})
    assert (result.ok, result.http_status, result.attempts) == (False, 403, 1)
    assert result.error == f"HTTP 403: {message}" and is_license_error(result.error)
    assert len(api.arrivals["x"]) == 1


@pytest.mark.parametrize("message", ["Invalid or missing API key", "API access is not included in your license"])
def test_only_a_message_about_licenses_running_out_is_a_license_error(message: str) -> None:
    assert not is_license_error(f"HTTP 403: {message}")


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




async def test_429s_on_every_request_spend_the_budget_and_say_so_not_that_the_api_is_down() -> None:
    refused = ("json", 429, {"error": {"message": "Rate limit exceeded"}}, {"Retry-After": "0"})
    async with ScriptedApi({"*": [refused]}) as api, \
            api_client(api.base_url, max_attempts=5, budget=RetryBudget(capacity=10, retry_cost=5)) as client:
        requests = [PlannedRequest(row=i + 1, id=i, body={"ring_seconds": 30}) for i in range(1, 21)]
        with pytest.raises(RetryBudgetSpent) as caught:
            await run_pool(client, requests, patch_call, lambda *_: None, concurrency=2, stop=asyncio.Event())
    message = caught.value.message
    assert "refuses most requests as too many" in message and "looks down" not in message
    assert "HTTP 429: Rate limit exceeded" in message and "--resume" in message
    assert api.total <= 2 + 10 // 5


@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH"])
async def test_a_dropped_connection_is_sent_again_only_by_our_paced_retry(method: str) -> None:
    """aiohttp sent a GET or DELETE whose connection dropped once more on its own, unpaced: 60 arrivals for 30
    paced starts, 40 in one second at 1200/min. Every request the API sees is one the pacer granted."""
    async with ScriptedApi({"*": [("drop",)]}) as api, \
            api_client(api.base_url, max_attempts=2, budget=RetryBudget(capacity=10**6)) as client:
        results = await asyncio.gather(*(client.call(method, f"/c{i}", {} if method == "PATCH" else None)
                                         for i in range(15)))
    assert api.total == client.requests_sent == 30
    assert all(r.attempts == 2 and not r.ok for r in results)


async def test_calls_waiting_for_a_connection_go_out_at_the_pace_when_answers_come_back_together() -> None:
    """More callers than the pool's connections (the lookups ask for every email at once): a call granted its
    start, then queued for a connection, went out with all the others queued when the answers came back
    together (50 in one second from starts paced at 20). Now a turn is taken only with a connection free."""
    gate = asyncio.Event()

    async def held(request: web.Request) -> web.Response:
        await gate.wait()
        return web.json_response({"id": "1"})

    async with ScriptedApi({"*": [("call", held)]}) as api, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2)) as session:
        client = ApiClient(session, api.base_url, Pacer(1200), policy=RetryPolicy(max_attempts=1))
        calls = asyncio.gather(*(client.call("GET", f"/c{i}") for i in range(16)))
        with contextlib.suppress(AssertionError):  # all granted (before), or two in flight and the rest waiting
            await wait_until(lambda: client.requests_sent == 16, timeout=0.8)
        gate.set()  # every answer at once
        results = await calls
    assert all(r.ok for r in results) and api.total == 16
    times = sorted(t for arrivals in api.arrivals.values() for t in arrivals)
    # At the pace, 5 or 6 in any quarter second (with room for a loaded machine), not 14 at once.
    assert max_in_window(times, 0.25) <= 9


# ---------------------------------------------------------------- answers that are not what they seem

NOT_AN_OBJECT = [
    ("html", ("raw", 200, b"<!DOCTYPE html><html><body>Sign in</body></html>", {"Content-Type": "text/html"}),
     "the answer is not JSON", "text/html", '"<!DOCTYPE html><html><body>Sign in</body></html>"'),
    ("broken", ("raw", 200, b'{"id": "1", "name": "Sal', {"Content-Type": "application/json"}),
     "the answer is not JSON", "application/json", '"{"id": "1", "name": "Sal"'),
    ("empty", ("raw", 200, b"", {"Content-Type": "application/json"}), "the answer is empty", "0 bytes", None),
    ("list", ("json", 200, [{"id": "1"}]), "the answer is a JSON list, not an object", "application/json", None),
    ("string", ("json", 200, "ok"), "the answer is a JSON string, not an object", '4 bytes: ""ok""', None),
    ("null", ("json", 200, None), "the answer is JSON null, not an object", "4 bytes", None),
    ("nested", ("raw", 200, b"[" * 100_000, {"Content-Type": "application/json"}), "the answer is not JSON",
     "100000 bytes", None),
    ("204", ("raw", 204, b""), "HTTP 204 but the answer is empty", "no Content-Type", None),
    ("latin-1", ("raw", 200, b'{"name": "Caf\xe9"}', {"Content-Type": "application/json"}),
     "the answer is not UTF-8 text", "application/json", None),
]


@pytest.mark.parametrize(("name", "step", "why", "shows", "start"), NOT_AN_OBJECT, ids=[c[0] for c in NOT_AN_OBJECT])
@pytest.mark.parametrize("method", ["PATCH", "GET"])
async def test_a_2xx_that_is_not_a_json_object_is_retried_then_failed(
        name: str, step: tuple, why: str, shows: str, start: str | None, method: str) -> None:
    async with ScriptedApi({"x": [step]}) as api, api_client(api.base_url, max_attempts=3) as client:
        result = await client.call(method, "/x", {"ring_seconds": 30} if method == "PATCH" else None)
    assert not result.ok and result.data is None
    assert result.attempts == 3 and len(api.arrivals["x"]) == 3  # retried like a 5xx
    assert result.http_status == step[1]
    assert why in result.error and "not verified" in result.error and shows in result.error, result.error
    if start is not None:
        assert start in result.error, result.error  # the first bytes of what came back
    assert result.error.endswith("(gave up after 3 attempts)")
    assert client.requests_sent == 3


async def test_a_2xx_that_is_not_an_object_then_a_real_answer_is_a_success() -> None:
    html = ("raw", 200, b"<html>maintenance</html>", {"Content-Type": "text/html"})
    async with ScriptedApi({"x": [html, OK_ANSWER]}) as api, api_client(api.base_url) as client:
        result = await client.call("PATCH", "/x", {"ring_seconds": 30})
    assert result.ok and result.attempts == 2 and result.data == {"id": "1", "name": "x"}


async def test_an_answer_larger_than_the_bound_is_not_read_whole() -> None:
    big = b'{"name": "' + b"x" * (MAX_ANSWER_BYTES + 10) + b'"}'
    steps = [("raw", 200, big, {"Content-Type": "application/json"}),
             ("raw", 500, b"E" * (10 << 20), {"Content-Type": "text/plain"})]  # a 10 MB error message
    async with ScriptedApi({"big": steps[:1], "err": steps[1:]}) as api, api_client(api.base_url) as client:
        big_result = await client.call("GET", "/big")
        error_result = await client.call("PATCH", "/err", {})
    assert not big_result.ok and "larger than 16 MiB" in big_result.error
    assert not error_result.ok and error_result.http_status == 500 and error_result.attempts == 3
    assert error_result.error.startswith("HTTP 500: EEEE") and len(error_result.error) < 600


async def test_a_gzip_bomb_is_inflated_only_up_to_the_bound() -> None:
    bomb = gzip_bomb()  # 64 MiB of zeros in about 64 KB
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    async with ScriptedApi({"ok": [("raw", 200, bomb, headers)], "err": [("raw", 500, bomb, headers)]}) as api:
        async with api_client(api.base_url, max_attempts=1) as client:
            answer = await client.call("GET", "/ok")
            error = await client.call("GET", "/err")
    assert not answer.ok and "larger than 16 MiB" in answer.error
    assert not error.ok and error.http_status == 500 and len(error.error) < 600


async def test_a_server_that_closes_mid_body_is_retried() -> None:
    cut = ("cut", 200, b'{"id": "1", "name": "Sal', 5000)
    async with ScriptedApi({"x": [cut, OK_ANSWER], "y": [cut]}) as api, api_client(api.base_url) as client:
        recovered = await client.call("PATCH", "/x", {"ring_seconds": 30})
        given_up = await client.call("GET", "/y")
    assert recovered.ok and recovered.attempts == 2
    assert not given_up.ok and given_up.attempts == 3 and given_up.error.startswith("connection failed")


async def test_a_redirect_loop_is_not_followed() -> None:
    async with ScriptedApi({"loop": [("text", 302, "", {"Location": "/loop"})]}) as api:
        async with api_client(api.base_url) as client:
            result = await client.call("PATCH", "/loop", {"ring_seconds": 30})
    assert not result.ok and result.attempts == 1 and len(api.arrivals["loop"]) == 1
    assert "redirected to /loop; not followed" in result.error


async def test_a_refused_key_carries_its_call_as_sent() -> None:
    step = ("json", 401, {"error": {"message": "Invalid or missing API key"}})
    async with ScriptedApi({"x": [step]}) as api, api_client(api.base_url, max_attempts=5) as client:
        with pytest.raises(KeyRefused) as caught:
            await client.call("PATCH", "/x", {})
        assert client.requests_sent == 1
    refused = caught.value.result
    assert (refused.ok, refused.http_status, refused.attempts) == (False, 401, 1)
    assert refused.error == "HTTP 401: Invalid or missing API key"


# ---------------------------------------------------------------- text from the API: the key and escapes

def _echo_key(status: int, as_html: bool = False):
    """A server that puts the Authorization header it got into its answer."""
    from aiohttp import web

    def handler(request):
        header = request.headers.get("Authorization", "")
        if as_html:
            return web.Response(status=status, text=f"<p>header was {header}</p>", content_type="text/html")
        return web.json_response({"error": {"message": f"key {header.split()[-1]} is not valid here ({header})"}},
                                 status=status)
    return ("call", handler)


async def test_a_key_the_server_echoes_is_redacted_from_every_message() -> None:
    import base64
    from urllib.parse import quote

    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY)  # JSON escapes: only the decoded message shows the key
    every_byte = "".join(f"%{ord(c):02x}" for c in KEY)
    basic = base64.b64encode(f"user:{KEY}".encode()).decode()
    scripts = {"bad": [_echo_key(400)], "html": [_echo_key(200, as_html=True)], "down": [_echo_key(503)],
               "moved": [("text", 302, "", {"Location": f"https://evil.example/?k={quote(KEY)}"})],
               "escaped": [("raw", 400, f'{{"error": {{"message": "bad key {escaped}"}}}}'.encode(),
                            {"Content-Type": "application/json"})],
               "encoded": [("text", 302, "", {"Location": f"https://evil.example/?k={every_byte}&b={basic}"})],
               "typed": [("raw", 200, b"<html>", {"Content-Type": f"text/html; key={KEY}"})],
               "charset": [("raw", 200, b"{}", {"Content-Type": f"application/json; charset={KEY}"})],
               # A key split by a bounded read: the 64 KB of an error, the first bytes an odd 2xx shows.
               "cut": [("raw", 400, b" " * (64 * 1024 - 10) + KEY.encode(), {"Content-Type": "text/plain"})],
               "head": [("raw", 200, b" " * 470 + KEY.encode() + b"<html>", {"Content-Type": "text/html"})],
               "refused": [_echo_key(401)]}
    async with ScriptedApi(scripts) as api, api_client(api.base_url, max_attempts=2) as client:
        results = [await client.call("PATCH", f"/{name}", {})
                   for name in ("bad", "html", "down", "moved", "escaped", "encoded", "typed", "charset", "cut",
                                "head")]
        with pytest.raises(KeyRefused) as caught:
            await client.call("PATCH", "/refused", {})
    errors = [r.error for r in results] + [caught.value.result.error, str(caught.value)]
    for error in errors:
        assert KEY not in error and "SECRET" not in error and KEY[:8] not in error, error
        assert every_byte not in error and basic[8:] not in error, error
        assert "****" in error, error
    assert errors[0] == "HTTP 400: key **** is not valid here (Bearer ****)"


async def test_escape_sequences_in_api_messages_are_made_visible() -> None:
    message = "\x1b[2J\x1b]0;owned\x07bad \u202eevil\r\nnext"
    html = ("raw", 200, b"\x1b[2J<html>", {"Content-Type": "text/html"})
    scripts = {"x": [("json", 400, {"error": {"message": message}})], "html": [html]}
    async with ScriptedApi(scripts) as api, api_client(api.base_url, max_attempts=1) as client:
        result = await client.call("PATCH", "/x", {})
        page = await client.call("GET", "/html")
    assert result.error == "HTTP 400: \\x1b[2J\\x1b]0;owned\\x07bad \\u202eevil next"
    assert "\x1b" not in page.error and '"\\x1b[2J<html>"' in page.error


async def test_a_charset_of_the_servers_choosing_is_its_text_too() -> None:
    """aiohttp's own server will not send an escape in a header; a raw one does, in the charset a
    message quotes ("the answer is not … text")."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=x\x1b[2J" + KEY.encode()
                     + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        async with api_client(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", max_attempts=1) as client:
            result = await client.call("GET", "/x")
    finally:
        server.close()
    assert "\x1b" not in result.error and KEY not in result.error
    # How much of the header aiohttp takes for the charset differs by release ("x\x1b" or all of it): either
    # way it is quoted made visible, and the key is masked.
    assert "the answer is not x\\x1b" in result.error and "charset=x\\x1b[2J****" in result.error


def test_printable_and_the_redactor() -> None:
    from bulkcc.send.target import Redactor
    from bulkcc.values import printable

    assert printable("plain text: é ✓") == "plain text: é ✓"
    assert printable("a\x00b\x1bc\x7fd\u200be\n") == "a\\x00b\\x1bc\\x7fd\\u200be\\x0a"
    assert printable("x" * 10, limit=4) == "xxxx… (10 characters)"  # cut, its full length stated
    assert printable("\x1b" * 3, limit=9) == "\\x1b\\x1b… (3 characters)"  # never cut inside an escape
    redact = Redactor([KEY])
    assert redact(f"a {KEY} b Bearer other-token-123 c") == "a **** b Bearer **** c"
    assert redact("Bearer token required") == "Bearer token required"  # prose is left alone
    assert redact("Bearer Settlements, Bearer Instruments") == "Bearer Settlements, Bearer Instruments"  # names too
    assert redact("Bearer abcdefghijklmnopqrstuvwxyz") == "Bearer ****"  # a long token without a digit
    assert Redactor()("nothing to hide") == "nothing to hide"
    # `bulkcc simulate`'s own key is printed by it and is no secret: the word stays readable.
    assert Redactor(["simulator"])("That was the simulator: nothing real was changed.") == \
        "That was the simulator: nothing real was changed."


# ---- calls that are not idempotent (a create) ------------------------------------------

@pytest.mark.parametrize("answer", [("json", 503, {"error": "busy"}), ("drop",), ("sleep", 1.0, OK_ANSWER),
                                    ("raw", 200, b"<html>")])
async def test_a_call_that_is_not_idempotent_is_not_sent_again_after_an_answer_that_may_hide_success(answer):
    async with ScriptedApi({"api/v2/callcenters": [answer, OK_ANSWER]}) as api:
        async with api_client(api.base_url, max_attempts=5, timeout_s=0.3) as client:
            result = await client.call("POST", "/api/v2/callcenters", {"name": "x", "office_id": 1},
                                       idempotent=False)
            assert api.total == 1 and result.attempts == 1
            assert result.unsure and not result.ok and "not sent again" in result.error
            # The same answer to an idempotent call is retried as always.
            again = await client.call("PATCH", "/api/v2/callcenters", {"name": "x"})
            assert again.ok and not again.unsure


async def test_a_429_is_retried_even_for_a_call_that_is_not_idempotent():
    throttled = ("json", 429, {"error": "slow down"}, {"Retry-After": "0"})
    async with ScriptedApi({"api/v2/callcenters": [throttled, OK_ANSWER]}) as api:
        async with api_client(api.base_url, max_attempts=3) as client:
            result = await client.call("POST", "/api/v2/callcenters", {"name": "x", "office_id": 1},
                                       idempotent=False)
            assert result.ok and result.attempts == 2 and api.total == 2 and not result.unsure


# ---- a 403 that is one call's own, and the one choke point for the server's text

SEATS_403 = ("json", 403, {"error": {"message": "No seats remain for this user in the call center"}})
KEY_OK = ("json", 200, {"items": []})


async def test_a_403_is_that_calls_own_failure_when_the_key_works_for_other_calls() -> None:
    scripts = {"api/v2/callcenters/1/operators": [SEATS_403], "api/v2/callcenters": [KEY_OK]}
    async with ScriptedApi(scripts) as api, api_client(api.base_url, max_attempts=5) as client:
        refused = await client.call("POST", "/api/v2/callcenters/1/operators", {"user_id": 7})
        again = await client.call("POST", "/api/v2/callcenters/1/operators", {"user_id": 8})
    assert (refused.ok, refused.http_status, refused.attempts) == (False, 403, 1)  # never retried
    assert refused.error.startswith("HTTP 403: No seats remain") and "the key works for other calls" in refused.error
    assert not again.ok and len(api.arrivals["api/v2/callcenters"]) == 1  # the key check's 2xx is trusted a while
    assert len(api.arrivals["api/v2/callcenters/1/operators"]) == 2


async def test_a_403_is_that_calls_own_failure_when_the_key_cannot_be_checked() -> None:
    """The check of the key gets no clear answer (a 5xx): the key is not called refused, the run goes on,
    and a second 403 soon after does not ask again."""
    scripts = {"api/v2/callcenters/1/operators": [SEATS_403], "api/v2/callcenters": [("json", 503, {})]}
    async with ScriptedApi(scripts) as api, api_client(api.base_url, max_attempts=2) as client:
        refused = await client.call("POST", "/api/v2/callcenters/1/operators", {"user_id": 7})
        again = await client.call("POST", "/api/v2/callcenters/1/operators", {"user_id": 8})
    assert (refused.ok, refused.http_status, refused.attempts) == (False, 403, 1)
    assert "the key could not be checked (HTTP 503" in refused.error and "the run goes on" in refused.error
    assert not again.ok and len(api.arrivals["api/v2/callcenters"]) == 2  # one check (2 attempts), not two


async def test_a_403_stops_the_run_when_the_key_fails_for_every_call() -> None:
    scripts = {"api/v2/callcenters/1/operators": [SEATS_403], "api/v2/callcenters": [SEATS_403]}
    async with ScriptedApi(scripts) as api, api_client(api.base_url) as client:
        with pytest.raises(KeyRefused, match="the API refused the key"):
            await client.call("POST", "/api/v2/callcenters/1/operators", {"user_id": 7})
    assert len(api.arrivals["api/v2/callcenters"]) == 1  # one check of the key, then the stop


async def test_every_string_of_an_answer_is_scrubbed_of_the_key_and_control_characters_where_it_is_decoded() -> None:
    import base64

    answer = {"id": "1", "name": f"\x1b[2J{KEY}\x07", KEY: "a key as a key", "list": [f"Bearer {KEY}", 5, None],
              "tab and line": "a\tb\nc", "deep": "DEEP", "b64": base64.b64encode(KEY.encode()).decode()}
    # The key written with a JSON escape, and nested as deep as the parser takes (the walk is iterative).
    hidden = "\\u00" + f"{ord(KEY[0]):02x}" + KEY[1:]
    raw = json.dumps(answer).replace('"DEEP"', "[" * 900 + f'{{"name": "x{hidden}"}}' + "]" * 900)
    async with ScriptedApi({"x": [("raw", 200, raw.encode(), {"Content-Type": "application/json"})]}) as api, \
            api_client(api.base_url) as client:
        result = await client.call("GET", "/x")
    assert result.ok
    text = json.dumps(result.data)
    assert KEY not in text and "\x1b" not in text and "\x07" not in text
    assert result.data["name"] == "\\x1b[2J****\\x07" and result.data["****"] == "a key as a key"
    assert result.data["list"] == ["Bearer ****", 5, None] and result.data["tab and line"] == "a\tb\nc"
    assert result.data["b64"].startswith("****")  # base64'd: its core is the key's own
