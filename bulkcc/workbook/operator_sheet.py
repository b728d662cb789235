"""The rows of a workbook's `operators` sheet read back as plain cells (a rollback's, merged on --resume).

Writing such a sheet is the template's (`build_workbook(operator_rows=)`: the
same columns, drop-downs and notes as the template's operators sheet).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from bulkcc.operator_fields import OPERATOR_COLUMNS, OPERATORS_SHEET


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
