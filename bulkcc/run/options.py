"""What a run of `apply` is given (`ApplyOptions`) and what it returns (`ApplyOutcome`).

They live apart from `apply` so that the engine (`execute`) and the saved-plan
run (`apply_plan`) share them; `bulkcc.run.apply` re-exports both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bulkcc.errors import EXIT_ABORTED, EXIT_INVALID, EXIT_MAYBE_CREATED, EXIT_OK
from bulkcc.run.offices import LOOKUP_WAIT_S
from bulkcc.send.connection import ConnectionOptions
from bulkcc.send.target import Target
from bulkcc.status import OK_STATUSES, Status
from bulkcc.validate import Validation
from bulkcc.workbook.operator_results import OperatorResult
from bulkcc.workbook.results import RowResult, RunSummary

DEFAULT_MAX_AGE = timedelta(hours=24)


@dataclass
class ApplyOptions:
    results_path: Path
    connection: ConnectionOptions
    skip_invalid: bool = False
    only_failed: bool = False
    resume: bool = False
    restart: bool = False
    diff: bool = False
    rollback_path: Path | None = None  # default <results name>-rollback.xlsx
    # Applying a saved plan: the oldest plan still sent, and the input it must have been made from.
    max_age: timedelta = DEFAULT_MAX_AGE
    input_check: Path | None = None
    plan_sha256: str | None = None  # the checksum the review approved: any other plan is refused
    # A rollback workbook's created sheet is deleted (DELETE) only with this (--allow-delete).
    allow_delete: bool = False
    # With diff: also remove the operators the operators sheet does not list, for the centers it names.
    exact_operators: bool = False
    # How long a create whose answer settled nothing is looked for in its office's listing (seconds).
    lookup_wait_s: float = LOOKUP_WAIT_S
    # A create whose outcome an earlier run did not learn, and that its office still does not list, is
    # sent again (--resend-maybe-created); without it, it stays maybe_created.
    resend_maybe_created: bool = False
    # No rollback workbook: nothing is read before the first write (but what --diff reads), none is written.
    no_rollback: bool = False
    # Applying a rollback workbook (`bulkcc.run.undo`): it writes no rollback of its own.
    undoing: bool = False

    @property
    def writes_rollback(self) -> bool:
        return not (self.no_rollback or self.undoing)

    @property
    def target(self) -> Target:
        return self.connection.target

    def rollback_file(self) -> Path:
        return self.rollback_path or self.results_path.with_name(f"{self.results_path.stem}-rollback.xlsx")


@dataclass
class ApplyOutcome:
    exit_code: int
    results: list[RowResult]
    summary: RunSummary
    validation: Validation
    message: str | None = None  # why the run stopped early, if it did
    extra_files: list[Path] = field(default_factory=list)
    results_written: bool = True  # False when the results workbook could not be saved (a full disk)
    deletes: list[RowResult] = field(default_factory=list)  # the created sheet's rows (a rollback's deletes)
    operator_results: list[OperatorResult] = field(default_factory=list)  # the operators sheet's rows


def exit_code(statuses: set[Status | None], stopped: bool) -> int:
    """A run's exit code: 3 stopped; 0 all good; 4 a create may exist (look before anything is sent
    again: `creates.maybe_created_note`); 1 some rows invalid, failed, mismatched, stale."""
    if stopped:
        return EXIT_ABORTED
    if statuses <= OK_STATUSES:
        return EXIT_OK
    return EXIT_MAYBE_CREATED if Status.MAYBE_CREATED in statuses else EXIT_INVALID
