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
from rich.text import Text

from bulkcc.errors import InputError, Problem, UsageError
from bulkcc.fields import FIELDS_BY_PATH, Field
from bulkcc.operator_fields import OPERATOR_FIELDS_BY_PATH, OPERATORS_SHEET
from bulkcc.validate.validation import VALUE_LIMIT, OperatorsValidation, Validation, bounded
from bulkcc.values import counted, printable
from bulkcc.workbook.layout import DATA_SHEET, ERRORS_SHEET, XLSX_SUFFIXES
from bulkcc.workbook.paper import print_input_sheet
from bulkcc.workbook.reader import check_zip_size, iter_csv_rows
from bulkcc.workbook.xlsx import (
    CELL_LIMIT,
    FILLS,
    TEXT_FORMAT,
    active_sheet,
    fit_cell,
    save_atomic,
    set_cell,
    style_header,
    wrap_column,
    write_row,
)

TERMINAL_LIMIT = 1000  # rows of the table shown on a terminal; JSON and --report have all
TABLE_VALUE_LIMIT = 60  # characters of a value in the table (then "…" and its length)
MESSAGE_LIMIT = 400  # characters of a message on a terminal
# Excel's most hyperlinks in a sheet: past them it calls the file damaged and repairs it, dropping every link.
# The Errors sheet links each problem to its cell, the first this many.
MAX_LINKS = 65_530


def summary_line(validation: Validation) -> str:
    rows = len(validation.sheet.rows)
    name = printable(validation.sheet.path.name)
    count = len(all_warnings(validation))
    warned = f"; {counted(count, 'warning')}" if count else ""
    creates = len(validation.create_rows)
    if creates:  # shown apart: a create is a POST of a new call center, not a change of one
        updates = len(validation.valid_rows) - creates
        create = "creates a call center" if creates == 1 else "create call centers"
        change = "changes an existing one" if updates == 1 else "change existing ones"
        warned = f"; {counted(creates, 'valid row')} {create} (POST), {updates:,} {change} (PATCH){warned}"
    operators = _operators_summary(validation.operators)
    if not validation.problems:
        return f"{name}: {counted(rows, 'row')}, all valid{operators}{warned}"
    invalid = len(validation.invalid_rows)
    why = " (a problem in row 1, the column names, makes every row invalid)" if validation.file_problems else ""
    return (f"{name}: {counted(len(validation.problems), 'error')} in {invalid:,} of {counted(rows, 'row')}; "
            f"{counted(rows - invalid, 'row')} valid{why}{operators}{warned}")


def _operators_summary(operators: OperatorsValidation | None) -> str:
    """The operators sheet's part of the summary line ("" when the workbook has none, or it is empty and fine)."""
    if operators is None or (not operators.sheet.rows and operators.ok):
        return ""
    rows = len(operators.sheet.rows)
    if operators.ok:
        return f"; {OPERATORS_SHEET} sheet: {counted(rows, 'row')}, all valid"
    invalid = len(operators.invalid_rows)
    why = " (a problem in its row 1 makes every operator row invalid)" if operators.file_problems else ""
    return (f"; {OPERATORS_SHEET} sheet: {counted(len(operators.problems), 'error')} in {invalid:,} of "
            f"{counted(rows, 'row')}, {counted(rows - invalid, 'row')} valid{why}")


def shown_value(value: object) -> str:
    """A cell as the table shows it: text quoted, cut, its control characters visible."""
    if value is None:
        return ""
    return printable(value, TABLE_VALUE_LIMIT, quote=isinstance(value, str))


def problems_table(problems: Sequence[Problem], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False, header_style="bold")
    table.add_column("Row", justify="right")
    table.add_column("Column", overflow="fold")
    table.add_column("Value", overflow="fold", max_width=30)
    table.add_column("Message", overflow="fold")
    for problem in problems[:TERMINAL_LIMIT]:
        # Text(), not str: rich would read "[/bold]" in a cell as markup, and raise on it.
        table.add_row(str(problem.row or ""), Text(printable(problem.column or "(row)", VALUE_LIMIT)),
                      Text(shown_value(problem.value)), Text(printable(problem.message, MESSAGE_LIMIT)))
    return table


