"""Reading the operators sheet of a workbook (the agents of each call center).

The same reader as the callcenters sheet's (`reader._build_sheet`, with the same
bounds on rows and cells, the same problems for error cells, formulas never
computed and cells under no name, and the same warnings for what is hidden on
screen), over the operators field table. The sheet is optional: a CSV of call centers has none,
and a workbook without an `operators` sheet (or whose sheet is blank) has no
operator rows. A fed-back results workbook holds it as `Operators`, whose
outcome columns are kept as meta and otherwise ignored, as the Results sheet's.

A sheet without a `user_id` (or `user_email`) column is not an unreadable file: the problem is in
row 1 of the sheet, and every operator row is invalid (exit 1, not 2). A CSV whose row 1 has
`user_id` or `user_email` and no `id` is an operators sheet saved alone (`csvsheet`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from bulkcc.errors import Problem
from bulkcc.fields import suggest_column
from bulkcc.operator_fields import OPERATOR_COLUMNS, OPERATOR_FIELDS_BY_PATH, OPERATORS_SHEET
from bulkcc.values import is_blank
from bulkcc.workbook.csvsheet import OPERATORS, csv_sheet_kind, is_results_header
from bulkcc.workbook.layout import CSV_SUFFIXES, OPERATOR_RESULT_COLUMNS, OPERATOR_RESULTS_SHEET, XLSX_SUFFIXES
from bulkcc.workbook.reader import Rows, Sheet, SheetTable, _build_sheet, read_csv_rows, read_xlsx_rows


def suggest_operator_column(name: str) -> str | None:
    """The operators sheet's column an unknown header most likely meant, or None."""
    cleaned = name.strip().lower().replace(" ", "_")
    aliases = {"id": "call_center_id", "callcenter_id": "call_center_id", "user": "user_id",
               "agent": "user_id", "agent_id": "user_id",
               "email": "user_email", "mail": "user_email", "agent_email": "user_email", "user_mail": "user_email",
               "name": "call_center_name", "skill": "skill_level",
               "license": "license_type", "licence": "license_type", "licence_type": "license_type",
               "delete": "remove", "level": "skill_level"}
    return aliases.get(cleaned) or suggest_column(name, OPERATOR_COLUMNS)


OPERATORS_TABLE = SheetTable(OPERATOR_FIELDS_BY_PATH, suggest_operator_column, "user_id",
                             OPERATOR_RESULTS_SHEET, OPERATOR_RESULT_COLUMNS, key_required=False,
                             alternate_keys=("user_email",))


def operator_sheet_name(names: list[str]) -> str | None:
    """The workbook's operators sheet: `operators`, else a results workbook's `Operators`, else None.

    Excel's sheet names ignore case (a workbook cannot hold both), so any spelling
    of the name is the operators sheet.
    """
    for wanted in (OPERATORS_SHEET, OPERATOR_RESULTS_SHEET):
        if wanted in names:
            return wanted
    return next((n for n in names if n.strip().lower() == OPERATORS_SHEET), None)


def with_sheet(problems: list[Problem]) -> list[Problem]:
    """The problems (or warnings) as located on the operators sheet."""
    return [p if p.sheet == OPERATORS_SHEET else replace(p, sheet=OPERATORS_SHEET) for p in problems]


def build_operator_sheet(path: Path, rows: Rows, sheet_name: str = OPERATORS_SHEET, **scan_facts) -> Sheet:
    """The operators Sheet of these rows (row 1 first), as `read_operator_sheet` builds it from a file."""
    return _finish(_build_sheet(path, sheet_name, rows, table=OPERATORS_TABLE, **scan_facts))


def read_operator_sheet(path: str | Path) -> Sheet | None:
    """The workbook's operators sheet, or None (no such sheet, a blank one, a CSV of call centers); InputError
    if unreadable. A CSV whose row 1 is an operators sheet's (see `csvsheet`) is that sheet."""
    path = Path(path)
    if path.suffix.lower() in CSV_SUFFIXES:
        cells = read_csv_rows(path)
        header = [cell.strip() for cell in cells[0]] if cells else []
        if csv_sheet_kind(header) != OPERATORS:
            return None
        results = is_results_header(header)
        return build_operator_sheet(path, cells, OPERATOR_RESULTS_SHEET if results else OPERATORS_SHEET,
                                    shown_errors=True)
    if path.suffix.lower() not in XLSX_SUFFIXES:
        return None
    read = read_xlsx_rows(path, operator_sheet_name)
    if read is None:
        return None
    sheet_name, rows, scan, hidden = read
    if not any(not is_blank(v) for row in rows for v in row) and not scan.bad_cells:
        return None  # a blank sheet: no operator rows
    return build_operator_sheet(path, rows, sheet_name, scan=scan, sheet_hidden=hidden)


def read_operator_rows(path: str | Path) -> list[dict[str, Any]]:
    """The filled cells of each row of a workbook's operators sheet, as plain cells ([] if it has none).

    For a rollback workbook merged on --resume: read through the same bounded reader as any input.
    """
    sheet = read_operator_sheet(path)
    if sheet is None:
        return []
    out = []
    for cells in sheet.frame.to_dict("records"):
        # python-calamine reads every number as a float: a skill level of 50 is 50, as the sheet shows it.
        filled = {name: int(value) if isinstance(value, float) and value.is_integer() else value
                  for name, value in cells.items() if name in OPERATOR_COLUMNS and not is_blank(value)}
        if filled:
            out.append(filled)
    return out


def _finish(sheet: Sheet) -> Sheet:
    sheet.header_problems = with_sheet(sheet.header_problems)
    sheet.warnings = with_sheet(sheet.warnings)
    return sheet
