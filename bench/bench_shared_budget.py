"""Pacing on a shared budget, against every model of Dialpad's limiter: 400 PATCHes at 1200/min.

Run: `python bench/bench_shared_budget.py [--runs 10] [--rows 400]`, or with `--real` against
`bulkcc simulate` in its own process over HTTP (real time, one run per cell; `--limiter`
and `--load` pick cells).

Dialpad's 20 requests a second are the company's, shared with its other
integrations, and nobody outside Dialpad knows how its limiter counts. Each
cell of the matrix is one limiter model (`bulkcc.sim.limits`: sliding windows
counting granted calls, sliding windows counting refused calls too, a token
bucket of 20 that the other load can put in debt, fixed 1 s windows) and one
other load from 6 s to 14 s after the first request (none, 8/s, 15/s, or bursts
of 40 at once every 3 s). bulkcc's own client, pacer and worker pool (40
workers) send the PATCHes; answers come 50-150 ms after each start.

By default the cells run in process on a virtual clock (`bulkcc.sim.virtual`):
the limiter model, the latencies and every sleep of the pacer share one clock
that jumps to the next timer, so the figures are the same on an idle machine and
on a loaded one; each run draws other latencies (seed = run number), and the
figures are the range over the runs.

Each cell is compared with an oracle: a client that knows the limiter, starts
no faster than bulkcc's hard pace (19.8/s) and starts a request only when the
limiter would admit it, so it is never refused. Printed per cell:

* share: our granted starts from 6 s to 14 s over the oracle's (what was left
  to us); aim >= 0.8, >= 0.5 under `sliding-all` (there each refused call costs a
  slot, so no client that learns from 429s can take it all);
* 429s: aim <= 60;
* back: seconds from 14 s until our granted starts over 2 s reach 0.95 of the
  full pace; aim <= 3.5 s;
* wall / ideal: first to last granted start, ours over the oracle's; aim <= 1.2;
* with no other load: the achieved rate over the 20/s limit (aim 0.99) and no 429.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import random
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bulkcc.errors import RunStopped  # noqa: E402
from bulkcc.send.client import ApiClient  # noqa: E402
from bulkcc.send.pacing import Pacer, RetryPolicy, default_concurrency, pace_and_bucket  # noqa: E402
from bulkcc.send.pool import patch_call, run_pool  # noqa: E402
from bulkcc.sim.limits import LIMITERS, OtherLoad, make_limiter  # noqa: E402
from bulkcc.sim.virtual import LimiterSession, run_virtual  # noqa: E402

RATE_PER_MIN = 1200
WINDOW = (6.0, 14.0)
LOADS = {"none": OtherLoad(), "8/s": OtherLoad(8, WINDOW), "15/s": OtherLoad(15, WINDOW),
         "bursts": OtherLoad(40 / 3, WINDOW, burst=40)}  # 40 at once every 3 s: at 6, 9 and 12 s
FULL = pace_and_bucket(RATE_PER_MIN)[0]  # 19.8/s
LATENCY = (0.05, 0.15)


@dataclass
class Run:
    granted: list[float]  # starts the limiter granted, in seconds from the first one
    refused: int
    stopped: bool = False  # the run stopped before its end (the retry budget was spent)


@dataclass
class _Row:
    path: str
    body: dict


def rows(n: int) -> list[_Row]:
    return [_Row(f"/api/v2/callcenters/{4_800_000_000_000_001 + i}", {"max_hold_seconds": 60}) for i in range(n)]


async def _virtual_run(limiter: str, load: OtherLoad, n: int, seed: int) -> Run:
    loop = asyncio.get_running_loop()
    session = LimiterSession(make_limiter(limiter, RATE_PER_MIN, load), LATENCY, rng=random.Random(seed))
    client = ApiClient(session, "http://virtual", Pacer(RATE_PER_MIN, clock=loop.time),  # type: ignore[arg-type]
                       policy=RetryPolicy(max_attempts=10), clock=loop.time, rng=random.Random(seed))
    try:
        await run_pool(client, rows(n), patch_call, lambda *_: None,
                       concurrency=default_concurrency(RATE_PER_MIN), stop=asyncio.Event())
        stopped = False
    except RunStopped:
        stopped = True
    first = session.arrivals[0].t
    return Run(sorted(a.t - first for a in session.arrivals if a.granted),
               sum(1 for a in session.arrivals if not a.granted), stopped)


def oracle(limiter: str, load: OtherLoad, n: int) -> list[float]:
    """The starts of a client that knows the limiter: never refused, never faster than the hard pace."""
    model = make_limiter(limiter, RATE_PER_MIN, load)
    t, starts = 0.0, []
    while len(starts) < n:
        wait = model.check(t)
        if wait is None:
            model.admit(t)
            starts.append(t)
            t += 1 / FULL
        else:
            t += max(min(wait, 0.01), 1e-4)  # the model's wait is at today's share: look again soon
    return starts


def count(times: list[float], low: float, high: float) -> int:
    return bisect.bisect_left(times, high) - bisect.bisect_left(times, low)


def recovery(granted: list[float]) -> float | None:
    """Seconds from the load's end until 2 s of our granted starts reach 0.95 of the full pace."""
    for step in range(0, 400):
        t = WINDOW[1] + step / 20
        if count(granted, t, t + 2) / 2 >= 0.95 * FULL:
            return t - WINDOW[1]
    return None


@dataclass
class Figures:
    share: float
    refused: int
    back: float | None
    wall: float
    rate: float  # achieved over the limit (20/s)
    stopped: bool = False


