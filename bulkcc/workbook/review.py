"""The review workbook of `bulkcc plan --report`: what a reviewer reads before approving a plan.

It is written from plain data (`Review`, built by `bulkcc.plan.review`), so the
workbook layer knows nothing of plans. Sheets, in order:

- `Summary`: the plan's facts (file, checksum, when, target, input), counts per
  field and per office, notes on reading it, and lines to sign;
- `Creates` (only if any): one row per call center the plan creates (POST),
  apart from the changes, one column per field set, each cell the value sent;
- `Changes`: one row per call center to change, one column per field any row
  changes, each cell `old → new` (or the new value, without --diff), coloured.
  A plan of more fields than print legibly side by side gets several Changes
  sheets, a few fields each, by field group (the Summary names each field's);
- `Operators` (only for a workbook with an operators sheet): each operator change
  in words and as its request, then the operator rows that send nothing for a
  reason (invalid, blocked …), and why;
- `Left out` (only if any): rows not in the plan, and why;
- `Unchanged`: the rows that change nothing, and why; `Unchanged operators` (only
  if any): the operator rows live already matches.

Every sheet prints landscape, fit to the page's width, its header row repeated
on every page, and the plan's checksum in the footer, so each printed page
names the one plan it approves. The changes print first; the unchanged rows
are counted on the Summary and listed on screen, but not printed (a plan of 5
changes among 250 call centers printed 24 pages of them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from bulkcc.fields import FIELDS_BY_PATH
from bulkcc.values import counted
from bulkcc.workbook.paper import font, row_height, wrapped_lines
from bulkcc.workbook.xlsx import HEADER_FILL, HEADER_FONT, active_sheet, save_atomic, set_cell, write_row

SUMMARY, CHANGES, UNCHANGED, LEFT_OUT, OPERATORS = "Summary", "Changes", "Unchanged", "Left out", "Operators"
UNCHANGED_OPERATORS = "Unchanged operators"
CREATES = "Creates"
OPERATOR_COLUMNS = ("operators row", "call center", "user", "change", "request")
OPERATOR_WIDTHS = (10, 24, 26, 50, 44)  # the user: its id, and its email beside it
CHANGED_FILL = PatternFill("solid", fgColor="FFF2CC")  # a cell the plan changes
LEFT_OUT_FILL = PatternFill("solid", fgColor="FFEB9C")
THIN = Side(style="thin", color="BFBFBF")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP = Alignment(wrap_text=True, vertical="top")
CONTEXT_COLUMNS = ("row", "id", "call center", "office")
CONTEXT_WIDTHS = (6, 18, 24, 18)
MIN_FIELD_WIDTH, MAX_FIELD_WIDTH = 12, 22


@dataclass(frozen=True)
class ReviewRow:
    """A call center of the plan: its context, and per field column the text of its cell."""

    row: int
    id: int | None
    name: str
    office: str
    # field column -> (old, new) as cells show them; old is None without --diff (not read)
    cells: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    why: str = ""  # Unchanged and Left out sheets: why it is there


@dataclass(frozen=True)
class OperatorReviewRow:
    """An operator change (or an operator row that sends nothing: `request` blank, `change` why)."""

    row: int | None  # the operators sheet's row; None for an --exact-operators removal
    center: str
    user: int | str | None  # the id, with the email beside it when known
    change: str
    request: str = ""
    sent: bool = True
    unchanged: bool = False  # live already matches the row: listed on the Unchanged operators sheet


@dataclass(frozen=True)
class Review:
    checksum: str | None  # the plan file's SHA-256; None when no plan file was written
    facts: list[tuple[str, Any]]  # label, value: the Summary's first table
    columns: list[str]  # the field columns of the Changes sheet, in the field table's order
    changes: list[ReviewRow]
    unchanged: list[ReviewRow]
    left_out: list[ReviewRow]
    field_counts: list[tuple[str, int]]  # field, call centers it changes on
    office_counts: list[tuple[str, int, int, int, int]]  # office, to create, to change, unchanged, left out
    notes: list[str] = field(default_factory=list)
    creates: list[ReviewRow] = field(default_factory=list)  # the call centers to create (no id yet)
    create_columns: list[str] = field(default_factory=list)  # the fields the creates set
    operators: list[OperatorReviewRow] | None = None  # None: the workbook has no operators sheet


MAX_FIELDS_PER_SHEET = 6  # more columns than this, fit to a page's width, print too small to read
MAX_SHEET_TITLE = 31  # Excel's limit
SUMMARY_ONE_PAGE_ROWS = 60


def _fit_height(sheet: Worksheet, row: int, values: Sequence[Any], widths: Sequence[float],
                bold: bool = False) -> None:
    """Rows of wrapped text get the height they need (LibreOffice does not grow them when printing)."""
    lines = max((wrapped_lines(v, w, bold=bold) for v, w in zip(values, widths, strict=False)), default=1)
    if lines > 1:
        sheet.row_dimensions[row].height = row_height(lines)


# Cells are styled by named styles, one assignment each: setting font, border and
# alignment one by one took 36 s of 10,000 rows x 50 fields, against 16 s (openpyxl hashes every style).
HEADER_STYLE, BODY_STYLE, CHANGED_STYLE, LEFT_OUT_STYLE = "bulkcc header", "bulkcc cell", "bulkcc change", "bulkcc left"


def _add_styles(workbook: Workbook) -> None:
    header = NamedStyle(HEADER_STYLE, font=font(bold=True, color=HEADER_FONT.color), fill=HEADER_FILL,
                        border=BORDER, alignment=Alignment(wrap_text=True, vertical="bottom"))
    workbook.add_named_style(header)
    for name, fill in ((BODY_STYLE, None), (CHANGED_STYLE, CHANGED_FILL), (LEFT_OUT_STYLE, LEFT_OUT_FILL)):
        style = NamedStyle(name, font=font(), border=BORDER, alignment=WRAP)
        if fill is not None:
            style.fill = fill
        workbook.add_named_style(style)


def _header(sheet: Worksheet, row: int, values: Sequence[Any], widths: Sequence[float] = ()) -> None:
    write_row(sheet, row, values)
    for col in range(1, len(values) + 1):
        sheet.cell(row=row, column=col).style = HEADER_STYLE
    if widths:
        _fit_height(sheet, row, values, widths, bold=True)


def _body(sheet: Worksheet, row: int, values: Sequence[Any], widths: Sequence[float],
          styles: Sequence[str | None] = ()) -> None:
    write_row(sheet, row, values)
    for col in range(1, len(values) + 1):
        style = styles[col - 1] if col - 1 < len(styles) else None
        sheet.cell(row=row, column=col).style = style or BODY_STYLE
    _fit_height(sheet, row, values, widths)


def _for_print(sheet: Worksheet, review: Review, repeat_header: bool = True) -> None:
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # as many pages down as it takes
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    if repeat_header:
        sheet.print_title_rows = "1:1"
    plan = f"plan SHA-256 {review.checksum}" if review.checksum else "no plan file written"
    footer = sheet.oddFooter
    assert footer is not None  # openpyxl gives every sheet one; typed as optional
    for part, text in ((footer.left, f"bulkcc review: {sheet.title}"), (footer.center, plan),
                       (footer.right, "page &P of &N")):
        assert part is not None
        part.text, part.size = text, 8


def field_header(column: str, width: int = MAX_FIELD_WIDTH) -> str:
    """A field's name broken after its dots into lines that fit `width` (never inside a word)."""
    lines: list[str] = []
    for part in column.split("."):
        if lines and len(lines[-1]) + 1 + len(part) <= width - 1:
            lines[-1] += "." + part
        else:
            if lines:
                lines[-1] += "."
            lines.append(part)
    return "\n".join(lines)


