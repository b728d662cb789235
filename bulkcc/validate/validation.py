"""Validation of a whole sheet: parse every cell, run the schema and the rules.

The result is one `Validation` report holding every problem at once; the CLI
renders it as a table, JSON or an annotated workbook (see `report`).

A workbook's `operators` sheet is validated with it (`operators`), its problems
kept apart (their rows are that sheet's) but counted by `ok`.

A sheet meant for --diff is validated with `diff=True` (`plan --diff`,
`apply --diff`, `validate --diff`): its routing is completed from the live call
center, so a row may fill only the routing cells it changes. Every other rule
is the same in both modes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bulkcc.errors import Problem
from bulkcc.fields import FIELDS_BY_PATH
from bulkcc.operator_fields import OperatorRow
from bulkcc.validate.frame import MESSAGE_LIMIT, VALUE_LIMIT, RowProblems, bounded, merged, parse_frame
from bulkcc.validate.operators import OperatorsValidation, validate_operators
from bulkcc.validate.rules import check_rules
from bulkcc.validate.schema import check_frame
from bulkcc.workbook.opsheet import read_operator_sheet
from bulkcc.workbook.reader import Sheet, read_sheet

__all__ = ["MESSAGE_LIMIT", "VALUE_LIMIT", "OperatorsValidation", "Validation", "bounded", "validate_file",
           "validate_sheet"]


@dataclass
class Validation(RowProblems):
    """Every problem of a sheet, and its cells parsed (index: Excel rows; blank or bad = NA)."""

    sheet: Sheet
    typed: pd.DataFrame
    problems: list[Problem]
    diff: bool = False  # validated for --diff (routing cells may be left to the live state)
    # What an admin reviewing the sheet on screen does not see (a hidden sheet, hidden
    # rows or columns holding values): shown by validate, plan and apply before it
    # asks; never makes a row invalid nor changes an exit code.
    warnings: list[Problem] = field(default_factory=list)
    # The workbook's operators sheet, validated; None when it has none (a CSV, or no such sheet).
    # Its problems are its own (their rows are the operators sheet's), never in `problems`.
    operators: OperatorsValidation | None = None

    @property
    def ids(self) -> list[int]:
        """The call center ids that parsed, in sheet order (the reader insists on an id column)."""
        return [int(i) for i in self.typed["id"].dropna()]

    @property
    def create_rows(self) -> list[int]:
        """The valid rows that create a call center (blank id, office_id filled), in sheet order."""
        if "office_id" not in self.typed:
            return []
        new = self.typed["office_id"].notna() & (self.typed["id"].isna() if "id" in self.typed else True)
        bad = self.invalid_rows
        return [int(r) for r in self.typed.index[new.to_numpy(dtype=bool)] if r not in bad]

    @property
    def lookups(self) -> dict[int, str]:
        """The valid rows that create a call center in an office named by office_name (no office_id yet):
        row -> the office's name, looked up before they can be planned (`bulkcc.plan.lookups`)."""
        if "office_name" not in self.typed:
            return {}
        names = self.typed["office_name"]
        new = names.notna() & (self.typed["id"].isna() if "id" in self.typed else True)
        if "office_id" in self.typed:
            new &= self.typed["office_id"].isna()
        bad = self.invalid_rows
        return {int(r): str(names.at[r]) for r in self.typed.index[new.to_numpy(dtype=bool)] if r not in bad}

    @property
    def needs_lookups(self) -> bool:
        """Whether a look-up must come before the plan: an office_name, a user_email or a call_center_name
        (a name on the sheet too: the live centers are read to be sure it names no other one)."""
        operators = self.operators
        names = operators is not None and ("call_center_name" in operators.typed and
                                           bool(operators.typed["call_center_name"].notna().any()))
        return bool(self.lookups) or bool(operators is not None and operators.lookups) or names

    @property
    def ok(self) -> bool:
        """No problem in the callcenters sheet nor in the operators sheet."""
        return not self.problems and (self.operators is None or self.operators.ok)

    @property
    def operator_rows(self) -> list[OperatorRow]:
        """The valid rows of the operators sheet, in sheet order (empty when there is no such sheet)."""
        return [] if self.operators is None else list(self.operators.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.sheet.path.name,
            "sheet": self.sheet.sheet_name,
            "valid": self.ok,
            "rows": len(self.sheet.rows),
            "valid_rows": len(self.valid_rows),
            "valid_creates": len(self.create_rows),
            "invalid_rows": len(self.invalid_rows),
            "error_count": len(self.problems),
            "diff": self.diff,
            "errors": [bounded(p).to_dict() for p in self.problems],
            "warnings": [bounded(w).to_dict() for w in self.warnings],
            "notes": list(self.sheet.notes),  # how the file was read (a CSV: which sheet it is taken for)
            "operators": None if self.operators is None else self.operators.to_dict(),
        }


def validate_sheet(sheet: Sheet, *, diff: bool = False, operators: Sheet | None = None) -> Validation:
    """Every problem of `sheet` (and of the workbook's `operators` sheet, when given); with `diff`,
    as a sheet for --diff (see the module's docstring)."""
    typed, problems = parse_frame(sheet.frame)
    rules = check_rules(typed, diff=diff, raw=sheet.frame)
    problems = merged(sheet.header_problems + problems, check_frame(typed) + rules, sheet.frame, FIELDS_BY_PATH)
    validation = Validation(sheet=sheet, typed=typed, problems=problems, diff=diff, warnings=list(sheet.warnings))
    if operators is not None:
        validation.operators = validate_operators(operators, typed, diff=diff)
    return validation


def validate_file(path: str | Path, *, diff: bool = False) -> Validation:
    """Read and validate a workbook or CSV (with `diff`: for --diff), its operators sheet too when it has
    one; raises InputError if it cannot be read."""
    return validate_sheet(read_sheet(path), diff=diff, operators=read_operator_sheet(path))
