"""Pacing and retry policy: how fast requests start, and when a failure is retried.

Dialpad allows 1200 requests a minute on this endpoint and 20 a second per
company, shared with the company's other integrations. `Pacer` enforces the
rule "no more than PER_MIN/60 starts in any one-second window, and no more than
PER_MIN in any 60 seconds" with an aiolimiter bucket of just over one start
(see `pace_and_bucket`). A bigger bucket would let a burst through (`AsyncLimiter(20, 1)`
starts 40 in the first second: 20 at once, then 20 more as it drains), which is
exactly what gets a shared budget 429'd. Other integrations use the budget
too: a 429 brings the pace to the rate the API grants (`bulkcc.send.adaptive`),
and a run of them pauses every start until the API's window has room (`Pacer`).
A 429's Retry-After is honoured by the request it answered.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiolimiter import AsyncLimiter

from bulkcc.send.adaptive import AdaptiveRate

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Start times are exact on our side, but arrival times at the API jitter by a few
# milliseconds; pacing 1% under the limit keeps a one-second window at the API
# from ever seeing one request too many.
SAFETY_MARGIN = 0.99
DEFAULT_RATE_PER_MIN = 1200
WINDOW_SECONDS = 1.0  # the API's shortest window
SETTLE_SECONDS = 1.0  # how long a cut takes to show in the API's answers: its shortest window
RUN_LENGTH = 3  # 429s in a row (no grant between) that say the API's window is full for now
PROBE_SECONDS = 0.25  # during a run's pause, one probe this often
STARVED_PAUSES = 2  # pauses in a row with nothing granted between: the others keep the window full; halve
REREAD_SECONDS = 0.05  # the longest a waiting start goes without reading the rate again


def default_concurrency(rate_per_min: int, max_latency_s: float = 1.0) -> int:
    """Enough requests in flight to keep the full rate when answers take up to `max_latency_s`.

    Little's law: in flight = rate x latency; doubled for headroom over slow answers.
    """
    return max(4, int(rate_per_min / 60 * max_latency_s * 2 + 0.999))


def pace_and_bucket(rate_per_min: int, margin: float = SAFETY_MARGIN) -> tuple[float, float, float]:
    """(starts per second, AsyncLimiter capacity, AsyncLimiter period) that never break the limit.

    The rule: at most PER_MIN/60 starts in any one-second window (so at most
    floor(PER_MIN/60), and at least one start must be possible), and at most
    PER_MIN in any 60 seconds. A leaky bucket of capacity c draining at r admits
    at most c + r*T starts in any window of T seconds. With c = 1 a start that
    wakes a millisecond late loses that millisecond for good (we measured 0.973
    of the rate); a capacity a little over one banks such lateness, and keeping
    c + r < per_second + 1 and c + 60r < PER_MIN + 1 keeps both windows within
    the rule, whatever the rate (1000/min allows 16 a second, not 17).
    """
    per_second = max(1, int(rate_per_min // 60))
    pace = min(per_second, rate_per_min / 60) * margin
    slack = min(per_second - pace, rate_per_min - 60 * pace)  # room left in a 1 s and a 60 s window
    capacity = 1 + 0.75 * max(0.0, min(slack, 1.0))
    return pace, capacity, capacity / pace


class Pacer:
    """Starts requests no faster than the limit, and at the rate the API grants when it is shared.

    Two gates, in order: the adaptive rate (`AdaptiveRate`: cut on a 429 to what
    the API granted, grown back along a cubic curve) and the pauses below, which
    only ever delay; then the hard bucket sized by `pace_and_bucket`, which alone
    keeps every 1 s and 60 s window within the configured limit, whatever the
    adaptive rate does.

    Nothing is booked ahead: the next start is due one interval of the rate of
    the moment after the last start (`next_start`), and the waiters queue in
    order behind one head that watches the clock, rereading the rate at least
    every REREAD_SECONDS and once more when its time comes. So a cut, a pause or
    growth reaches the very next start of every waiting worker. (Each worker
    booking its own slot at the rate of the moment it asked, as before, kept
    40 workers on a cut rate for tens of seconds: 38 s of starts booked at
    0.85/s against a limiter that counts refused calls.)

    A run of RUN_LENGTH 429s with no grant between says the API's window is
    full for now (a burst of the other integrations, a token bucket in debt, a
    fixed window used up, a window holding our own refused calls). Every start
    then pauses until that window no longer holds the run's refused starts (one
    second after the last of them, the window's edge, at most), but for one
    probe every PROBE_SECONDS, so that a window that turns over sooner (a fixed
    one, a bucket's debt paid) is found: a granted probe ends the pause.
    """

    def __init__(self, rate_per_min: int, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 margin: float = SAFETY_MARGIN, adaptive: AdaptiveRate | None = None):
        if rate_per_min <= 0:
            raise ValueError("rate_per_min must be positive")
        self.rate_per_sec, capacity, period = pace_and_bucket(rate_per_min, margin)
        self._full_pace = AsyncLimiter(capacity, period)
        self.adaptive = adaptive or AdaptiveRate(self.rate_per_sec, clock=clock)
        self._queue = asyncio.Lock()  # FIFO: only its holder, the head of the queue, watches the clock
        self._clock = clock
        self._sleep = sleep
        self._last_start = float("-inf")
        self._last_granted = float("-inf")  # the latest start the API granted
        self._last_cut = float("-inf")  # when a 429 last cut the adaptive rate
        self._paused_until = float("-inf")  # one interval of the cut rate after a cut
        self._run = 0  # 429s since the API last granted a start made after the run's first refused one
        self._run_first = float("-inf")  # the start of the run's first refused request
        self._run_from = float("-inf")  # when the run's pause began
        self._run_until = float("-inf")  # when the run's pause ends: the API's window no longer holds the run
        self._starved = 0  # pauses in a row with nothing granted between them
        self.pauses = 0  # 429s answered (each one delays the starts)

    def next_start(self) -> float:
        """When the next request may start, by the rate and the pauses of this moment."""
        due = self._paused_until
        rate = self.adaptive.rate
        if rate < self.rate_per_sec:
            due = max(due, self._last_start + 1 / rate)
        if self._run_until > due:  # a run's pause: nothing but a probe now and then (no faster than the rate)
            probe = max(PROBE_SECONDS, 1 / rate)
            due = min(self._run_until, max(due, self._last_start + probe, self._run_from + probe))
        return due

    async def wait_turn(self) -> None:
        """Return when a request may start."""
        async with self._queue:
            while True:
                now = self._clock()
                due = self.next_start()
                if now < due:
                    await self._sleep(min(due - now, REREAD_SECONDS))
                    continue
                # A start on an empty bucket (the run's first, or after a pause) takes the whole
                # bucket: the bank is for starts that woke late, not a head start. Otherwise the
                # second start comes (capacity - 1) / rate early and the first one-second window
                # keeps only a quarter of the 1% margin (~2.5 ms) for arrival jitter at the API.
                full = self._full_pace.max_rate
                await self._full_pace.acquire(full if self._full_pace.has_capacity(full) else 1)
                if self._clock() >= self.next_start():
                    break  # (a 429 or a cut while the bucket held us: look again)
            self._last_start = self._clock()
            self.adaptive.on_start()

    def on_answer(self, started_at: float | None = None) -> None:
        """An answer that was not a 429: the API granted the request started at `started_at`."""
        self.adaptive.on_answer()
        if started_at is None:
            return
        self._last_granted = max(self._last_granted, started_at)
        if started_at > self._run_first:  # granted after the run began: the API's window has room again
            self._run, self._run_until = 0, float("-inf")

    def back_off(self, retry_after: float, started_at: float | None = None) -> None:
        """A 429 for the request started at `started_at`: follow the rate the API grants.

        The throttled request itself waits its Retry-After (the client's job); the other
        starts pause one interval of the cut rate (so the API's window can drain), not the
        whole Retry-After, which idled a shared budget half the time, or the run's pause
        (see the class). The rate is cut once per window, from what the API granted: a 429
        for a request that started before the last cut, or within a second of it while the
        API's window still held the faster starts, tells nothing new (without that, the
        requests in flight at a throttle compounded the cut to a crawl), and with no start
        granted in the last second there is nothing to follow, so the run's pause waits
        instead (a burst of the others, a bucket in debt, would otherwise cut the rate to
        its floor). Either way the rate does not grow while the 429s go on.
        """
        now = self._clock()
        started = started_at if started_at is not None else now
        self.pauses += 1
        self._count_into_run(now, started, retry_after)
        if started < self._last_cut + SETTLE_SECONDS or self._last_granted < now - WINDOW_SECONDS:
            self.adaptive.on_refused(started_at)
            self.adaptive.hold()
            return
        rate = self.adaptive.on_throttle(started_at)
        self._last_cut = now
        self._paused_until = max(self._paused_until, now + min(retry_after, 1 / rate))

    def _count_into_run(self, now: float, started: float, retry_after: float) -> None:
        """Count a 429 into the run of refusals; a long enough run pauses every start (see the class)."""
        if self._run == 0:
            self._run_first = started
        self._run += 1
        if self._run < RUN_LENGTH:
            return
        if self._run_until < now:  # a new pause
            if self._last_granted < self._run_from:  # none granted since the last pause began: still full
                self._starved += 1
                if self._starved >= STARVED_PAUSES:
                    self.adaptive.starve()
            else:
                self._starved = 0
            self._run_from = now
        elif started >= self._run_from:
            return  # a refused probe: the pause still ends when the window no longer holds the run
        # A Retry-After shorter than a probe's interval (0, or an HTTP date already past) is no reason to go
        # on at full pace into a full window: the pause lasts a probe's interval at least.
        self._run_until = max(self._run_until, min(started + WINDOW_SECONDS, now + max(retry_after, PROBE_SECONDS)))


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, a bounded number of attempts."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0  # a longer Retry-After fails the row and stops the run, not stall it

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before attempt `attempt + 1` (attempt counts from 1)."""
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


class RetryBudget:
    """A token bucket of retries, as the AWS SDKs keep: when most requests fail, stop retrying.

    Each retry costs tokens (a timeout more, as it is the most expensive to wait
    for); each success gives one back. An empty bucket means the API is failing
    most of what we send, and the run stops instead of hammering it.
    """

    def __init__(self, capacity: int = 500, retry_cost: int = 5, timeout_cost: int = 10, refund: int = 1):
        self.capacity = capacity
        self.tokens = capacity
        self.retry_cost = retry_cost
        self.timeout_cost = timeout_cost
        self.refund = refund

    def take(self, timeout: bool = False) -> bool:
        cost = self.timeout_cost if timeout else self.retry_cost
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True

    def give_back(self) -> None:
        self.tokens = min(self.capacity, self.tokens + self.refund)


def retry_after_seconds(value: str | None, now: float | None = None, date: str | None = None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date.

    An HTTP date is read against the answer's own `Date` when it has one (as RFC 9110 says), not against
    this machine's clock: a clock a few minutes off would otherwise make "in one second" a wait of minutes
    (a failed row), or "in a minute" no wait at all."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when = _http_date(value)
    if when is None:
        return None
    sent = _http_date(date) if date else None
    return max(0.0, when - (sent if sent is not None else now if now is not None else time.time()))


def _http_date(value: str) -> float | None:
    """An HTTP date as a POSIX time; HTTP dates are GMT, so one without a zone is read as GMT too."""
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        return when.timestamp()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def wait_shown(seconds: float) -> str:
    """A wait a server chose, short enough to read (it may say 1e300 or inf)."""
    if seconds >= 1e7:
        return "more than 100 days"
    return f"{seconds:,.1f}".removesuffix(".0") + " s"  # 120.4 s is over 120 s: not "120 s"
