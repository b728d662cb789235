"""How fast `validate_file` reads and checks a full workbook, against its aim and a baseline.

Run: `python bench/bench_validate.py [--rows N] [--repeat K]`. The aim is 2 s for
10,000 rows (the default) and 4 s for 100,000 rows (issue 12: `--rows 100000`),
on 2 cores. The workbook has every column of the template (as admins fill it)
and realistic rows from `sample_data/make_samples.py::realistic_row`; it is
written to a temporary folder. Each figure is the best of K runs, wall time and
the process's CPU time (both cores: calamine parses the sheet on a second one).
The baseline, measured in the same run, is reading the same file's values with
openpyxl in read-only mode, with defusedxml installed as in bulkcc's venv
(openpyxl then parses through it; plain openpyxl reads about twice as fast).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl.xml
from openpyxl import Workbook, load_workbook

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _samples import make_samples  # noqa: E402  (bench/ is on the path when run as a script)

from bulkcc.fields import COLUMNS  # noqa: E402
from bulkcc.validate.validation import validate_file  # noqa: E402

AIMS = {10_000: 2.0, 100_000: 4.0}  # seconds, by rows: the project's aim, then issue 12's


def write_workbook(path: Path, rows: int, seed: int = 1) -> Path:
    samples = make_samples()
    rng = random.Random(seed)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("callcenters")
    sheet.append(list(COLUMNS))
    for i in range(rows):
        row = samples.realistic_row(i, rng)
        sheet.append([samples.cell_value(c, row.get(c)) for c in COLUMNS])  # ids as text, as admins must
    workbook.save(path)
    return path


def best_of(repeat: int, action: Callable[[], Any]) -> tuple[float, float, Any]:
    """(best wall seconds, CPU seconds of that run, its result)."""
    best, cpu, result = float("inf"), 0.0, None
    for _ in range(repeat):
        result = None  # the last run's result is freed first: a CLI validates once per process
        started, started_cpu = time.perf_counter(), time.process_time()
        result = action()
        wall = time.perf_counter() - started
        if wall < best:
            best, cpu = wall, time.process_time() - started_cpu
    return best, cpu, result


def read_with_openpyxl(path: Path) -> int:
    workbook = load_workbook(path, read_only=True, data_only=True)
    count = sum(1 for _ in workbook["callcenters"].iter_rows(values_only=True))
    workbook.close()
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--aim", type=float, default=None, help="seconds (default: 2 at 10,000 rows, 4 at 100,000)")
    args = parser.parse_args(argv)
    aim = args.aim if args.aim is not None else AIMS.get(args.rows)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.xlsx"
        started = time.perf_counter()
        write_workbook(path, args.rows)
        print(f"wrote {args.rows:,} rows x {len(COLUMNS)} columns ({path.stat().st_size / 1e6:.1f} MB) "
              f"in {time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.2f} "
              f"on {os.cpu_count()} cores")

        ours, ours_cpu, validation = best_of(args.repeat, lambda: validate_file(path))
        if validation.problems:
            print(f"unexpected: {len(validation.problems)} problems, e.g. {validation.problems[0]}")
            return 1
        del validation
        verdict = (f"aim {aim:g} s: {ours / aim:.2f} of budget{'' if ours <= aim else ', NOT MET'}"
                   if aim is not None else "no aim at this size")
        print(f"validate {args.rows:,} rows x {len(COLUMNS)} columns: {ours:.2f} s ({args.rows / ours:,.0f} rows/s; "
              f"{ours_cpu:.2f} s of CPU, best of {args.repeat}); {verdict}")

        baseline, _, count = best_of(args.repeat, lambda: read_with_openpyxl(path))
        parsing = "with defusedxml" if openpyxl.xml.DEFUSEDXML else "without defusedxml (plain openpyxl)"
        print(f"baseline: openpyxl read-only, values only, {parsing}, reading the same file ({count:,} rows): "
              f"{baseline:.2f} s ({args.rows / baseline:,.0f} rows/s); ours/baseline: {ours / baseline:.2f}")
    return 0 if aim is None or ours <= aim else 1


if __name__ == "__main__":
    sys.exit(main())