def cell_text(change: tuple[str | None, str], width: float = MAX_FIELD_WIDTH) -> str:
    """`old → new` on one line if it fits, else old, then → new below it; the new value alone without old."""
    old, new = change
    if old is None:
        return new
    one_line = f"{old} → {new}"
    return one_line if len(one_line) <= width - 1 else f"{old}\n→ {new}"


def _field_width(column: str, rows: Sequence[ReviewRow]) -> int:
    longest = max([max(map(len, column.split("."))) + 1]
                  + [len(cell_text(r.cells[column], 10**6)) for r in rows[:200] if column in r.cells])
    return max(MIN_FIELD_WIDTH, min(MAX_FIELD_WIDTH, longest + 2))


def _group(column: str) -> str:
    field = FIELDS_BY_PATH.get(column)
    return field.group if field else "other"


def change_sheets(columns: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The Changes sheets and their field columns: one sheet if few, else a few fields each, by group."""
    if len(columns) <= MAX_FIELDS_PER_SHEET:
        return [(CHANGES, list(columns))]
    groups: dict[str, list[str]] = {}
    for column in columns:  # columns come in the field table's order, so groups stay together
        groups.setdefault(_group(column), []).append(column)
    chunks: list[tuple[list[str], list[str]]] = []  # (group names, columns)
    for group, members in groups.items():
        for start in range(0, len(members), MAX_FIELDS_PER_SHEET):
            part = members[start:start + MAX_FIELDS_PER_SHEET]
            if chunks and len(chunks[-1][1]) + len(part) <= MAX_FIELDS_PER_SHEET:
                names, cols = chunks[-1]
                if group not in names:
                    names.append(group)
                cols.extend(part)
            else:
                chunks.append(([group], list(part)))
    return [(_sheet_title(i, names), cols) for i, (names, cols) in enumerate(chunks, start=1)]


def _sheet_title(number: int, groups: Sequence[str]) -> str:
    """`Changes 3 (advanced, …)`: as many group names as Excel's 31 characters hold."""
    shown: list[str] = []
    for group in groups:
        more = ", …" if len(shown) + 1 < len(groups) else ""
        if len(f"{CHANGES} {number} ({', '.join([*shown, group])}{more})") > MAX_SHEET_TITLE:
            break
        shown.append(group)
    rest = ", …" if len(shown) < len(groups) else ""
    return f"{CHANGES} {number} ({', '.join(shown) if shown else '…'}{rest})"


def _context(row: ReviewRow) -> list[Any]:
    return [row.row, None if row.id is None else str(row.id), row.name, row.office]


def _changes_sheet(sheet: Worksheet, columns: Sequence[str], rows: Sequence[ReviewRow]) -> None:
    field_widths = [_field_width(c, rows) for c in columns]
    widths = [*CONTEXT_WIDTHS, *field_widths]
    _header(sheet, 1, [*CONTEXT_COLUMNS, *(field_header(c, w) for c, w in zip(columns, field_widths, strict=True))],
            widths)
    for excel_row, item in enumerate(rows, start=2):
        cells = [cell_text(item.cells[c], w) if c in item.cells else None
                 for c, w in zip(columns, field_widths, strict=True)]
        _body(sheet, excel_row, [*_context(item), *cells], widths,
              [None] * len(CONTEXT_COLUMNS) + [CHANGED_STYLE if c is not None else None for c in cells])
    _layout(sheet, widths, freeze="C2")


def _rows_sheet(sheet: Worksheet, rows: Sequence[ReviewRow], style: str | None = None) -> None:
    widths = [*CONTEXT_WIDTHS, 70]
    _header(sheet, 1, [*CONTEXT_COLUMNS, "why"], widths)
    for excel_row, item in enumerate(rows, start=2):
        _body(sheet, excel_row, [*_context(item), item.why], widths, [style] * 5)
    _layout(sheet, widths, freeze="A2")


def _operators_sheet(sheet: Worksheet, rows: Sequence[OperatorReviewRow]) -> None:
    _header(sheet, 1, list(OPERATOR_COLUMNS), OPERATOR_WIDTHS)
    for excel_row, item in enumerate(rows, start=2):
        style = CHANGED_STYLE if item.sent else None
        where = "(not on the sheet)" if item.row is None else item.row
        user = "" if item.user is None else str(item.user)
        _body(sheet, excel_row, [where, item.center, user, item.change, item.request], OPERATOR_WIDTHS,
              [None, None, None, style, style])
    _layout(sheet, OPERATOR_WIDTHS, freeze="A2")


def _layout(sheet: Worksheet, widths: Sequence[float], freeze: str) -> None:
    for col, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    sheet.freeze_panes = freeze
    if sheet.max_row > 1:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(widths))}{sheet.max_row}"


