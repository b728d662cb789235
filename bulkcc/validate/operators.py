"""Validation of a workbook's operators sheet: its cells, its schema, its rules, its valid rows.

Each cell is parsed by the same parsers as the callcenters sheet's (`cells`), the
parsed frame runs through the pandera schema generated from OPERATOR_FIELDS
(`schema`), then the rules between cells (`operator_rules`). The result,
`OperatorsValidation`, holds every problem of the sheet (each with
`sheet="operators"`, the sheet's Excel row and column), its warnings, and its
valid rows as `OperatorRow`s in sheet order. `Validation.operators` carries it:
its problems never mix with the callcenters sheet's, whose rows they are not.

Blank role, skill_level and license_type mean the API's default when the
operator is added (operator, 100, agents); with --diff a blank keeps the live value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from bulkcc.errors import Problem
from bulkcc.operator_fields import OPERATOR_FIELDS, OPERATOR_FIELDS_BY_PATH, OPERATORS_SHEET, OperatorRow
from bulkcc.validate.frame import RowProblems, bounded, merged, parse_frame
from bulkcc.validate.operator_rules import check_operator_rules, removal_ignores_the_rest
from bulkcc.validate.schema import check_frame
from bulkcc.values import native
from bulkcc.workbook.opsheet import with_sheet
from bulkcc.workbook.reader import Sheet


@dataclass
class OperatorsValidation(RowProblems):
    """Every problem of the operators sheet, and its valid rows parsed (index: that sheet's Excel rows)."""

    sheet: Sheet
    typed: pd.DataFrame
    problems: list[Problem]  # every one with sheet="operators"
    rows: list[OperatorRow]  # the valid rows, in sheet order
    diff: bool = False
    warnings: list[Problem] = field(default_factory=list)  # hidden rows, columns, sheet: never invalid
    # operators row -> the callcenters row its call_center_name names (rows given by name only)
    center_rows: dict[int, int] = field(default_factory=dict)
    # Valid rows that need a look-up before they are rows (`rows` lacks them): row -> the names to look up
    # (user_email; a call_center_name no row of the callcenters sheet has). See `bulkcc.plan.lookups`.
    lookups: dict[int, dict[str, str]] = field(default_factory=dict)

    @property
    def sheet_name(self) -> str:
        """The sheet's name in the workbook (`operators`, or `Operators` in a results workbook)."""
        return self.sheet.sheet_name or OPERATORS_SHEET

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "sheet": self.sheet_name,
            "valid": self.ok,
            "rows": len(self.sheet.rows),
            "valid_rows": len(self.valid_rows),
            "invalid_rows": len(self.invalid_rows),
            "error_count": len(self.problems),
            "errors": [bounded(p).to_dict() for p in self.problems],
            "warnings": [bounded(w).to_dict() for w in self.warnings],
        }


def names_to_look_up(typed: pd.DataFrame, valid: list[int], live: dict[int, str]) -> dict[int, dict[str, str]]:
    """The valid rows whose user or center only a look-up gives (an email with no user_id; a call_center_name
    of no callcenters row, `live`), with those names."""
    emails = typed["user_email"] if "user_email" in typed else None
    ids = typed["user_id"] if "user_id" in typed else None
    out: dict[int, dict[str, str]] = {}
    for row in valid:
        names = {}
        if emails is not None and native(emails.at[row]) is not None and (ids is None or native(ids.at[row]) is None):
            names["user_email"] = str(emails.at[row])
        if row in live:
            names["call_center_name"] = live[row]
        if names:
            out[row] = names
    return out


def operator_rows(typed: pd.DataFrame, valid: list[int]) -> list[OperatorRow]:
    """The OperatorRow of each valid row, in sheet order (a valid row has its user and its center: one that
    needs a look-up is given here only once looked up, its ids filled in beside its names)."""
    columns = {name: typed[name] if name in typed else None for name in OPERATOR_FIELDS_BY_PATH}

    def cell(name: str, row: int) -> Any:
        column = columns[name]
        return None if column is None else native(column.at[row])

    rows = []
    for row in valid:
        email = cell("user_email", row)
        center_id, skill = cell("call_center_id", row), cell("skill_level", row)
        keep, role, license_type = cell("keep_paid_numbers", row), cell("role", row), cell("license_type", row)
        if cell("remove", row):  # a removal takes only the user: the rest was warned about, and is not used
            skill = keep = role = license_type = None
        rows.append(OperatorRow(
            excel_row=int(row), user_id=int(cell("user_id", row)),
            call_center_id=None if center_id is None else int(center_id),
            call_center_name=cell("call_center_name", row), role=role,
            skill_level=None if skill is None else int(skill), license_type=license_type,
            keep_paid_numbers=None if keep is None else bool(keep), remove=bool(cell("remove", row) or False),
            user_email=None if email is None else str(email),
        ))
    return rows


def validate_operators(sheet: Sheet, callcenters: pd.DataFrame, *, diff: bool = False) -> OperatorsValidation:
    """Every problem of the operators `sheet`; `callcenters` is the callcenters sheet parsed (its
    name and id cells resolve call_center_name); with `diff`, as a sheet for --diff."""
    typed, problems = parse_frame(sheet.frame, OPERATOR_FIELDS_BY_PATH)
    rules, names = check_operator_rules(typed, sheet.frame, callcenters, diff=diff)
    problems = with_sheet(merged(sheet.header_problems + problems, check_frame(typed, OPERATOR_FIELDS) + rules,
                                 sheet.frame, OPERATOR_FIELDS_BY_PATH))
    validation = OperatorsValidation(sheet=sheet, typed=typed, problems=problems, rows=[], diff=diff,
                                     warnings=with_sheet([*sheet.warnings,
                                                          *removal_ignores_the_rest(typed, sheet.frame),
                                                          *names.warnings]))
    valid = validation.valid_rows
    validation.lookups = names_to_look_up(typed, valid, names.live)
    validation.rows = operator_rows(typed, [row for row in valid if row not in validation.lookups])
    valid_set = set(valid)
    validation.center_rows = {row: target for row, target in names.resolved.items() if row in valid_set}
    return validation
