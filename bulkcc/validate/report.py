"""One validation report, rendered three ways: terminal table, JSON, workbook.

The annotated workbook is a copy of the input with each bad cell highlighted and
its messages attached as a comment, plus an `Errors` sheet; the input itself is
never modified.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.utils import get_column_letter
from rich.console import Console
from rich.table import Table

from bulkcc.errors import InputError, Problem
from bulkcc.validate.validation import Validation
from bulkcc.workbook.layout import DATA_SHEET, ERRORS_SHEET, XLSX_SUFFIXES
from bulkcc.workbook.reader import check_zip_size, read_csv_rows
from bulkcc.workbook.xlsx import FILLS, active_sheet, save_atomic, style_header, wrap_column, write_row

TERMINAL_LIMIT = 1000  # rows of the table shown on a terminal; JSON and --report have all


def summary_line(validation: Validation) -> str:
    rows = len(validation.sheet.rows)
    if validation.ok:
        return f"{validation.sheet.path.name}: {rows} rows, all valid"
    invalid = len(validation.invalid_rows)
    why = " (a problem in row 1, the column names, makes every row invalid)" if validation.file_problems else ""
    return (f"{validation.sheet.path.name}: {len(validation.problems)} errors in {invalid} of {rows} rows; "
            f"{rows - invalid} rows valid{why}")


def problems_table(problems: Sequence[Problem], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False, header_style="bold")
    table.add_column("Row", justify="right")
    table.add_column("Column", overflow="fold")
    table.add_column("Value", overflow="fold", max_width=30)
    table.add_column("Message", overflow="fold")
    for problem in problems[:TERMINAL_LIMIT]:
        value = problem.value
        shown = "" if value is None else repr(value) if isinstance(value, str) else str(value)
        table.add_row(str(problem.row or ""), problem.column or "(row)", shown, problem.message)
    return table


def render_text(validation: Validation, console: Console) -> None:
    if validation.problems:
        console.print(problems_table(validation.problems))
        if len(validation.problems) > TERMINAL_LIMIT:
            console.print(f"... {len(validation.problems) - TERMINAL_LIMIT} more: use --format json or --report")
    console.print(summary_line(validation), markup=False, highlight=False)


def render_json(validation: Validation) -> str:
    return json.dumps(validation.to_dict(), ensure_ascii=False, default=str)


def _load_copy(validation: Validation) -> tuple[Workbook, str]:
    """The input as an openpyxl workbook to annotate (CSV rows are laid into a new one)."""
    path = validation.sheet.path
    if path.suffix.lower() in XLSX_SUFFIXES:
        check_zip_size(path)
        try:
            workbook = load_workbook(path)  # openpyxl parses through defusedxml when installed
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise InputError(f"cannot copy {path.name} for the report: {exc}") from exc
        return workbook, validation.sheet.sheet_name or workbook.sheetnames[0]
    workbook = Workbook()
    sheet = active_sheet(workbook)
    sheet.title = DATA_SHEET
    for row_number, row in enumerate(read_csv_rows(path), start=1):
        write_row(sheet, row_number, row)
    return workbook, DATA_SHEET


def write_report_workbook(validation: Validation, out: str | Path) -> Path:
    """A copy of the input with bad cells highlighted and commented, plus an Errors sheet."""
    workbook, sheet_name = _load_copy(validation)
    sheet = workbook[sheet_name]
    header = {str(c.value).strip(): c.column for c in sheet[1] if c.value is not None}
    by_cell: dict[tuple[int, int], list[str]] = {}
    for problem in validation.problems:
        column = header.get(problem.column or "", 1)
        by_cell.setdefault((problem.row or 1, column), []).append(problem.message)
    for (row, column), messages in by_cell.items():
        cell = sheet.cell(row=row, column=column)
        cell.fill = FILLS["error"]
        text = "\n".join(messages)
        cell.comment = Comment(text[:2000], "bulkcc", width=320, height=60 + 18 * len(messages))

    if ERRORS_SHEET in workbook.sheetnames:
        del workbook[ERRORS_SHEET]
    errors = workbook.create_sheet(ERRORS_SHEET)
    write_row(errors, 1, ["row", "column", "value", "message"])
    for number, problem in enumerate(validation.problems, start=2):
        write_row(errors, number, [problem.row, problem.column, _cell_text(problem.value), problem.message])
        target = header.get(problem.column or "")
        if problem.row and target:
            link = errors.cell(row=number, column=1)
            link.hyperlink = f"#'{sheet_name}'!{get_column_letter(target)}{problem.row}"
    style_header(errors, 4, widths=[8, 45, 30, 100])
    wrap_column(errors, 4)
    return save_atomic(workbook, out)


def _cell_text(value) -> object:
    return value if value is None or isinstance(value, int | float | bool) else str(value)
