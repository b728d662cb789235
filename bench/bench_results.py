"""Writing the results workbook: our time over a plain write-only dump of the same cells.

Run: `python bench/bench_results.py [--rows 10000]`.

The input is N realistic rows (sample generator, ~40 of 100 columns filled, as
admins fill them), all `updated`. `write_results` writes the Results sheet
(outcome columns coloured, ids as text, texts guarded against formulas, widths,
print setup) and the Summary sheet with its chart; the baseline is openpyxl's
write-only mode appending the same values with no styling at all, the least any
xlsx writer of these cells must do.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_apply import write_input  # noqa: E402  (bench/ is on the path when run as a script)
from openpyxl import Workbook  # noqa: E402

from bulkcc.validate import validate_file  # noqa: E402
from bulkcc.workbook.results import RowResult, RunSummary, write_results  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        source = write_input(Path(folder) / "in.xlsx", args.rows)
        sheet = validate_file(source).sheet
        ids = sheet.frame["id"].tolist()
        results = [RowResult(row=row, id=int(float(cc_id)), status="updated", http_status=200, attempts=1,
                             duration_ms=120) for row, cc_id in zip(sheet.rows, ids, strict=True)]
        now = datetime.now(UTC)
        summary = RunSummary(started=now, ended=now, target_url="http://127.0.0.1", input_name="in.xlsx",
                             input_sha256="0" * 64, version="bench", achieved_rate_per_min=1188.0,
                             allowed_rate_per_min=1200, requests_sent=args.rows, throttled=0, simulator=True)
        started = time.perf_counter()
        write_results(Path(folder) / "results.xlsx", results, sheet.raw, summary)
        ours = time.perf_counter() - started

        started = time.perf_counter()
        book = Workbook(write_only=True)
        dump = book.create_sheet("Results")
        dump.append(["row", "id", "status", "http_status", "attempts", "error", "duration_ms", *sheet.raw.columns])
        for result, values in zip(results, sheet.raw.itertuples(index=False, name=None), strict=True):
            dump.append([result.row, str(result.id), result.status, 200, 1, None, 120,
                         *(None if v is None else v for v in values)])
        book.save(Path(folder) / "dump.xlsx")
        baseline = time.perf_counter() - started
    print(f"results workbook of {args.rows} rows: {ours:.2f} s; write-only dump of the same cells "
          f"{baseline:.2f} s; ours/baseline {ours / baseline:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
