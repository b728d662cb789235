"""The run journal: one JSON line per finished row, so a run that dies loses nothing.

It sits next to the results file (`RESULTS.journal.jsonl`). Each row is appended
and flushed to disk the moment it completes; `--resume` reads it back and sends
only the rows not yet updated. A row counts as done only if the journal holds
the same call center updated with the same row body (the whole body, before
any --diff): a row edited since is sent again. A line cut short by `kill -9` is
ignored (that row is simply re-sent).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from bulkcc.errors import UsageError
from bulkcc.plan.payload import PlannedRequest
from bulkcc.status import FINAL_STATUSES
from bulkcc.workbook.results import RowResult

FORMAT = "bulkcc-journal/1"


def journal_path(results_path: str | Path) -> Path:
    path = Path(results_path)
    return path.with_name(path.stem + ".journal.jsonl")


def body_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


class Journal:
    """Append-only record of finished rows; also what `--resume` reads."""

    def __init__(self, path: Path, handle: IO[str], previous: dict[int, tuple[RowResult, str]]):
        self.path = path
        self._handle = handle
        self.previous = previous  # call center id -> (result, body hash) from earlier runs

    @classmethod
    def open(cls, path: str | Path, header: dict[str, Any], *, resume: bool, restart: bool = False) -> Journal:
        """Start a journal, or continue one with `resume`; refuse to silently mix two runs."""
        path = Path(path)
        previous: dict[int, tuple[RowResult, str]] = {}
        if path.exists() and not resume and not restart:
            raise UsageError(
                f"{path.name} holds an earlier run's journal: add --resume to continue that run "
                "(rows already updated are not sent again), or --restart to start over"
            )
        if path.exists() and resume:
            old_header, previous = read_journal(path)
            if old_header and old_header.get("target") != header.get("target"):
                raise UsageError(f"{path.name} is the journal of a run against {old_header.get('target')}, "
                                 f"not {header.get('target')}; pick another --results path")
        mode = "a" if resume and path.exists() else "w"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open(mode, encoding="utf-8")
        journal = cls(path, handle, previous)
        journal._write({"journal": FORMAT, **header, "resumed": bool(previous)})
        return journal

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

    def record(self, result: RowResult, digest: str) -> None:
        self._write({"result": result.to_dict(), "body": digest})

    def _write(self, entry: dict[str, Any]) -> None:
        self._handle.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())  # what is journaled survives a kill -9 or a power cut

    def close(self) -> None:
        self._handle.close()


def read_journal(path: str | Path) -> tuple[dict[str, Any], dict[int, tuple[RowResult, str]]]:
    """The first header and, per call center id, the last result recorded (later runs win)."""
    header: dict[str, Any] = {}
    results: dict[int, tuple[RowResult, str]] = {}
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if "journal" in entry and not header:
                header = entry
            elif "result" in entry:
                result = RowResult.from_dict(entry["result"])
                if result.id is not None:
                    results[result.id] = (result, entry.get("body", ""))
    return header, results
