"""From a validated workbook to the operators sheet's part of a run (`OperatorWork`).

The one place that knows how validation reports the operators sheet
(`Validation.operators`: its valid `OperatorRow`s, its problems by row, the
sheet's own cells and, fed back from a results workbook, the outcome columns
of its `Operators` sheet as meta), and how operator rows see the callcenters
sheet (`CenterIndex`: its names, with the id of each, or none for a center the
run creates).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bulkcc.names import name_key
from bulkcc.operator_fields import OperatorRow
from bulkcc.plan.operators import CenterIndex, OperatorPlan, centers_to_read
from bulkcc.run.operator_phase import ConfirmRemovals, OperatorInput, OperatorWork
from bulkcc.run.operators import OperatorReads, read_operator_state
from bulkcc.run.progress import QuietProgress
from bulkcc.send.connection import Connection
from bulkcc.validate import Validation
from bulkcc.values import is_blank
from bulkcc.workbook.operator_results import OperatorResult
from bulkcc.workbook.results import _int_or_none


def operator_input(validation: Validation) -> OperatorInput | None:
    """The operators sheet of the validated workbook, or None when it has none."""
    operators = validation.operators
    if operators is None:
        return None
    by_row = operators.problems_by_row()
    file_problems = "; ".join(p.message for p in operators.file_problems)
    invalid = {row: "; ".join(f"{p.column or 'row'}: {p.message}" for p in by_row.get(row, [])) or file_problems
               for row in operators.invalid_rows}
    sheet = operators.sheet
    return OperatorInput(rows=tuple(operators.rows), sheet_rows=tuple(int(r) for r in sheet.rows), invalid=invalid,
                         raw=sheet.raw, earlier=_earlier(sheet.meta))


def _earlier(meta: Any) -> dict[int, OperatorResult]:
    """A fed-back Operators sheet's results by row (what --only-failed keeps for the rows it leaves alone)."""
    if meta is None or "status" not in getattr(meta, "columns", ()):
        return {}
    out = {}
    for row, cells in meta.to_dict(orient="index").items():
        if is_blank(cells.get("status")):
            continue

        def text(name: str, cells: Mapping[str, Any] = cells) -> str | None:
            value = cells.get(name)
            return None if is_blank(value) else str(value)

        out[int(row)] = OperatorResult(
            int(row), str(cells["status"]).strip(), http_status=_int_or_none(cells.get("http_status")),
            attempts=_int_or_none(cells.get("attempts")) or 0, error=text("error"),
            duration_ms=_int_or_none(cells.get("duration_ms")), action=text("action"))
    return out


def center_index(validation: Validation, values: Mapping[int, Mapping[str, Any]]) -> CenterIndex:
    """How operator rows find callcenters rows by name: `values` are the parsed cells by row (a plan's)."""
    valid = set(validation.valid_rows)
    names = validation.sheet.frame["name"] if "name" in validation.sheet.frame.columns else None
    invalid: dict[str, int] = {}
    for row in sorted(validation.invalid_rows):
        raw = names.get(row) if names is not None else None
        if isinstance(raw, str) and raw.strip():
            invalid.setdefault(raw, row)  # CenterIndex compares names by `name_key`
    return CenterIndex.of({row: cells for row, cells in values.items() if row in valid}, invalid)


def exact_held(validation: Validation, index: CenterIndex) -> dict[int | None, str]:
    """The centers whose unlisted operators --exact-operators may not remove: each one an invalid row of the
    operators sheet names (None: every center, when the row does not say which), with why. An invalid row
    may list anyone: a removal of "whoever the sheet does not list" would take its user out."""
    operators = validation.operators
    if operators is None or not operators.invalid_rows:
        return {}
    typed, raw = operators.typed, operators.sheet.frame
    held: dict[int | None, str] = {}

    def cell(frame: Any, column: str, row: int) -> Any:
        value = frame[column].get(row) if column in frame else None
        return None if is_blank(value) else value

    for row in sorted(operators.invalid_rows):
        why = f"operators row {row} is invalid, so whom it lists is not known"
        center_id, name = cell(typed, "call_center_id", row), cell(typed, "call_center_name", row)
        if center_id is not None:
            held.setdefault(int(center_id), why)
        elif name is not None and cell(raw, "call_center_id", row) is None:
            found = index.by_name.get(name_key(name), ())
            if len(found) == 1 and found[0][1] is None:
                continue  # a center this run creates: it has no operators to remove
            if len(found) == 1:
                held.setdefault(int(found[0][1]), why)  # type: ignore[arg-type]
            else:
                held.setdefault(None, why + " (nor which call center it names)")
        else:
            held.setdefault(None, why + " (nor which call center it names)")
    return held


