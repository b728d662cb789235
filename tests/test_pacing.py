"""The pacer, retry policy and retry budget on their own: no HTTP, real time (the whole file takes ~8 s).

The rule under test is the issue's: no more than PER_MIN/60 starts in any
one-second window and no more than PER_MIN in any 60 s, while still going at
(nearly) the allowed rate. Windows are counted the strict way: for every start
t, the starts in [t, t + 1).
"""

from __future__ import annotations

import asyncio
import bisect
import random
import time

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkcc.send.adaptive import BETA, MAX_CUT, MIN_RATE, AdaptiveRate
from bulkcc.send.pacing import (
    PROBE_SECONDS,
    REREAD_SECONDS,
    RUN_LENGTH,
    SAFETY_MARGIN,
    WINDOW_SECONDS,
    Pacer,
    RetryBudget,
    RetryPolicy,
    default_concurrency,
    pace_and_bucket,
)
from bulkcc.sim.limits import LIMITERS, OtherLoad, make_limiter
from bulkcc.sim.virtual import Arrival, LimiterSession, run_virtual


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most starts in any half-open window [t, t + window) that begins at a start."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


def achieved_per_sec(times: list[float]) -> float:
    times = sorted(times)
    return (len(times) - 1) / (times[-1] - times[0])


async def start_times(pacer: Pacer, n: int) -> list[float]:
    """n tasks all waiting for their turn at once, as the worker pool does; the moment each may start."""
    times: list[float] = []

    async def one() -> None:
        await pacer.wait_turn()
        times.append(time.monotonic())

    await asyncio.gather(*(one() for _ in range(n)))
    return times


def test_max_in_window_counts_half_open_windows() -> None:
    assert max_in_window([0.0, 0.5, 0.999, 1.0]) == 3
    assert max_in_window([0.0, 1.0, 2.0]) == 1
    assert max_in_window([]) == 0


async def test_1200_per_minute_never_more_than_20_in_a_second_and_close_to_20_per_second() -> None:
    times = await start_times(Pacer(1200), 60)
    assert len(times) == 60
    assert max_in_window(times) <= 20
    rate = achieved_per_sec(times)
    assert rate >= 0.95 * 20, f"achieved {rate:.2f}/s of 20/s allowed"
    assert rate <= 20
    # The 1% margin is kept in the very first window too (no head start on an empty bucket):
    # 21 starts span at least 20 intervals of 1/19.8 s, so arrival jitter of a few ms cannot
    # put 21 into one second at the API.
    times.sort()
    assert times[20] - times[0] >= 20 / (20 * SAFETY_MARGIN) - 0.003


async def test_60_per_minute_spaces_starts_a_second_apart() -> None:
    times = sorted(await start_times(Pacer(60), 4))
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(gap >= 1.0 - 0.001 for gap in gaps), gaps
    assert max_in_window(times) == 1


async def test_sequential_callers_also_keep_the_pace() -> None:
    """One caller in a loop (a worker whose request returns at once) gets no burst either."""
    pacer = Pacer(600)
    times = []
    for _ in range(11):
        await pacer.wait_turn()
        times.append(time.monotonic())
    assert max_in_window(times) <= 10
    assert achieved_per_sec(times) >= 0.95 * 10
    assert times[10] - times[0] >= 10 / (10 * SAFETY_MARGIN) - 0.003  # the margin holds from the first start


async def granted_start(pacer: Pacer) -> float:
    """One start that the API granted (a cut follows what the API grants: there must be some)."""
    await pacer.wait_turn()
    started = time.monotonic()
    pacer.on_answer(started)
    return started


