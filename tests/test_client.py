"""The retrying client, on scripted APIs and the simulator: what is retried, what is given up, what stops a run."""

from __future__ import annotations

import asyncio
import time

import pytest
from support import (
    KEY,
    OK_ANSWER,
    ScriptedApi,
    api_client,
    simulator,
    wait_until,
)

from bulkcc.errors import (
    EXIT_ABORTED,
    KeyRefused,
    RetryBudgetSpent,
)
from bulkcc.send.pacing import RetryBudget
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