def _merged(sheet: Worksheet, row: int, first: int, last: int, value: Any, width: float, **style: Any) -> None:
    cell = set_cell(sheet.cell(row=row, column=first), value)
    cell.font = font(**style)
    cell.alignment = Alignment(wrap_text=True, vertical="top", horizontal="left")
    sheet.merge_cells(start_row=row, start_column=first, end_row=row, end_column=last)
    _fit_height(sheet, row, [value], [width])


def _summary_sheet(sheet: Worksheet, review: Review, sheet_of: dict[str, str], printed_note: str) -> None:
    label_width = max([34, *(len(name) + 2 for name, _ in review.field_counts)])
    widths = [label_width, 14, 14, 14, 30]
    value_width = sum(widths[1:])
    set_cell(sheet.cell(row=1, column=1), "bulkcc plan review").font = font(bold=True, size=14)
    row = 3
    for label, value in review.facts:
        cell = set_cell(sheet.cell(row=row, column=1), label)
        cell.font, cell.alignment = font(bold=True), Alignment(vertical="top")
        _merged(sheet, row, 2, 5, value, value_width)
        row += 1
    row += 1
    _header(sheet, row, ["Field", "Call centers", "On sheet"])
    sheet.merge_cells(start_row=row, start_column=3, end_row=row, end_column=5)
    for name, count in review.field_counts or [("(nothing changes)", 0)]:
        row += 1
        _body(sheet, row, [name, count], widths)
        _merged(sheet, row, 3, 5, sheet_of.get(name, ""), sum(widths[2:]))
        for col in (3, 4, 5):
            sheet.cell(row=row, column=col).style = BODY_STYLE
    row += 2
    _header(sheet, row, ["Office", "To create", "To change", "Unchanged", "Left out"])
    for office, *counts in review.office_counts:
        row += 1
        _body(sheet, row, [office, *counts], widths)
    row += 2
    for note in [*review.notes, printed_note]:
        _merged(sheet, row, 1, 5, note, sum(widths))
        row += 1
    row += 1
    for label in ("Approved by", "Date"):
        set_cell(sheet.cell(row=row, column=1), label).font = font(bold=True)
        set_cell(sheet.cell(row=row, column=2), "_" * 50)
        row += 2
    for col, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width