async def test_a_429_spaces_every_start_at_the_cut_rate_without_idling_for_its_retry_after() -> None:
    pacer = Pacer(6000)  # 99 a second
    await granted_start(pacer)
    throttled_at = time.monotonic()
    pacer.back_off(0.3, started_at=throttled_at)  # the throttled request itself waits its 0.3 s (the client's job)
    times = sorted(await start_times(pacer, 4))  # four callers waiting at once: none slips through
    assert pacer.pauses == 1
    assert times[0] - throttled_at < 0.3  # the others did not idle for the Retry-After
    # Spaced at the cut rate, no burst: the k-th start comes no sooner than k + 1 slots of the cut rate
    # after the 429. (Against the 429, not the previous start: a start that wakes late on a loaded
    # machine shortens the gap to the next one, which was booked on time, without any burst.)
    cut = 100 * SAFETY_MARGIN * BETA
    assert all(t - throttled_at >= 0.95 * (k + 1) / cut for k, t in enumerate(times)), times


async def test_a_429_for_a_request_sent_before_the_cut_does_not_cut_again() -> None:
    pacer = Pacer(1200)
    sent_before = await granted_start(pacer)
    pacer.back_off(1.0, started_at=sent_before)
    cut = pacer.adaptive.rate
    pacer.back_off(1.0, started_at=sent_before)  # in flight at the first 429: it says nothing new
    pacer.back_off(1.0, started_at=time.monotonic())  # sent while the API's window held the faster starts
    assert pacer.adaptive.rate == cut and pacer.adaptive.throttles == 1 and pacer.pauses == 3


async def test_after_a_429_the_pace_is_slower_for_a_while() -> None:
    pacer = Pacer(1200)
    pacer.back_off(0.0, started_at=await granted_start(pacer))
    times = await start_times(pacer, 6)
    assert achieved_per_sec(times) <= BETA * 20 * 1.05  # cut to BETA of the rate it had


def test_a_non_positive_rate_is_refused() -> None:
    with pytest.raises(ValueError):
        Pacer(0)


