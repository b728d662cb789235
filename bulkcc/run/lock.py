"""Runs that must not overlap: one run per results path, and one create phase per target on a machine.

Each is an OS-level lock (filelock's `FileLock`: flock on Unix) and a note of who
holds it (pid, host, start time, input), and each refuses a second holder at once,
naming the first: never a wait, since the other run may take hours.

- `RunLock`: `RESULTS.journal.lock` beside the journal, held for the whole of an
  `apply`, before the journal is read or truncated. A second `apply` on the same
  --results, with or without --resume or --restart, is refused.
- `TargetLock`: held by a run that creates call centers, from before its
  confirmation to its end, keyed on the target (the API's base URL, or the
  simulator's state file) and not on --results. Two runs that create at once
  could each list an office before the other's POST shows there, and both make
  the same center. The lock lives in one folder per user (`BULKCC_LOCK_DIR`, else
  `$XDG_CACHE_HOME/bulkcc/locks`, else `~/.cache/bulkcc/locks`), so it covers every
  run of one user on one machine, and of users that share that folder. It cannot
  cover two machines: nothing the API offers can (see the README).

The kernel drops a lock when its holder exits, however it exits (`kill -9`
included), so a dead run never blocks the next one. A lock file stays in place
(empty) after a run: removing it on release would let two later runs lock two
different files of the same name. The note is a file of its own (`….lock-info`),
written once the lock is held and removed before it is released; a note left by
a killed run is simply overwritten by the next holder. (filelock 3.x truncates the
lock file when it opens it, before it knows whether it gets the lock, so the lock
file cannot carry the note.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from filelock import FileLock, Timeout

from bulkcc.errors import UsageError
from bulkcc.plan import Plan
from bulkcc.run.options import ApplyOptions

LOCK_DIR_ENV = "BULKCC_LOCK_DIR"


def lock_path(results_path: str | Path) -> Path:
    path = Path(results_path)
    return path.with_name(path.stem + ".journal.lock")


def lock_info_path(results_path: str | Path) -> Path:
    path = Path(results_path)
    return path.with_name(path.stem + ".journal.lock-info")


def read_info(info_path: Path) -> dict[str, Any] | None:
    """The note of the run that holds (or last held) a lock, or None if there is none to read."""
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def read_lock_info(results_path: str | Path) -> dict[str, Any] | None:
    return read_info(lock_info_path(results_path))


def describe_holder(info: dict[str, Any] | None) -> str:
    if not info:
        return "a run that has not written who it is yet"
    started = info.get("started")
    try:
        started = datetime.fromisoformat(str(started)).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        pass
    what = f" on {info['input']}" if info.get("input") else ""
    results = f", --results {info['results']}" if info.get("results") else ""
    return f"pid {info.get('pid')} on host {info.get('host')}, started {started}{what}{results}"


class HeldLock:
    """A lock held for a run, with a note of who holds it; a second holder is refused at once."""

    def __init__(self, path: Path, info_path: Path, *, input_name: str | None = None,
                 results: str | None = None) -> None:
        self.path = path
        self.info_path = info_path
        self._info = {"input": input_name, **({"results": results} if results else {})}
        self._lock = FileLock(str(self.path), timeout=0)  # never wait: the other run may take hours

    def refusal(self, holder: str) -> str:
        raise NotImplementedError

    def acquire(self) -> HeldLock:
        try:
            self._lock.acquire()
        except Timeout:
            raise UsageError(self.refusal(describe_holder(read_info(self.info_path)))) from None
        except OSError as exc:
            raise UsageError(f"cannot lock {self.path} ({exc.strerror or exc}); {self.unwritable_fix()} "
                             "(nothing was sent)") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": datetime.now(UTC).isoformat(),
                **self._info}
        try:
            # Written in place, not atomically: a reader that catches it half-written only loses the
            # names, and an atomic write would leave its temporary file behind after a kill -9.
            self.info_path.write_text(json.dumps(info) + "\n", encoding="utf-8")
        except OSError as exc:
            self._lock.release()
            raise UsageError(f"cannot write {self.info_path} ({exc.strerror or exc}); {self.unwritable_fix()} "
                             "(nothing was sent)") from None
        return self

    def unwritable_fix(self) -> str:
        return "free some space or pick another --results folder"

    def release(self) -> None:
        if not self._lock.is_locked:
            return
        try:
            # Before the release: a run refused later never reads the note of one that ended cleanly.
            self.info_path.unlink(missing_ok=True)
        except OSError:
            pass
        self._lock.release()

    def __enter__(self) -> HeldLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


class RunLock(HeldLock):
    """Held for a whole `apply` on one results path; refuses (UsageError) while another run holds it."""

    def __init__(self, results_path: str | Path, *, input_name: str | None = None) -> None:
        self.results_path = Path(results_path)
        super().__init__(lock_path(results_path), lock_info_path(results_path), input_name=input_name)

    def refusal(self, holder: str) -> str:
        return (f"another bulkcc apply is running on --results {self.results_path} ({holder}); wait for it to end "
                "or stop it, or pick another --results path (nothing was sent)")


def lock_dir() -> Path:
    """The folder of the target locks (see the module's docstring), made if need be (private: 0700)."""
    configured = os.environ.get(LOCK_DIR_ENV)
    if configured:
        folder = Path(configured)
    else:
        cache = os.environ.get("XDG_CACHE_HOME")
        if not cache:
            try:
                cache = str(Path.home() / ".cache")
            except (RuntimeError, KeyError):  # no HOME, and a user id the password database lacks (a container)
                raise UsageError(f"cannot tell where to keep the create lock: HOME is not set and this user has "
                                 f"no home folder; set {LOCK_DIR_ENV} (or HOME) to a folder you can write "
                                 "(nothing was sent)") from None
        folder = Path(cache) / "bulkcc" / "locks"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UsageError(f"cannot make the lock folder {folder} ({exc.strerror or exc}): set {LOCK_DIR_ENV} to a "
                         "folder you can write (nothing was sent)") from None
    return folder


class TargetLock(HeldLock):
    """Held by a run that creates call centers on one target (see the module's docstring)."""

    def __init__(self, target_key: str, label: str, *, input_name: str | None = None,
                 results: str | None = None) -> None:
        digest = hashlib.sha256(target_key.encode()).hexdigest()[:24]
        folder = lock_dir()
        self.label = label
        super().__init__(folder / f"creates-{digest}.lock", folder / f"creates-{digest}.lock-info",
                         input_name=input_name, results=results)

    def refusal(self, holder: str) -> str:
        return (f"another bulkcc run is creating call centers on {self.label} ({holder}): two runs that create at "
                "once could each make a center the other's listing does not show yet, so one waits for the other. "
                "Run this one again once that one has ended (nothing was sent)")

    def unwritable_fix(self) -> str:
        return f"set {LOCK_DIR_ENV} to a folder you can write"


def target_key(base_url: str) -> str:
    """One key for every spelling of one API: `https://Dialpad.com:443/`, `https://dialpad.com.` and
    `https://dialpad.com` are one target, so are `localhost` and `127.0.0.1` (a lock too wide only refuses)."""
    parts = urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    host = "127.0.0.1" if host in ("localhost", "::1") else host
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # resolve_target took it, so this is a port it cannot read either: the URL as it is
        return base_url.rstrip("/").lower()
    return f"{scheme}://{host}:{port}{parts.path.rstrip('/')}"


@contextlib.contextmanager
def creates_lock(target_key: str | None, label: str, *, input_name: str, results: Path) -> Iterator[None]:
    """The target's create lock, held for the block; none for `target_key` None (nothing to create, or a
    simulator of this process alone)."""
    if target_key is None:
        yield
        return
    with TargetLock(target_key, label, input_name=input_name, results=str(results)):
        yield


def creating(options: ApplyOptions, the_plan: Plan, input_name: str) -> contextlib.AbstractContextManager[None]:
    """The target's create lock for a plan with creates (`lock.TargetLock`): one create phase per target on
    this machine, whatever --results each run writes; taken before the confirmation, held to the end."""
    key: str | None = None
    label = options.target.base_url
    if the_plan.creates:
        state = options.connection.simulator_state
        if not options.target.simulator:
            key = target_key(options.target.base_url)
        elif state is not None:
            key, label = f"simulator:{Path(state).resolve()}", f"the simulator state {state}"
    return creates_lock(key, label, input_name=input_name, results=options.results_path)