def figures(run: Run, ideal: list[float]) -> Figures:
    g = run.granted
    ideal_share = count(ideal, *WINDOW)
    share = count(g, *WINDOW) / ideal_share if ideal_share else 1.0
    return Figures(share, run.refused, recovery(g), (g[-1] - g[0]) / (ideal[-1] - ideal[0]),
                   (len(g) - 1) / (g[-1] - g[0]) / (RATE_PER_MIN / 60), run.stopped)


def span(values: list[float], fmt: str) -> str:
    low, high = min(values), max(values)
    return format(low, fmt) if format(low, fmt) == format(high, fmt) else f"{format(low, fmt)}-{format(high, fmt)}"


def report(limiter: str, load: str, results: list[Figures]) -> tuple[str, bool]:
    backs = [r.back for r in results]
    share_aim = 0.5 if limiter == "sliding-all" else 0.8
    stopped = sum(r.stopped for r in results)
    if stopped:
        return f"| {limiter} | {load} | stopped, the retry budget spent, in {stopped} of {len(results)} runs |", False
    if load == "none":
        ok = all(r.refused == 0 and r.rate >= 0.99 * 0.999 for r in results)
        rate, refused = span([r.rate for r in results], ".3f"), span([r.refused for r in results], "d")
        text = f"rate {rate} of the limit, {refused} x 429"
        return f"| {limiter} | none | {text} | | | |", ok
    back = "never" if None in backs else span([b for b in backs if b is not None], ".1f") + " s"
    ok = (all(r.share >= share_aim and r.refused <= 60 and r.wall <= 1.2 for r in results)
          and None not in backs and max(b for b in backs if b is not None) <= 3.5)
    return (f"| {limiter} | {load} | {span([r.share for r in results], '.2f')} | "
            f"{span([r.refused for r in results], 'd')} | {back} | {span([r.wall for r in results], '.2f')} |"), ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--runs", type=int, default=10, help="runs per cell (virtual time; seeds 0..RUNS-1)")
    parser.add_argument("--limiter", choices=LIMITERS, action="append", help="only this model (repeatable)")
    parser.add_argument("--load", choices=list(LOADS), action="append", help="only this other load (repeatable)")
    parser.add_argument("--real", action="store_true",
                        help="against `bulkcc simulate` in its own process, over HTTP, in real time")
    args = parser.parse_args(argv)
    print(f"{args.rows} PATCHes at {RATE_PER_MIN}/min, answers in {LATENCY[0] * 1000:.0f}-{LATENCY[1] * 1000:.0f} ms, "
          f"other load from {WINDOW[0]:g} to {WINDOW[1]:g} s; "
          + ("real time, simulator in its own process" if args.real else f"virtual time, {args.runs} runs a cell"))
    print("| limiter | other load | share of what is left | 429s | back to 0.95 | wall / ideal |")
    print("| --- | --- | --- | --- | --- | --- |")
    all_ok = True
    for limiter in args.limiter or LIMITERS:
        for load in args.load or LOADS:
            ideal = oracle(limiter, LOADS[load], args.rows)
            if args.real:
                runs = [real_run(limiter, LOADS[load], args.rows)]
            else:
                runs = [run_virtual(_virtual_run(limiter, LOADS[load], args.rows, seed)) for seed in range(args.runs)]
            line, ok = report(limiter, load, [figures(run, ideal) for run in runs])
            all_ok &= ok
            print(line + ("" if ok else "  <- aim not met"), flush=True)
    return 0 if all_ok else 1


def real_run(limiter: str, load: OtherLoad, n: int) -> Run:
    """One run over HTTP against `bulkcc simulate --limiter ... --other-load ...` in its own process."""
    from bench_apply import KEY, simulator_process, write_input

    from bulkcc.plan import make_plan
    from bulkcc.send.connection import ConnectionOptions, connect
    from bulkcc.send.target import Target
    from bulkcc.validate import validate_file

    async def send(source: Path, base_url: str) -> Run:
        plan = make_plan(validate_file(source))
        granted: list[float] = []
        options = ConnectionOptions(target=Target(base_url), api_key=KEY, rate_per_min=RATE_PER_MIN, max_attempts=10)
        async with connect(options) as conn:
            def on_result(_request: object, result) -> None:
                if result.ok:  # the attempt the API granted (earlier attempts of the row were 429s)
                    granted.append(result.started_at[-1])

            try:
                await run_pool(conn.client, plan.requests, patch_call, on_result, concurrency=options.pool_size,
                               stop=asyncio.Event())
                stopped = False
            except RunStopped:
                stopped = True
            granted.sort()
            return Run([t - granted[0] for t in granted], conn.client.throttled, stopped)

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        source = write_input(folder / "in.xlsx", n)
        extra = ["--limiter", limiter, "--latency-ms", f"{LATENCY[0] * 1000:.0f},{LATENCY[1] * 1000:.0f}"]
        if load.rate:
            extra += ["--other-load", f"{load.rate:g}"]
            if load.window is not None:
                extra += ["--other-load-window", f"{load.window[0]:g},{load.window[1]:g}"]
            if load.burst:
                extra += ["--other-load-burst", str(load.burst)]
        with simulator_process(source, RATE_PER_MIN, folder, extra=extra, ready=_up) as base_url:
            return asyncio.run(send(source, base_url))


async def _up(base_url: str) -> bool:
    """The simulator answers (401: without the key, so that its window's clock has not started yet)."""
    import aiohttp

    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base_url}/api/v2/callcenters", timeout=aiohttp.ClientTimeout(total=2)) as r:
                return r.status == 401
    except (TimeoutError, aiohttp.ClientError):
        return False


if __name__ == "__main__":
    sys.exit(main())
