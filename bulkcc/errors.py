"""The two kinds of error, at the bottom layer (imports nothing of bulkcc).

Problems in the data (a bad cell, a broken rule between cells) are collected as
`Problem` records and reported all at once; they never stop a run. Problems that
stop the run are the small exception tree below, each class carrying the exit
code the CLI maps it to, and each constructor taking the data it carries:

    BulkccError                 exit 2 unless a subclass says otherwise
    ├── InputError              the input cannot be read
    ├── UsageError              the options do not fit together, or a target is unsafe
    ├── LiveStateError          live call centers could not be read (export)
    ├── InvalidRowsError        exit 1: invalid rows and no --skip-invalid; nothing sent
    └── RunStopped              exit 3: a run stopped part way; carries `result`, `not_started`
        ├── KeyRefused          the API refused the key (401/403)
        ├── RetryBudgetSpent    most requests fail: the API looks down
        ├── ThrottledTooLong    the API asks to wait longer than bulkcc waits (Retry-After)
        └── Interrupted         Ctrl-C or SIGTERM
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bulkcc.values import counted

EXIT_OK = 0
EXIT_INVALID = 1  # some rows invalid or failed
EXIT_USAGE = 2  # usage error or unreadable input: nothing was sent
EXIT_ABORTED = 3  # refused key, interrupted, retry budget spent
EXIT_MAYBE_CREATED = 4  # a create's outcome is not known: it may exist (`maybe_created`); look before re-sending


@dataclass(frozen=True)
class Problem:
    """One problem in the data, located by Excel row and column.

    `row` is the Excel row number (the header is row 1); `column` is the column's
    name, or None for a problem of the whole row or file. `sheet` names the sheet.
    """

    row: int | None
    column: str | None
    value: Any
    message: str
    sheet: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["sheet"] is None:
            del data["sheet"]  # the one data sheet: reports keep their four keys
        return data


class BulkccError(Exception):
    """A problem that stops the command; `exit_code` is what the CLI exits with."""

    exit_code = EXIT_USAGE


class InputError(BulkccError):
    """The input cannot be read: missing, not a workbook, too large, no id column."""


class UsageError(BulkccError):
    """The command's options do not fit together (e.g. plain http to a remote host)."""


class LiveStateError(BulkccError):
    """The live call centers could not be read (export stops rather than write half a file)."""


class InvalidRowsError(BulkccError):
    """Some rows are invalid and --skip-invalid was not given: nothing is sent.

    `validation` is the report of the sheet (a `bulkcc.validate.Validation`), for rendering.
    """

    exit_code = EXIT_INVALID

    def __init__(self, validation: Any, invalid_count: int, valid_count: int | None = None):
        fix = ("fix them: no row is valid, so --skip-invalid would send nothing" if valid_count == 0 else
               "fix them, or pass --skip-invalid to send the valid rows")
        super().__init__(f"{counted(invalid_count, 'invalid row')}: nothing was sent ({fix})")
        self.validation = validation


class RunStopped(BulkccError):
    """A run stopped part way. Requests in flight were let finish.

    `result` is the outcome of the request whose failure stopped the run, when it was
    sent (it is then recorded as failed, not as not sent); `not_started` are the items
    never started (filled in by the worker pool, see `with_not_started`).
    """

    exit_code = EXIT_ABORTED

    def __init__(self, message: str, *, result: Any = None, not_started: Sequence[Any] = ()):
        super().__init__(message)
        self.message = message
        self.result = result
        self.not_started = list(not_started)

    def with_not_started(self, not_started: Sequence[Any]) -> RunStopped:
        """The same stop, now knowing which items never started."""
        stopped = type(self)(self.message, result=self.result, not_started=not_started)
        stopped.__cause__ = self.__cause__
        return stopped


class KeyRefused(RunStopped):
    """The API refused the key (401/403): the whole run stops at once."""


class RetryBudgetSpent(RunStopped):
    """Most requests are failing: the run stops instead of retrying a dead API."""


class ThrottledTooLong(RunStopped):
    """The API asks to wait longer than bulkcc waits (a Retry-After of an hour): every other request would
    be refused the same, so the run stops rather than send them all to be refused."""


class Interrupted(RunStopped):
    """Ctrl-C or SIGTERM: no new request starts; those in flight finish."""


# Names of earlier versions, kept for code that uses bulkcc as a library.
AuthError = KeyRefused
AbortedError = RunStopped
RetryBudgetExhausted = RetryBudgetSpent
ExportError = LiveStateError
