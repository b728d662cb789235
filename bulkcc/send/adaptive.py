"""The rate Dialpad actually grants, measured from its answers and followed (AWS SDK "adaptive" mode).

Dialpad's 20 requests a second are shared with the company's other
integrations, so the rate bulkcc may use changes while it runs. As the AWS
SDKs' adaptive retry mode does, a client-side rate is measured from the answers
(successful answers per second, smoothed over half-second buckets), cut to
`beta` of it on a throttle, and grown back along a cubic curve (CUBIC, as TCP
congestion control): slowly near the rate that was last throttled, quickly once
well past it. It never exceeds the configured ceiling; the pacer's hard bucket
keeps the 1 s and 60 s windows whatever this rate says.

The rate a throttle cuts from is what the API granted in its last second:
our own starts in that second, less those it refused (exact, from our clock),
rather than the smoothed answer rate, which lags a change by a second or more
and so cut deeper than needed (0.87 of the rate left to us, against 0.92-0.95
now; bench/bench_shared_budget.py). With that plateau known, the cut need not be as deep as the AWS SDKs'
0.7 (0.85 here), and growth back can be quicker than the AWS SDKs' C = 0.4: at 0.7 the full rate is back 0.7-2.4 s after
the other load stops (4.1-4.6 s at 0.4), for the same number of 429s.

Everything is a function of the injected clock, so the curve is tested without
sleeping.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]

BETA = 0.85  # a throttle cuts the rate to 85% of what was granted (AWS SDKs: 0.7; see above)
SCALE = 0.7  # CUBIC's C: how fast the rate grows back (AWS SDKs: 0.4; see above)
SMOOTH = 0.8  # weight of the newest half-second bucket in the measured rate
BUCKET_SECONDS = 0.5
MIN_RATE = 0.5  # requests per second: never stall completely


class AdaptiveRate:
    """The client-side rate in requests per second: `rate`, between MIN_RATE and `ceiling`."""

    def __init__(self, ceiling: float, *, clock: Clock = time.monotonic, beta: float = BETA,
                 scale: float = SCALE) -> None:
        self.ceiling = ceiling
        self.clock = clock
        self.beta = beta
        self.scale = scale
        self.measured = 0.0  # answered requests per second, smoothed
        self.throttles = 0
        self._rate = ceiling
        self._last_max = ceiling  # the rate at the last throttle: the plateau of the cubic curve
        self._last_throttle: float | None = None
        self._bucket_start = clock()
        self._bucket_count = 0
        self._starts: deque[float] = deque()  # our starts in the last second (the API's short window)

    @property
    def rate(self) -> float:
        """The rate to start requests at now (grows with time since the last throttle)."""
        if self._last_throttle is None:
            return self._rate
        elapsed = self.clock() - self._last_throttle
        k = (self._last_max * (1 - self.beta) / self.scale) ** (1 / 3)
        cubic = self.scale * (elapsed - k) ** 3 + self._last_max
        # Growth is bounded by twice what the API was last seen to grant, as the AWS SDKs do,
        # so a long quiet period does not license a burst far above any measured rate.
        bound = max(2 * self.measured, self._rate)
        return max(MIN_RATE, min(self.ceiling, cubic, bound))

    def on_start(self) -> None:
        """A request started: the API's one-second window holds it for a second."""
        now = self.clock()
        self._starts.append(now)
        while self._starts and self._starts[0] <= now - 1.0:
            self._starts.popleft()

    def on_refused(self, started_at: float | None) -> None:
        """A start the API answered with a 429: it was not granted, so it leaves the count."""
        if started_at is None or not self._starts:
            return
        # The client reads its clock just after the pacer let it start: the start nearest it is its own.
        nearest = min(self._starts, key=lambda t: abs(t - started_at))
        if abs(nearest - started_at) < 0.05:
            self._starts.remove(nearest)

    def on_answer(self) -> None:
        """An answer that was not a throttle: count it into the measured rate."""
        self._measure()
        self._bucket_count += 1

    def on_throttle(self, started_at: float | None = None) -> float:
        """A 429: remember the rate that was too much and cut to beta of what was granted."""
        self._measure()
        self.on_refused(started_at)
        current = self.rate
        # What the API was granting when it said "too many": the starts its one-second window
        # held and granted (exact, from our own clock), not the smoothed answer rate, which lags a cut by a
        # second or more and so cut too deep. The answers stand in before a second of starts.
        now = self.clock()
        started = sum(1 for t in self._starts if t > now - 1.0)
        if started and self._starts[0] <= now - 0.5:
            granted = min(current, float(started))
        else:
            granted = min(current, self.measured) if self.measured > 0 else current
        self._last_max = granted  # the plateau: what the API was granting when it said "too many"
        self._rate = max(MIN_RATE, granted * self.beta)
        self._last_throttle = self.clock()
        self.throttles += 1
        return self._rate

    def _measure(self) -> None:
        now = self.clock()
        elapsed = now - self._bucket_start
        if elapsed >= BUCKET_SECONDS:
            latest = self._bucket_count / elapsed
            self.measured = latest * SMOOTH + self.measured * (1 - SMOOTH)
            self._bucket_start, self._bucket_count = now, 0
