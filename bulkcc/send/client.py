"""One API call, paced and retried: the only place that talks HTTP to Dialpad.

The client is given its session, pacer, retry policy, budget and clock, so tests
and benchmarks drive it against the simulator and measure its pace. What it
retries: 429 (after Retry-After, slowing the whole run), 5xx, timeouts and
dropped connections. What it never retries: any other 4xx, and 3xx (aiohttp
would re-send a PATCH body to whatever host a redirect names). A 401 or 403
raises KeyRefused at once: a refused key must not be hammered.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bulkcc.errors import KeyRefused, RetryBudgetSpent
from bulkcc.send.pacing import Clock, Pacer, RetryBudget, RetryPolicy, Sleep

MAX_ERROR_TEXT = 500


@dataclass
class ApiResult:
    """What became of one call, after all its attempts."""

    ok: bool
    http_status: int | None
    attempts: int
    duration_ms: int
    data: Any = None  # the parsed JSON answer
    error: str | None = None
    started_at: list[float] = field(default_factory=list)  # clock() at each attempt's start


def error_message(status: int, text: str) -> str:
    """The API's own message: JSON error.message, message, or the text itself."""
    try:
        payload = json.loads(text)
    except (ValueError, TypeError):
        payload = None
    message = None
    if isinstance(payload, dict):
        inner = payload.get("error")
        if isinstance(inner, dict):
            message = inner.get("message")
        elif isinstance(inner, str):
            message = inner
        message = message or payload.get("message")
    message = str(message or text or "").strip()
    message = " ".join(message.split())[:MAX_ERROR_TEXT]
    return f"HTTP {status}: {message}" if message else f"HTTP {status}"


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


class ApiClient:
    """Paced, retrying JSON calls to one base URL."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, pacer: Pacer, *,
                 policy: RetryPolicy | None = None, budget: RetryBudget | None = None,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 timeout_s: float = 30.0, rng: random.Random | None = None):
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.pacer = pacer
        self.policy = policy or RetryPolicy()
        self.budget = budget or RetryBudget()
        self.clock = clock
        self.sleep = sleep
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.rng = rng or random.Random()
        self.throttled = 0  # 429 answers seen

    async def call(self, method: str, path: str, body: dict | None = None,
                   stop: asyncio.Event | None = None) -> ApiResult:
        """Make the call, retrying what can be retried; raise KeyRefused on 401/403."""
        result = ApiResult(ok=False, http_status=None, attempts=0, duration_ms=0)
        while True:
            if not await self._turn_or_stop(stop):
                if result.attempts:
                    result.error = f"{result.error} (not retried: the run was stopped)"
                else:
                    result.error = "not sent: the run was stopped"
                break
            result.attempts += 1
            result.started_at.append(self.clock())
            retry_in, timeout = await self._attempt(method, path, body, result)
            if retry_in is None:
                break
            if result.attempts >= self.policy.max_attempts:
                result.error = f"{result.error} (gave up after {result.attempts} attempts)"
                break
            if not self.budget.take(timeout=timeout):
                result.duration_ms = self._since_first_attempt(result)
                raise RetryBudgetSpent(  # this row was sent: it is failed, not "not sent"
                    f"stopped: most requests are failing (last: {result.error}); the retry budget "
                    "is spent, so the API looks down. Rows not yet updated can be sent later with --resume",
                    result=result)
            await self._sleep_unless_stopped(retry_in, stop)
        result.duration_ms = self._since_first_attempt(result)
        if result.ok and result.attempts == 1:
            self.budget.give_back()
        return result

    def _since_first_attempt(self, result: ApiResult) -> int:
        """Milliseconds from the first attempt's start: the call's own time, not its wait for a turn."""
        return int((self.clock() - result.started_at[0]) * 1000) if result.started_at else 0

    async def _sleep_unless_stopped(self, seconds: float, stop: asyncio.Event | None) -> None:
        """Wait before a retry, but not past a stop (a Retry-After may ask for two minutes)."""
        if stop is None:
            await self.sleep(seconds)
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)

    async def _turn_or_stop(self, stop: asyncio.Event | None) -> bool:
        """Wait for the pacer's go; False if the run is stopped first (nothing may start then)."""
        if stop is None:
            await self.pacer.wait_turn()
            return True
        if stop.is_set():
            return False
        turn = asyncio.ensure_future(self.pacer.wait_turn())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({turn, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (turn, stopped):
                task.cancel()
        # Both may be done at once; a stop wins, since the request has not started yet.
        return not stop.is_set() and turn.done() and not turn.cancelled()

    async def _attempt(self, method: str, path: str, body: dict | None,
                       result: ApiResult) -> tuple[float | None, bool]:
        """One attempt; returns (seconds to wait before retrying or None, was it a timeout)."""
        url = self.base_url + path
        try:
            async with self.session.request(method, url, json=body, allow_redirects=False,
                                            timeout=self.timeout) as response:
                text = await response.text()
                status = response.status
                headers = response.headers
        except TimeoutError:
            result.http_status, result.error = None, f"timed out after {self.timeout.total:g} s"
            return self.policy.delay(result.attempts, self.rng), True
        except aiohttp.ClientError as exc:
            # Connection refused, reset or dropped without an answer.
            result.http_status, result.error = None, f"connection failed: {type(exc).__name__}: {exc}"[:300]
            return self.policy.delay(result.attempts, self.rng), False

        result.http_status = status
        if status != 429:
            self.pacer.on_answer()  # the API granted this request: it counts into the measured rate
        if 200 <= status < 300:
            result.ok, result.error = True, None
            try:
                result.data = json.loads(text) if text else None
            except ValueError:
                result.data = None
            return None, False
        result.error = error_message(status, text)
        if status in (401, 403):
            raise KeyRefused(f"the API refused the key ({result.error}); check DIALPAD_API_KEY. "
                            "Nothing more was sent")
        if 300 <= status < 400:
            location = headers.get("Location", "(no Location)")
            result.error = f"HTTP {status}: redirected to {location}; not followed (check --base-url)"
            return None, False
        if status == 429:
            self.throttled += 1
            wait = retry_after_seconds(headers.get("Retry-After"))
            wait = 1.0 if wait is None else wait
            if wait > self.policy.max_retry_after:
                result.error += f" (Retry-After {wait:.0f} s is too long to wait)"
                return None, False
            self.pacer.back_off(wait)
            return max(wait, self.policy.delay(result.attempts, self.rng)), False
        if status >= 500:
            return self.policy.delay(result.attempts, self.rng), False
        return None, False  # other 4xx: the request itself is wrong; retrying won't help