def all_warnings(validation: Validation) -> list[Problem]:
    """The warnings of the callcenters sheet, then those of the operators sheet."""
    operators = validation.operators.warnings if validation.operators is not None else []
    return [*validation.warnings, *operators]


def warning_lines(validation: Validation) -> list[str]:
    """One line per warning, each starting with `warning:` (they never make a row invalid); those of the
    operators sheet say so."""
    lines = []
    for warning in all_warnings(validation):
        sheet = f"{warning.sheet} sheet, " if warning.sheet else ""
        where = f"{sheet}row {warning.row}: " if warning.row else (f"{warning.sheet} sheet: " if sheet else "")
        lines.append(f"warning: {where}{printable(warning.message, MESSAGE_LIMIT)}")
    return lines


def note_lines(validation: Validation) -> list[str]:
    """How the input was read, one line each starting with `note:` (a CSV: which sheet it is taken for)."""
    operators = validation.operators.sheet.notes if validation.operators is not None else []
    return [f"note: {printable(note, MESSAGE_LIMIT)}" for note in dict.fromkeys([*validation.sheet.notes, *operators])]


def render_warnings(validation: Validation, console: Console) -> None:
    """The notes on how the input was read, then its warnings."""
    for line in [*note_lines(validation), *warning_lines(validation)]:
        console.print(line, markup=False, highlight=False)


def _render_problems(problems: Sequence[Problem], console: Console, title: str | None = None) -> None:
    console.print(problems_table(problems, title))
    if len(problems) > TERMINAL_LIMIT:
        console.print(f"... {len(problems) - TERMINAL_LIMIT} more: use --format json or --report", markup=False)


