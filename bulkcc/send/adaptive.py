"""The rate Dialpad actually grants, measured from its answers and followed (AWS SDK "adaptive" mode).

Dialpad's 20 requests a second are shared with the company's other
integrations, so the rate bulkcc may use changes while it runs. As the AWS
SDKs' adaptive retry mode does, a client-side rate is cut on a throttle and
grown back along a cubic curve (CUBIC, as TCP congestion control): slowly near
the rate that was last throttled, quickly once well past it. It never exceeds
the configured ceiling; the pacer's hard bucket keeps the 1 s and 60 s windows
whatever this rate says.

The rate a throttle cuts from is what the API granted in its last second:
our own starts in that second, less those it refused (exact, from our clock),
rather than the smoothed answer rate, which lags a change by a second or more
and so cut deeper than needed. With that plateau known, the cut need not be
as deep as the AWS SDKs' 0.7 (0.85 here), and growth back can be quicker than
their C = 0.4 (0.7 here). A cut keeps MAX_CUT of the rate at least, and while
429s go on the rate does not grow (`hold`). Each of these was measured
against four models of Dialpad's limiter, with and without it
(bench/bench_shared_budget.py; the README's "Measured").

Everything is a function of the injected clock, so the curve is tested without
sleeping.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]

BETA = 0.85  # a throttle cuts the rate to 85% of what was granted (AWS SDKs: 0.7; see above)
SCALE = 0.7  # CUBIC's C: how fast the rate grows back (AWS SDKs: 0.4; see above)
MAX_CUT = 0.5  # one cut keeps at least half the rate (see on_throttle)
SMOOTH = 0.8  # weight of the newest half-second bucket in the measured rate
BUCKET_SECONDS = 0.5
MIN_RATE = 0.5  # requests per second: never stall completely
GROWTH_BOUND = 2.0  # growth never goes past this times the measured rate (as the AWS SDKs bound it)


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
        self._rate = ceiling  # the rate at the last cut (or hold)
        self._last_max = ceiling  # the plateau of the cubic curve: what was granted at the last throttle
        self._k = 0.0  # seconds from the last cut until the curve reaches the plateau (negative: past it)
        self._last_throttle: float | None = None
        self._bucket_start = clock()
        self._bucket_count = 0
        self._starts: deque[float] = deque()  # our starts in the last second (the API's short window)
        self._first_start: float | None = None

    @property
    def rate(self) -> float:
        """The rate to start requests at now (grows with time since the last throttle)."""
        if self._last_throttle is None:
            return self._rate
        elapsed = self.clock() - self._last_throttle
        cubic = self.scale * (elapsed - self._k) ** 3 + self._last_max
        # Growth is bounded by twice what the API was last seen to grant, as the AWS SDKs do,
        # so a long quiet period does not license a burst far above any measured rate.
        bound = max(GROWTH_BOUND * self.measured, self._rate)
        return max(MIN_RATE, min(self.ceiling, cubic, bound))

    def on_start(self) -> None:
        """A request started: the API's one-second window holds it for a second."""
        now = self.clock()
        if self._first_start is None:
            self._first_start = now
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

    def granted(self) -> float:
        """What the API granted us in its last second: our starts, less those it refused."""
        now = self.clock()
        if self._first_start is None or self._first_start > now - 0.5:  # the answers stand in at first
            return self.measured if self.measured > 0 else self.rate
        return float(sum(1 for t in self._starts if t > now - 1.0))

    def on_throttle(self, started_at: float | None = None) -> float:
        """A 429: remember what was granted when the API said "too many", and cut to beta of it.

        The cut keeps MAX_CUT of the rate at least: a second that the API refused whole (a
        window holding our own refused calls, a burst of the others) grants almost nothing,
        and following that to the floor left a run at about one request a second for tens of
        seconds. The curve then starts flat at the cut rate, rather than steeply back
        towards the rate that was refused.
        """
        self._measure()
        self.on_refused(started_at)
        current = self.rate
        granted = min(current, self.granted())
        rate = max(MIN_RATE, granted * self.beta, current * MAX_CUT)
        self._last_max = max(granted, rate)  # the plateau of the curve
        self._set(rate)
        self.throttles += 1
        return self._rate

    def hold(self) -> None:
        """The API is still refusing (429s from before the cut showed, or a run of them): no growth yet.

        The curve starts over from the rate of now, towards a plateau no higher than that rate:
        growth resumes once the 429s stop, and slowly at first (flat), unless the rate had
        already grown past the plateau of the last cut, where it goes on probing as it was.
        """
        if self._last_throttle is not None:
            rate = self.rate
            self._last_max = min(self._last_max, rate)
            self._set(rate)

    def starve(self) -> None:
        """Run after run of 429s with nothing granted between: the others keep all but a little of the API's
        window, and going back to the held rate after each pause refilled it (a limiter that counts refused
        calls was kept full for good). Halve the rate, to the floor at most; the curve starts flat there."""
        rate = max(MIN_RATE, min(self.rate, self.ceiling) * MAX_CUT)
        self._last_max = rate
        self._set(rate)
        self.throttles += 1

    def _set(self, rate: float) -> None:
        """Start the curve at `rate` now, towards the plateau (or, above it, on past it)."""
        self._rate = rate
        gap = (self._last_max - rate) / self.scale
        self._k = math.copysign(abs(gap) ** (1 / 3), gap)
        self._last_throttle = self.clock()

    def _measure(self) -> None:
        now = self.clock()
        elapsed = now - self._bucket_start
        if elapsed >= BUCKET_SECONDS:
            latest = self._bucket_count / elapsed
            self.measured = latest * SMOOTH + self.measured * (1 - SMOOTH)
            self._bucket_start, self._bucket_count = now, 0