@settings(max_examples=examples(300), deadline=None)
@given(per_min=st.integers(min_value=1, max_value=100_000))
def test_the_bucket_can_never_break_the_limit(per_min: int) -> None:
    """A leaky bucket of capacity c draining at r admits at most c + r*T starts in T seconds.

    Counts are whole: at most floor(PER_MIN/60) starts in a second (at least one must fit)
    holds when c + r < floor + 1, and at most PER_MIN in 60 s when c + 60r < PER_MIN + 1.
    """
    pace, capacity, period = pace_and_bucket(per_min)
    per_second = max(1, per_min // 60)
    assert capacity >= 1  # one start must always fit
    assert capacity / period == pytest.approx(pace)
    assert capacity + pace < per_second + 1
    assert capacity + 60 * pace < per_min + 1
    assert pace >= SAFETY_MARGIN * min(per_second, per_min / 60) * 0.999  # and no slower than the margin asks


@pytest.mark.parametrize(("per_min", "per_second"), [(1200, 20), (1000, 16), (600, 10), (90, 1), (30, 1), (6000, 100)])
def test_the_bucket_fits_whole_starts_in_a_second(per_min: int, per_second: int) -> None:
    pace, capacity, _ = pace_and_bucket(per_min)
    assert int(capacity + pace) <= per_second  # 1000/min allows 16 a second, not 17


def test_default_concurrency_covers_the_rate_times_the_latency() -> None:
    assert default_concurrency(1200) == 40  # 20/s x 1 s x 2
    assert default_concurrency(60) == 4  # never fewer than 4
    assert default_concurrency(6000, max_latency_s=0.4) == 80


def test_retry_delays_are_bounded_and_their_caps_grow() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(1)
    worst = {}
    for attempt in range(1, 9):
        delays = [policy.delay(attempt, rng) for _ in range(400)]
        cap = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > 0.9 * cap  # full jitter spans its whole range
        worst[attempt] = max(delays)
    # Caps 0.5, 1, 2, 4, then flat at max_delay.
    assert worst[1] < worst[2] < worst[3] < worst[4]
    assert all(worst[a] <= policy.max_delay for a in range(4, 9))


def test_retry_delays_never_exceed_max_delay_however_many_attempts() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    rng = random.Random(2)
    assert all(policy.delay(attempt, rng) <= 30.0 for attempt in range(1, 60) for _ in range(20))


def test_retry_budget_runs_out_and_successes_refund_it() -> None:
    budget = RetryBudget(capacity=12, retry_cost=5, timeout_cost=10, refund=1)
    assert budget.take() and budget.take()  # 12 -> 7 -> 2
    assert budget.tokens == 2
    assert not budget.take()  # a retry costs 5: refused, and nothing taken
    assert budget.tokens == 2
    for _ in range(3):
        budget.give_back()
    assert budget.tokens == 5
    assert budget.take()
    assert not budget.take(timeout=True)
    for _ in range(100):
        budget.give_back()
    assert budget.tokens == 12  # never above capacity
    assert budget.take(timeout=True)  # a timeout costs 10
    assert budget.tokens == 2


# ---- the adaptive rate (AWS SDK adaptive mode), on a fake clock: no sleeping ----------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def answers(rate: AdaptiveRate, clock: FakeClock, per_second: float, seconds: float) -> None:
    """The API grants `per_second` answers for `seconds` (and the client started no faster)."""
    for _ in range(int(per_second * seconds)):
        clock.now += 1 / per_second
        rate.on_answer()


def test_a_throttle_cuts_the_rate_to_beta_of_what_was_granted() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(19.8, clock=clock)
    answers(rate, clock, 12, 5)  # another integration takes 8 of the 20 a second
    assert rate.rate == 19.8
    rate.on_throttle()
    assert rate.rate == pytest.approx(BETA * 12, rel=0.05)


def starts(rate: AdaptiveRate, clock: FakeClock, per_second: float, seconds: float) -> list[float]:
    """The client starts `per_second` requests for `seconds`; every one is answered."""
    times = []
    for _ in range(int(per_second * seconds)):
        clock.now += 1 / per_second
        rate.on_start()
        rate.on_answer()
        times.append(clock.now)
    return times


def test_a_throttle_cuts_from_the_starts_the_api_granted_in_its_last_second_not_the_lagging_answer_rate() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(19.8, clock=clock)
    starts(rate, clock, 19.8, 5)  # alone on the budget: the smoothed answer rate is ~19.8
    clock.now += 0.01  # (so that float sums do not put the last of those in the next second)
    refused = starts(rate, clock, 14, 1)[-2:]  # another integration took 6 of the 20: we started 14 a second
    rate.on_refused(refused[0])  # two of that second's starts were refused: 12 were granted
    rate.on_throttle(refused[1])
    assert rate.rate == pytest.approx(BETA * 12, abs=0.2)  # not BETA * 19.8 (answers lag), nor BETA * 14


def test_after_a_throttle_the_rate_grows_back_along_the_cubic_curve_to_the_ceiling() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(19.8, clock=clock)
    answers(rate, clock, 19.8, 3)
    rate.on_throttle()
    seen = []
    for _ in range(40):  # the other integration stopped: every answer is granted at the rate asked
        per_second = rate.rate
        answers(rate, clock, per_second, 0.25)
        seen.append(rate.rate)
    assert seen == sorted(seen)  # never cut without a throttle
    assert max(seen) == 19.8  # back to the ceiling, never above it
    back = next(i for i, r in enumerate(seen) if r >= 0.95 * 19.8)
    assert back * 0.25 <= 5.0  # within 5 s of the throttle


def test_the_adaptive_rate_never_exceeds_the_ceiling_nor_stalls() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(10, clock=clock)
    for _ in range(50):
        rate.on_throttle()
        clock.now += 0.01
    assert MIN_RATE <= rate.rate <= 10
    clock.now += 3600
    answers(rate, clock, 10, 2)
    assert rate.rate <= 10


# ---- on a virtual clock: the pacer's reaction to a change, and every limiter model, without sleeping ----

class SetRate:
    """An adaptive rate the test sets by hand (the pacer's `adaptive` argument)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def on_start(self) -> None: ...

    def on_answer(self) -> None: ...

    def on_refused(self, started_at: float | None) -> None: ...

    def hold(self) -> None: ...

    def on_throttle(self, started_at: float | None = None) -> float:
        return self.rate


def test_a_rate_change_reaches_every_waiting_worker_at_its_very_next_start() -> None:
    """Ten workers wait all the time; nothing they wait for was booked at the rate of the moment they asked."""
    async def scenario() -> tuple[list[float], float, float]:
        loop = asyncio.get_running_loop()
        rate = SetRate(2.0)
        pacer = Pacer(1200, clock=loop.time, adaptive=rate)  # type: ignore[arg-type]
        starts: list[float] = []

        async def worker() -> None:
            while True:
                await pacer.wait_turn()
                starts.append(loop.time())

        workers = [asyncio.create_task(worker()) for _ in range(10)]
        await asyncio.sleep(3.1)  # 2 a second: the ten are all waiting, again and again
        rate.rate, grown = 15.0, loop.time()
        await asyncio.sleep(1.0)
        rate.rate, cut = 1.0, loop.time()
        await asyncio.sleep(3.5)
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        return starts, grown, cut

    starts, grown, cut = run_virtual(scenario())
    slow = [t for t in starts if t < grown]
    fast = [t for t in starts if grown <= t < cut]
    after = [t for t in starts if t >= cut]
    assert len(slow) == 7 and all(b - a == pytest.approx(0.5, abs=1e-3) for a, b in zip(slow, slow[1:], strict=False))
    # Growth: the next start comes at the new rate (checked again within 50 ms), not at a slot booked at 2/s.
    assert fast[0] - grown <= REREAD_SECONDS + 1e-3
    assert len(fast) >= 14
    assert all(b - a == pytest.approx(1 / 15, abs=1e-3) for a, b in zip(fast, fast[1:], strict=False))
    # A cut: the very next start is one interval of the new rate after the last one, and so on.
    assert after[0] - fast[-1] == pytest.approx(1.0, abs=1e-3)
    assert all(b - a == pytest.approx(1.0, abs=1e-3) for a, b in zip(after, after[1:], strict=False))


def test_a_run_of_429s_pauses_every_start_but_a_probe_until_the_window_edge_at_most() -> None:
    async def scenario() -> tuple[list[float], float]:
        loop = asyncio.get_running_loop()
        pacer = Pacer(1200, clock=loop.time)
        starts = [loop.time()]  # granted
        await pacer.wait_turn()
        pacer.on_answer(starts[0])
        await asyncio.sleep(0.05)
        refused = [loop.time() + 0.01 * k for k in range(3)]
        await asyncio.sleep(0.1)
        for t in refused:  # three 429s in a row, for starts after the last grant: the window is full
            pacer.back_off(1.0, started_at=t)
        for _ in range(4):
            await pacer.wait_turn()
            starts.append(loop.time())
            pacer.back_off(1.0, started_at=starts[-1])  # each probe refused too
        return starts[1:], refused[-1]

    probes, last_refused = run_virtual(scenario())
    # One probe every PROBE_SECONDS, and nothing else starts ...
    assert [round(b - a, 3) for a, b in zip(probes, probes[1:3], strict=False)] == [PROBE_SECONDS] * 2
    # ... until the API's window no longer holds the run (its last refused start + 1 s), whatever the refused
    # probes: the window's edge at most. Then the starts go at the adaptive rate again.
    assert probes[3] == pytest.approx(last_refused + WINDOW_SECONDS, abs=1e-3)
    assert probes[3] - probes[2] < PROBE_SECONDS


def test_a_grant_ends_a_run_pause_at_once() -> None:
    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        pacer = Pacer(1200, clock=loop.time)
        await pacer.wait_turn()
        pacer.on_answer(loop.time())
        await asyncio.sleep(0.2)
        for k in range(3):
            pacer.back_off(1.0, started_at=loop.time() - 0.1 + 0.01 * k)
        await pacer.wait_turn()  # the probe
        probe = loop.time()
        pacer.on_answer(probe)  # granted: a fixed window turned over, or a bucket's debt is paid
        await pacer.wait_turn()
        return loop.time() - probe

    assert run_virtual(scenario()) < 0.1  # the next start comes at the rate, not at the pause's end


def test_with_nothing_granted_in_the_last_second_a_429_does_not_cut() -> None:
    """A burst of the others, or a bucket in debt, refuses a whole second: that is no rate to follow."""
    async def scenario() -> tuple[float, float, int]:
        loop = asyncio.get_running_loop()
        pacer = Pacer(1200, clock=loop.time)
        await pacer.wait_turn()
        pacer.on_answer(loop.time())
        await asyncio.sleep(1.5)
        pacer.back_off(1.0, started_at=loop.time() - 0.1)
        held = pacer.adaptive.rate
        await asyncio.sleep(0.1)
        pacer.on_answer(loop.time() - 0.05)
        pacer.back_off(1.0, started_at=loop.time())
        return held, pacer.adaptive.rate, pacer.adaptive.throttles

    held, cut, throttles = run_virtual(scenario())
    assert held == pytest.approx(19.8) and throttles == 1 and cut < held


def test_a_cut_keeps_half_the_rate_at_least() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(19.8, clock=clock)
    for _ in range(20):  # a second of starts, all of them refused (a window holding refused calls)
        clock.now += 0.05
        rate.on_start()
    for t in range(20):
        rate.on_refused(clock.now - 0.05 * t)
    assert rate.on_throttle() == pytest.approx(MAX_CUT * 19.8)


def _run_patches(limiter: str, load: OtherLoad, n: int, seed: int = 1) -> list[Arrival]:
    """n PATCHes through bulkcc's client, pacer and worker pool (40 workers, 1200/min) against a limiter model."""
    from bulkcc.send.client import ApiClient
    from bulkcc.send.pool import patch_call, run_pool

    class Row:
        path, body = "/api/v2/callcenters/1", {"max_hold_seconds": 60}

    async def scenario() -> list[Arrival]:
        loop = asyncio.get_running_loop()
        session = LimiterSession(make_limiter(limiter, 1200, load), rng=random.Random(seed))
        client = ApiClient(session, "http://virtual", Pacer(1200, clock=loop.time),  # type: ignore[arg-type]
                           policy=RetryPolicy(max_attempts=10), clock=loop.time, rng=random.Random(seed))
        await run_pool(client, [Row()] * n, patch_call, lambda *_: None, concurrency=40, stop=asyncio.Event())
        return session.arrivals

    return run_virtual(scenario())


@pytest.mark.parametrize("limiter", LIMITERS)
def test_no_limiter_model_sees_more_than_its_windows_allow_from_bulkcc_alone(limiter: str) -> None:
    arrivals = _run_patches(limiter, OtherLoad(), 1300)  # over a minute at 20 a second
    assert all(a.granted for a in arrivals), limiter
    times = [a.t for a in arrivals]
    assert max_in_window(times) <= 20 and max_in_window(times, 60.0) <= 1200
    assert (len(times) - 1) / (times[-1] - times[0]) >= 0.99 * 20 * 0.999  # and at the full pace


@pytest.mark.parametrize("load", [OtherLoad(15, (2, 6)), OtherLoad(40 / 3, (2, 8), burst=40)], ids=["15/s", "bursts"])
@pytest.mark.parametrize("limiter", LIMITERS)
def test_adapting_to_other_load_never_puts_more_in_a_window_than_the_limit(limiter: str, load: OtherLoad) -> None:
    """Cuts, growth, pauses and probes only ever delay: bulkcc's own starts, replayed alone, pass every model."""
    arrivals = _run_patches(limiter, load, 300)
    assert not all(a.granted for a in arrivals)  # the other load did take its share
    times = [a.t for a in arrivals]
    assert max_in_window(times) <= 20
    for model in LIMITERS:
        alone = make_limiter(model, 1200)
        assert all(alone.admit(t) is None for t in times), model


def test_a_grant_for_a_start_older_than_the_run_does_not_end_its_pause() -> None:
    """Answers come out of order: a late 200 for a request sent before the 429s says nothing of the window now."""
    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        pacer = Pacer(1200, clock=loop.time)
        await pacer.wait_turn()
        older = loop.time()
        await asyncio.sleep(0.2)
        refused = [loop.time() - 0.1 + 0.01 * k for k in range(3)]
        for t in refused:
            pacer.back_off(1.0, started_at=t)
        pacer.on_answer(older)  # granted, but sent before the run began
        paused_at = loop.time()
        await pacer.wait_turn()
        return loop.time() - paused_at

    assert run_virtual(scenario()) >= PROBE_SECONDS - 1e-6  # still paused: the next start is a probe


def test_a_worker_stopped_while_it_waits_does_not_hold_up_the_others() -> None:
    """Ctrl-C cancels a waiting turn (the client's stop): the queue moves on without it."""
    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        pacer = Pacer(600, clock=loop.time)  # 10 a second
        await pacer.wait_turn()
        head = asyncio.create_task(pacer.wait_turn())  # waits for its turn, at the head of the queue
        others = [asyncio.create_task(pacer.wait_turn()) for _ in range(3)]
        await asyncio.sleep(0.01)
        head.cancel()
        done, _ = await asyncio.wait(others, timeout=1.0)
        return len(done)

    assert run_virtual(scenario()) == 3


@pytest.mark.parametrize("retry_after", [0.0, 0.001])
def test_a_run_of_429s_saying_retry_after_0_still_pauses_for_a_probes_interval(retry_after: float) -> None:
    """`Retry-After: 0` (or an HTTP date already past) on every 429: no reason to go on at full pace into a full
    window (it did: 141 requests in 7 s, all refused, until the retry budget was spent)."""
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        pacer = Pacer(1200, clock=loop.time)
        starts = []
        for _ in range(12):  # nothing is ever granted; each start is refused a little later
            await pacer.wait_turn()
            starts.append(loop.time())
            pacer.back_off(retry_after, started_at=starts[-1])
        return starts

    starts = run_virtual(scenario())
    gaps = [b - a for a, b in zip(starts[RUN_LENGTH - 1:], starts[RUN_LENGTH:], strict=False)]
    assert min(gaps) >= PROBE_SECONDS - 1e-6  # after a run of three, one probe per interval at most


@pytest.mark.parametrize("limiter", ["sliding-all", "sliding-granted", "token-bucket"])
def test_others_keeping_all_but_3_a_second_for_good_do_not_starve_the_run(limiter: str) -> None:
    """Other integrations take 17 of the 20 a second for the whole run. Under a limiter that counts refused calls,
    going back to the held rate after every pause (and probing at 4 a second) kept its window full for good: 11
    rows in 20 s, then the retry budget was spent. Pauses in a row with nothing granted halve the rate."""
    from bulkcc.errors import RunStopped
    from bulkcc.send.client import ApiClient
    from bulkcc.send.pool import patch_call, run_pool

    class Row:
        path, body = "/api/v2/callcenters/1", {"max_hold_seconds": 60}

    async def scenario() -> tuple[int, float, str | None]:
        loop = asyncio.get_running_loop()
        session = LimiterSession(make_limiter(limiter, 1200, OtherLoad(rate=17.0)), rng=random.Random(1))
        client = ApiClient(session, "http://virtual", Pacer(1200, clock=loop.time),  # type: ignore[arg-type]
                           policy=RetryPolicy(max_attempts=5), clock=loop.time, rng=random.Random(1))
        done: list = []
        try:
            await run_pool(client, [Row()] * 150, patch_call, lambda _, r: done.append(r), concurrency=40,
                           stop=asyncio.Event())
        except RunStopped as exc:
            return sum(r.ok for r in done), loop.time(), exc.message
        return sum(r.ok for r in done), loop.time(), None

    ok, _, stopped = run_virtual(scenario())
    assert stopped is None and ok == 150
