"""How fast `validate_file` reads and checks a 10,000-row workbook (aim: under 2 s).

Run: `python bench/bench_validate.py [--rows N] [--repeat K]`. The workbook has
every column of the template (as admins fill it) and realistic rows from
`sample_data/make_samples.py::realistic_row`; it is written to a temporary folder.
The baseline is reading the same file's values with openpyxl in read-only mode.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from openpyxl import Workbook, load_workbook

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _samples import make_samples  # noqa: E402  (bench/ is on the path when run as a script)

from bulkcc.fields import COLUMNS  # noqa: E402
from bulkcc.validate.validation import validate_file  # noqa: E402

AIM_SECONDS = 2.0


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


def best_of(repeat: int, action: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - started)
    return best, result


def read_with_openpyxl(path: Path) -> int:
    workbook = load_workbook(path, read_only=True, data_only=True)
    count = sum(1 for _ in workbook["callcenters"].iter_rows(values_only=True))
    workbook.close()
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.xlsx"
        started = time.perf_counter()
        write_workbook(path, args.rows)
        print(f"wrote {args.rows} rows x {len(COLUMNS)} columns ({path.stat().st_size / 1e6:.1f} MB) "
              f"in {time.perf_counter() - started:.1f} s")

        ours, validation = best_of(args.repeat, lambda: validate_file(path))
        if validation.problems:
            print(f"unexpected: {len(validation.problems)} problems, e.g. {validation.problems[0]}")
            return 1
        print(f"validate {args.rows} rows: {ours:.2f} s ({args.rows / ours:,.0f} rows/s); "
              f"aim {AIM_SECONDS:g} s: {ours / AIM_SECONDS:.2f} of budget")

        baseline, count = best_of(args.repeat, lambda: read_with_openpyxl(path))
        print(f"openpyxl read-only read of the same file ({count} rows): {baseline:.2f} s "
              f"({args.rows / baseline:,.0f} rows/s); ours/baseline: {ours / baseline:.2f}")
    return 0 if ours <= AIM_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