def write_review(path: str | Path, review: Review) -> Path:
    """Write the review workbook atomically; returns its path."""
    workbook = Workbook()
    _add_styles(workbook)
    summary = active_sheet(workbook)
    summary.title = SUMMARY
    layout = change_sheets(review.columns)
    sheet_of = {column: title for title, columns in layout for column in columns}
    operators = [r for r in review.operators or () if not r.unchanged]
    unchanged_operators = [r for r in review.operators or () if r.unchanged]
    _summary_sheet(summary, review, sheet_of, _unprinted_note(review, len(unchanged_operators)))
    _for_print(summary, review, repeat_header=False)
    if summary.max_row <= SUMMARY_ONE_PAGE_ROWS:
        summary.page_setup.fitToHeight = 1  # a short Summary stays one page, its sign-off lines included
    # What changes first, then what is left out, then (on screen only) what stays as it is.
    sheets: list[tuple[str, Callable[[Worksheet], None], bool]] = []
    if review.creates:
        sheets.append((CREATES, functools.partial(_changes_sheet, columns=review.create_columns,
                                                  rows=review.creates), True))
    for title, columns in layout:
        rows = [r for r in review.changes if any(c in r.cells for c in columns)] if len(layout) > 1 else review.changes
        sheets.append((title, functools.partial(_changes_sheet, columns=columns, rows=rows), True))
    if review.operators is not None:
        sheets.append((OPERATORS, functools.partial(_operators_sheet, rows=operators), True))
    if review.left_out:
        sheets.append((LEFT_OUT, functools.partial(_rows_sheet, rows=review.left_out, style=LEFT_OUT_STYLE), True))
    sheets.append((UNCHANGED, functools.partial(_rows_sheet, rows=review.unchanged), False))
    if unchanged_operators:
        sheets.append((UNCHANGED_OPERATORS, functools.partial(_operators_sheet, rows=unchanged_operators), False))
    for title, fill_in, printed in sheets:
        sheet = workbook.create_sheet(title)
        fill_in(sheet)
        _for_print(sheet, review)
        if not printed:
            _not_printed(sheet)
    return save_atomic(workbook, path)


def _unprinted_note(review: Review, unchanged_operators: int) -> str:
    listed = [f"the {UNCHANGED} sheet, {counted(len(review.unchanged), 'call center')}"]
    if unchanged_operators:
        listed.append(f"the {UNCHANGED_OPERATORS} sheet, {counted(unchanged_operators, 'operator row')}")
    return (f"Printed: what the plan sends, and what it leaves out. Not printed: what stays as it is "
            f"({'; '.join(listed)}); open the workbook to see them.")


def _not_printed(sheet: Worksheet) -> None:
    """Leave the sheet out of print: its print area is one blank cell right of its table, and a
    spreadsheet program prints no blank page (LibreOffice and Excel both skip it)."""
    sheet.print_area = f"{get_column_letter(sheet.max_column + 2)}1"
