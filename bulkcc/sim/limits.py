"""The simulator's rate limit: Dialpad's 20 a second and 1200 a minute, shared with other integrations.

Nobody outside Dialpad knows how its limiter counts, so the simulator offers
several models (`LIMITERS`, `bulkcc simulate --limiter`), and a client's pacing
is measured against each (bench/bench_shared_budget.py):

* `sliding-granted` (the default): sliding 1 s and 60 s windows counting the
  calls it granted; a refused call does not count, so a client that waits as
  told gets through;
* `sliding-all`: the same windows counting every call, refused ones too, so
  each 429 costs a slot and a client that keeps knocking keeps the door shut;
* `token-bucket`: a bucket of PER_MIN/60 tokens refilled at PER_MIN/60 a
  second, which the other integrations' calls can put in debt, and a sliding
  60 s window of granted calls;
* `fixed-window`: 1 s and 60 s windows that start at the first request and
  reset on the second, counting granted calls.

The company's other integrations (`OtherLoad`) take their share of every model:
a steady rate or bursts of many calls at once, all the time or only inside a
window of the run (seconds from the first request the limiter sees). Their
calls always count, as the API took them; the sliding windows hold their share
for as long as real calls would stay in them.

Everything is a function of the `now` passed in, so the models are tested, and
a client's pacing measured, without sleeping.
"""

from __future__ import annotations

import bisect
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

_EPS = 1e-9  # float slack when a burst falls exactly on a window's edge


def _overlap(low: float, high: float, start: float, end: float) -> float:
    """The length of (low, high] ∩ [start, end]."""
    return max(0.0, min(high, end) - max(low, start))


@dataclass(frozen=True)
class OtherLoad:
    """The traffic of the company's other integrations on the same budget.

    `rate` requests a second, from `window[0]` to `window[1]` seconds after the
    first request (always, without a window); with `burst` N they come N at
    once, every N / rate seconds from the window's start (a burst at its very
    start), instead of evenly.
    """

    rate: float = 0.0
    window: tuple[float, float] | None = None
    burst: int = 0

    def _span(self, origin: float) -> tuple[float, float]:
        if self.window is None:
            return origin, math.inf
        return origin + self.window[0], origin + self.window[1]

    def count(self, origin: float, low: float, high: float) -> float:
        """Their requests in (low, high]."""
        if self.rate <= 0 or high <= low:
            return 0.0
        start, end = self._span(origin)
        if not self.burst:
            return self.rate * _overlap(low, high, start, end)
        return self.burst * len(self.bursts(origin, low, high))

    def bursts(self, origin: float, low: float, high: float) -> list[float]:
        """The times of their bursts in (low, high] (none for a steady load)."""
        if self.rate <= 0 or not self.burst or high <= low:
            return []
        start, end = self._span(origin)
        period = self.burst / self.rate
        k = max(0, math.floor((low - start) / period) - 1)
        times = []
        while (t := start + k * period) <= high and t < end:
            if t > low:
                times.append(t)
            k += 1
        return times

    def steady_rate(self, origin: float, t: float) -> float:
        """Their steady rate at `t` (0 between bursts, and for a burst load)."""
        if self.rate <= 0 or self.burst:
            return 0.0
        start, end = self._span(origin)
        return self.rate if start <= t < end else 0.0

    def edges(self, origin: float, low: float, high: float) -> list[float]:
        """Where their load changes in (low, high): the window's ends and the bursts."""
        if self.rate <= 0:
            return []
        start, end = self._span(origin)
        points = [t for t in (start, end) if low < t < high]
        return sorted(set(points + [t for t in self.bursts(origin, low, high) if t < high]))


class Limiter(ABC):
    """What every model shares: the limits, the other load, and the clock's origin (the first request).

    `admit(now)` answers a request: None if it is admitted, else the seconds until
    one would be (a 429's Retry-After). `check(now)` asks the same without
    sending anything (an oracle that knows the limiter uses it).
    """

    name = ""

    def __init__(self, per_minute: int, other: OtherLoad | None = None) -> None:
        self.per_second_limit = max(1.0, per_minute / 60)
        self.per_minute_limit = float(per_minute)
        self.other = other or OtherLoad()
        self.origin: float | None = None  # the time of the first request: the load's window counts from it

    def _start(self, now: float) -> float:
        if self.origin is None:
            self.origin = now
        return self.origin

    @abstractmethod
    def check(self, now: float) -> float | None: ...

    @abstractmethod
    def admit(self, now: float) -> float | None: ...


def _wait(times: list[float], limit: float, window: float, now: float) -> float:
    """Until enough of the oldest `times` leave (t-window, t] to make room for one more."""
    must_leave = len(times) + 1 - max(math.floor(limit), 0)
    if must_leave > len(times):
        return window  # the budget is all taken by the other load
    return times[must_leave - 1] + window - now


