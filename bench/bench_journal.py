"""How long the journal holds up the event loop per row: fsync on the loop (before) vs group commit (after).

Run: `python bench/bench_journal.py [--rows N] [--interval-ms MS] [--dir DIR]`.

A row counts as done only once its journal line is fsynced. Before, `Journal`
wrote, flushed and fsynced each line on the event loop, so every send waited
behind every fsync. Now the loop queues the line and a writer thread writes
and fsyncs whatever queued since its last fsync (`bulkcc.run.commit.GroupCommit`). Measured here, in the
same process and on the same disk (DIR, default a temporary folder in the
current directory: put it where results files go; /dev/shm would make fsync
free and the comparison meaningless):

* loop-blocked time per row: the event loop's busy time (wall time minus the
  time it spends waiting in `select`, taken from an instrumented selector),
  less that of the same producer with no journal, divided by the rows. Two
  arrival patterns: one row every MS milliseconds (a paced run; 10 ms is
  6000/min), and bursts (all rows at once, as when many answers land together).
* durable rows per second in the burst: rows / time until the last is fsynced.
* for scale, the mean fsync of one line on DIR.

The "before" writer is the old `Journal._write`, line for line: write, flush, fsync.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import selectors
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bulkcc.run.journal import Journal, _line  # noqa: E402
from bulkcc.workbook.results import RowResult  # noqa: E402


class TimedSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Counts the time the loop spends waiting for something to do."""

    idle = 0.0

    def select(self, timeout=None):
        start = time.perf_counter()
        try:
            return super().select(timeout)
        finally:
            self.idle += time.perf_counter() - start


def result(i: int) -> RowResult:
    return RowResult(row=i + 2, id=1001 + i, status="updated", http_status=200, attempts=1, duration_ms=240)


class Before:
    """The journal as it was: each line written, flushed and fsynced on the event loop."""

    def __init__(self, path: Path) -> None:
        self.handle = path.open("w", encoding="utf-8")

    def record(self, i: int) -> None:
        self.handle.write(_line({"result": result(i).to_dict(), "body": "0" * 16}).decode())
        self.handle.flush()
        os.fsync(self.handle.fileno())

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        self.handle.close()


class After:
    """The journal as it is: `Journal.record` queues, the group commit writes and fsyncs off the loop."""

    batch_sizes: list[float] = []

    def __init__(self, path: Path) -> None:
        self.journal = Journal.open(path, {"target": "bench"}, resume=False, restart=True)
        self.synced = 0

    def record(self, i: int) -> None:
        self.journal.record(result(i), "0" * 16, on_synced=self._synced)

    def _synced(self) -> None:
        self.synced += 1

    async def drain(self) -> None:
        await self.journal.drain()
        commit = self.journal.commit
        After.batch_sizes.append(commit.lines / max(commit.batches, 1))

    def close(self) -> None:
        self.journal.close()


class Nothing:
    """The producer alone: its own loop time is subtracted from both."""

    def __init__(self, path: Path) -> None:
        pass

    def record(self, i: int) -> None:
        pass

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        pass


def measure(make: Callable[[], object], produce: Callable[[object], Awaitable[None]]) -> tuple[float, float]:
    """(loop busy seconds, wall seconds) of one run on a fresh loop with a timed selector."""
    selector = TimedSelector()
    loop = asyncio.SelectorEventLoop(selector)
    try:
        async def run() -> tuple[float, float]:
            writer = make()
            idle0, t0 = selector.idle, time.perf_counter()
            await produce(writer)
            await writer.drain()  # type: ignore[attr-defined]
            wall = time.perf_counter() - t0
            writer.close()  # type: ignore[attr-defined]
            return wall - (selector.idle - idle0), wall

        return loop.run_until_complete(run())
    finally:
        loop.close()


def paced(rows: int, interval: float) -> Callable[[object], Awaitable[None]]:
    async def produce(writer) -> None:
        for i in range(rows):
            writer.record(i)
            await asyncio.sleep(interval)
    return produce


def burst(rows: int, size: int = 50) -> Callable[[object], Awaitable[None]]:
    async def produce(writer) -> None:
        for start in range(0, rows, size):
            for i in range(start, min(rows, start + size)):
                writer.record(i)
            await asyncio.sleep(0)  # the loop turns between bursts, as between answers
    return produce


def fsync_time(folder: Path, count: int = 200) -> float:
    path = folder / "fsync.probe"
    times = []
    with path.open("wb", buffering=0) as handle:
        for _ in range(count):
            start = time.perf_counter()
            handle.write(b"x" * 180 + b"\n")
            os.fsync(handle.fileno())
            times.append(time.perf_counter() - start)
    return statistics.mean(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--interval-ms", type=float, default=2.0, help="gap between rows in the paced test")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the median is shown")
    parser.add_argument("--dir", type=Path, default=Path.cwd())
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-journal-", dir=args.dir))
    try:
        print(f"journal in {folder} ({args.rows} rows; median of {args.repeats})")
        print(f"one line's write + fsync: {fsync_time(folder) * 1e6:.0f} µs")
        for name, produce in (("paced", paced(args.rows, args.interval_ms / 1000)), ("burst", burst(args.rows))):
            figures = {}
            After.batch_sizes = []
            for kind in (Nothing, Before, After):
                runs = [measure(lambda kind=kind: kind(folder / f"{kind.__name__}.jsonl"), produce)
                        for _ in range(args.repeats)]
                figures[kind] = (statistics.median(b for b, _ in runs), statistics.median(w for _, w in runs))
            base = figures[Nothing][0]
            before, after = ((figures[k][0] - base) / args.rows for k in (Before, After))
            label = f"one row every {args.interval_ms:g} ms" if name == "paced" else "bursts of 50 rows"
            print(f"{label}: loop blocked per row {before * 1e6:.0f} µs before, {after * 1e6:.1f} µs after "
                  f"({before / after:.1f}x less)" if after > 0 else f"{label}: {before * 1e6:.0f} µs before")
            if name == "burst":
                rates = [args.rows / figures[k][1] for k in (Before, After)]
                print(f"{label}: {rates[0]:.0f} rows/s durable before, {rates[1]:.0f} after "
                      f"({rates[1] / rates[0]:.1f}x)")
            print(f"{label}: {statistics.median(After.batch_sizes):.1f} rows per fsync after (1 before)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