def render_text(validation: Validation, console: Console) -> None:
    if validation.problems:
        _render_problems(validation.problems, console)
    if validation.operators is not None and validation.operators.problems:
        # Its own table: its rows are the operators sheet's, not the callcenters sheet's.
        _render_problems(validation.operators.problems, console, title=f"{OPERATORS_SHEET} sheet")
    render_warnings(validation, console)
    console.print(summary_line(validation), markup=False, highlight=False)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def terminal_json(data: object) -> str:
    """`data` as one line of JSON that is safe to print. Non-ASCII text stays readable, but every
    character a terminal acts on (DEL, C1 controls such as CSI, bidi overrides) is \\u-escaped,
    as JSON already does for the C0 ones; it stays the same JSON value."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _json_escape(ch) for ch in text)


def render_json(validation: Validation) -> str:
    """The report as one line of JSON, safe to print (see `terminal_json`)."""
    return terminal_json(validation.to_dict())


def _load_copy(validation: Validation) -> tuple[Workbook, str]:
    """The input as an openpyxl workbook to annotate (CSV rows are laid into a new one)."""
    path = validation.sheet.path
    if path.suffix.lower() in XLSX_SUFFIXES:
        check_zip_size(path)
        try:
            workbook = load_workbook(path)  # openpyxl parses through defusedxml when installed
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise InputError(f"cannot copy {path.name} for the report: {exc}") from exc
        _fit_long_cells(workbook)
        return workbook, validation.sheet.sheet_name or workbook.sheetnames[0]
    workbook = Workbook()
    sheet = active_sheet(workbook)
    # A CSV is one sheet: of operators when the reader took it for one (then it has an operators part).
    sheet.title = validation.operators.sheet_name if validation.operators is not None else DATA_SHEET
    for row_number, row in enumerate(iter_csv_rows(path), start=1):
        if any(cell.strip() for cell in row):  # blank rows are left blank, not written one by one
            write_row(sheet, row_number, row)  # a text longer than a cell holds is cut (`xlsx.fit_cell`)
    return workbook, sheet.title


def _fit_long_cells(workbook: Workbook) -> None:
    """Cut the copy's texts longer than an Excel cell holds (LibreOffice saves them; openpyxl copies them as
    they are, and Excel then called the report damaged). Only the cells the file holds are visited."""
    for sheet in workbook.worksheets:
        for cell in sheet._cells.values():  # the stored cells: iter_rows would make every blank one
            value = cell.value
            if isinstance(value, str) and len(value) > CELL_LIMIT // 2 and cell.data_type == "s":
                set_cell(cell, fit_cell(value))


def write_report_workbook(validation: Validation, out: str | Path) -> Path:
    """A copy of the input with bad cells highlighted and commented, plus an Errors sheet."""
    workbook, sheet_name = _load_copy(validation)
    # Each problem with the sheet it is on: the callcenters sheet's, then the operators sheet's.
    located = [(sheet_name, p) for p in validation.problems]
    operators = validation.operators
    if operators is not None and operators.sheet_name in workbook.sheetnames:
        located += [(operators.sheet_name, p) for p in operators.problems]
    headers = {name: _annotate(workbook[name], [p for s, p in located if s == name])
               for name in dict.fromkeys(s for s, _ in located)}

    if ERRORS_SHEET in workbook.sheetnames:
        del workbook[ERRORS_SHEET]
    errors = workbook.create_sheet(ERRORS_SHEET)
    # The sheet column only when a problem is on another sheet: the four columns stay as they were.
    with_sheet = any(s != sheet_name for s, _ in located)
    write_row(errors, 1, ["row", "column", "value", "message", *(["sheet"] if with_sheet else [])])
    for number, (on_sheet, problem) in enumerate(located, start=2):
        shown = bounded(problem)
        write_row(errors, number, [shown.row, shown.column, _cell_text(shown.value), shown.message,
                                   *([on_sheet] if with_sheet else [])])
        target = headers[on_sheet].get(problem.column or "")
        if problem.row and target and number <= MAX_LINKS + 1:
            link = errors.cell(row=number, column=1)
            link.hyperlink = f"#'{on_sheet}'!{get_column_letter(target)}{problem.row}"
    style_header(errors, 5 if with_sheet else 4, widths=[8, 40, 30, 70, 12][:5 if with_sheet else 4])
    wrap_column(errors, 4)
    for name in headers:
        print_input_sheet(workbook[name])
    _ids_as_text(workbook[sheet_name], FIELDS_BY_PATH)
    if operators is not None and operators.sheet_name in workbook.sheetnames:
        _ids_as_text(workbook[operators.sheet_name], OPERATOR_FIELDS_BY_PATH)
    try:
        return save_atomic(workbook, out)
    except OSError as exc:  # a folder in the way, no permission, a full disk: one line, not a traceback
        raise UsageError(f"cannot write the report {printable(str(out), 300)}: "
                         f"{printable(exc.strerror or exc)}; pick another path") from exc


def _ids_as_text(sheet, fields: dict[str, Field]) -> None:
    """The copy's id columns formatted as text, cells and column: the admin fixes the marked cells in the copy
    and validates it again, and a 16-digit id typed into a General cell was rounded again."""
    for head in sheet[1]:
        field = fields.get(str(head.value).strip()) if head.value is not None else None
        if field is None or not field.is_identifier:
            continue
        sheet.column_dimensions[head.column_letter].number_format = TEXT_FORMAT
        for (cell,) in sheet.iter_rows(min_row=2, min_col=head.column, max_col=head.column):
            cell.number_format = TEXT_FORMAT


def _annotate(sheet, problems: Sequence[Problem]) -> dict[str, int]:
    """Highlight each problem's cell of `sheet`, its messages as a comment; returns the header (name -> column)."""
    header = {str(c.value).strip(): c.column for c in sheet[1] if c.value is not None}
    by_cell: dict[tuple[int, int], list[str]] = {}
    for problem in problems:
        column = header.get(problem.column or "", 1)
        by_cell.setdefault((problem.row or 1, column), []).append(problem.message)
    for (row, column), messages in by_cell.items():
        cell = sheet.cell(row=row, column=column)
        cell.fill = FILLS["error"]
        text = "\n".join(messages)
        cell.comment = Comment(text[:2000], "bulkcc", width=320, height=60 + 18 * len(messages))
    return header


def _cell_text(value) -> object:
    return value if value is None or isinstance(value, int | float | bool) else str(value)
