"""The files a run writes, checked before anything is read or sent, and the lock on them for its length.

One run per results path (`lock`); the results and rollback paths are never the input, never each
other, and their folders take a file before the first request, so a run that could not record
anything sends nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from bulkcc.errors import UsageError
from bulkcc.run.journal import journal_path
from bulkcc.run.lock import RunLock, lock_info_path, lock_path
from bulkcc.run.options import ApplyOptions
from bulkcc.workbook.layout import XLSX_SUFFIXES
from bulkcc.workbook.xlsx import check_writable, remove_stale_temp_files


@contextlib.contextmanager
def locked_run(options: ApplyOptions, input_name: str) -> Iterator[None]:
    """The results path's lock for the whole run (a second run on the same --results is refused
    at once, see `lock`); temporary files a killed save left beside the outputs are removed under it."""
    with RunLock(options.results_path, input_name=input_name):
        for path in {options.results_path, options.rollback_file()}:
            remove_stale_temp_files(path)
        yield


def _check_rollback_path(options: ApplyOptions) -> None:
    """The rollback is a workbook of its own: never the run's journal or lock (saved over them, it would
    take the record of what the run did, and the proof of what it created, with it), and named as one,
    so that the command it prints applies it."""
    rollback = options.rollback_file()
    own = {journal_path(options.results_path): "journal", lock_path(options.results_path): "lock",
           lock_info_path(options.results_path): "lock note"}
    for path, what in own.items():
        if rollback.resolve() == path.resolve():
            raise UsageError(f"--rollback {rollback} is the run's {what} ({path.name}, beside --results): saved there, "
                             "the rollback would replace it; pick another path, e.g. "
                             f"{options.results_path.stem}-rollback.xlsx (nothing was sent)")
    if rollback.suffix.lower() not in XLSX_SUFFIXES:
        raise UsageError(f"--rollback {rollback}: a rollback is an Excel workbook, so its name ends in .xlsx "
                         f"(e.g. {rollback.with_suffix('.xlsx').name}); nothing was sent")


def check_output_paths(input_path: Path, options: ApplyOptions) -> None:
    """The files a run writes are never its input, never each other, and their folders take a file
    (checked before the input is even read, so a run that could not record anything sends nothing)."""
    from bulkcc.workbook.rollback_book import is_rollback_workbook

    results = options.results_path
    if results.suffix.lower() not in XLSX_SUFFIXES:
        # A results workbook has several sheets (Results, Summary, Operators ...): saved under a .csv name it
        # would be an xlsx nothing opens as the name says, and fed back it would not be read as one.
        raise UsageError(f"--results {results}: the results are an Excel workbook of several sheets, so the name "
                         f"ends in .xlsx (e.g. {results.with_suffix('.xlsx').name}); nothing was sent")
    writes_rollback = options.writes_rollback and not is_rollback_workbook(input_path)
    written = [options.results_path] + ([options.rollback_file()] if writes_rollback else [])
    inputs = [Path(input_path)] + ([options.input_check] if options.input_check else [])
    if any(path.resolve() == source.resolve() for path in written for source in inputs):
        raise UsageError(f"--results (or --rollback) is the input file {input_path}: the input is never "
                         "overwritten; pick another path")
    if len({path.resolve() for path in written}) < len(written):
        raise UsageError("--rollback and --results name the same file; pick two paths")
    if writes_rollback:
        _check_rollback_path(options)
    check_writable(options.results_path, "--results")
    if writes_rollback:
        check_writable(options.rollback_file(), "--rollback")
