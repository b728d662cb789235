"""Opening a paced API client on a target: the real API, or the simulator in-process.

apply, export and `plan --diff` all talk to the API the same way: one aiohttp
session with the key in its headers, a pool sized for the rate, one pacer for
every call (reads and writes share Dialpad's budget), and a retry policy and
budget given as options. For `--simulator` a simulator is started on a free
loopback port on the state file the options name (made-up call centers added
for ids it lacks), or in memory without one; that is the one place on any
command's path that imports `bulkcc.sim`, and only when it is chosen.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bulkcc import __version__
from bulkcc.errors import UsageError
from bulkcc.send.client import ApiClient
from bulkcc.send.pacing import Pacer, RetryBudget, RetryPolicy, default_concurrency
from bulkcc.send.target import Target

# The demo company the simulator serves when no ids are named (export of everything).
DEMO_CALLCENTERS = 250
DEMO_FIRST_ID = 4_800_000_000_000_001
# Where --simulator keeps its call centers between commands (and `bulkcc simulate` serves them).
DEFAULT_SIMULATOR_STATE = Path(".bulkcc-simulator.jsonl")


def demo_ids(count: int = DEMO_CALLCENTERS, first_id: int = DEMO_FIRST_ID) -> list[int]:
    """Ids of the simulator's made-up company: 16 digits, as Dialpad's are."""
    return list(range(first_id, first_id + count))


@dataclass
class ConnectionOptions:
    target: Target
    api_key: str | None
    rate_per_min: int = 1200
    concurrency: int | None = None
    max_attempts: int = 5
    timeout_s: float = 30.0
    # With --simulator: SimulatorConfig fields (rate limit, latency, faults), as plain data.
    simulator_knobs: dict[str, Any] | None = None
    # With --simulator: the state file its call centers live in; None keeps them in memory.
    simulator_state: Path | None = None
    # How failures are retried, and when the run gives up on a failing API. Factories,
    # since each connection needs its own budget.
    retry_policy: Callable[[int], RetryPolicy] = field(default=lambda attempts: RetryPolicy(max_attempts=attempts))
    retry_budget: Callable[[], RetryBudget] = RetryBudget

    @property
    def pool_size(self) -> int:
        return self.concurrency or default_concurrency(self.rate_per_min)


@dataclass
class Connection:
    client: ApiClient
    base_url: str
    simulator: Any = None  # a running bulkcc.sim.server.Simulator, with --simulator

    @property
    def target_label(self) -> str:
        return f"{self.base_url} (simulator)" if self.simulator else self.base_url


@asynccontextmanager
async def _simulator_for(options: ConnectionOptions, api_key: str, ids: Iterable[int]) -> AsyncIterator[Any]:
    """The --simulator hook: the only import of bulkcc.sim on a command's path."""
    import random

    from bulkcc.sim.server import Simulator, SimulatorConfig, StateError, StateFile, seed_store

    # Nobody reads the request log of a command's own simulator: keep none.
    config = SimulatorConfig(api_key=api_key, **{"history": 0, **(options.simulator_knobs or {})})
    ids = list(ids)
    if options.simulator_state is None:
        simulator = Simulator(config, store=seed_store(ids or demo_ids(), random.Random(0)))
    else:
        state = StateFile(options.simulator_state)
        try:
            store = state.load(lambda: seed_store(demo_ids() + ids, random.Random(0)), ids)
        except StateError as exc:
            raise UsageError(f"--simulator-state: {exc}") from exc
        simulator = Simulator(config, store=store, state=state)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.close()


@asynccontextmanager
async def connect(options: ConnectionOptions, simulator_ids: Iterable[int] = ()) -> AsyncIterator[Connection]:
    """A ready client; with the simulator as target, the simulator runs for the block's duration."""
    if options.target.simulator:
        api_key = options.api_key or secrets.token_urlsafe(24)
        async with _simulator_for(options, api_key, simulator_ids) as simulator:
            async with _session(options, simulator.base_url, api_key) as client:
                yield Connection(client, simulator.base_url, simulator)
        return
    async with _session(options, options.target.base_url, options.api_key) as client:
        yield Connection(client, options.target.base_url)


@asynccontextmanager
async def _session(options: ConnectionOptions, base_url: str, api_key: str | None) -> AsyncIterator[ApiClient]:
    headers = {"Authorization": f"Bearer {api_key or ''}", "User-Agent": f"bulkcc/{__version__}",
               "Accept": "application/json"}
    connector = aiohttp.TCPConnector(limit=options.pool_size)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        yield ApiClient(session, base_url, Pacer(options.rate_per_min),
                        policy=options.retry_policy(options.max_attempts), budget=options.retry_budget(),
                        timeout_s=options.timeout_s)


@asynccontextmanager
async def connected(options: ConnectionOptions, simulator_ids: Iterable[int] = (),
                    conn: Connection | None = None) -> AsyncIterator[Connection]:
    """`conn` if given (a run that looked names up on it goes on with its pacer and budget), else a new one."""
    if conn is not None:
        yield conn
        return
    async with connect(options, simulator_ids) as opened:
        yield opened
