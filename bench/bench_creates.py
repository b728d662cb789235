"""Creates per second against the company's limit (20/s, 1200/min), and creates sharing it with updates.

Run: `python bench/bench_creates.py [--creates N] [--updates N]`.

The simulator runs in its own process (`bulkcc simulate`, answers delayed
100-400 ms, limit 1200/min), as in bench_apply. Measured:

* `apply_async` creating N call centers in one office: every create is journaled
  (intent fsynced before its POST) and the office is listed first, so this is the
  whole create path. Printed: the achieved rate over the allowed one (starts per
  second over the run's window, listing included), the 429s, and that each name
  exists exactly once afterwards.
* the same with N creates and M updates in one workbook: one pacer for both, so
  the rate over the whole run is still the limit, not twice it.

Aim: >= 0.95 of the allowed rate, zero 429s. The simulator is terminated in
`finally`, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _samples import make_samples  # noqa: E402
from bench_apply import KEY, RUN_TIMEOUT_S, simulator_process, write_input  # noqa: E402

from bulkcc.run.apply import ApplyOptions, apply_async  # noqa: E402
from bulkcc.send.connection import ConnectionOptions  # noqa: E402
from bulkcc.send.target import Target  # noqa: E402

RATE = 1200
OFFICE = 5_100_000_000_000_002  # an office the simulator knows (DACH)
AIM_RATIO = 0.95


def write_creates(path: Path, creates: int, updates: int, seed_ids: list[int]) -> Path:
    samples = make_samples()
    header = ["id", "name", "office_id", "ring_seconds"]
    stamp = f"{path.stem} {time.time_ns()}"  # names new to the simulator's office, run after run
    rows = [[None, f"Bench {stamp} {i:05d}", OFFICE, 20 + i % 25] for i in range(creates)]
    rows += [[cc_id, None, None, 20 + i % 25] for i, cc_id in enumerate(seed_ids[:updates])]
    return samples.write_workbook(path, header, rows)


async def run(source: Path, base_url: str, results: Path) -> tuple[object, float]:
    options = ApplyOptions(results_path=results, connection=ConnectionOptions(
        target=Target(base_url), api_key=KEY, rate_per_min=RATE))
    started = time.perf_counter()
    outcome = await asyncio.wait_for(apply_async(source, options), RUN_TIMEOUT_S)
    return outcome, time.perf_counter() - started


def report(label: str, outcome, seconds: float, expected: Counter) -> bool:
    achieved = outcome.summary.achieved_rate_per_min or 0.0
    statuses = Counter(str(r.status) for r in outcome.results)
    ratio = achieved / RATE
    print(f"{label}: achieved {achieved / 60:.2f}/s of {RATE / 60:.0f}/s allowed = {ratio:.3f}, "
          f"{outcome.summary.throttled} x 429, {seconds:.1f} s, {outcome.summary.requests_sent} requests, "
          f"{dict(statuses)}", flush=True)
    return ratio >= AIM_RATIO and outcome.summary.throttled == 0 and statuses == expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--creates", type=int, default=300)
    parser.add_argument("--updates", type=int, default=300)
    args = parser.parse_args(argv)
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        seed = write_input(work / "seed.xlsx", args.updates)
        from bulkcc.validate.validation import validate_file

        seed_ids = validate_file(seed).ids
        with simulator_process(seed, RATE, work) as base_url:
            only = write_creates(work / "creates.xlsx", args.creates, 0, seed_ids)
            outcome, seconds = asyncio.run(run(only, base_url, work / "creates-results.xlsx"))
            ok &= report(f"{args.creates} creates", outcome, seconds, Counter({"created": args.creates}))
            mixed = write_creates(work / "mixed.xlsx", args.creates, args.updates, seed_ids)
            outcome, seconds = asyncio.run(run(mixed, base_url, work / "mixed-results.xlsx"))
            ok &= report(f"{args.creates} creates + {args.updates} updates", outcome, seconds,
                         Counter({"created": args.creates, "updated": args.updates}))
    print("aim met" if ok else "aim NOT met", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
