"""Progress of a run: a live bar on a terminal, periodic lines in a log, or nothing.

All three take the same calls (`start`, `advance`, `close`), so the sender does
not care where its progress goes.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from bulkcc.status import Status

FAILED = frozenset({Status.FAILED, Status.MISMATCH})  # what the progress line counts as failed


class QuietProgress:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.started = time.monotonic()

    def start(self, total: int, label: str) -> None:
        self.total, self.started = total, time.monotonic()

    def advance(self, status: str) -> None:
        self.counts[status] += 1

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def rate_per_min(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed * 60 if elapsed > 0 else 0.0

    def close(self) -> None:
        pass


class LineProgress(QuietProgress):
    """For logs and CI: one plain line every `every` seconds, and one at the end."""

    def __init__(self, stream: TextIO = sys.stderr, every: float = 5.0) -> None:
        super().__init__()
        self.stream, self.every, self._last = stream, every, 0.0

    def start(self, total: int, label: str) -> None:
        super().start(total, label)
        self._last = time.monotonic()
        print(f"sending {total} requests to {label}", file=self.stream, flush=True)

    def advance(self, status: str) -> None:
        super().advance(status)
        if time.monotonic() - self._last >= self.every:
            self._print()

    def _print(self) -> None:
        self._last = time.monotonic()
        failed = sum(self.counts[s] for s in FAILED)
        left = self.total - self.done
        rate = self.rate_per_min()
        eta = f", about {left / rate * 60:.0f} s left" if rate and left else ""
        print(f"{self.done}/{self.total} done, {failed} failed, {rate:.0f}/min{eta}", file=self.stream, flush=True)

    def close(self) -> None:
        self._print()


class BarProgress(QuietProgress):
    """A live bar on a terminal: rows done, failed, rate and time left."""

    def __init__(self, console: Console | None = None) -> None:
        super().__init__()
        self._bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"), TextColumn("{task.fields[rate]}/min"),
            TimeRemainingColumn(), console=console or Console(stderr=True), transient=False,
        )
        self._task: TaskID | None = None

    def start(self, total: int, label: str) -> None:
        super().start(total, label)
        self._bar.start()
        self._task = self._bar.add_task("PATCH", total=total, failed=0, rate=0)

    def advance(self, status: str) -> None:
        super().advance(status)
        failed = sum(self.counts[s] for s in FAILED)
        if self._task is None:
            return
        self._bar.update(self._task, advance=1, failed=failed, rate=f"{self.rate_per_min():.0f}")

    def close(self) -> None:
        self._bar.stop()


def make_progress(quiet: bool, stream: TextIO = sys.stderr) -> QuietProgress:
    if quiet:
        return QuietProgress()
    if stream.isatty():
        return BarProgress()
    return LineProgress(stream)
