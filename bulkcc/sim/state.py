"""The simulator's state file: its call centers on disk, shared by every command that uses it.

`--simulator` starts a simulator inside the command and `bulkcc simulate`
serves one for others; both keep their call centers in one local file, so
`export`, `apply --diff` and the rollback of a walk-through all see the same
made-up company, one command after the other or at the same time.

The file is JSON Lines, in the simulator's internal form (ints, not the wire's
int64 strings): a header line `{"bulkcc_simulator_state": 1, "generation": ...}`
(the generation is new with each rewrite of the whole file), then one call
center per line, and the company's other records (users, licenses, operators,
deletions: lines with a `kind`, see `sim.operators`) among them. A later line
for an id supersedes the earlier ones, so a change is one or two appended lines
(O(1) per request, however many call centers the file holds) and is on disk
before the request is answered. A file from before operators (no `kind` lines)
loads as it is: its call centers get made-up operators on first use.

What keeps it whole when several commands use it at once:
- every write, and every read that follows another process's write, holds an
  exclusive `filelock` lock on `<file>.lock`;
- a PATCH syncs, merges and appends under that one lock, so two commands
  changing the same call center never lose either change;
- rewriting the whole file (creation, `--reset`, compaction once it holds more
  than twice the lines it needs) goes to a temporary file first, fsynced, then
  `os.replace`d over it: a reader sees the old file or the new one, never half;
- an append cut short by a crash leaves a last line without its newline: it was
  never answered, so readers skip it and the next writer cuts it off.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from bulkcc.sim.operators import Company
from bulkcc.sim.store import seed_store

HEADER_KEY = "bulkcc_simulator_state"
FORMAT_VERSION = 1
LOCK_TIMEOUT_S = 10.0  # far above any hold of the lock: one append, or one rewrite of the file
_COMPACT_SLACK = 64  # lines beyond 2 per call center before the file is rewritten
_HEADER_MAX = 256  # bytes: the header line is far shorter

Store = dict[int, dict[str, Any]]
_Stat = tuple[int, int, int, int]  # (device, inode, size, mtime in ns): "has the file changed?"


class StateError(Exception):
    """The state file cannot be read, written or locked; the message says which and what to do."""


class MemoryState:
    """No file: the call centers live as long as the simulator (tests, `bulkcc simulate --seed`)."""

    company: Company | None = None  # the simulator makes one (a StateFile's comes from its file)

    def sync(self, store: Store) -> None:
        pass

    @contextlib.contextmanager
    def changing(self, store: Store) -> Iterator[None]:
        yield

    def record(self, callcenter: dict[str, Any]) -> None:
        pass

    def write(self, records: list[dict[str, Any]]) -> None:
        pass

    def close(self, store: Store) -> None:
        pass


class StateFile(MemoryState):
    """The call centers of the file at `path`; each simulator using it holds one of these."""

    def __init__(self, path: str | Path, *, lock_timeout: float = LOCK_TIMEOUT_S) -> None:
        self.path = Path(path)
        self._lock = FileLock(f"{self.path}.lock", timeout=lock_timeout)
        self._known: _Stat | None = None  # the file as we last read or wrote it
        self._offset = 0  # bytes of complete lines read: where the next line starts
        self._lines = 0  # lines read, the header included (for error messages and compaction)
        self._generation: Any = None  # the header's token, new with each rewrite of the whole file
        self.company: Company = Company()  # users, licenses, operators: filled by `load`

    # ------------------------------------------------------------ what the simulator calls

    def load(self, initial: Callable[[], Store], ids: Iterable[int] = (), *, reset: bool = False) -> Store:
        """The call centers of the file, created from `initial()` if it is missing (or on `reset`).

        Ids in `ids` the file does not hold get made-up call centers (the same
        `seed_store` ones an in-memory simulator would serve), written to it,
        but for those deleted through the API. Made-up call centers get made-up
        operators (`Company.seed`); `self.company` holds the company afterwards.
        """
        with self._locked():
            store: Store = {}
            self.company.clear()
            if reset and self.path.exists() and not self._is_state_file():
                raise StateError(f"{self.path} is not a bulkcc simulator state file: --reset replaces only "
                                 "those; choose another path")
            if reset or not self.path.exists():
                store = initial()
                self._rewrite(store)
            else:
                self._read(store, from_start=True)
            if not self.company.configured:  # new, reset, or from before operators
                self.company.configured = True
                self._append([self.company.config_record(), *self.company.seed(store, sorted(store))])
            missing = [cc_id for cc_id in dict.fromkeys(ids)
                       if cc_id not in store and cc_id not in self.company.deleted]
            if missing:
                added = seed_store(missing, random.Random(0))
                self._append(added.values())
                store.update(added)
                self._append(self.company.seed(store, missing))
            self._compact_if_grown(store)
            return store

    def sync(self, store: Store) -> None:
        """Bring `store` up to date with what other commands wrote (one stat when nothing changed)."""
        if self._stat() == self._known:
            return
        with self._locked():
            self._sync_locked(store)

    @contextlib.contextmanager
    def changing(self, store: Store) -> Iterator[None]:
        """Hold the lock over a read-modify-write of `store`; call `record` for what changed."""
        with self._locked():
            self._sync_locked(store)
            yield

    def record(self, callcenter: dict[str, Any]) -> None:
        """Append one changed call center (inside `changing`): on disk when this returns."""
        self._append([callcenter])

    def write(self, records: list[dict[str, Any]]) -> None:
        """Append company records (inside `changing`, before they are applied): on disk when this returns."""
        self._append(records)

    def close(self, store: Store) -> None:
        """Rewrite the file if it has grown; a failure here loses nothing (every change is already in it)."""
        with contextlib.suppress(StateError, OSError):
            with self._locked():
                self._sync_locked(store)
                self._compact_if_grown(store)

    # ------------------------------------------------------------ inside the lock

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            with self._lock:
                yield
        except Timeout:
            raise StateError(f"the simulator state {self.path} stayed locked for {self._lock.timeout:g} s: "
                             "another command is using it; let it finish (or stop it) and try again") from None
        except OSError as exc:
            raise StateError(f"cannot use the simulator state {self.path}: {exc.strerror or exc}") from exc

    def _sync_locked(self, store: Store) -> None:
        stat = self._stat()
        if stat is None:  # removed while we ran: put back what we hold rather than fail
            self._rewrite(store)
        elif stat == self._known:
            return
        elif stat[2] < self._offset or self._header_generation() != self._generation:
            # Rewritten by another command: read it again from the start. The inode cannot
            # tell (ext4 hands the old number to the next file at once); the header's
            # generation, new with each rewrite, can.
            store.clear()
            self.company.clear()
            self._read(store, from_start=True)
        else:
            self._read(store, from_start=False)

    def _read(self, store: Store, *, from_start: bool) -> None:
        with open(self.path, "rb") as file:
            if from_start:
                # The header first, on its own: a file that is not ours (a workbook named by
                # mistake) is refused without reading it all, and never written to.
                header = _header(file.readline(_HEADER_MAX))
                if header is None:
                    raise StateError(f"{self.path} is not a bulkcc simulator state file: choose another path")
                self._generation = header.get("generation")
                self._offset, self._lines = file.tell(), 1
            file.seek(self._offset)
            data = file.read()
            self._known = self._fstat(file)
        end = data.rfind(b"\n") + 1  # a last line without its newline is an append cut short: skip it
        for line in data[:end].splitlines():
            self._lines += 1
            item = self._parse(line)
            if isinstance(item, dict) and "kind" in item:
                try:
                    self.company.apply(store, item)
                except (KeyError, TypeError, ValueError) as exc:
                    raise self._corrupt(f"is not a record the simulator wrote ({exc})") from None
                continue
            if not (isinstance(item, dict) and _is_id(item.get("id"))):
                raise self._corrupt("is not a call center with a positive integer id")
            store[item["id"]] = item
            self.company.created(item["id"])
        self._offset += end

    def _parse(self, line: bytes) -> Any:
        try:
            return json.loads(line)
        except ValueError:
            raise self._corrupt("is not JSON") from None

    def _corrupt(self, what: str) -> StateError:
        return StateError(f"{self.path} line {self._lines} {what}: delete the file or run "
                          f"`bulkcc simulate --reset --state {self.path}` to start over")

    def _is_state_file(self) -> bool:
        return self._header_generation() is not False

    def _header_generation(self) -> Any:
        """The generation in the file's header (None if it has none), False if it is not a state file."""
        try:
            with open(self.path, "rb") as file:
                header = _header(file.readline(_HEADER_MAX))
        except OSError:
            return False
        return False if header is None else header.get("generation")

    def _append(self, lines: Iterable[dict[str, Any]]) -> None:
        data = b"".join(_line(item) for item in lines)
        with open(self.path, "r+b") as file:
            # Past the last line we read there is only an append cut short by a crash
            # (we synced under this lock): it was never answered, so it goes.
            file.truncate(self._offset)
            file.seek(self._offset)
            file.write(data)
            file.flush()  # in the OS's hands before the PATCH is answered: a crash of ours cannot lose it
            self._known = self._fstat(file)
        self._offset += len(data)
        self._lines += data.count(b"\n")

    def _compact_if_grown(self, store: Store) -> None:
        needed = len(store) + len(self.company.records())
        if self._lines - 1 > 2 * needed + _COMPACT_SLACK:
            self._rewrite(store)

    def _rewrite(self, store: Store) -> None:
        generation = secrets.token_hex(8)
        header = _line({HEADER_KEY: FORMAT_VERSION, "generation": generation})
        records = self.company.records()
        data = header + b"".join(_line(store[cc_id]) for cc_id in sorted(store)) + b"".join(map(_line, records))
        folder = self.path.parent
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())  # the new content is on disk before its name is
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self._known = self._stat()
        self._generation = generation
        self._offset, self._lines = len(data), 1 + len(store) + len(records)

    def _stat(self) -> _Stat | None:
        try:
            return _stat_tuple(os.stat(self.path))
        except FileNotFoundError:
            return None

    @staticmethod
    def _fstat(file: Any) -> _Stat:
        return _stat_tuple(os.fstat(file.fileno()))


def _stat_tuple(stat: os.stat_result) -> _Stat:
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def _header(line: bytes) -> dict[str, Any] | None:
    """The header line as a dict, or None if it is not one of ours."""
    if not line.endswith(b"\n"):
        return None
    try:
        first = json.loads(line)
    except ValueError:
        return None
    return first if isinstance(first, dict) and first.get(HEADER_KEY) == FORMAT_VERSION else None


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _line(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
