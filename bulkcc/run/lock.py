"""One run per results path: an OS-level lock beside the journal, and a note of who holds it.

`RESULTS.journal.lock` is locked with filelock's `FileLock` (flock on Unix) for
the whole run, before the journal is read or truncated. A second `apply` on the
same --results, with or without --resume or --restart, is refused at once and
told which run holds it. The kernel drops the lock when its holder exits, however
it exits (`kill -9` included), so a dead run never blocks the next one.

The lock file stays in place (empty) after a run: removing it on release would
let two later runs lock two different files of the same name. Who holds the
lock (pid, host, start time, input) is written to `RESULTS.journal.lock-info`
once the lock is held, and removed before it is released; a note left by a
killed run is simply overwritten by the next holder. It is a file of its own
because filelock 3.x truncates the lock file when it opens it, before it knows
whether it gets the lock, so the lock file cannot carry the note.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from filelock import FileLock, Timeout

from bulkcc.errors import UsageError


def lock_path(results_path: str | Path) -> Path:
    path = Path(results_path)
    return path.with_name(path.stem + ".journal.lock")


def lock_info_path(results_path: str | Path) -> Path:
    path = Path(results_path)
    return path.with_name(path.stem + ".journal.lock-info")


def read_lock_info(results_path: str | Path) -> dict[str, Any] | None:
    """The note of the run that holds (or last held) the lock, or None if there is none to read."""
    try:
        info = json.loads(lock_info_path(results_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def describe_holder(info: dict[str, Any] | None) -> str:
    if not info:
        return "a run that has not written who it is yet"
    started = info.get("started")
    try:
        started = datetime.fromisoformat(str(started)).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        pass
    what = f" on {info['input']}" if info.get("input") else ""
    return f"pid {info.get('pid')} on host {info.get('host')}, started {started}{what}"


class RunLock:
    """Held for a whole `apply` on one results path; refuses (UsageError) while another run holds it."""

    def __init__(self, results_path: str | Path, *, input_name: str | None = None) -> None:
        self.results_path = Path(results_path)
        self.path = lock_path(results_path)
        self.info_path = lock_info_path(results_path)
        self._input_name = input_name
        self._lock = FileLock(str(self.path), timeout=0)  # never wait: the other run may take hours

    def acquire(self) -> RunLock:
        try:
            self._lock.acquire()
        except Timeout:
            holder = describe_holder(read_lock_info(self.results_path))
            raise UsageError(f"another bulkcc apply is running on --results {self.results_path} ({holder}); "
                             "wait for it to end or stop it, or pick another --results path (nothing was sent)"
                             ) from None
        except OSError as exc:
            raise UsageError(f"cannot lock {self.path} ({exc.strerror or exc}); pick another --results folder "
                             "(nothing was sent)") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": datetime.now(UTC).isoformat(),
                "input": self._input_name}
        try:
            # Written in place, not atomically: a reader that catches it half-written only loses the
            # names, and an atomic write would leave its temporary file behind after a kill -9.
            self.info_path.write_text(json.dumps(info) + "\n", encoding="utf-8")
        except OSError as exc:
            self._lock.release()
            raise UsageError(f"cannot write {self.info_path} ({exc.strerror or exc}); free some space or pick "
                             "another --results folder (nothing was sent)") from None
        return self

    def release(self) -> None:
        if not self._lock.is_locked:
            return
        try:
            # Before the release: a run refused later never reads the note of one that ended cleanly.
            self.info_path.unlink(missing_ok=True)
        except OSError:
            pass
        self._lock.release()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()
