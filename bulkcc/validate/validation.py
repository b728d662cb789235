"""Validation of a whole sheet: parse every cell, run the schema and the rules.

The result is one `Validation` report holding every problem at once; the CLI
renders it as a table, JSON or an annotated workbook (see `report`).

A sheet meant for --diff is validated with `diff=True` (`plan --diff`,
`apply --diff`, `validate --diff`): its routing is completed from the live call
center, so a row may fill only the routing cells it changes. Every other rule
is the same in both modes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from bulkcc.errors import Problem
from bulkcc.fields import FIELDS_BY_PATH
from bulkcc.validate.cells import CellError, parser_for
from bulkcc.validate.rules import check_rules
from bulkcc.validate.schema import DTYPES, check_frame
from bulkcc.values import is_nan
from bulkcc.workbook.reader import Sheet, read_sheet


@dataclass
class Validation:
    """Every problem of a sheet, and its cells parsed (index: Excel rows; blank or bad = NA)."""

    sheet: Sheet
    typed: pd.DataFrame
    problems: list[Problem]
    diff: bool = False  # validated for --diff (routing cells may be left to the live state)
    # What an admin reviewing the sheet on screen does not see (a hidden sheet, hidden
    # rows or columns holding values): shown by validate, plan and apply before it
    # asks; never makes a row invalid nor changes an exit code.
    warnings: list[Problem] = field(default_factory=list)

    # Cached: `problems` is complete once validate_sheet returns, and apply asks per row.
    @cached_property
    def file_problems(self) -> list[Problem]:
        """Problems of the header or the file: they make every row unusable."""
        return [p for p in self.problems if p.row is None or p.row == 1]

    @cached_property
    def invalid_rows(self) -> set[int]:
        if self.file_problems:
            return set(self.sheet.rows)
        return {p.row for p in self.problems if p.row is not None}

    @property
    def valid_rows(self) -> list[int]:
        bad = self.invalid_rows
        return [r for r in self.sheet.rows if r not in bad]

    @property
    def ids(self) -> list[int]:
        """The call center ids that parsed, in sheet order (the reader insists on an id column)."""
        return [int(i) for i in self.typed["id"].dropna()]

    @property
    def ok(self) -> bool:
        return not self.problems

    def problems_by_row(self) -> dict[int, list[Problem]]:
        grouped: dict[int, list[Problem]] = {}
        for problem in self.problems:
            grouped.setdefault(problem.row or 1, []).append(problem)
        return grouped

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.sheet.path.name,
            "sheet": self.sheet.sheet_name,
            "valid": self.ok,
            "rows": len(self.sheet.rows),
            "valid_rows": len(self.valid_rows),
            "invalid_rows": len(self.invalid_rows),
            "error_count": len(self.problems),
            "diff": self.diff,
            "errors": [bounded(p).to_dict() for p in self.problems],
            "warnings": [bounded(w).to_dict() for w in self.warnings],
        }


# How much of a value or message a report shows: a cell of 10 MB is shown as its first
# characters and its length, never whole.
VALUE_LIMIT = 200
MESSAGE_LIMIT = 1000


def _cut(text: str, limit: int) -> str:
    """Text cut to `limit` characters, its full length stated; not escaped (JSON escapes it)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def bounded(problem: Problem) -> Problem:
    """The problem as a report carries it: long values and messages cut, their length stated."""
    value = problem.value
    if isinstance(value, str) and len(value) > VALUE_LIMIT:
        value = _cut(value, VALUE_LIMIT)
    message, column = problem.message, problem.column
    if len(message) > MESSAGE_LIMIT or (column is not None and len(column) > VALUE_LIMIT) or value is not problem.value:
        return replace(problem, value=value, message=_cut(message, MESSAGE_LIMIT),
                       column=None if column is None else _cut(column, VALUE_LIMIT))
    return problem


def parse_frame(raw: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """Parse every non-blank cell by its column's kind; bad cells become NA and a Problem."""
    problems: list[Problem] = []
    columns: dict[str, pd.Series] = {}
    for name in raw.columns:
        field = FIELDS_BY_PATH[name]
        parse = parser_for(field)
        column = raw[name]
        parsed: list[Any] = [None] * len(column)
        # Most cells are blank: only the filled ones are visited (found at C speed).
        positions = column.notna().to_numpy().nonzero()[0].tolist()
        values = column.to_numpy(dtype=object)
        # Columns repeat their values (the same hours on every row): parse each once.
        # The class is part of the key because True == 1 == 1.0 as dict keys.
        memo: dict[tuple[type, Any], Any] = {}
        for position in positions:
            value = values[position]
            key = (value.__class__, value)
            try:
                if key not in memo:
                    try:
                        memo[key] = parse(value)
                    except CellError as exc:
                        memo[key] = exc
                result = memo[key]
            except TypeError:  # an unhashable cell value: parse it on its own
                try:
                    result = parse(value)
                except CellError as exc:
                    result = exc
            if isinstance(result, CellError):
                problems.append(Problem(int(raw.index[position]), name, _jsonable(value), str(result)))
            else:
                parsed[position] = result
        columns[name] = _typed_series(parsed, DTYPES[field.kind], raw.index)
    return pd.DataFrame(columns, index=raw.index), problems


def _typed_series(values: list[Any], dtype: str, index: pd.Index) -> pd.Series:
    if dtype == "object":
        return pd.Series(values, index=index, dtype=object)
    array = pd.array(values, dtype=dtype)  # type: ignore[call-overload]  # None is NA in these dtypes
    return pd.Series(array, index=index)


def _jsonable(value: Any) -> Any:
    """A raw cell as it can be shown in JSON (dates as ISO text)."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        if is_nan(value) or abs(value) == float("inf"):
            return str(value)
        return int(value) if value.is_integer() and abs(value) < 2**53 else value  # 2004.0 is shown as 2004
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def validate_sheet(sheet: Sheet, *, diff: bool = False) -> Validation:
    """Every problem of `sheet`; with `diff`, as a sheet for --diff (see the module's docstring)."""
    typed, problems = parse_frame(sheet.frame)
    problems = sheet.header_problems + problems
    seen = {(p.row, p.column) for p in problems}
    for problem in check_frame(typed) + check_rules(typed, diff=diff):
        # A cell already reported (e.g. unparseable) is not reported again by a later check.
        if (problem.row, problem.column) not in seen:
            seen.add((problem.row, problem.column))
            problems.append(_with_raw_value(problem, sheet.frame))
    problems.sort(key=lambda p: (p.row or 0, _column_order(p.column)))
    return Validation(sheet=sheet, typed=typed, problems=problems, diff=diff, warnings=list(sheet.warnings))


_COLUMN_ORDER = {name: position for position, name in enumerate(FIELDS_BY_PATH)}


def _with_raw_value(problem: Problem, raw: pd.DataFrame) -> Problem:
    """Show the cell as the admin typed it, not as it was parsed (hours text, not a list)."""
    if problem.row in raw.index and problem.column in raw.columns:
        return replace(problem, value=_jsonable(raw.at[problem.row, problem.column]))
    return problem


def _column_order(column: str | None) -> int:
    return -1 if column is None else _COLUMN_ORDER.get(column, len(_COLUMN_ORDER))


def validate_file(path: str | Path, *, diff: bool = False) -> Validation:
    """Read and validate a workbook or CSV (with `diff`: for --diff); raises InputError if it cannot be read."""
    return validate_sheet(read_sheet(path), diff=diff)
