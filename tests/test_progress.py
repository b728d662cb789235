"""The progress a run shows: the rate it claims, and what it counts as failed or mismatched.

The progress takes a clock, so these tests set the time themselves: no sleeps,
no timing assertions.
"""

from __future__ import annotations

import io

from bulkcc.run.progress import LineProgress, QuietProgress
from bulkcc.status import Status


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _worst_case_starts(per_second: int, seconds: int) -> list[float]:
    """As many starts as the pacer's rule ever allows (per_second in any one second), bunched at each second."""
    return [second + 0.001 * k for second in range(seconds) for k in range(per_second)]


def test_the_rate_shown_never_exceeds_what_the_pacer_allows() -> None:
    clock = FakeClock()
    progress = QuietProgress(clock)
    progress.start(10_000, "test")
    shown = []
    # Answers come back in bunches, each telling its start: the old done/elapsed showed up to 2002/min here.
    for start in _worst_case_starts(per_second=20, seconds=30):
        clock.now = start + 0.0005
        progress.advance(Status.UPDATED, [start])
        shown.append(progress.rate_per_min())
        clock.now = start + 0.9  # and when nothing finishes for a while
        shown.append(progress.rate_per_min())
    assert max(shown) <= 1200, max(shown)
    assert shown[-1] >= 1200 * 0.9  # and it does show the rate the pacer holds


def test_the_rate_counts_retries_and_follows_a_slowdown() -> None:
    clock = FakeClock()
    progress = QuietProgress(clock)
    progress.start(100, "test")
    for second in range(10):
        clock.now = second + 0.5
        progress.advance(Status.UPDATED, [second + 0.1, second + 0.2])  # one retry each: two starts
    assert progress.rate_per_min() == 2 * 60  # 20 starts over the last 10 s
    clock.now = 29.5  # nothing for 20 s (a 429's Retry-After)
    assert progress.rate_per_min() == 0
    assert QuietProgress(clock).rate_per_min() == 0  # nothing started yet


def test_the_progress_line_counts_mismatch_as_mismatch() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    progress = LineProgress(stream, every=5.0, clock=clock)
    progress.start(6, "http://127.0.0.1:1")
    for n, status in enumerate([Status.UPDATED, Status.FAILED, Status.MISMATCH, Status.MISMATCH]):
        clock.now = 0.1 * n
        progress.advance(status, [0.1 * n])
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "sending 6 requests to http://127.0.0.1:1"
    assert lines[-1].startswith("4/6 done, 1 failed, 2 mismatch, ")


def test_a_reading_phase_is_announced_as_reading() -> None:
    stream = io.StringIO()
    progress = LineProgress(stream, clock=FakeClock())
    progress.start(250, "http://127.0.0.1:1", phase="reading")
    progress.advance("read", [0.0])
    progress.close()
    assert stream.getvalue().splitlines() == ["reading 250 live call centers from http://127.0.0.1:1",
                                              "1/250 done, 0 failed, 60/min, about 249 s left"]
