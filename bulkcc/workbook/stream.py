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

from bulkcc.workbook.xlsx import (
    ERROR_LITERALS,
    FORMULA_STARTS,
    HEADER_FILL,
    HEADER_FONT,
    LINE_HEIGHT,
    clean_text,
    print_legibly,
    wrapped_lines,
)

# openpyxl's write-only sheet gets its page setup, dimensions and filter at run time
# (types-openpyxl does not declare them), so it is typed loosely here.
StreamSheet = Any


def cell(sheet: StreamSheet, value: Any, *, fill: PatternFill | None = None, font: Font | None = None,
         alignment: Alignment | None = None) -> Any:
    """A value to append: text is stored as text, never as a formula or an error.

    A plain value goes as it is (openpyxl makes its cell); only styled cells and text
    that a spreadsheet would reinterpret need a cell object, which costs ten times more.
    """
    if isinstance(value, tuple | list):
        value = ", ".join(map(str, value))
    guarded = False
    if isinstance(value, str):
        value = clean_text(value)
        guarded = value.startswith(FORMULA_STARTS) or value.strip() in ERROR_LITERALS
    if fill is None and font is None and alignment is None and not guarded:
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
    if guarded:
        streamed.quotePrefix = True  # and Excel must not reinterpret it when edited
    return streamed


def header_row(sheet: StreamSheet, names: Sequence[str]) -> list[Any]:
    return [cell(sheet, name, fill=HEADER_FILL, font=HEADER_FONT) for name in names]


def declare_layout(sheet: StreamSheet, *, columns: int, rows: int, widths: Sequence[float],
                   freeze: str | None, print_columns: int, filters: bool = True) -> None:
    """Widths, frozen panes, filters and print setup, before any row is written (see xlsx.print_legibly)."""
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.freeze_panes = freeze
    if filters and columns:
        sheet.auto_filter.ref = f"A1:{get_column_letter(columns)}{max(rows, 1)}"
    print_legibly(sheet, columns=print_columns, rows=rows)


def wrapped_height(texts: Sequence[tuple[Any, float]]) -> float | None:
    """The height a row needs for its wrapped texts, as (value, column width) pairs; None for one line."""
    lines = max((wrapped_lines(value, width) for value, width in texts if isinstance(value, str)), default=1)
    return LINE_HEIGHT * lines if lines > 1 else None
