"""Progress of a run: a live bar on a terminal, periodic lines in a log, or nothing.

All three take the same calls (`start`, `advance`, `close`), so the sender does
not care where its progress goes. A run has up to two phases, each started
with `start`: reading the live call centers (--diff) and sending the PATCHes
(and the operators sheet's: reading live operators, sending their changes).

The rate shown is the starts of the last whole seconds (up to ten), not rows
done over time elapsed: answers finish in bunches, and done/elapsed showed
1246-2002/min while the pacer held 1200. The pacer lets at most floor(PER_MIN/60)
requests start in any one second, so a count over a window of whole seconds
can never show more than the allowed rate. Each start is known when its call
finishes (`advance` is given the call's start times), so a window never holds
more starts than really happened. The clock is given, so tests can check the
shown rate without timing anything.
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from bulkcc.status import Status
from bulkcc.values import counted

Clock = Callable[[], float]

RATE_WINDOW_S = 10  # the rate shown is over the last 10 s (fewer whole seconds at the start)
# Per phase: the bar's label, and the line that starts it in a log.
# (bar label, the line that starts the phase, the noun its total counts)
PHASES = {
    "sending": ("PATCH", "sending {total} to {label}", "request"),
    "reading": ("GET", "reading {total} from {label}", "live call center"),
    "listing": ("GET", "reading the call centers of {total} from {label}", "office"),
    "looking up": ("GET", "looking up {total} on {label}", "name"),
    "creating": ("POST", "creating {total} on {label}", "call center"),
    "deleting": ("delete", "deleting {total} on {label}", "call center"),  # a label: no method literal
    # The operators sheet's phases: its --diff reads, then its changes (after the call centers').
    "reading operators": ("GET operators", "reading the operators of {total} from {label}", "call center"),
    "reading skills": ("GET skill", "reading the skill levels of {total} from {label}", "operator"),
    "operators": ("operators", "sending {total} to {label}", "operator change"),
}


class QuietProgress:
    """Counts, and the rate of starts; shows nothing."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.phase = "sending"
        self._starts: list[float] = []  # clock() of each attempt's start within the window
        self._first_start: float | None = None

    def start(self, total: int, label: str, phase: str = "sending") -> None:
        self.total, self.phase = total, phase
        self.counts = Counter()
        self._starts, self._first_start = [], None

    def advance(self, status: str, started_at: Iterable[float] = ()) -> None:
        """One call finished with `status`; `started_at` are the starts of its attempts."""
        self.counts[status] += 1
        for moment in started_at:
            self._starts.append(moment)
            if self._first_start is None or moment < self._first_start:
                self._first_start = moment

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    @property
    def failed(self) -> int:
        return self.counts[Status.FAILED]

    @property
    def mismatched(self) -> int:
        return self.counts[Status.MISMATCH]

    def rate_per_min(self) -> float:
        """Starts per minute over the last whole seconds (1 to 10) of the phase."""
        if self._first_start is None:
            return 0.0
        now = self.clock()
        window = min(RATE_WINDOW_S, max(1, math.ceil(now - self._first_start)))
        self._starts = [t for t in self._starts if t > now - RATE_WINDOW_S]  # older ones never count again
        started = sum(1 for t in self._starts if now - window < t <= now)
        return started / window * 60

    def outcome_text(self) -> str:
        """`3 failed`, and `, 2 mismatch` when any write was accepted but not taken."""
        text = f"{self.failed} failed"
        return text + (f", {self.mismatched} mismatch" if self.mismatched else "")

    def close(self) -> None:
        pass


class LineProgress(QuietProgress):
    """For logs and CI: one plain line every `every` seconds, and one at the end of each phase."""

    def __init__(self, stream: TextIO = sys.stderr, every: float = 5.0, clock: Clock = time.monotonic) -> None:
        super().__init__(clock)
        self.stream, self.every, self._last = stream, every, 0.0

    def start(self, total: int, label: str, phase: str = "sending") -> None:
        super().start(total, label, phase)
        self._last = self.clock()
        if total:  # a phase with nothing to do (a rollback with no PATCH rows) is not worth two lines
            _, line, noun = PHASES[phase]
            print(line.format(total=counted(total, noun), label=label), file=self.stream, flush=True)

    def advance(self, status: str, started_at: Iterable[float] = ()) -> None:
        super().advance(status, started_at)
        if self.clock() - self._last >= self.every:
            self._print()

    def line(self) -> str:
        left = self.total - self.done
        rate = self.rate_per_min()
        eta = f", about {left / rate * 60:.0f} s left" if rate and left else ""
        return f"{self.done}/{self.total} done, {self.outcome_text()}, {rate:.0f}/min{eta}"

    def _print(self) -> None:
        self._last = self.clock()
        print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self.total:
            self._print()


class BarProgress(QuietProgress):
    """A live bar on a terminal: rows done, failed and mismatched, rate and time left."""

    def __init__(self, console: Console | None = None, clock: Clock = time.monotonic) -> None:
        super().__init__(clock)
        self._bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[outcome]}"), TextColumn("{task.fields[rate]}/min"),
            TimeRemainingColumn(), console=console or Console(stderr=True), transient=False,
        )
        self._task: TaskID | None = None

    def start(self, total: int, label: str, phase: str = "sending") -> None:
        super().start(total, label, phase)
        self._bar.start()  # a second phase adds its bar under the first one's
        self._task = self._bar.add_task(PHASES[phase][0], total=total, outcome=self.outcome_text(), rate=0)

    def advance(self, status: str, started_at: Iterable[float] = ()) -> None:
        super().advance(status, started_at)
        if self._task is None:
            return
        self._bar.update(self._task, advance=1, outcome=self.outcome_text(), rate=f"{self.rate_per_min():.0f}")

    def close(self) -> None:
        self._bar.stop()


def make_progress(quiet: bool, stream: TextIO = sys.stderr) -> QuietProgress:
    if quiet:
        return QuietProgress()
    if stream.isatty():
        return BarProgress()
    return LineProgress(stream)
