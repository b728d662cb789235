"""`apply --diff` of 500 rows of which 50 change: requests used and wall time against the least possible.

Run: `python bench/bench_diff.py [--rows 500] [--changed 50]`.

The simulator runs in its own process (`bulkcc simulate`, 1200/min, answers
delayed 100-400 ms) serving the rows' call centers. The input is an export of
them (the migration workflow) with `ring_seconds` edited on `--changed` rows.
The least possible is the listing's pages (100 call centers a page) plus one
PATCH per changed row, started at 20 a second; the ratios printed are ours over
that, for requests and for wall time (aim: within 1.15 of it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_apply import KEY, simulator_process  # noqa: E402  (bench/ is on the path when run as a script)
from openpyxl import Workbook, load_workbook  # noqa: E402

from bulkcc.run.apply import ApplyOptions, apply_async  # noqa: E402
from bulkcc.run.export import ExportQuery, export_async  # noqa: E402
from bulkcc.send.connection import ConnectionOptions  # noqa: E402
from bulkcc.send.target import Target  # noqa: E402

RATE_PER_MIN = 1200
PAGE = 100
AIM = 1.15
FIRST_ID = 4_800_000_000_000_001


def seed_workbook(path: Path, rows: int) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "callcenters"
    sheet.append(["id"])
    for n in range(rows):
        sheet.append([str(FIRST_ID + n)])
    book.save(path)
    return path


def edit(export: Path, changed: int, out: Path) -> Path:
    book = load_workbook(export)
    sheet = book["callcenters"]
    column = [c.value for c in sheet[1]].index("ring_seconds") + 1
    step = max(1, (sheet.max_row - 1) // changed)
    for row in range(2, 2 + step * changed, step):
        cell = sheet.cell(row=row, column=column)
        cell.value = 10 if int(cell.value) != 10 else 11
    book.save(out)
    return out


def run(rows: int, changed: int, folder: Path) -> bool:
    seed = seed_workbook(folder / "seed.xlsx", rows)
    # The simulator's made-up call centers depend only on their ids: a second process serves the
    # same state with fresh rate windows, so the export's reads do not count against the run.
    with simulator_process(seed, RATE_PER_MIN, folder) as base_url:
        options = ConnectionOptions(target=Target(base_url), api_key=KEY, rate_per_min=RATE_PER_MIN)
        asyncio.run(export_async(folder / "live.xlsx", ExportQuery(), options))
    edited = edit(folder / "live.xlsx", changed, folder / "edited.xlsx")
    with simulator_process(seed, RATE_PER_MIN, folder) as base_url:
        options = ConnectionOptions(target=Target(base_url), api_key=KEY, rate_per_min=RATE_PER_MIN)
        started = time.perf_counter()
        outcome = asyncio.run(apply_async(edited, ApplyOptions(results_path=folder / "results.xlsx",
                                                               connection=options, diff=True)))
        seconds = time.perf_counter() - started
    least_requests = -(-rows // PAGE) + changed
    least_seconds = (least_requests - 1) / (RATE_PER_MIN / 60)  # n starts at 20/s span (n - 1) / 20 s
    used = outcome.summary.requests_sent
    statuses = {s: sum(r.status == s for r in outcome.results) for s in {r.status for r in outcome.results}}
    print(f"apply --diff of {rows} rows, {changed} changed, at {RATE_PER_MIN}/min: {used} requests "
          f"(least {least_requests}: ratio {used / least_requests:.2f}), {seconds:.1f} s "
          f"(least {least_seconds:.1f} s + answer latency: ratio {seconds / least_seconds:.2f}); "
          f"{outcome.summary.throttled} x 429; {statuses}")
    return used / least_requests <= AIM and statuses.get("updated") == changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--changed", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        return 0 if run(args.rows, args.changed, Path(folder)) else 1


if __name__ == "__main__":
    sys.exit(main())
