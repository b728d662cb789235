"""Rehearsing a client against the rate limit's models in virtual time: a minute of a run in a second.

`VirtualTimeLoop` is an asyncio event loop whose clock stands still while
callbacks run and jumps to the next timer when none is ready, so a run of
timers, sleeps and aiolimiter buckets takes what its code costs, not what its
waits say, and gives the same figures on an idle machine and a busy one.
`LimiterSession` stands in for an aiohttp session to the simulator: every
request reaches a limiter model (`bulkcc.sim.limits`) after a little jitter and
is answered after a latency drawn per request, 429 with a Retry-After as the
simulator's server answers, else 200 with a JSON object. bulkcc's own client,
pacer and worker pool run unchanged on top (bench/bench_shared_budget.py,
tests/test_pacing.py); the server's HTTP path is measured in real time by the
same bench with `--real`.
"""

from __future__ import annotations

import asyncio
import math
import random
import selectors
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bulkcc.sim.limits import Limiter

TICK = 1e-7  # virtual seconds each turn of the loop costs


class _JumpingSelector(selectors.SelectSelector):
    """Reports the loop's own wake-up pipe as a selector does, and turns every wait into a jump of the clock."""

    def __init__(self, advance: Callable[[float], None]) -> None:
        super().__init__()
        self._advance = advance

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if timeout is None and not ready:  # no timer and nothing ready: in real time this would hang for ever
            raise RuntimeError("virtual time: every task waits and no timer can wake one")
        # Each turn of the loop costs a tenth of a microsecond, as real code costs some time: a timer
        # that a float rounding sets to "now" again (aiolimiter's waker can) would otherwise spin for ever.
        self._advance(TICK if ready else max(timeout or 0.0, TICK))
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a virtual clock (`time()`), starting at `start` seconds."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        super().__init__(_JumpingSelector(self._jump))
        self._clock_resolution = 1e-9

    def _jump(self, seconds: float) -> None:
        self._now += seconds

    def time(self) -> float:
        return self._now


def run_virtual(main: Any, start: float = 1000.0) -> Any:
    """Run the coroutine `main` to its end on a `VirtualTimeLoop`; its result."""
    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(start)) as runner:
        return runner.run(main)


@dataclass
class Arrival:
    """One request as the limiter saw it."""

    t: float
    granted: bool
    started: float  # when the client sent it


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self, n: int = -1) -> bytes:
        chunk, self._data = (self._data, b"") if n < 0 else (self._data[:n], self._data[n:])
        return chunk


class _Response:
    charset = "utf-8"

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.content = status, headers, _Body(body)


class _Exchange:
    """`async with session.request(...) as response`: the answer comes when the block is entered."""

    def __init__(self, session: LimiterSession) -> None:
        self._session = session

    async def __aenter__(self) -> _Response:
        return await self._session.exchange()

    async def __aexit__(self, *exc_info: object) -> None:
        return None


@dataclass
class LimiterSession:
    """What bulkcc's client needs of an aiohttp session, answered from `limiter` on the running loop's clock.

    A request reaches the limiter up to `jitter` seconds after it is sent (the
    network), and its answer comes `latency` (LO, HI) seconds after it was sent.
    Every arrival is kept in `arrivals`.
    """

    limiter: Limiter
    latency: tuple[float, float] = (0.05, 0.15)
    jitter: float = 0.005
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    headers: dict[str, str] = field(default_factory=lambda: {"Authorization": "Bearer virtual"})
    arrivals: list[Arrival] = field(default_factory=list)

    def request(self, method: str, url: str, **_options: Any) -> _Exchange:
        return _Exchange(self)

    async def exchange(self) -> _Response:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        arrive = self.rng.uniform(0, self.jitter)
        answer = max(arrive, self.rng.uniform(*self.latency))
        await asyncio.sleep(arrive)
        wait = self.limiter.admit(loop.time())
        self.arrivals.append(Arrival(loop.time(), wait is None, sent))
        await asyncio.sleep(answer - arrive)
        if wait is None:
            return _Response(200, {"Content-Type": "application/json"}, b"{}")
        headers = {"Content-Type": "application/json", "Retry-After": str(max(1, math.ceil(wait)))}
        return _Response(429, headers, b'{"error": {"code": 429, "message": "Rate limit exceeded"}}')
