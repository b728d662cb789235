"""The simulator's models of Dialpad's rate limit, on their own: pure functions of the time, no sleeping.

Each model is checked for the rule that sets it apart (what counts, when room
comes back, what a 429's wait says), the other integrations' load (steady or
in bursts, inside a window of the run) is checked to take its share of each,
and `bulkcc simulate --limiter` offers exactly these models.
"""

from __future__ import annotations

import pytest

from bulkcc.sim.limits import (
    DEFAULT_LIMITER,
    LIMITERS,
    FixedWindowLimiter,
    OtherLoad,
    SlidingWindowLimiter,
    TokenBucketLimiter,
    make_limiter,
)


def admitted(limiter, times: list[float]) -> list[bool]:
    return [limiter.admit(t) is None for t in times]


def test_sliding_windows_are_half_open() -> None:
    limiter = SlidingWindowLimiter(per_minute=60)  # 1 per second
    assert limiter.admit(0.0) is None
    assert limiter.admit(0.4) == pytest.approx(0.6)
    assert limiter.admit(1.0) is None  # (0, 1] no longer holds t=0
    minute = SlidingWindowLimiter(per_minute=3)
    assert [minute.admit(t) for t in (0.0, 1.5, 3.0)] == [None, None, None]
    assert minute.admit(4.5) == pytest.approx(55.5)
    assert minute.admit(60.0) is None


def test_a_refused_call_costs_nothing_in_sliding_granted_but_a_slot_in_sliding_all() -> None:
    granted, every = make_limiter("sliding-granted", 60), make_limiter("sliding-all", 60)  # 1 per second
    knocks = [0.0, 0.5, 1.2, 1.6]  # the knock at 0.5 is refused by both
    assert admitted(granted, knocks) == [True, False, True, False]  # (0.2, 1.2] holds only the grant at 0
    # Counting the refused knock at 0.5, the window (0.2, 1.2] is full: 1.2 is refused too, and counted,
    # and so is 1.6: the next room is after the last refused knock has left (2.6), however long that goes on.
    assert admitted(every, knocks) == [True, False, False, False]
    assert every.admit(2.61) is None


def test_the_other_load_takes_its_share_of_a_sliding_window() -> None:
    limiter = SlidingWindowLimiter(per_minute=120, other=OtherLoad(1))  # 2/s, 1 of them taken
    assert limiter.admit(0.0) is None
    assert limiter.admit(0.1) is not None


def test_the_other_load_window_counts_from_the_first_request() -> None:
    limiter = SlidingWindowLimiter(per_minute=120, other=OtherLoad(1, (10, 20)))  # 2/s
    first, second, third = (limiter.admit(t) for t in (50.0, 50.1, 50.2))
    assert first is None and second is None and third is not None and limiter.origin == 50.0
    assert limiter.admit(51.5) is None and limiter.admit(51.6) is None  # before the window: 2/s
    assert limiter.admit(61.0) is None
    assert limiter.admit(61.1) is not None  # inside it: 1/s left


def test_bursts_come_all_at_once_at_the_load_rate_inside_its_window() -> None:
    load = OtherLoad(10, (6, 14), burst=40)  # 40 at once every 4 s
    assert load.bursts(0, -1, 100) == [6.0, 10.0]  # 14 is the window's end: no burst there
    assert load.count(0, 5.9, 6.0) == 40 and load.count(0, 6.0, 9.9) == 0 and load.count(0, 0, 100) == 80
    assert OtherLoad(10, burst=40).bursts(100.0, 99.0, 108.5) == [100.0, 104.0, 108.0]  # always: from the first
    assert OtherLoad(0, burst=40).count(0, 0, 100) == 0 and OtherLoad(8, (6, 14)).count(0, 5, 7) == 8


def test_a_burst_fills_a_sliding_window_for_a_second() -> None:
    limiter = make_limiter("sliding-granted", 1200, OtherLoad(10, (2, 10), burst=40))  # 20/s
    assert limiter.admit(0.0) is None
    assert limiter.admit(2.0) == pytest.approx(1.0)  # 40 of the others' in (1, 2]
    assert limiter.admit(2.99) is not None
    assert limiter.admit(3.0) is None


def test_a_token_bucket_grants_its_burst_then_its_refill_rate() -> None:
    limiter = TokenBucketLimiter(600)  # 10 tokens, 10 a second
    assert admitted(limiter, [0.0] * 11) == [True] * 10 + [False]
    assert limiter.admit(0.0) == pytest.approx(0.1)
    assert admitted(limiter, [0.1, 0.15, 0.2]) == [True, False, True]


def test_the_other_load_puts_a_token_bucket_in_debt() -> None:
    limiter = TokenBucketLimiter(600, OtherLoad(5, (1, 9), burst=20))  # bursts of 20 at 1, 5 (and 9 is the end)
    assert limiter.admit(0.0) is None  # 9 tokens left
    assert limiter.admit(1.0) == pytest.approx(1.1)  # 10 - 20 = -10: 1.1 s of refill to a whole token again
    assert limiter.tokens == pytest.approx(-10)
    assert limiter.admit(2.05) is not None and limiter.admit(2.1) is None
    steady = TokenBucketLimiter(600, OtherLoad(8))  # 8 of the 10 a second: the bucket refills at 2/s
    assert admitted(steady, [0.0] * 10) == [True] * 10
    assert steady.admit(0.0) == pytest.approx(0.5)


def test_fixed_windows_start_over_at_their_edge() -> None:
    limiter = FixedWindowLimiter(600)  # 10 a second, windows [0, 1), [1, 2) … from the first request
    assert admitted(limiter, [0.0] + [0.9] * 9) == [True] * 10
    assert limiter.admit(0.95) == pytest.approx(0.05)  # full until the window's edge
    assert admitted(limiter, [1.0] * 10) == [True] * 10  # 19 in (0.5, 1.5]: a fixed window allows it
    assert limiter.admit(1.5) is not None


def test_fixed_windows_count_the_other_load_so_far() -> None:
    limiter = FixedWindowLimiter(600, OtherLoad(8))  # the others' 8 a second arrive through each window
    assert admitted(limiter, [0.0, 0.0]) == [True, True]
    assert admitted(limiter, [0.5] * 5) == [True, True, True, True, False]  # 2 + 4 + 8 x 0.5 = 10
    assert limiter.admit(0.99) is not None and limiter.admit(1.0) is None


@pytest.mark.parametrize("name", LIMITERS)
def test_every_model_keeps_the_minute_too(name: str) -> None:
    limiter = make_limiter(name, 120)  # 2 a second, 120 a minute
    times = [k * 0.5 for k in range(120)]  # 120 in 59.5 s: 2 a second
    assert all(admitted(limiter, times))
    if name != "fixed-window":  # the fixed minute turns over at 60 s
        assert limiter.admit(59.75) is not None
    assert limiter.admit(60.0) is None or name == "sliding-all"


def test_the_limiter_is_chosen_by_name() -> None:
    assert DEFAULT_LIMITER == "sliding-granted"
    assert {make_limiter(name, 1200).name for name in LIMITERS} == set(LIMITERS)
    with pytest.raises(ValueError, match="sliding-all"):
        make_limiter("leaky", 1200)


def test_bulkcc_simulate_offers_exactly_the_models() -> None:
    from bulkcc.cli.simulate import LIMITERS as OFFERED

    assert OFFERED == LIMITERS
