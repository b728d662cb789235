"""Operator changes per second against the limit: `bulkcc apply` of an operators sheet.

Run: `python bench/bench_operators.py [--centers N] [--per-center N] [--skip-1200]`.

The simulator runs in its own process (`bulkcc simulate`, answers delayed
100-400 ms, a pool of users and enough call center licenses), as in
bench_apply. Measured, each with a fresh simulator whose limit is the rate
asked for:

* adding N x M operators (one POST each, no --diff) at 6000/min (100/s) and
  at the default 1200/min (20/s): operator changes per second over the
  sending window, against the allowed rate, and the 429s answered;
* then, at 1200/min, `apply --diff` of the same rows with every skill level
  changed: one GET of operators per center, one GET of the skill level per
  operator, one PATCH per operator, all through the one pacer; requests per
  second against the limit, and the changes it made.

Aim: >= 0.98 of the allowed rate for the adds, zero 429s, every row as
planned. The --diff run has three phases (operator lists, skill levels,
changes), and each starts only once the previous one's last answer is in (the
changes are planned, and their rollback written, from every read): at 100-400
ms per answer that idles the pacer about 0.8 s in 23 s, so its aim is 0.95.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from openpyxl import Workbook

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_apply import KEY, RUN_TIMEOUT_S, simulator_process  # noqa: E402

from bulkcc.run.apply import ApplyOptions, ApplyOutcome, apply_async  # noqa: E402
from bulkcc.send.connection import ConnectionOptions  # noqa: E402
from bulkcc.send.target import Target  # noqa: E402

AIM_RATIO = 0.98
PHASED_AIM_RATIO = 0.95  # --diff: reads, then changes (see the docstring)
FIRST_CENTER = 4_800_000_000_000_001
USER_BASE = 6_200_000_000_000_000  # the simulator's user ids start above this
SEEDED_POOL = 40  # made-up centers draw their own operators from the first 40 users: ours come after


def write_input(path: Path, centers: int, per_center: int, skill_shift: int = 0) -> Path:
    """A workbook of `centers` call centers (ids only: nothing to PATCH) and `per_center` operators each."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "callcenters"
    sheet.append(["id"])
    operators = workbook.create_sheet("operators")
    operators.append(["call_center_id", "user_id", "role", "skill_level"])
    roles = ("operator", "supervisor", "admin")
    for c in range(centers):
        center = FIRST_CENTER + c
        sheet.append([str(center)])
        for n in range(per_center):
            user = USER_BASE + SEEDED_POOL + 1 + c * per_center + n
            operators.append([str(center), str(user), roles[n % 3], 10 + (c * 7 + n * 13 + skill_shift) % 90])
    workbook.save(path)
    return path


async def ours(input_path: Path, base_url: str, rate_per_min: int, results: Path,
               diff: bool = False) -> tuple[ApplyOutcome, float]:
    options = ApplyOptions(results_path=results, diff=diff, connection=ConnectionOptions(
        target=Target(base_url), api_key=KEY, rate_per_min=rate_per_min))
    started = time.perf_counter()
    outcome = await asyncio.wait_for(apply_async(input_path, options), RUN_TIMEOUT_S)
    return outcome, time.perf_counter() - started


def report(label: str, outcome: ApplyOutcome, seconds: float, rate_per_min: int, expected: Counter,
           aim: float = AIM_RATIO) -> bool:
    achieved = outcome.summary.achieved_rate_per_min or 0.0
    ratio = achieved / rate_per_min
    statuses = Counter(str(r.status) for r in outcome.operator_results)
    print(f"{label} at {rate_per_min}/min: {achieved / 60:.1f} requests/s of {rate_per_min / 60:.0f}/s allowed "
          f"({ratio:.3f}), {outcome.summary.throttled} x 429, {outcome.summary.requests_sent} requests in "
          f"{seconds:.1f} s; operator rows {dict(statuses)}; exit {outcome.exit_code}", flush=True)
    return ratio >= aim and outcome.summary.throttled == 0 and statuses == expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--centers", type=int, default=40)
    parser.add_argument("--per-center", type=int, default=5)
    parser.add_argument("--skip-1200", action="store_true", help="Skip the runs at 1200/min (~35 s for 200 rows).")
    args = parser.parse_args(argv)
    rows = args.centers * args.per_center
    users = SEEDED_POOL + rows + 10
    extra = ["--users", str(users), "--licenses", str(users)]

    good = True
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        adds = write_input(tmp / "operators.xlsx", args.centers, args.per_center)
        print(f"{args.centers} call centers x {args.per_center} operators = {rows} operator rows; simulator in its "
              "own process, answers in 100-400 ms", flush=True)
        rates = (6000,) if args.skip_1200 else (6000, 1200)
        for rate in rates:
            with simulator_process(adds, rate, tmp, extra) as url:
                outcome, seconds = asyncio.run(ours(adds, url, rate, tmp / f"r{rate}.xlsx"))
                good &= report("adds (POST)", outcome, seconds, rate, Counter({"added": rows}))
                if rate == 1200:
                    time.sleep(1.1)  # the next run's first second must not share a window with this one's last
                    skills = write_input(tmp / "skills.xlsx", args.centers, args.per_center, skill_shift=1)
                    outcome, seconds = asyncio.run(ours(skills, url, rate, tmp / "diff.xlsx", diff=True))
                    good &= report("--diff skill changes (GET operators, GET skill, PATCH)", outcome, seconds,
                                   rate, Counter({"updated": rows}), aim=PHASED_AIM_RATIO)
    print(f"aim: >= {AIM_RATIO} of allowed for the adds (>= {PHASED_AIM_RATIO} for --diff), zero 429s: "
          f"{'met' if good else 'NOT met'}")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
