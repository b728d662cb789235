"""The simulator's rate limit: Dialpad's 1 s and 60 s windows, shared with other integrations.

Dialpad counts every request of the company against one budget, so the
traffic of the company's other integrations takes its share of both windows.
The simulator models that traffic as a steady rate (`background_rps`), either
all the time or only inside a window of the run (`background_window`, in
seconds from the first request the limiter sees), so that a client's adaptive
pacing can be watched reacting to load that comes and goes.

Everything is a function of the `now` passed in, so the windows are tested
without sleeping.
"""

from __future__ import annotations

import bisect
import math


def _overlap(low: float, high: float, start: float, end: float) -> float:
    """The length of (low, high] ∩ [start, end]."""
    return max(0.0, min(high, end) - max(low, start))


class SlidingWindowLimiter:
    """Counts admitted requests in the last second and the last minute.

    A request is refused when admitting it would put more than `per_minute / 60`
    (at least 1) requests in the window (t-1, t], or more than `per_minute` in
    (t-60, t]. Refused requests do not count: a client that waits as told gets
    through.

    `background_rps` is the traffic of other integrations of the same company:
    in a window (t-w, t] it takes `background_rps` times the part of that window
    it ran in. With `background_window` (A, B) it runs from A to B seconds after
    the first request; without, all the time. Its share of the minute window
    outlives the load by up to 60 s, as the real requests would.
    """

    def __init__(self, per_minute: int, background_rps: float = 0.0,
                 background_window: tuple[float, float] | None = None) -> None:
        self.per_second_limit = max(1.0, per_minute / 60)
        self.per_minute_limit = float(per_minute)
        self.background_rps = background_rps
        self.background_window = background_window
        self.origin: float | None = None  # the time of the first request: the window counts from it
        self._admitted: list[float] = []  # arrival times, ascending, at most 60 s old

    def _background(self, now: float, window: float) -> float:
        """Requests of the other integrations in (now - window, now]."""
        if not self.background_rps:
            return 0.0
        if self.background_window is None:
            return self.background_rps * window
        start, end = self.background_window
        origin = self.origin if self.origin is not None else now
        return self.background_rps * _overlap(now - window, now, origin + start, origin + end)

    def limits(self, now: float) -> tuple[float, float]:
        """What is left for us of the 1 s and the 60 s budget at `now`."""
        return (self.per_second_limit - self._background(now, 1.0),
                self.per_minute_limit - self._background(now, 60.0))

    def admit(self, now: float) -> float | None:
        """None if the request at `now` is admitted, else seconds until it would be."""
        if self.origin is None:
            self.origin = now
        per_second, per_minute = self.limits(now)
        del self._admitted[: bisect.bisect_right(self._admitted, now - 60)]
        in_last_second = self._admitted[bisect.bisect_right(self._admitted, now - 1):]
        waits = []
        if len(in_last_second) + 1 > per_second:
            waits.append(self._wait(in_last_second, per_second, 1, now))
        if len(self._admitted) + 1 > per_minute:
            waits.append(self._wait(self._admitted, per_minute, 60, now))
        if waits:
            return max(waits)
        self._admitted.append(now)
        return None

    @staticmethod
    def _wait(times: list[float], limit: float, window: float, now: float) -> float:
        # Enough of the oldest arrivals must leave the window to make room for one more
        # (at today's share: a background load that ends sooner frees room sooner).
        must_leave = len(times) + 1 - max(math.floor(limit), 0)
        if must_leave > len(times):
            return window  # the budget is all taken by background traffic
        return times[must_leave - 1] + window - now
