"""One API call, paced and retried: the only place that talks HTTP to Dialpad.

The client is given its session, pacer, retry policy, budget and clock, so tests
and benchmarks drive it against the simulator and measure its pace. What it
retries: 429 (after Retry-After, slowing the whole run; a Retry-After over the
policy's 120 s stops the run, `ThrottledTooLong`), 5xx (after a 503's Retry-After), timeouts and
dropped connections, and a 2xx whose body is not a JSON object (an HTML page
from a proxy, broken or empty JSON, a list): that is no verified answer, and a
PATCH or GET may be sent again. What it never retries: any other 4xx, and 3xx
(aiohttp would re-send a PATCH body to whatever host a redirect names). A 401
or 403 raises KeyRefused at once, carrying the refused call as failed: a
refused key must not be hammered. The one 403 that is no refusal of the key is
a license error (adding an operator when no call center license is left,
`is_license_error`): that call fails on its own, unretried, and the run goes on.

A 403 that is no license error is the key's refusal only if the key fails for
every call: unless a call got a 2xx in the last `KEY_TRUST_S` seconds, the client
asks the API one harmless question (`GET /api/v2/callcenters?limit=1`, shared by
every 403 that arrives meanwhile); a 2xx to it proves the key works, and the
refused call fails on its own (a seat, a permission, a center the key may not
touch), never retried; so does it when the check gets no clear answer (a 5xx, a
timeout: the key is not known to fail, and the answer is kept for a while). A 401,
or a 403 when the key check is refused too, stops the run.

A call that is not idempotent (a create: `idempotent=False`) is never sent
again after an attempt that may have taken effect: a timeout, a connection
dropped after it was made, a 5xx, a 2xx that is no JSON object, a redirect
(a 303 after a POST means "done, see there"). It returns
`unsure` instead, and the caller finds out what happened (a create looks its
call center up by name, `bulkcc.run.creates`). A 429 and a connection that
could not even be opened are refusals before anything was done, so those are
retried as for any call.

Everything an answer says is treated as hostile: bodies are read only up to a
bound (a 10 MB error page or a gzip bomb cannot fill memory); every string of a
2xx answer is scrubbed of the key, its control characters made visible, where it
is decoded and before anything stores it (`bulkcc.send.scrub`, the one choke
point); and text of an error answer reaches a message only so redacted and
`printable`, so no server can have the key written anywhere or drive the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bulkcc.errors import KeyRefused, RetryBudgetSpent, RunStopped, ThrottledTooLong
from bulkcc.send.answers import (
    MAX_ANSWER_BYTES,
    MAX_ERROR_BYTES,
    SHOWN_BYTES,
    decoded,
    error_message,
    is_license_error,
    not_an_object,
    parse_object,
    read_bounded,
)
from bulkcc.send.pacing import Clock, Pacer, RetryBudget, RetryPolicy, Sleep, retry_after_seconds, wait_shown
from bulkcc.send.scrub import needs_scrub, scrub
from bulkcc.send.target import Redactor
from bulkcc.values import printable

KEY_TRUST_S = 30.0  # a 2xx this recent proves the key works: a 403 meanwhile is that call's own
LATER = "Run the command again later (an apply's --resume sends only the rows not yet updated)"
KEY_CHECK_PATH = "/api/v2/callcenters?limit=1"  # a GET every key that can use bulkcc may make


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
    # The last attempt may have taken effect though no answer says so (timeout, dropped, 5xx, no JSON):
    # a call that is not idempotent is then not retried (see `ApiClient.call`).
    unsure: bool = False
    retry_after: float | None = None  # what the last attempt's Retry-After asked to wait, in seconds


class ApiClient:
    """Paced, retrying JSON calls to one base URL."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, pacer: Pacer, *,
                 policy: RetryPolicy | None = None, budget: RetryBudget | None = None,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 timeout_s: float = 30.0, rng: random.Random | None = None,
                 redact: Redactor | None = None):
        # aiohttp sends a GET, PUT or DELETE once more, unseen, when its connection drops (RFC 9112's retry
        # on a persistent connection): a start no pacer granted (40 in a second from 20 paced starts, and one
        # attempt recorded for two sent). Our own retry sends it again, paced and counted.
        session._retry_connection = False
        # A turn is taken only with a connection free: a call granted its start, then queued for one of
        # the pool's connections, went out with the others queued when answers came back together (50 in
        # one second from starts paced at 20). So a call holds a connection of the pool from before its
        # turn until its answer is read (not while it waits to retry, nor while a 403 checks the key).
        connector = getattr(session, "connector", None)  # (a test's stand-in may have none)
        limits = [n for n in (getattr(connector, "limit", 0), getattr(connector, "limit_per_host", 0)) if n]
        self._connections = asyncio.Semaphore(min(limits)) if limits else None  # one host: the lower bound
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
        self.requests_sent = 0  # every attempt that went out, reads, writes and retries alike
        self._key_worked_at: float | None = None  # clock() of the last 2xx
        # The last check of the key (a 403 asked): True works, False refused, or why it is not known.
        self._key_check: asyncio.Future[bool | str] | None = None
        self._key_checked_at = 0.0
        # API text is redacted where it enters: by default of the key the session sends.
        self.redact = redact or Redactor([_bearer_key(session)])

    async def call(self, method: str, path: str, body: dict | None = None,
                   stop: asyncio.Event | None = None, *, idempotent: bool = True,
                   checking_key: bool = False) -> ApiResult:
        """Make the call, retrying what can be retried; raise KeyRefused on 401/403.

        With `idempotent=False` an attempt that may have taken effect is not retried: the
        result is `unsure` (see the module's docstring)."""
        result = ApiResult(ok=False, http_status=None, attempts=0, duration_ms=0)
        while True:
            slot = _Slot(self._connections)
            try:
                await slot.take()
                if not await self._turn_or_stop(stop):
                    if result.attempts:
                        result.error = f"{result.error} (not retried: the run was stopped)"
                    else:
                        result.error = "not sent: the run was stopped"
                    break
                result.attempts += 1
                self.requests_sent += 1
                result.started_at.append(self.clock())
                result.unsure, result.retry_after = False, None
                retry_in, timeout = await self._attempt(method, path, body, result, slot,
                                                        checking_key=checking_key)
            finally:
                slot.give_back()
            if retry_in is None:
                break
            if result.unsure and not idempotent:
                result.error = f"{result.error} (not sent again: it may have been done, and it is not idempotent)"
                break  # (a create's caller looks for it, whatever a Retry-After says)
            self._stop_if_too_long(result)
            if result.attempts >= self.policy.max_attempts:
                result.error = f"{result.error} (gave up after {result.attempts} attempts)"
                break
            if not self.budget.take(timeout=timeout):
                result.duration_ms = self._since_first_attempt(result)
                why = ("the API refuses most requests as too many: the company's 20 a second look taken by "
                       "other integrations" if result.http_status == 429 else "the API looks down")
                raise RetryBudgetSpent(  # this row was sent: it is failed, not "not sent"
                    f"most requests are failing (last: {result.error}); the retry budget "
                    f"is spent, so {why}. {LATER}",
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

    async def _key_works(self) -> bool | str:
        """Whether the key works for other calls (see the module's docstring): True (a recent 2xx, or one to a
        harmless GET asked now), False (that GET was refused too), or why it is not known (the GET got no
        clear answer: a 5xx, a timeout). One check at a time: every 403 that comes meanwhile waits for it,
        and one that was not known is not asked again for a while (a down API is not hammered)."""
        if self._key_worked_at is not None and self.clock() - self._key_worked_at <= KEY_TRUST_S:
            return True
        last = self._key_check
        unknown_lately = last is not None and last.done() and isinstance(last.result(), str) \
            and self.clock() - self._key_checked_at <= KEY_TRUST_S
        if last is None or (last.done() and not unknown_lately):
            async def check() -> bool | str:
                result = await self.call("GET", KEY_CHECK_PATH, checking_key=True)
                self._key_checked_at = self.clock()
                if result.ok or result.http_status in (401, 403):
                    return result.ok
                return result.error or "no answer"
            self._key_check = last = asyncio.ensure_future(check())
        return await asyncio.shield(last)

    async def _attempt(self, method: str, path: str, body: dict | None, result: ApiResult, slot: _Slot, *,
                       checking_key: bool = False) -> tuple[float | None, bool]:
        """One attempt; returns (seconds to wait before retrying or None, was it a timeout)."""
        url = self.base_url + path
        try:
            async with self.session.request(method, url, json=body, allow_redirects=False,
                                            timeout=self.timeout) as response:
                status = response.status
                headers = response.headers
                ok_status = 200 <= status < 300
                raw, cut = await read_bounded(response, MAX_ANSWER_BYTES if ok_status else MAX_ERROR_BYTES)
                charset = response.charset
        except TimeoutError:
            result.http_status, result.error = None, f"timed out after {self.timeout.total:g} s"
            result.unsure = True
            return self.policy.delay(result.attempts, self.rng), True
        except (aiohttp.ClientError, OSError) as exc:
            # Connection refused, reset, or dropped without an answer or in the middle of one.
            text = printable(self.redact(f"{type(exc).__name__}: {exc}"), limit=300)
            result.http_status, result.error = None, f"connection failed: {text}"
            # A connection never opened sent nothing; one dropped after it was open may have.
            result.unsure = not isinstance(exc, aiohttp.ClientConnectorError)
            return self.policy.delay(result.attempts, self.rng), False
        finally:
            slot.give_back()  # the connection is back in the pool: what follows may call again (a key check)

        result.http_status = status
        if status != 429:
            # The API granted this request: it counts into the measured rate, and ends a run of 429s.
            self.pacer.on_answer(result.started_at[-1] if result.started_at else None)
        if ok_status:
            return self._answer(result, raw, cut, charset, headers.get("Content-Type"))
        text = decoded(raw, charset)
        result.error = error_message(status, self.redact.cut(text) if cut else self.redact(text), self.redact)
        if status in (401, 403) and checking_key:
            return None, False  # the key check's own refusal: `_key_works` says no
        if status in (401, 403) and not is_license_error(result.error):
            try:
                works = await self._key_works() if status == 403 else False
            except RunStopped as exc:  # the key's check stopped the run: this call's own 403 is what it records
                raise type(exc)(exc.message, result=result) from exc
            if works is not False:
                whether = ("the key works for other calls" if works is True else
                           f"the key could not be checked ({works}), so the run goes on")
                result.error += (f" ({whether}: only this call was refused; not retried. Check what the message "
                                 "says, e.g. seats or permissions, then re-run with --only-failed)")
                return None, False
            result.duration_ms = self._since_first_attempt(result)
            raise KeyRefused(f"the API refused the key ({result.error}); check DIALPAD_API_KEY. "
                             "Nothing more was sent", result=result)
        if 300 <= status < 400:
            location = printable(self.redact(headers.get("Location", "(no Location)")), limit=300)
            result.error = f"HTTP {status}: redirected to {location}; not followed (check --base-url)"
            result.unsure = True  # a 303 after a POST says it was done (see there): a create is looked for
            return None, False
        # Two Retry-After headers (a proxy's and the API's): the longest wait either asks for.
        asked = [retry_after_seconds(value, date=headers.get("Date")) for name, value in headers.items()
                 if name.lower() == "retry-after"]
        retry_after = max((s for s in asked if s is not None), default=None)
        if status == 429:
            self.throttled += 1
            wait = 1.0 if retry_after is None else retry_after
            self.pacer.back_off(wait, started_at=result.started_at[-1] if result.started_at else None)
            result.retry_after = wait
            return max(wait, self.policy.delay(result.attempts, self.rng)), False
        if status >= 500:
            result.unsure = True  # a 5xx may come after the work was done (a proxy's timeout)
            delay = self.policy.delay(result.attempts, self.rng)
            if retry_after is not None:  # a 503 of maintenance or overload says when to come back
                result.retry_after = retry_after
                delay = max(delay, retry_after)
            return delay, False
        return None, False  # other 4xx: the request itself is wrong; retrying won't help

    def _stop_if_too_long(self, result: ApiResult) -> None:
        """A Retry-After longer than the policy waits: the row fails, and the run stops (with the pacer told,
        as for any 429). Every other request would be refused the same; going on sent them all at full pace,
        each to be refused (a quota spent for the hour, a maintenance window)."""
        wait = result.retry_after
        if wait is None or wait <= self.policy.max_retry_after:
            return
        result.error = f"{result.error} (Retry-After {wait_shown(wait)} is too long to wait)"
        result.duration_ms = self._since_first_attempt(result)
        raise ThrottledTooLong(
            f"the API asks to wait {wait_shown(wait)} before sending again (Retry-After), longer than "
            f"the {self.policy.max_retry_after:g} s bulkcc waits. {LATER}", result=result)

    def _answer(self, result: ApiResult, raw: bytes, cut: bool, charset: str | None,
                content_type: str | None) -> tuple[float | None, bool]:
        """A 2xx: a success only with a JSON object; anything else is retried like a 5xx."""
        status = result.http_status or 200
        if cut:
            data, why = None, f"the answer is larger than {MAX_ANSWER_BYTES >> 20} MiB"
        else:
            data, why = parse_object(raw, charset)
            why = printable(self.redact(why), limit=200)  # it may quote the charset: the server's text
        if data is None:
            result.ok, result.data = False, None
            shown = self.redact.cut(decoded(raw[:4 * SHOWN_BYTES], charset))
            kind = printable(self.redact(content_type or ""), limit=80)  # a header: the server's text too
            result.error = not_an_object(status, kind, raw, shown, why)
            result.unsure = True  # the API said yes, but to what is not known
            return self.policy.delay(result.attempts, self.rng), False
        if needs_scrub(decoded(raw, charset), self.redact):
            data = scrub(data, self.redact)  # the one choke point: nothing reads the answer before this
        result.ok, result.error, result.data = True, None, data
        self._key_worked_at = self.clock()
        return None, False


class _Slot:
    """One of the session pool's connections, held by a call from before its turn until its answer is read."""

    def __init__(self, free: asyncio.Semaphore | None) -> None:
        self._free, self._held = free, False

    async def take(self) -> None:
        if self._free is not None:
            await self._free.acquire()
            self._held = True

    def give_back(self) -> None:
        if self._held and self._free is not None:
            self._held = False
            self._free.release()


def _bearer_key(session: aiohttp.ClientSession) -> str | None:
    """The key in the session's `Authorization: Bearer KEY` header, if any."""
    value = session.headers.get("Authorization", "")
    if not value.startswith("Bearer "):
        return None
    return value[len("Bearer "):].strip() or None
