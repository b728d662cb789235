"""Pacing on a shared budget: 600 PATCHes at 1200/min while another client takes 8/s for the middle third.

Run: `python bench/bench_shared_budget.py [--rows 600] [--other 8]`.

Dialpad's 20 requests a second are the company's, shared with its other
integrations. The simulator (`bulkcc simulate` in its own process, answers in
100-400 ms) runs another client's `--other 8` requests a second from 10 to 20
seconds after the first request (`--other-load-window`), the middle third of
an undisturbed run. bulkcc's client sends the PATCHes through its pacer and
worker pool; the start of each attempt the API granted is recorded. Printed:

* the 429s received;
* the rate achieved during the competition over what was left to us (20 - 8 = 12
  a second); aim >= 0.9;
* the seconds from the end of the competition until our rate is back to 0.95 of
  the full pace (over 2-second windows); aim <= 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from bench_apply import KEY, simulator_process, write_input  # noqa: E402

from bulkcc.plan import make_plan  # noqa: E402
from bulkcc.send.connection import ConnectionOptions, connect  # noqa: E402
from bulkcc.send.pool import patch_call, run_pool  # noqa: E402
from bulkcc.send.target import Target  # noqa: E402
from bulkcc.validate import validate_file  # noqa: E402

RATE_PER_MIN = 1200
WINDOW = (10.0, 20.0)


async def _up(base_url: str) -> bool:
    """The simulator answers (401: without the key, so that its window's clock has not started yet)."""
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base_url}/api/v2/callcenters", timeout=aiohttp.ClientTimeout(total=2)) as r:
                return r.status == 401
    except (TimeoutError, aiohttp.ClientError):
        return False


async def send(source: Path, base_url: str) -> tuple[list[float], int]:
    plan = make_plan(validate_file(source))
    starts: list[float] = []
    options = ConnectionOptions(target=Target(base_url), api_key=KEY, rate_per_min=RATE_PER_MIN, max_attempts=10)
    async with connect(options) as conn:
        def on_result(_request: object, result) -> None:
            if result.ok:  # the attempt the API granted (earlier attempts of the row were 429s or faults)
                starts.append(result.started_at[-1])

        await run_pool(conn.client, plan.requests, patch_call, on_result, concurrency=options.pool_size,
                       stop=asyncio.Event())
        return sorted(starts), conn.client.throttled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--other", type=float, default=8.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        source = write_input(folder / "in.xlsx", args.rows)
        other_load = ["--other-load", str(args.other), "--other-load-window", f"{WINDOW[0]:g},{WINDOW[1]:g}"]
        with simulator_process(source, RATE_PER_MIN, folder, extra=other_load, ready=_up) as base_url:
            starts, throttled = asyncio.run(send(source, base_url))
    # The simulator's window counts from its first request with the key: our first PATCH.
    # The rate during the competition is taken after its first second (the adaptation's
    # reaction time is part of what is measured by the 429s, not by the rate).
    first = starts[0]
    times = [t - first for t in starts]
    a, b = WINDOW[0] + 1.0, WINDOW[1]
    during = (bisect.bisect_left(times, b) - bisect.bisect_left(times, a)) / (b - a)
    left = RATE_PER_MIN / 60 - args.other
    full = RATE_PER_MIN / 60 * 0.99
    recovered = None
    for t in [WINDOW[1] + step / 10 for step in range(0, 300)]:
        if (bisect.bisect_left(times, t + 2) - bisect.bisect_left(times, t)) / 2 >= 0.95 * full:
            recovered = t - WINDOW[1]
            break
    shown = "never" if recovered is None else f"{recovered:.1f} s"
    print(f"{args.rows} PATCHes at {RATE_PER_MIN}/min, other client {args.other:g}/s from {WINDOW[0]:g} to "
          f"{WINDOW[1]:g} s: {throttled} x 429; during it {during:.1f}/s of the {left:g}/s left "
          f"(ratio {during / left:.2f}, aim >= 0.9); back to 0.95 of the full rate {shown} after it ended "
          f"(aim <= 5 s); whole run {times[-1]:.1f} s")
    return 0 if during / left >= 0.9 and recovered is not None and recovered <= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
