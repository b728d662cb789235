"""What looking names up costs: requests used over the least possible, and time.

Run: `python bench/bench_lookups.py [--latency-ms 100,400]`.

Against the simulator (in this process; answers delayed 100-400 ms, paced at
the default 1200/min), for companies of several sizes and sheets naming several
agents by email, bulkcc reads what the sheet needs exactly as `apply` does
(`run.resolve.read_directory`, on one paced client), and we count the requests
the simulator saw. The least possible for the users is min(emails, pages of
100 users): one look-up per email, or the whole listing, whichever is fewer,
had the company's size been known beforehand. It is not: bulkcc reads the
listing up to as many pages as there are emails and only then, if it goes on,
looks the emails up one by one, so the ratio is 1 whenever the listing is no
longer than the emails (or there is one email), and at worst 2. The offices (1
page) and the live call centers (pages of 100) are one listing each, always the
least possible: they are added to both counts in the last column's case.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bulkcc.plan.lookups import Wanted  # noqa: E402
from bulkcc.run.resolve import read_directory  # noqa: E402
from bulkcc.send.connection import ConnectionOptions, connect  # noqa: E402
from bulkcc.send.target import Target  # noqa: E402
from bulkcc.sim.server import Simulator, SimulatorConfig, ids_for_demo, seed_store  # noqa: E402

KEY = "bench-lookups-key"
RATE = 1200
# (users in the company, emails in the sheet, call centers in the company or 0 for no center names)
CASES = [(500, 1, 0), (50, 10, 0), (500, 3, 0), (500, 30, 0), (5000, 30, 0), (5000, 300, 0), (2000, 300, 250)]


async def one(users: int, emails: int, centers: int, latency: tuple[int, int]) -> tuple[int, int, float]:
    """(requests used, least possible, seconds) of looking `emails` up in a company of `users`."""
    config = SimulatorConfig(api_key=KEY, users=users, latency_ms=latency, history=100_000,
                             seeded_operators=(0, 0), random_seed=1)
    store = seed_store(ids_for_demo(max(centers, 1)), random.Random(0))
    async with Simulator(config, store=store) as sim:
        step = max(1, users // emails)
        wanted = Wanted(emails={f"user{n}@example.com": f"user{n}@example.com"
                                for n in range(1, users + 1, step)[:emails]},
                        offices=bool(centers), centers=bool(centers))
        options = ConnectionOptions(target=Target(sim.base_url), api_key=KEY, rate_per_min=RATE)
        async with connect(options) as conn:
            started = time.perf_counter()
            directory = await read_directory(conn.client, wanted, concurrency=options.pool_size,
                                             stop=asyncio.Event())
            took = time.perf_counter() - started
        assert all(len(found) == 1 for found in (directory.users or {}).values()), "a user was not found"
        least = min(len(wanted.emails), math.ceil(users / 100))
        if centers:
            least += 1 + math.ceil(centers / 100)
        return len(sim.requests), least, took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", default="100,400", help="the simulator's answer delay, LO,HI")
    args = parser.parse_args()
    low, _, high = args.latency_ms.partition(",")
    latency = (int(low), int(high or low))
    print(f"{'users':>6} {'emails':>6} {'centers':>7} {'requests':>8} {'least':>5} {'ratio':>5} {'seconds':>7}")
    for users, emails, centers in CASES:
        used, least, took = await one(users, emails, centers, latency)
        print(f"{users:>6} {emails:>6} {centers:>7} {used:>8} {least:>5} {used / least:>5.2f} {took:>7.2f}")


if __name__ == "__main__":
    asyncio.run(main())
