"""The two kinds of error.

Problems in the data (a bad cell, a broken rule between cells) are collected as
`Problem` records and reported all at once; they never stop a run. Problems that
stop the run (an unreadable file, a refused API key) are the small exception
classes below, each carrying the exit code the CLI maps it to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

EXIT_OK = 0
EXIT_INVALID = 1  # some rows invalid or failed
EXIT_USAGE = 2  # usage error or unreadable input: nothing was sent
EXIT_ABORTED = 3  # refused key, interrupted


@dataclass(frozen=True)
class Problem:
    """One problem in the data, located by Excel row and column.

    `row` is the Excel row number (the header is row 1); `column` is the column's
    name, or None for a problem of the whole row or file.
    """

    row: int | None
    column: str | None
    value: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class BulkccError(Exception):
    """A problem that stops the run; `exit_code` is what the CLI exits with."""

    exit_code = EXIT_USAGE


class InputError(BulkccError):
    """The input cannot be read: missing, not a workbook, too large, no id column."""


class UsageError(BulkccError):
    """The command's options do not fit together (e.g. plain http to a remote host)."""


class AuthError(BulkccError):
    """The API refused the key (401/403): the whole run stops at once."""

    exit_code = EXIT_ABORTED


class AbortedError(BulkccError):
    """The run was stopped (Ctrl-C, SIGTERM, the retry budget ran out)."""

    exit_code = EXIT_ABORTED
