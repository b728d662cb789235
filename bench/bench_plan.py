"""`bulkcc plan` against `bulkcc validate` of the same rows: CPU time of each, and plan over validate.

Run: `python bench/bench_plan.py [--rows 100000]`.

Both run as the command an admin types, in their own process, output piped to
a file (as `bulkcc plan … > plan.txt` does); the input is a CSV of N realistic
rows from the sample generator. Planning adds building each body and printing
three lines per row to validating: the aim is plan <= 1.5 x validate.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _samples import make_samples  # noqa: E402  (bench/ is on the path when run as a script)

AIM = 1.5


def cpu_seconds(command: list[str], out: Path) -> float:
    """User + system CPU of one command run to completion, its stdout to `out`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with out.open("w") as handle:
        subprocess.run(command, stdout=handle, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=900,
                       check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    samples = make_samples()
    rng = random.Random(1)
    table = [samples.realistic_row(i, rng) for i in range(args.rows)]
    header = samples.used_columns(table)
    with tempfile.TemporaryDirectory() as folder:
        source = samples.write_csv(Path(folder) / "in.csv", header, ([row.get(c) for c in header] for row in table))
        bulkcc = [sys.executable, "-m", "bulkcc.cli"]
        validate = cpu_seconds([*bulkcc, "validate", str(source)], Path(folder) / "validate.txt")
        plan = cpu_seconds([*bulkcc, "plan", str(source)], Path(folder) / "plan.txt")
        lines = sum(1 for _ in (Path(folder) / "plan.txt").open())
    print(f"{args.rows} rows: validate {validate:.1f} s CPU, plan {plan:.1f} s CPU ({lines} lines piped); "
          f"plan/validate {plan / validate:.2f} (aim <= {AIM})")
    return 0 if plan / validate <= AIM else 1


if __name__ == "__main__":
    sys.exit(main())
