"""The rollback workbook of a run: what puts the call centers back as they were.

A --diff run writes the prior value of every field it sends (the `callcenters`
sheet: PATCH rows) before anything is sent, and narrows it to the rows sent once
the sending ends; a run that creates call centers lists them on the `created`
sheet (`bulkcc.workbook.created`), which applying the workbook deletes only with
--allow-delete. The operators sheet's changes of a --diff run are undone by the
`operators` sheet (`bulkcc.run.operator_phase`: added operators removed, removed
ones re-added with their role and skill level, skill levels put back). With
--resume an earlier run's rows are kept: its prior values are the true ones, and
the centers it created are still to be deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkcc.plan.diff import merge_rollback, read_rollback, rollback_rows
from bulkcc.plan.operators import ROLLBACK_CONTEXT
from bulkcc.run.options import ApplyOptions


@dataclass
class Rollback:
    """The rollback workbook of a --diff run: the prior values of the rows sent (and of an earlier run's)."""

    path: Path
    earlier: list[dict[str, Any]] = field(default_factory=list)  # an earlier run's rows (--resume)
    priors: dict[int, tuple[int, Mapping[str, Any]]] = field(default_factory=dict)  # row -> (id, prior)
    written: bool = False  # by this run (a file it did not write is never removed)
    # The call centers created (this run's, and with --resume an earlier's): deleted on rollback.
    created: list[dict[str, Any]] = field(default_factory=list)
    # The operators sheet's rows (`OperatorWork.rollback_rows`; True: only of the changes sent).
    operator_rows: Callable[[bool], list[dict[str, Any]]] | None = None

    @classmethod
    def for_run(cls, options: ApplyOptions) -> Rollback:
        rollback = cls(options.rollback_file())
        if options.resume and rollback.path.exists():
            from bulkcc.workbook.created import read_created

            # The first run's prior values are the ones to restore: rows it already changed
            # are not read again (or read as unchanged), so its rollback rows are kept.
            rollback.earlier = read_rollback(rollback.path)
            rollback.created = [{"id": r.id, "name": r.name, "office_id": r.office_id}
                                for r in read_created(rollback.path)[0]]
        return rollback

    def add_created(self, entries: list[dict[str, Any]]) -> None:
        known = {entry["id"] for entry in self.created}
        self.created += [entry for entry in entries if entry["id"] not in known]

    def save(self, rows: Collection[int] | None = None) -> Path | None:
        """Write the rollback of `rows` (all planned rows if None); with nothing to roll back, no file."""
        from bulkcc.workbook.created import add_created_sheet
        from bulkcc.workbook.template import build_workbook
        from bulkcc.workbook.xlsx import save_atomic

        this = rollback_rows(prior for row, prior in sorted(self.priors.items()) if rows is None or row in rows)
        merged = merge_rollback(self.earlier, this) if self.earlier else this
        operators = self.operator_rows(rows is not None) if self.operator_rows is not None else []
        if merged or self.created or operators:
            self.written = True
            context = [c for c in ROLLBACK_CONTEXT if any(c in cells for cells in operators)]
            workbook = build_workbook(rows=merged, operator_rows=operators or None, operator_context=context)
            if self.created:
                add_created_sheet(workbook, self.created)
            return save_atomic(workbook, self.path)
        if self.written:  # nothing was sent after all
            self.path.unlink(missing_ok=True)
            self.written = False
        return None
