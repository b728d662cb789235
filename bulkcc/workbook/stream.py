"""Streaming workbook writing (openpyxl's write-only mode) with the same promises as `xlsx`.

The results workbook can hold 100,000 rows: written cell by cell into a normal
worksheet it took 2.6 times a plain write-only dump of the same cells. Here each
row is appended once, as it is made: styles and the text-stays-text guard are
set on the streamed cells, and everything about the sheet (widths, freeze,
filter, print setup, row heights) is declared before the first row, as
write-only mode requires.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from bulkcc.workbook.paper import WRAP, fits_one_line, page_setup, row_height, wrapped_lines
from bulkcc.workbook.xlsx import (
    BOOLEAN_FORMAT,
    ERROR_LITERALS,
    FORMULA_STARTS,
    HEADER_FILL,
    HEADER_FONT,
    TEXT_FORMAT,
    clean_text,
)

# openpyxl's write-only sheet gets its page setup, dimensions and filter at run time
# (types-openpyxl does not declare them), so it is typed loosely here.
StreamSheet = Any


def cell(sheet: StreamSheet, value: Any, *, fill: PatternFill | None = None, font: Font | None = None,
         alignment: Alignment | None = None, number_format: str | None = None) -> Any:
    """A value to append: text is stored as text, never as a formula or an error; a boolean reads
    TRUE/FALSE in every program (`xlsx.BOOLEAN_FORMAT`).

    A plain value goes as it is (openpyxl makes its cell); only styled cells and text
    that a spreadsheet would reinterpret need a cell object, which costs ten times more.
    """
    if isinstance(value, tuple | list):
        value = ", ".join(map(str, value))
    guarded = False
    if isinstance(value, str):
        value = clean_text(value)
        guarded = value.startswith(FORMULA_STARTS) or value.strip() in ERROR_LITERALS
    elif isinstance(value, bool):
        number_format = BOOLEAN_FORMAT
    if fill is None and font is None and alignment is None and number_format is None and not guarded:
        return value
    streamed = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        streamed.data_type = "s"  # openpyxl took a leading '=' for a formula: undo that
    if fill is not None:
        streamed.fill = fill
    if font is not None:
        streamed.font = font
    if alignment is not None:
        streamed.alignment = alignment
    if number_format is not None:
        streamed.number_format = number_format
    if guarded:
        streamed.quotePrefix = True  # and Excel must not reinterpret it when edited
    return streamed


def header_row(sheet: StreamSheet, names: Sequence[str]) -> list[Any]:
    """The header cells, each the column's exact name (a fed-back sheet is read by them)."""
    return [cell(sheet, name, fill=HEADER_FILL, font=HEADER_FONT) for name in names]


def declare_layout(sheet: StreamSheet, *, columns: int, rows: int, widths: Sequence[float],
                   freeze: str | None, print_columns: int | None = None, filters: bool = True,
                   title_columns: int = 0, text_columns: Sequence[int] = (), one_page: bool = False) -> None:
    """Widths, frozen panes, filters and print setup (see `paper.page_setup`), before any row is written.
    `text_columns` (1-based) are formatted as text, so an id typed into a blank cell of theirs keeps its digits."""
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    for column in text_columns:
        sheet.column_dimensions[get_column_letter(column)].number_format = TEXT_FORMAT
    sheet.freeze_panes = freeze
    if filters and columns:
        sheet.auto_filter.ref = f"A1:{get_column_letter(columns)}{max(rows, 1)}"
    page_setup(sheet, widths=widths, columns=columns if print_columns is None else print_columns, rows=rows,
               title_columns=title_columns, one_page=one_page)


def wrapped_height(texts: Sequence[tuple[Any, float]]) -> float | None:
    """The height a row needs for its wrapped texts, as (value, column width) pairs; None for one line."""
    lines = max((wrapped_lines(value, width) for value, width in texts if isinstance(value, str)), default=1)
    return row_height(lines) if lines > 1 else None


def long_text(value: Any, width: float) -> bool:
    """A text cell that needs wrapping in a column `width` wide."""
    return isinstance(value, str) and not fits_one_line(value, width)


# Wrapped at the bottom of the row, as the row's other cells are: its input cells stay plain values
# (styling each costs ten times as much), so aligning the long texts to the top left them out of line.
WRAPPED = WRAP