class SlidingWindowLimiter(Limiter):
    """Counts calls in the last second (t-1, t] and the last minute (t-60, t].

    A request is refused when admitting it would put more than `per_minute / 60`
    (at least 1) calls in the last second, or more than `per_minute` in the last
    minute, the other load's included. With `count_refused` a refused call counts
    too (`sliding-all`); without, only granted ones do (`sliding-granted`).
    """

    def __init__(self, per_minute: int, other: OtherLoad | None = None, *, count_refused: bool = False) -> None:
        super().__init__(per_minute, other)
        self.count_refused = count_refused
        self.name = "sliding-all" if count_refused else "sliding-granted"
        self._counted: list[float] = []  # arrival times, ascending, at most 60 s old

    def limits(self, now: float) -> tuple[float, float]:
        """What is left for us of the 1 s and the 60 s budget at `now`."""
        origin = self._start(now)
        return (self.per_second_limit - self.other.count(origin, now - 1, now),
                self.per_minute_limit - self.other.count(origin, now - 60, now))

    def check(self, now: float) -> float | None:
        per_second, per_minute = self.limits(now)
        del self._counted[: bisect.bisect_right(self._counted, now - 60)]
        in_last_second = self._counted[bisect.bisect_right(self._counted, now - 1):]
        waits = []
        if len(in_last_second) + 1 > per_second:
            waits.append(_wait(in_last_second, per_second, 1, now))
        if len(self._counted) + 1 > per_minute:
            waits.append(_wait(self._counted, per_minute, 60, now))
        return max(waits) if waits else None

    def admit(self, now: float) -> float | None:
        wait = self.check(now)
        if wait is None or self.count_refused:
            self._counted.append(now)
        return wait


class FixedWindowLimiter(Limiter):
    """Counts granted calls in fixed windows of 1 s and 60 s that start at the first request.

    A window's count starts over at its end, so a client can start the limit's
    worth at the end of one window and as many again at the start of the next.
    """

    name = "fixed-window"

    def __init__(self, per_minute: int, other: OtherLoad | None = None) -> None:
        super().__init__(per_minute, other)
        self._granted: list[float] = []  # ascending, within the current minute window

    def check(self, now: float) -> float | None:
        origin = self._start(now)
        waits = []
        for window, limit in ((1.0, self.per_second_limit), (60.0, self.per_minute_limit)):
            start = origin + window * math.floor((now - origin) / window + _EPS)
            ours = len(self._granted) - bisect.bisect_left(self._granted, start - _EPS)
            if ours + self.other.count(origin, start - 1e-6, now) + 1 > limit:
                waits.append(start + window - now)
        return max(waits) if waits else None

    def admit(self, now: float) -> float | None:
        wait = self.check(now)
        if wait is None:
            origin = self._start(now)
            minute = origin + 60 * math.floor((now - origin) / 60 + _EPS)
            del self._granted[: bisect.bisect_left(self._granted, minute - _EPS)]
            self._granted.append(now)
        return wait


class TokenBucketLimiter(Limiter):
    """A bucket of `per_minute / 60` tokens refilled at `per_minute / 60` a second, and a 60 s window.

    A granted call takes a token; a refused one takes none. The other load takes
    its tokens whether any are left or not, so a burst can put the bucket in
    debt, and nothing is granted until the refill has paid it back. The 60 s
    window counts granted calls (the other load's included) as the sliding model's does.
    """

    name = "token-bucket"

    def __init__(self, per_minute: int, other: OtherLoad | None = None) -> None:
        super().__init__(per_minute, other)
        self.refill = per_minute / 60
        self.capacity = self.per_second_limit
        self.tokens = self.capacity
        self._at: float | None = None  # the time `tokens` was computed for
        self._granted: list[float] = []  # ascending, at most 60 s old: the minute window

    def _advance(self, now: float) -> None:
        origin = self._start(now)
        if self._at is None:
            self._at = origin
            self.tokens -= self.other.count(origin, origin - 1, origin)  # a burst at the very first request
        if now <= self._at:
            return
        low = self._at
        for high in [*self.other.edges(origin, low, now), now]:
            net = self.refill - self.other.steady_rate(origin, low)
            grown = self.tokens + net * (high - low)
            self.tokens = min(self.capacity, grown) if net >= 0 else grown  # debt is allowed, a surplus is not
            self.tokens -= self.other.count(origin, high - 1e-6, high) if self.other.burst else 0.0
            low = high
        self._at = now

    def check(self, now: float) -> float | None:
        self._advance(now)
        origin = self._start(now)
        minute_left = self.per_minute_limit - self.other.count(origin, now - 60, now)
        del self._granted[: bisect.bisect_right(self._granted, now - 60)]
        waits = []
        if len(self._granted) + 1 > minute_left:
            waits.append(_wait(self._granted, minute_left, 60, now))
        if self.tokens < 1 - _EPS:
            net = self.refill - self.other.steady_rate(origin, now)
            waits.append((1 - self.tokens) / net if net > 0 else 1.0)
        return max(waits) if waits else None

    def admit(self, now: float) -> float | None:
        wait = self.check(now)
        if wait is None:
            self.tokens -= 1
            self._granted.append(now)
        return wait


LIMITERS = ("sliding-granted", "sliding-all", "token-bucket", "fixed-window")
DEFAULT_LIMITER = "sliding-granted"


def make_limiter(name: str, per_minute: int, other: OtherLoad | None = None) -> Limiter:
    """The model called `name` (one of LIMITERS)."""
    if name == "sliding-granted":
        return SlidingWindowLimiter(per_minute, other)
    if name == "sliding-all":
        return SlidingWindowLimiter(per_minute, other, count_refused=True)
    if name == "token-bucket":
        return TokenBucketLimiter(per_minute, other)
    if name == "fixed-window":
        return FixedWindowLimiter(per_minute, other)
    raise ValueError(f"unknown limiter {name!r}: expected one of {', '.join(LIMITERS)}")
