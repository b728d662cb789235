"""Pacing and retry policy: how fast requests start, and when a failure is retried.

Dialpad allows 1200 requests a minute on this endpoint and 20 a second per
company, shared with the company's other integrations. `Pacer` enforces the
rule "no more than PER_MIN/60 starts in any one-second window, and no more than
PER_MIN in any 60 seconds" with an aiolimiter bucket of just over one start
(see `pace_and_bucket`). A bigger bucket would let a burst through (`AsyncLimiter(20, 1)`
starts 40 in the first second: 20 at once, then 20 more as it drains), which is
exactly what gets a shared budget 429'd. A 429 pauses every start until its
Retry-After has passed, and the pace follows the rate the API grants
(`bulkcc.send.adaptive`), since other integrations are evidently using the
budget too. (A 429's Retry-After is honoured by the request it answered.)
"""

from __future__ import annotations

import asyncio
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
SETTLE_SECONDS = 1.0  # the API's shortest window: how long a cut takes to show in its answers


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

    Two gates, in order: the adaptive rate (`AdaptiveRate`: measured from the
    answers, cut on a 429, grown back along a cubic curve), which only ever
    delays; then the hard bucket sized by `pace_and_bucket`, which alone keeps
    every 1 s and 60 s window within the configured limit, whatever the
    adaptive rate does. A 429 also pauses every start for its Retry-After.
    """

    def __init__(self, rate_per_min: int, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 margin: float = SAFETY_MARGIN, adaptive: AdaptiveRate | None = None):
        if rate_per_min <= 0:
            raise ValueError("rate_per_min must be positive")
        self.rate_per_sec, capacity, period = pace_and_bucket(rate_per_min, margin)
        self._full_pace = AsyncLimiter(capacity, period)
        self.adaptive = adaptive or AdaptiveRate(self.rate_per_sec, clock=clock)
        self._next_adaptive_start = 0.0
        self._paused_until = 0.0
        self._last_cut = float("-inf")  # when a 429 last cut the adaptive rate
        self._clock = clock
        self._sleep = sleep
        self.pauses = 0

    async def wait_turn(self) -> None:
        """Return when a request may start."""
        while True:
            now = self._clock()
            if now < self._paused_until:
                await self._sleep(self._paused_until - now)
                continue
            rate = self.adaptive.rate
            if rate < self.rate_per_sec:
                # Spaced starts at the adaptive rate: each caller books the next slot.
                slot = max(now, self._next_adaptive_start)
                self._next_adaptive_start = slot + 1 / rate
                if slot > now:
                    await self._sleep(slot - now)
            # A start on an empty bucket (the run's first, or after a pause) takes the whole
            # bucket: the bank is for starts that woke late, not a head start. Otherwise the
            # second start comes (capacity - 1) / rate early and the first one-second window
            # keeps only a quarter of the 1% margin (~2.5 ms) for arrival jitter at the API.
            full = self._full_pace.max_rate
            await self._full_pace.acquire(full if self._full_pace.has_capacity(full) else 1)
            if self._clock() >= self._paused_until:
                self.adaptive.on_start()
                return  # a 429 during our wait re-pauses: go round again

    def on_answer(self) -> None:
        """An answer that was not a 429 (the API granted the request)."""
        self.adaptive.on_answer()

    def back_off(self, retry_after: float, started_at: float | None = None) -> None:
        """A 429: follow the rate the API grants; the throttled request itself waits its Retry-After.

        The other starts pause one slot of the cut rate (so the API's window can drain),
        not the whole Retry-After: that one is for the request it answered, and pausing
        everyone for it (a second, rounded up) idled a shared budget half the time.
        A 429 for a request that started before the last cut, or within a second of it while
        the API's one-second window still held the faster starts, tells nothing new, so it does
        not cut again: without that, the requests in flight at a throttle would compound the
        cut to a crawl.
        """
        now = self._clock()
        if started_at is not None and started_at < self._last_cut + SETTLE_SECONDS:
            self.adaptive.on_refused(started_at)
            self.pauses += 1
            return
        rate = self.adaptive.on_throttle(started_at)
        self._last_cut = now
        # One slot of the cut rate before the next start, so the API's window can drain.
        self._paused_until = max(self._paused_until, now + min(retry_after, 1 / rate))
        self._next_adaptive_start = max(self._next_adaptive_start, self._paused_until)
        self.pauses += 1


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, a bounded number of attempts."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0  # a longer Retry-After fails the row rather than stall the run

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
