"""Rows of an `operators` sheet in a workbook bulkcc writes (an export, a rollback), and read back.

The rows are cells by column name (`call_center_id`, `user_id`, `role`,
`skill_level`, `remove` …). Ids are written as text (Excel keeps only 15
significant digits of a number). When the workbook already has an operators
sheet (the template's, with its drop-downs and notes), the rows go under its
header; otherwise a plain sheet with the field table's columns is added.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter

from bulkcc.operator_fields import OPERATOR_COLUMNS, OPERATOR_FIELDS, OPERATORS_SHEET
from bulkcc.workbook.xlsx import style_header, write_row

_IDENTIFIERS = frozenset(f.path for f in OPERATOR_FIELDS if f.is_identifier)
_WIDTHS = [22 if name in _IDENTIFIERS else max(12, len(name) + 4) for name in OPERATOR_COLUMNS]


def _cell(column: str, value: Any) -> Any:
    if column in _IDENTIFIERS and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def put_operator_rows(workbook: Workbook, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write `rows` into the workbook's operators sheet (made if it has none), from its row 2."""
    if OPERATORS_SHEET in workbook.sheetnames:
        sheet = workbook[OPERATORS_SHEET]
        header = [str(c.value) if c.value is not None else "" for c in sheet[1]]
    else:
        sheet = workbook.create_sheet(OPERATORS_SHEET, index=min(1, len(workbook.sheetnames)))
        header = list(OPERATOR_COLUMNS)
        write_row(sheet, 1, header)
        style_header(sheet, len(header), freeze="A2", widths=_WIDTHS)
    for position, name in enumerate(header, start=1):
        if name in _IDENTIFIERS:
            letter = get_column_letter(position)
            sheet.column_dimensions[letter].number_format = "@"  # typed ids stay text
    for number, cells in enumerate(rows, start=2):
        unknown = sorted(set(cells) - set(header))
        if unknown:  # a caller's bug: the value would silently not be written
            raise ValueError(f"operators row {number}: no column named {', '.join(unknown)}")
        write_row(sheet, number, [_cell(name, cells.get(name)) for name in header])


def read_operator_rows(path: str | Path) -> list[dict[str, Any]]:
    """The filled cells of each row of a workbook's operators sheet ([] if it has none)."""
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        if OPERATORS_SHEET not in workbook.sheetnames:
            return []
        rows = workbook[OPERATORS_SHEET].iter_rows(values_only=True)
        header = [str(h) if h is not None else "" for h in next(rows, ())]
        out = []
        for values in rows:
            cells = {name: value for name, value in zip(header, values, strict=False)
                     if name in OPERATOR_COLUMNS and value is not None and value != ""}
            if cells:
                out.append(cells)
        return out
    finally:
        workbook.close()
