"""Parsing a sheet's raw cells into typed columns, and how a report shows a problem.

Shared by both sheets a workbook may hold (`callcenters`, `operators`): every
non-blank cell is parsed by its column's kind (`cells`), a bad one becomes NA and
a Problem; `bounded` cuts what a report carries of a huge cell or message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bulkcc.errors import Problem
from bulkcc.fields import FIELDS_BY_PATH, Field
from bulkcc.validate.cells import COLUMN_PARSERS, CellError, parser_for
from bulkcc.validate.schema import DTYPES
from bulkcc.values import is_nan

if TYPE_CHECKING:
    from bulkcc.workbook.reader import Sheet

# How much of a value or message a report shows: a cell of 10 MB is shown as its first
# characters and its length, never whole.
VALUE_LIMIT = 200
MESSAGE_LIMIT = 1000


class RowProblems:
    """Which rows a sheet's problems make invalid: shared by both sheets' reports (`Validation`,
    `OperatorsValidation`), which give `sheet` and `problems`. Cached: `problems` is complete once
    validation returns, and apply asks per row."""

    sheet: Sheet
    problems: list[Problem]

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

    def problems_by_row(self) -> dict[int, list[Problem]]:
        grouped: dict[int, list[Problem]] = {}
        for problem in self.problems:
            grouped.setdefault(problem.row or 1, []).append(problem)
        return grouped


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


def _named_instead(field: Field, value: Any) -> str:
    """Where a name typed in an id column goes (`Field.named_by`), or "" (an id mistyped, more digits than
    letters, is only an id)."""
    if field.named_by is None or not isinstance(value, str) or \
            sum(c.isalpha() for c in value) <= sum(c.isdigit() for c in value):
        return ""
    column, words = field.named_by
    return f"; to give {words}, use {column} instead of {field.path}"


def _with_rule(message: str, field: Field) -> str:
    """A cell's message that says only what is wrong ("'abc' is not a whole number") gets the column's rule."""
    if ";" in message or ": " in message or field.kind not in ("int", "id"):
        return message
    if field.is_identifier:
        return f"{message}; {field.path} takes an id: a whole number of 1 to 19 digits"
    return f"{message}; {field.path} takes {'a whole number ' if field.range_text else 'a '}{field.allowed}"


def parse_frame(raw: pd.DataFrame, fields: Mapping[str, Field] = FIELDS_BY_PATH
                ) -> tuple[pd.DataFrame, list[Problem]]:
    """Parse every non-blank cell by its column's kind (of `fields`, the sheet's table); bad cells become NA."""
    problems: list[Problem] = []
    columns: dict[str, pd.Series] = {}
    # The reader's frame is one matrix laid out row by row: its blanks are found in one pass over
    # it (a pass per column reads each cell's cache line apart, twice as slow).
    cells = raw.to_numpy(dtype=object)
    filled = pd.notna(cells)
    for number, name in enumerate(raw.columns):
        field = fields[name]
        values = cells[:, number]
        # Most cells are blank: only the filled ones are visited.
        positions = filled[:, number].nonzero()[0]  # (flatnonzero would copy the strided column)
        results = _parse_all(parser_for(field), values[positions].tolist())
        good = np.ones(len(positions), dtype=bool)
        for at, error in results.errors:
            value = values[positions[at]]
            instead = _named_instead(field, value)
            problems.append(Problem(int(raw.index[positions[at]]), name, jsonable(value),
                                    (str(error) if instead else _with_rule(str(error), field)) + instead))
            good[at] = False
        columns[name] = pd.Series(_typed_array(DTYPES[field.kind], len(values), positions[good],
                                               [r for r, ok in zip(results.values, good, strict=True) if ok]
                                               if results.errors else results.values), index=raw.index)
    return pd.DataFrame(columns, index=raw.index, copy=False), problems


@dataclass
class _Parsed:
    values: list[Any]  # one per cell: the parsed value, or the CellError
    errors: list[tuple[int, CellError]]  # (position among the cells, error), in order


def _parse_all(parse: Callable[[Any], Any], cells: list[Any]) -> _Parsed:
    """Each cell parsed; columns repeat their values (the same hours on every row): each is parsed once."""
    # The class is part of the key because True == 1 == 1.0 as dict keys; a column of one class
    # (most are) needs none. Building and reading the memo run at C speed.
    try:
        keys: list[Any] = cells if len(set(map(type, cells))) <= 1 else list(zip(map(type, cells), cells, strict=True))
        memo = dict.fromkeys(keys)
    except TypeError:  # an unhashable cell value (only in a sheet built in memory): parsed on its own
        values = _parse_each(parse, cells)
    else:
        failed = False
        distinct = list(memo) if keys is cells else [value for _, value in memo]
        whole = COLUMN_PARSERS.get(parse)
        parsed = whole(distinct) if whole is not None else None
        if parsed is not None:  # every value plain: read at once
            memo = dict(zip(memo, parsed, strict=True))
        else:
            for key, value in zip(memo, distinct, strict=True):
                memo[key] = result = _parse_one(parse, value)
                failed = failed or isinstance(result, CellError)
        values = list(map(memo.__getitem__, keys))
        if not failed:
            return _Parsed(values, [])
    return _Parsed(values, [(at, v) for at, v in enumerate(values) if isinstance(v, CellError)])


def _parse_each(parse: Callable[[Any], Any], cells: list[Any]) -> list[Any]:
    """As `_parse_all`, one cell at a time (slower): each hashable value is still parsed once."""
    memo: dict[tuple[type, Any], Any] = {}
    values = []
    for value in cells:
        key = (value.__class__, value)
        try:
            if key not in memo:
                memo[key] = _parse_one(parse, value)
            values.append(memo[key])
        except TypeError:
            values.append(_parse_one(parse, value))
    return values


def _parse_one(parse: Callable[[Any], Any], value: Any) -> Any:
    try:
        return parse(value)
    except CellError as exc:
        return exc


def _typed_array(dtype: str, length: int, positions: np.ndarray, values: list[Any]) -> Any:
    """A column of `length` cells in `dtype`: `values` at `positions`, NA elsewhere.

    Built from numpy arrays and masks: pd.array over a list of 100,000 Python values with
    None for NA took 10 ms a column, and a full sheet has 100 columns.
    """
    if dtype in ("Int64", "boolean"):
        data = np.zeros(length, dtype=np.int64 if dtype == "Int64" else bool)
        data[positions] = np.array(values, dtype=data.dtype)  # parse_int keeps every number within int64
        mask = np.ones(length, dtype=bool)
        mask[positions] = False
        return pd.arrays.IntegerArray(data, mask) if dtype == "Int64" else pd.arrays.BooleanArray(data, mask)
    cells = np.full(length, None, dtype=object)
    cells[positions] = np.fromiter(values, dtype=object, count=len(values))  # tuples (hours) stay whole
    if dtype == "object":
        return cells
    string = pd.api.types.pandas_dtype(dtype)
    if isinstance(string, pd.StringDtype) and string.storage == "python" and string.na_value is pd.NA:
        try:
            return pd.arrays.StringArray(cells)  # checks every value is text at C speed; None becomes NA
        except ValueError:
            pass
    return pd.array(cells, dtype=dtype)  # type: ignore[call-overload]  # None is NA in these dtypes


def jsonable(value: Any) -> Any:
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


def with_raw_value(problem: Problem, raw: pd.DataFrame) -> Problem:
    """Show the cell as the admin typed it, not as it was parsed (hours text, not a list)."""
    if problem.row in raw.index and problem.column in raw.columns:
        return replace(problem, value=jsonable(raw.at[problem.row, problem.column]))
    return problem


def merged(first: list[Problem], later: list[Problem], raw: pd.DataFrame,
           columns: Mapping[str, Field]) -> list[Problem]:
    """`first` (the header's and the cells' problems), then each later check's problem on a cell
    not reported yet (an unparseable cell is not reported again by a later check), each showing
    the cell as typed; sorted by row, then by the table's column order."""
    problems = list(first)
    seen = {(p.row, p.column) for p in problems}
    for problem in later:
        if (problem.row, problem.column) not in seen:
            seen.add((problem.row, problem.column))
            problems.append(with_raw_value(problem, raw))
    order = {name: position for position, name in enumerate(columns)}

    def column_order(column: str | None) -> int:
        return -1 if column is None else order.get(column, len(order))

    problems.sort(key=lambda p: (p.row or 0, column_order(p.column)))
    return problems
