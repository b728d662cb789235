"""How close `bulkcc apply` gets to the allowed rate without a 429, and how it compares with a plain loop.

Run: `python bench/bench_apply.py [--rows N] [--baseline-rows N] [--skip-1200]`.

The simulator runs in a separate process (`bulkcc simulate` on a free loopback
port, answers delayed 100-400 ms), so its work does not share our event loop.
Measured, each with a fresh simulator whose limit is the rate asked for:

* `apply_async` (the library behind `bulkcc apply`) sending N realistic rows at
  --rate-limit 6000 (100/s), then at the default 1200/min (20/s): the achieved
  rate over the allowed one (starts per second over the sending window,
  (n - 1) / (last - first)) and the 429s it was answered; aim >= 0.98, zero 429s.
* the baseline: what a hand-written script does, a sequential loop of the same
  PATCHes with aiohttp, against the 6000/min simulator; ours / baseline time.

The input workbook is written to a temporary folder from
`sample_data/make_samples.py::realistic_row`. The simulator processes are
terminated in `finally`, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _samples import make_samples  # noqa: E402  (bench/ is on the path when run as a script)

from bulkcc.plan.plans import make_plan  # noqa: E402
from bulkcc.run.apply import ApplyOptions, ApplyOutcome, apply_async  # noqa: E402
from bulkcc.send.connection import ConnectionOptions  # noqa: E402
from bulkcc.send.target import Target  # noqa: E402
from bulkcc.validate.validation import validate_file  # noqa: E402

KEY = "bench-key-not-a-secret"
LATENCY_MS = "100,400"
AIM_RATIO = 0.98
START_TIMEOUT_S = 30.0  # how long the simulator may take to answer its first request
RUN_TIMEOUT_S = 600.0  # no measured run may take longer than this


def write_input(path: Path, rows: int, seed: int = 1) -> Path:
    samples = make_samples()
    rng = random.Random(seed)
    table = [samples.realistic_row(i, rng) for i in range(rows)]
    header = samples.used_columns(table)
    return samples.write_workbook(path, header, [[row.get(c) for c in header] for row in table])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _answers(base_url: str) -> bool:
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as session:
            async with session.get(f"{base_url}/api/v2/callcenters", timeout=aiohttp.ClientTimeout(total=2)) as r:
                return r.status == 200
    except (TimeoutError, aiohttp.ClientError):
        return False


@contextmanager
def simulator_process(seed_workbook: Path, rate_per_min: int, log_dir: Path, extra: Sequence[str] = (),
                      ready: Callable[[str], Awaitable[bool]] | None = None) -> Iterator[str]:
    """`bulkcc simulate` in its own process, serving the workbook's ids; yields its base URL.

    `extra` are more `simulate` options; `ready(base_url)` says it serves (default: a keyed list answers).
    """
    ready = ready or _answers
    port = free_port()
    log = (log_dir / f"simulator-{rate_per_min}.log").open("w")
    command = [sys.executable, "-m", "bulkcc.cli", "simulate", "--port", str(port), "--rate-limit", str(rate_per_min),
               "--latency-ms", LATENCY_MS, "--seed", str(seed_workbook), *extra]
    process = subprocess.Popen(command, env={**os.environ, "DIALPAD_API_KEY": KEY}, stdin=subprocess.DEVNULL,
                               stdout=log, stderr=subprocess.STDOUT, cwd=log_dir)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not asyncio.run(ready(base_url)):
            if process.poll() is not None:
                raise RuntimeError(f"the simulator exited ({process.returncode}): "
                                   f"{(log_dir / log.name).read_text()[-500:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not answer within {START_TIMEOUT_S:g} s")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


async def ours(input_path: Path, base_url: str, rate_per_min: int, results: Path) -> tuple[ApplyOutcome, float]:
    options = ApplyOptions(results_path=results, connection=ConnectionOptions(
        target=Target(base_url), api_key=KEY, rate_per_min=rate_per_min))
    started = time.perf_counter()
    outcome = await asyncio.wait_for(apply_async(input_path, options), RUN_TIMEOUT_S)
    return outcome, time.perf_counter() - started


async def sequential_baseline(input_path: Path, base_url: str, rows: int) -> tuple[float, Counter]:
    """What a hand-written script does: one PATCH after the other, no pacing, no retries."""
    requests = make_plan(validate_file(input_path)).requests[:rows]
    statuses: Counter = Counter()
    started = time.perf_counter()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"},
                                     timeout=aiohttp.ClientTimeout(total=30)) as session:
        for request in requests:
            async with session.patch(base_url + request.path, json=request.body) as response:
                await response.read()
                statuses[response.status] += 1
    return time.perf_counter() - started, statuses


def report(outcome: ApplyOutcome, seconds: float, rate_per_min: int, rows: int) -> bool:
    achieved = outcome.summary.achieved_rate_per_min or 0.0
    ratio = achieved / rate_per_min
    statuses = Counter(r.status for r in outcome.results)
    print(f"rate {rate_per_min}/min, {rows} rows: achieved {ratio:.3f} of allowed, "
          f"{outcome.summary.throttled} x 429, {seconds:.1f} s "
          f"({outcome.summary.requests_sent} requests; {dict(statuses)}; exit {outcome.exit_code})", flush=True)
    return ratio >= AIM_RATIO and outcome.summary.throttled == 0 and statuses == {"updated": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--baseline-rows", type=int, default=None,
                        help="Rows of the sequential loop (default: --rows).")
    parser.add_argument("--skip-1200", action="store_true", help="Skip the run at 1200/min (~20 s for 400 rows).")
    args = parser.parse_args(argv)
    baseline_rows = min(args.baseline_rows or args.rows, args.rows)

    good = True
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        input_path = write_input(tmp / "bench.xlsx", args.rows)
        print(f"{args.rows} rows; simulator in its own process, answers in {LATENCY_MS} ms", flush=True)

        with simulator_process(input_path, 6000, tmp) as url:
            outcome, fast = asyncio.run(ours(input_path, url, 6000, tmp / "r6000.xlsx"))
            good &= report(outcome, fast, 6000, args.rows)
            time.sleep(1.1)  # the baseline's first second must not share a window with our last
            baseline, statuses = asyncio.run(sequential_baseline(input_path, url, baseline_rows))
        note = f"answers {dict(statuses)}"
        if baseline_rows < args.rows:
            note = f"extrapolated from {baseline_rows} rows in {baseline:.1f} s, answers {dict(statuses)}"
            baseline *= args.rows / baseline_rows
        print(f"sequential baseline {args.rows} rows: {baseline:.1f} s; ours {fast:.1f} s: "
              f"{fast / baseline:.3f} of baseline time ({note})", flush=True)

        if not args.skip_1200:
            with simulator_process(input_path, 1200, tmp) as url:
                outcome, seconds = asyncio.run(ours(input_path, url, 1200, tmp / "r1200.xlsx"))
                good &= report(outcome, seconds, 1200, args.rows)
    print(f"aim: >= {AIM_RATIO} of allowed and zero 429s: {'met' if good else 'NOT met'}")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
