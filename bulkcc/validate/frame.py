"""Parsing a sheet's raw cells into typed columns, and how a report shows a problem.

Shared by both sheets a workbook may hold (`callcenters`, `operators`): every
non-blank cell is parsed by its column's kind (`cells`), a bad one becomes NA and
a Problem; `bounded` cuts what a report carries of a huge cell or message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from bulkcc.errors import Problem
from bulkcc.fields import FIELDS_BY_PATH, Field
from bulkcc.validate.cells import CellError, parser_for
from bulkcc.validate.schema import DTYPES
from bulkcc.values import is_nan

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


def parse_frame(raw: pd.DataFrame, fields: Mapping[str, Field] = FIELDS_BY_PATH
                ) -> tuple[pd.DataFrame, list[Problem]]:
    """Parse every non-blank cell by its column's kind (of `fields`, the sheet's table); bad cells become NA."""
    problems: list[Problem] = []
    columns: dict[str, pd.Series] = {}
    for name in raw.columns:
        field = fields[name]
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
                problems.append(Problem(int(raw.index[position]), name, jsonable(value), str(result)))
            else:
                parsed[position] = result
        columns[name] = _typed_series(parsed, DTYPES[field.kind], raw.index)
    return pd.DataFrame(columns, index=raw.index), problems


def _typed_series(values: list[Any], dtype: str, index: pd.Index) -> pd.Series:
    if dtype == "object":
        return pd.Series(values, index=index, dtype=object)
    array = pd.array(values, dtype=dtype)  # type: ignore[call-overload]  # None is NA in these dtypes
    return pd.Series(array, index=index)


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
