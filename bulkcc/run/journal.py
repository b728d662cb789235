"""The run journal: one JSON line per finished row, so a run that dies loses nothing.

It sits next to the results file (`RESULTS.journal.jsonl`). Each row is
appended the moment it completes and counts as done only once its line is
fsynced (in batches, off the event loop: see `commit`); `--resume` reads it
back and sends only the rows not yet updated. A row counts as done only if the
journal holds the same call center updated with the same row body (the whole
body, before any --diff): a row edited since is sent again. A line cut short
by `kill -9` or a full disk is ignored (that row is simply re-sent).

Lines are a header per run (`{"journal": FORMAT, "run": id, ...}`: the id is
the first run's, kept by --resume; a rollback names it, and its deletes believe
only a journal of that run), a result per row
(`{"result": ..., "body": hash}`), a result per operator change (`{"operator":
..., "body": hash}`, keyed by call center and user: `bulkcc.run.operator_phase`),
the records of its rollback workbook, fsynced before each save of it (`{"undo":
...}`: what proves that workbook's rows, `bulkcc.plan.undo_proof`),
and, once a run has gone through every row
and written its results, `{"finished": time, "counts": {...}}`. A create (POST,
not idempotent) adds two: its intent (`{"intent": {"row", "office_id", "name",
"body"}}`), fsynced before the POST is sent, and its result with the key it is
known by (`{"result": ..., "body": hash, "create": {"office_id", "name"}}`; with
`"unsure": true` when nobody knows whether it was made: `maybe_created`). An
intent that no sure result follows, or an unsure result, is *open*: `--resume`
looks for the call center by name again, and sends it again only with
--resend-maybe-created (`bulkcc.run.creates`). A plain run on the same --results
is refused when the journal holds a finished row or an open create (it names
--resume, or for a finished run its counts and time), and --restart is refused
while a create is open (unless --resend-maybe-created); a journal with no
finished row (killed at once, or only failures) is simply started over: by
appending, under the same run id, so that its rollback stays proven.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from bulkcc.errors import UsageError
from bulkcc.names import name_key
from bulkcc.plan.payload import PlannedRequest
from bulkcc.plan.undo_proof import UNDO, UndoRecords
from bulkcc.run.commit import GroupCommit, OnSynced, write_synced
from bulkcc.status import FINAL_STATUSES
from bulkcc.values import counted
from bulkcc.workbook.operator_results import OperatorResult
from bulkcc.workbook.results import RowResult

FORMAT = "bulkcc-journal/1"

# How the journal file is opened (path, "w" or "a") -> a binary file; tests inject faults here,
# the way the client takes its session.
Opener = Callable[[Path, str], BinaryIO]


def open_unbuffered(path: Path, mode: str) -> BinaryIO:
    # The Journal owns and closes it. Unbuffered: a failed write leaves nothing behind in a buffer
    # for a later flush or close to write half of.
    return cast(BinaryIO, open(path, mode + "b", buffering=0))


def journal_path(results_path: str | Path) -> Path:
    path = Path(results_path)
    return path.with_name(path.stem + ".journal.jsonl")


def body_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def _line(entry: dict[str, Any]) -> bytes:
    return (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode()


@dataclass
class JournalState:
    """What a journal file says: the first header, the last result per call center, whether the last run finished."""

    header: dict[str, Any]
    results: dict[int, tuple[RowResult, str]]  # call center id -> (result, body hash); later runs win
    finished: dict[str, Any] | None  # the last run's "finished" entry, if no run started after it
    # Creates, by (office_id, name): the last sure result, and the intents no sure result followed.
    creates: dict[CreateKey, tuple[RowResult, str]] = field(default_factory=dict)
    intents: dict[CreateKey, dict[str, Any]] = field(default_factory=dict)
    # (call center id, user id) -> (result, intent hash) of operator changes; later runs win
    operators: dict[tuple[int, int], tuple[OperatorResult, str]] = field(default_factory=dict)
    undo: UndoRecords = field(default_factory=UndoRecords)  # what proves the rows of the run's rollback

    @property
    def done_count(self) -> int:
        return (sum(1 for result, _ in self.results.values() if result.status in FINAL_STATUSES)
                + sum(1 for result, _ in self.creates.values() if result.id is not None)
                + sum(1 for result, _ in self.operators.values() if result.status in FINAL_STATUSES))


CreateKey = tuple[int, str]  # (office_id, name_key(name)): what a create is known by before it has an id


def _create_key(data: Any) -> CreateKey | None:
    if not isinstance(data, dict):
        return None
    office, name = data.get("office_id"), data.get("name")
    if isinstance(office, int) and not isinstance(office, bool) and isinstance(name, str):
        return office, name_key(name)  # a journal of an older bulkcc kept the name as typed
    return None


def read_journal_state(path: str | Path) -> JournalState:
    header: dict[str, Any] = {}
    results: dict[int, tuple[RowResult, str]] = {}
    creates: dict[CreateKey, tuple[RowResult, str]] = {}
    intents: dict[CreateKey, dict[str, Any]] = {}
    operators: dict[tuple[int, int], tuple[OperatorResult, str]] = {}
    finished: dict[str, Any] | None = None
    undo = UndoRecords()
    with Path(path).open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash or a full disk
            if not isinstance(entry, dict):
                continue
            if "journal" in entry:
                header = header or entry
                finished = None  # a run started after it: that one has not finished (yet)
            elif "intent" in entry:
                key = _create_key(entry["intent"])
                if key is not None:
                    intents[key] = entry["intent"]
            elif "result" in entry and "create" in entry:
                key = _create_key(entry["create"])
                if key is not None and not entry["create"].get("unsure"):
                    creates[key] = (RowResult.from_dict(entry["result"]), entry.get("body", ""))
                    intents.pop(key, None)  # its outcome is known
                elif key is not None:  # maybe made: looked for again (an intent fed back from a results
                    intents.setdefault(key, entry["create"])  # workbook has no intent line of its own here)
            elif "result" in entry:
                result = RowResult.from_dict(entry["result"])
                if result.id is not None:
                    results[result.id] = (result, entry.get("body", ""))
            elif "operator" in entry and isinstance(entry["operator"], dict):
                change = OperatorResult.from_dict(entry["operator"])
                if change.call_center_id is not None and change.user_id is not None:
                    operators[(change.call_center_id, change.user_id)] = (change, entry.get("body", ""))
            elif "finished" in entry:
                finished = entry
            elif UNDO in entry:
                undo.add(entry[UNDO])
    return JournalState(header, results, finished, creates, intents, operators, undo)


def read_journal(path: str | Path) -> tuple[dict[str, Any], dict[int, tuple[RowResult, str]]]:
    """The first header and, per call center id, the last result recorded (later runs win)."""
    state = read_journal_state(path)
    return state.header, state.results


def _when(text: Any) -> str:
    try:
        return datetime.fromisoformat(str(text)).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return str(text)


def _unknown_creates(state: JournalState) -> str:
    return f"{counted(len(state.intents), 'create')} whose outcome is not known"


def _refusal(path: Path, state: JournalState) -> UsageError:
    """Why a plain run may not reuse this journal, and what to do instead."""
    if state.intents:  # --restart would forget them: the way on is to look for them first
        return UsageError(
            f"{path.name} holds {_unknown_creates(state)} (maybe_created, or sent by a run that stopped before "
            "it knew): run the same command with --resume, which looks for each again and sends none of them "
            "again unless you add --resend-maybe-created")
    if state.finished is not None:
        counts = ", ".join(f"{n} {status}" for status, n in state.finished.get("counts", {}).items() if n)
        results = state.finished.get("results") or "these --results"
        return UsageError(
            f"{results} holds the results of an earlier run that finished at "
            f"{_when(state.finished.get('finished'))} ({counts or 'no rows'}; journal {path.name}): to run again, "
            "pick another --results path, or pass --restart to start over and replace them")
    return UsageError(
        f"{path.name} holds an earlier run's journal that stopped part way ({counted(state.done_count, 'row')} done): "
        "add --resume to continue that run (rows already updated are not sent again), or --restart to start over")


class Journal:
    """Append-only record of finished rows; also what `--resume` reads."""

    def __init__(self, path: Path, handle: BinaryIO, previous: dict[int, tuple[RowResult, str]],
                 earlier: JournalState | None = None, run_id: str = ""):
        self.path = path
        self.run_id = run_id
        self.resumed = earlier is not None  # continues an earlier run's journal (--resume)
        self._handle = handle
        self.previous = previous  # call center id -> (result, body hash) from earlier runs
        # Earlier runs' creates (by office and name) and their open intents (--resume only).
        self.created = earlier.creates if earlier is not None else {}
        self.intents = earlier.intents if earlier is not None else {}
        # Earlier runs' operator changes: (center, user) -> (result, intent hash) (--resume only).
        self.previous_operators = earlier.operators if earlier is not None else {}
        self._commit = GroupCommit(handle)

    @classmethod
    def open(cls, path: str | Path, header: dict[str, Any], *, resume: bool, restart: bool = False,
             opener: Opener | None = None, resend_unknown: bool = False) -> Journal:
        """Start a journal, or continue one with `resume`; refuse to silently mix two runs.

        A journal holding creates whose outcome is not known is never started over blind:
        `restart` needs `resend_unknown` (--resend-maybe-created) then, since the creates would
        be sent again without being looked for. The header is written and fsynced before
        this returns: a journal that cannot be written (full disk, read-only mount) stops the
        run here, before any request.
        """
        path = Path(path)
        previous: dict[int, tuple[RowResult, str]] = {}
        previous_operators: dict[tuple[int, int], tuple[OperatorResult, str]] = {}
        if path.exists() and not path.is_file():
            raise UsageError(f"{path} is not a regular file, so it cannot be the run's journal; "
                             "pick another --results path (nothing was sent)")
        if restart and path.is_file() and not resend_unknown and (forgotten := read_journal_state(path)).intents:
            raise UsageError(
                f"{path.name} holds {_unknown_creates(forgotten)}: --restart would send them again without looking "
                "for them first. Run the same command with --resume instead (it looks for each again), or add "
                "--resend-maybe-created to --restart if you checked in Dialpad that they were not made")
        existing = read_journal_state(path) if path.exists() and not restart else None
        if existing is not None and not resume and (existing.done_count or existing.intents):
            raise _refusal(path, existing)
        if existing is not None and resume:
            if existing.header and existing.header.get("target") != header.get("target"):
                raise UsageError(f"{path.name} is the journal of a run against {existing.header.get('target')}, "
                                 f"not {header.get('target')}; pick another --results path")
            previous = existing.results
            previous_operators = existing.operators
        # A journal of the same target with nothing done is started over by appending to it: the records
        # that prove its rollback's rows stay with the run's id (`bulkcc.plan.undo_proof`), and none of
        # its lines counts as done.
        appending = existing is not None and (resume or existing.header.get("target") == header.get("target"))
        # The run's id: a rollback names it, and its deletes are believed only of a journal whose first
        # header carries it (a resumed run keeps the id of the run it continues).
        run_id = str(existing.header.get("run") or "") if appending and existing is not None else ""
        header = {**header, "run": run_id or secrets.token_hex(8)}
        # A line a crash or a full disk cut short must not swallow the next run's header.
        lead = b"\n" if appending and not _ends_with_newline(path) else b""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = (opener or open_unbuffered)(path, "a" if appending else "w")
        except OSError as exc:
            raise _unwritable(path, exc) from None
        try:
            write_synced(handle, lead + _line({"journal": FORMAT, **header,
                                               "resumed": bool(previous or previous_operators)}))
        except OSError as exc:
            handle.close()
            raise _unwritable(path, exc) from None
        return cls(path, handle, previous, existing if resume and appending else None, run_id=header["run"])

    def done_rows(self, requests: Iterable[PlannedRequest], hashes: Mapping[int, str]) -> dict[int, RowResult]:
        """Earlier results that still stand, by current row: the same call center, done, for the same body.

        Matching on the id (not the row number) keeps a sorted or edited sheet safe:
        a row counts as done only if its own call center got its own body.
        """
        done = {}
        for request in requests:
            earlier = self.previous.get(request.id)
            if earlier and earlier[0].status in FINAL_STATUSES and earlier[1] == hashes[request.row]:
                done[request.row] = replace(earlier[0], row=request.row)
        return done

    def record(self, result: RowResult, digest: str, on_synced: OnSynced | None = None,
               extra: Mapping[str, Any] | None = None) -> bool:
        """Queue a row's line (`extra`: more keys, e.g. a create's); `on_synced` runs once it is on disk.
        False if it never will be (see `failure`)."""
        return self._commit.put(_line({"result": result.to_dict(), "body": digest, **(extra or {})}), on_synced)

    async def write_now(self, entry: Mapping[str, Any]) -> bool:
        """Write one line and wait until it is fsynced (a create's intent, before its POST goes out).
        False if it could not be written: then nothing may be sent for it."""
        written: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def synced() -> None:
            if not written.done():
                written.set_result(True)

        if not self._commit.put(_line(dict(entry)), synced):
            return False
        while not written.done():  # the writer either syncs the line or fails: bounded by the disk
            if self.failure is not None:
                return False
            await asyncio.wait({written}, timeout=0.05)
        return True

    def record_operator(self, result: OperatorResult, digest: str, on_synced: OnSynced | None = None) -> bool:
        """Queue an operator change's line, like `record`."""
        return self._commit.put(_line({"operator": result.to_dict(), "body": digest}), on_synced)

    @property
    def failure(self) -> OSError | None:
        """The write error that stopped the journal, if one did; rows queued since are not on disk."""
        return self._commit.failure

    def failure_message(self) -> str:
        """Why the run stopped, in one line, when the journal failed."""
        return (f"the journal {self.path.name} could not be written ({self._reason()}): no new request was "
                "started and those in flight were let finish; free some space, then run the same command "
                "with --resume")

    def unrecorded_note(self) -> str:
        """The note of a row the API answered but the failed journal could not record."""
        return (f"the API answered, but the journal could not record it ({self._reason()}): "
                "--resume sends this row again")

    def _reason(self) -> str:
        return (self.failure.strerror if self.failure is not None else None) or str(self.failure)

    def on_failure(self, callback: Callable[[OSError], None]) -> None:
        self._commit.on_failure = callback

    @property
    def commit(self) -> GroupCommit:
        return self._commit

    async def drain(self) -> None:
        """Wait until every queued line is on disk (or the journal failed); no line is queued after."""
        await self._commit.aclose()

    def write_drained(self, entry: Mapping[str, Any]) -> bool:
        """Write one line at once, once `drain` has ended the writer thread (the narrowed rollback's
        records); False if it could not be written."""
        if self.failure is not None:
            return False
        try:
            write_synced(self._handle, _line(dict(entry)))
        except OSError:
            return False
        return True

    def finish(self, ended: datetime, counts: Mapping[str, int], exit_code: int, results_name: str) -> bool:
        """Mark the run finished (after its results are written); False if that could not be written."""
        if self.failure is not None:
            return False
        try:
            write_synced(self._handle, _line({"finished": ended.isoformat(), "counts": dict(counts),
                                              "exit_code": exit_code, "results": results_name}))
        except OSError:
            # Only the message of a later plain run differs: it asks for --resume, which sends nothing.
            return False
        return True

    def close(self) -> None:
        try:
            self._handle.close()
        except OSError:
            pass  # everything that counts was fsynced; a close error cannot lose a row


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        if handle.seek(0, os.SEEK_END) == 0:
            return True
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _unwritable(path: Path, exc: OSError) -> UsageError:
    return UsageError(f"cannot write the journal {path} ({exc.strerror or exc}); free some space or pick "
                      "another --results folder (nothing was sent)")