def operator_work(validation: Validation, values: Mapping[int, Mapping[str, Any]], *, only_failed: bool,
                  diff: bool, exact: bool, confirm_removals: ConfirmRemovals | None = None,
                  priors: bool = False) -> OperatorWork | None:
    """The operators sheet's part of a run of `validation`'s workbook; None when it has no operators sheet
    (--exact-operators then has nothing to go by, and is refused)."""
    from bulkcc.errors import UsageError

    found = operator_input(validation)
    if found is None:
        if exact:
            raise UsageError("--exact-operators: the workbook has no operators sheet, so it lists no operators "
                             "to keep; add one (bulkcc template has it), or drop --exact-operators")
        return None
    index = center_index(validation, values)
    return OperatorWork(found, index, found.selected(only_failed), diff=diff, exact=exact,
                        confirm_removals=confirm_removals, priors=priors,
                        held=exact_held(validation, index) if exact else {})


@dataclass
class LiveOperatorPlan:
    """`plan --diff`'s operator part: the rows against live operators, read on the plan's connection."""

    rows: tuple[OperatorRow, ...]
    index: CenterIndex
    exact: bool = False
    concurrency: int = 8
    invalid: Mapping[int, str] = field(default_factory=dict)
    plan: OperatorPlan | None = None
    held: Mapping[int | None, str] = field(default_factory=dict)  # see `exact_held`

    @classmethod
    def of(cls, validation: Validation, values: Mapping[int, Mapping[str, Any]], *, exact: bool,
           concurrency: int) -> LiveOperatorPlan | None:
        """None when the workbook has no operators sheet."""
        found = operator_input(validation)
        if found is None:
            return None
        index = center_index(validation, values)
        return cls(found.rows, index, exact, concurrency, found.invalid,
                   held=exact_held(validation, index) if exact else {})

    @property
    def center_ids(self) -> list[int]:
        return centers_to_read(self.rows, self.index)

    async def __call__(self, conn: Connection, progress: QuietProgress) -> None:
        reads = OperatorReads()
        try:
            await read_operator_state(conn.client, conn.target_label, self.rows, self.index, reads, exact=self.exact,
                                      concurrency=self.concurrency, progress=progress, stop=asyncio.Event())
        finally:
            self.plan = replace(reads.plan(self.rows, self.index, exact=self.exact, held=self.held),
                                invalid=dict(self.invalid))


def saved_operator_work(plan: OperatorPlan, *, priors: bool = False) -> OperatorWork:
    """The operators part of a run of a saved plan: its changes as saved (no workbook is read: the
    Operators sheet's input columns are each change's cells)."""
    import pandas as pd

    from bulkcc.plan.operator_planfile import operator_rows_of

    cells = operator_rows_of(plan)
    rows = []
    for row, values in sorted(cells.items()):
        rows.append(OperatorRow(row, int(values["user_id"]), call_center_id=values.get("call_center_id"),
                                call_center_name=values.get("call_center_name"), role=values.get("role"),
                                skill_level=values.get("skill_level"), license_type=values.get("license_type"),
                                keep_paid_numbers=values.get("keep_paid_numbers"),
                                remove=bool(values.get("remove"))))
    sheet_rows = sorted({*cells, *plan.unchanged, *plan.blocked, *plan.unresolved, *plan.unreadable,
                         *plan.invalid})
    raw = pd.DataFrame.from_dict(cells, orient="index") if cells else None
    found = OperatorInput(rows=tuple(rows), sheet_rows=tuple(sheet_rows), invalid=dict(plan.invalid), raw=raw)
    return OperatorWork(found, CenterIndex(), set(sheet_rows), diff=plan.diffed, exact=plan.exact, plan=plan,
                        priors=priors)
