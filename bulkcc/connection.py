"""Opening a paced API client on a target: the real API, or the simulator in-process.

apply, export and `plan --diff` all talk to the API the same way: one aiohttp
session with the key in its headers, a pool sized for the rate, one pacer for
every call (reads and writes share Dialpad's budget), and for `--simulator` a
simulator started on a free loopback port with a call center for every id.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from . import __version__
from .client import ApiClient
from .pacing import Pacer, RetryBudget, RetryPolicy, default_concurrency
from .simulator import Simulator, SimulatorConfig, seed_store
from .target import Target


@dataclass
class ConnectionOptions:
    target: Target
    api_key: str | None
    rate_per_min: int = 1200
    concurrency: int | None = None
    max_attempts: int = 5
    timeout_s: float = 30.0
    simulator_config: SimulatorConfig | None = None

    @property
    def pool_size(self) -> int:
        return self.concurrency or default_concurrency(self.rate_per_min)


@dataclass
class Connection:
    client: ApiClient
    base_url: str
    simulator: Simulator | None = None

    @property
    def target_label(self) -> str:
        return f"{self.base_url} (simulator)" if self.simulator else self.base_url


@asynccontextmanager
async def connect(options: ConnectionOptions, simulator_ids: Iterable[int] = ()) -> AsyncIterator[Connection]:
    """A ready client; with the simulator as target, the simulator runs for the block's duration."""
    simulator = None
    base_url, api_key = options.target.base_url, options.api_key
    if options.target.simulator:
        api_key = api_key or secrets.token_urlsafe(24)
        config = options.simulator_config or SimulatorConfig(api_key=api_key)
        config.api_key = api_key
        simulator = Simulator(config, store=seed_store(list(simulator_ids), random.Random(0)))
        await simulator.start()
        base_url = simulator.base_url
    headers = {"Authorization": f"Bearer {api_key or ''}", "User-Agent": f"bulkcc/{__version__}",
               "Accept": "application/json"}
    try:
        async with aiohttp.ClientSession(headers=headers,
                                         connector=aiohttp.TCPConnector(limit=options.pool_size)) as session:
            client = ApiClient(session, base_url, Pacer(options.rate_per_min),
                               policy=RetryPolicy(max_attempts=options.max_attempts), budget=RetryBudget(),
                               timeout_s=options.timeout_s)
            yield Connection(client, base_url, simulator)
    finally:
        if simulator is not None:
            await simulator.close()
