"""How a sheet reads on screen and on paper: wrapped text and its row heights, page setup, print titles.

Spreadsheet programs do not all size a row to its wrapped text when they open a
file (LibreOffice drew a description's second line over the next row, and cut a
third line off in a row fixed at two), so every sheet bulkcc writes gives each row
the height of its wrapped text. The height comes from a count of lines made as a
spreadsheet wraps: greedy, at spaces, a word longer than the line broken where it
overflows. Widths are measured in the unit of a column's width (the width of the
digit 0), per character, as the wider of Calibri (Excel's default font) and DejaVu
Sans (what LibreOffice draws when Calibri is missing), so that a count is never
short in either; a row is then at most a line taller than its text.

On paper every sheet is landscape A4 with its header row repeated on every page. A
sheet whose printed columns fit a page at a readable scale is fitted to the page
width; a wider one prints in page-wide slices, its id (and name) columns repeated
on the left of every slice, so each page says which call center it is about.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

# One line of 11-point text: Excel's default row. LibreOffice draws a line of it in about 13 points.
LINE_HEIGHT = 15.0
FONT_SIZE = 11.0
FONT_NAME = "Calibri"
MAX_WRAPPED_LINES = 40  # a 10 MB message still gets a row a reader can scroll past
# A cell's text starts and ends a little inside its borders: what is left of a column `w` wide holds
# about w - 0.2 digits in LibreOffice and w in Excel. Measured against LibreOffice 7.4 on 469 cells
# (7 widths, texts of the field table and of bulkcc's messages), half a digit less never counted a
# line short, and counted 79% of the cells exactly (the rest a line or two long, mostly in narrow columns).
CELL_PADDING = 0.5
BOLD = 1.1  # bold text is about a tenth wider

# Widths of characters in digit widths: the wider of Calibri's and DejaVu Sans's, each to its own digit.
_WIDTHS: dict[str, float] = {
    " ": 0.5, ".": 0.5, ",": 0.5, ":": 0.53, ";": 0.53, "'": 0.43, '"': 0.72, "/": 0.53, "\\": 0.53, "_": 0.79,
    "-": 0.57, "(": 0.61, ")": 0.61, "[": 0.61, "]": 0.61, "{": 1.0, "}": 1.0, "*": 0.79, "#": 1.32, "@": 1.57,
    "%": 1.49, "&": 1.23, "+": 1.32, "=": 1.32, "<": 1.32, ">": 1.32, "|": 0.53, "!": 0.63, "?": 0.83,
    "$": 1.0, "~": 1.32, "^": 1.32, "`": 0.5, "→": 1.32, "…": 1.57, "–": 0.79, "—": 1.57, "·": 0.5,
    **dict(zip("abcdefghijklmnopqrstuvwxyz", (
        0.96, 1.04, 0.86, 1.04, 0.98, 0.6, 1.0, 1.04, 0.45, 0.47, 0.91, 0.45, 1.58, 1.04, 1.04, 1.04, 1.04,
        0.69, 0.82, 0.66, 1.04, 0.93, 1.41, 0.93, 0.93, 0.83), strict=True)),
    **dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", (
        1.14, 1.08, 1.1, 1.21, 0.99, 0.91, 1.24, 1.23, 0.5, 0.63, 1.03, 0.88, 1.69, 1.27, 1.31, 1.02, 1.33,
        1.09, 1.0, 0.96, 1.27, 1.12, 1.76, 1.08, 0.96, 1.08), strict=True)),
    **dict.fromkeys("0123456789", 1.0),
}
# An East Asian wide character (or an emoji) is drawn a full em wide by the font the program falls back to:
# 14.7 pixels at 11 points, against Calibri's 7-pixel digit, so 2.1 of Excel's units (1.6 of LibreOffice's,
# whose unit is DejaVu Sans's wider digit). At 1.8 a text of such characters was counted a line short in Excel.
_WIDE_CHAR = 2.15
_OTHER_CHAR = 1.1  # any other letter or sign (ü, é, ß …)


def font(*, size: float = FONT_SIZE, **style: Any) -> Font:
    """A font with its name and size set: without them LibreOffice draws a serif."""
    return Font(name=FONT_NAME, size=size, **style)


def char_width(char: str) -> float:
    width = _WIDTHS.get(char)
    if width is not None:
        return width
    if unicodedata.combining(char):
        return 0.0
    return _WIDE_CHAR if unicodedata.east_asian_width(char) in ("W", "F") else _OTHER_CHAR


def text_width(text: str, *, bold: bool = False, size: float = FONT_SIZE) -> float:
    """The width of one line of `text`, in column-width units (the width of the digit 0)."""
    if text.isascii():
        width = sum(_WIDTHS.get(c, _OTHER_CHAR) for c in text)
    else:
        width = sum(map(char_width, text))
    return width * (BOLD if bold else 1.0) * size / FONT_SIZE


def _pieces(paragraph: str) -> Iterable[tuple[str, bool]]:
    """The unbreakable pieces of a paragraph, each with whether a space comes before it: words, split
    after their hyphens (Excel and LibreOffice break a line there too)."""
    for number, word in enumerate(paragraph.split(" ")):
        parts = _AFTER_HYPHEN.split(word) if "-" in word else [word]
        for index, part in enumerate(parts):
            if part or index == 0:
                yield part, number > 0 and index == 0


_AFTER_HYPHEN = re.compile(r"(?<=-)(?=[^-])")


def _paragraph_lines(paragraph: str, room: float, scale: float, limit: int) -> int:
    """Lines one paragraph (no line breaks) takes, wrapped greedily into `room`."""
    lines, used = 1, 0.0
    for piece, spaced in _pieces(paragraph):
        width = sum(map(char_width, piece)) * scale
        space = _WIDTHS[" "] * scale if used and spaced else 0.0
        if used + space + width <= room:
            used += space + width
            continue
        if used:  # the piece starts a new line
            lines += 1
            used = 0.0
        if width <= room:
            used = width
            continue
        for char in piece:  # a word wider than the line is broken where it overflows
            step = char_width(char) * scale
            if used + step > room and used:
                lines += 1
                used = 0.0
            used += step
        if lines >= limit:
            break
    return lines


def wrapped_lines(text: Any, width: float, *, bold: bool = False, size: float = FONT_SIZE) -> int:
    """Lines `text` takes, wrapped in a column `width` wide (at least 1, at most MAX_WRAPPED_LINES)."""
    if text is None or text == "":
        return 1
    text = str(text)
    room = max(1.0, width - CELL_PADDING)
    scale = (BOLD if bold else 1.0) * size / FONT_SIZE
    if "\n" not in text and len(text) * 0.45 * scale <= room and text_width(text, bold=bold, size=size) <= room:
        return 1
    lines = 0
    for paragraph in text.split("\n"):
        lines += _paragraph_lines(paragraph, room, scale, MAX_WRAPPED_LINES)
        if lines >= MAX_WRAPPED_LINES:
            return MAX_WRAPPED_LINES
    return max(1, lines)


def fits_one_line(text: Any, width: float, *, bold: bool = False) -> bool:
    """Whether `text` shows whole on one line of a column `width` wide (no wrapping needed)."""
    if not isinstance(text, str):
        return True
    return "\n" not in text and text_width(text, bold=bold) <= width - CELL_PADDING


# The tallest row Excel makes (points). A taller one in the file is not Excel's to draw: LibreOffice drew a
# 40-line message 600 points tall, a page and a half for one row; Excel refuses to set more.
MAX_ROW_HEIGHT = 409.0


def row_height(lines: int, size: float = FONT_SIZE) -> float:
    return min(MAX_ROW_HEIGHT, LINE_HEIGHT * lines * max(size, FONT_SIZE) / FONT_SIZE)


# ---- row heights of a sheet written cell by cell ----

def _font_of(cell: Any) -> tuple[bool, float]:
    font = cell.font
    return bool(font is not None and font.b), float(font.sz) if font is not None and font.sz else FONT_SIZE


def fit_row_heights(sheet: Worksheet, rows: Iterable[int] | None = None) -> None:
    """Give each row (all, or `rows`) the height of its tallest wrapped cell; merged cells span their columns.

    A row whose cells all fit one line keeps the default height, so a row an admin later
    fills with longer text still grows in Excel.
    """
    widths = column_widths(sheet)
    spans = {(r.min_row, r.min_col): sum(widths.get(c, 8.43) for c in range(r.min_col, r.max_col + 1))
             for r in sheet.merged_cells.ranges}
    hidden = {c for c in widths if sheet.column_dimensions[get_column_letter(c)].hidden}
    wanted = None if rows is None else set(rows)
    for row in sheet.iter_rows():
        number = int(row[0].row or 0) if row else 0
        if wanted is not None and number not in wanted:
            continue
        tallest = 0.0
        for cell in row:
            value, column = cell.value, int(cell.column or 0)
            if not isinstance(value, str) or column in hidden:
                continue
            alignment = cell.alignment
            if alignment is None or not alignment.wrap_text:
                continue
            width = spans.get((number, column), widths.get(column, 8.43))
            bold, size = _font_of(cell)
            lines = wrapped_lines(value, width, bold=bold, size=size)
            if lines > 1:
                tallest = max(tallest, row_height(lines, size))
        if tallest:
            current = sheet.row_dimensions[number].height or 0
            sheet.row_dimensions[number].height = max(current, tallest)


def column_widths(sheet: Any) -> dict[int, float]:
    """Column number -> width as set (openpyxl's default, 8.43 … 13, for the rest)."""
    widths: dict[int, float] = {}
    for letter, dimension in sheet.column_dimensions.items():
        if dimension.width:
            start = dimension.min or _column_number(letter)
            end = dimension.max or start
            for column in range(start, end + 1):
                widths[column] = float(dimension.width)
    return widths


def _column_number(letter: str) -> int:
    from openpyxl.utils import column_index_from_string

    return column_index_from_string(letter)


WRAP_TOP = Alignment(wrap_text=True, vertical="top")
WRAP = Alignment(wrap_text=True)
TOP = Alignment(vertical="top")


def wrap_long_cells(sheet: Worksheet, first_row: int = 2) -> None:
    """Wrap every text cell that does not fit its column on one line (top-aligned), then fit the row heights."""
    widths = column_widths(sheet)
    touched: set[int] = set()
    for row in sheet.iter_rows(min_row=first_row):
        wrapped = False
        for cell in row:
            value = cell.value
            if isinstance(value, str) and not fits_one_line(value, widths.get(int(cell.column or 0), 8.43)):
                if cell.alignment is None or not cell.alignment.wrap_text:
                    cell.alignment = WRAP_TOP
                wrapped = True
        if wrapped:
            number = int(row[0].row or 0)
            touched.add(number)
            if number > 1:  # the row's other cells at the top too, level with the wrapped text's first line
                for cell in row:
                    if cell.value is not None and not (cell.alignment and cell.alignment.wrap_text):
                        cell.alignment = TOP
    if touched:
        fit_row_heights(sheet, touched)


def wrap_cells(sheet: Worksheet, cells: Iterable[tuple[int, int, str]], widths: Sequence[float]) -> None:
    """Wrap these (row, column, text) cells and give each row the height of its tallest one.

    Their text sits at the bottom, as the row's other values do: aligning those to the top
    as well took half as long again as writing a 5,000-row export.
    """
    heights: dict[int, float] = {}
    for row, column, text in cells:
        sheet.cell(row=row, column=column).alignment = WRAP
        lines = wrapped_lines(text, widths[column - 1] if column <= len(widths) else 8.43)
        if lines > 1:
            heights[row] = max(heights.get(row, 0.0), row_height(lines))
    for row, height in heights.items():
        sheet.row_dimensions[row].height = max(sheet.row_dimensions[row].height or 0, height)


# ---- paper ----

# Column-width units across a landscape A4 page inside 0.4" margins at 100%: about 140 in Excel (Calibri),
# about 107 in LibreOffice drawing DejaVu Sans for Calibri (its unit is that font's wider digit).
PAGE_WIDTH_UNITS = 107.0
# Fitted to the page, a sheet this wide prints at 0.63 of its size where a page holds the fewest units
# (0.82 in Excel): 7-point text, still readable. A wider sheet prints in slices instead.
FIT_TO_WIDTH_MAX_UNITS = 170.0
SLICE_SCALE = 75  # percent: a sheet printed in slices gets a third more columns on each, at 8-point text
MARGIN_SIDES, MARGIN_ENDS = 0.4, 0.6  # inches; the header and footer sit in the top and bottom ones


# The columns that say which call center (and user) a row is about: as many of a sheet's first columns as
# are among them are repeated on every printed slice of a sheet too wide for one page.
IDENTITY_COLUMNS = frozenset({"id", "name", "call_center_id", "call_center_name", "user_id", "user_email"})


def title_columns(header: Sequence[str]) -> int:
    """How many of the header's first columns name the row's call center (and user)."""
    return next((n for n, name in enumerate(header) if name not in IDENTITY_COLUMNS), len(header))


def fits_page_width(widths: Sequence[float]) -> bool:
    return 0 < sum(widths) <= FIT_TO_WIDTH_MAX_UNITS


def page_setup(sheet: Any, *, widths: Sequence[float], columns: int | None = None, rows: int | None = None,
               title_columns: int = 0, area: bool = True, header_rows: int = 1, one_page: bool = False) -> None:
    """Landscape A4, the header row(s) on every page; the first `columns` columns (default: all in `widths`)
    printed, fitted to the page width when that stays readable, else in slices with the first
    `title_columns` columns repeated on each. `area`: set the print area to those columns and `rows`
    rows (default: the sheet's), so a sheet prints what a reviewer needs and no more. `one_page`: a
    short sheet (a summary and its chart) is fitted to one page, tall as well as wide.

    Works on a write-only sheet too (declared before its first row; `rows` then says its height).
    """
    columns = len(widths) if columns is None else columns
    # Hidden columns (a collapsed outline group) are not printed: they take no room on the page.
    printed = [width for number, width in enumerate(widths[:columns], start=1)
               if not sheet.column_dimensions[get_column_letter(number)].hidden]
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    sheet.print_options.gridLines = not one_page  # a one-page summary is a form, not a table
    margins = sheet.page_margins
    margins.left = margins.right = MARGIN_SIDES
    margins.top = margins.bottom = MARGIN_ENDS
    margins.header = margins.footer = 0.3
    if header_rows:
        sheet.print_title_rows = f"1:{header_rows}"
    properties = sheet.sheet_properties
    if properties.pageSetUpPr is None:
        properties.pageSetUpPr = PageSetupProperties()
    properties.pageSetUpPr.fitToPage = True
    sheet.page_setup.fitToHeight = 1 if one_page else 0  # 0: no limit on the number of pages down
    if fits_page_width(printed):
        sheet.page_setup.fitToWidth = 1
    else:
        # Slices: as many pages wide as hold the columns at SLICE_SCALE where a page holds the fewest (the
        # program then prints as large as that many pages allow), the title columns on each.
        slice_width = PAGE_WIDTH_UNITS * 100 / SLICE_SCALE
        while title_columns > 1 and sum(widths[:title_columns]) > slice_width / 3:
            title_columns -= 1  # the repeated columns leave two thirds of every slice to the others
        titles = sum(widths[:title_columns])
        per_page = slice_width - titles
        sheet.page_setup.fitToWidth = max(2, math.ceil((sum(printed) - titles) / per_page))
        if title_columns:
            sheet.print_title_cols = f"A:{get_column_letter(title_columns)}"
    if area and columns:
        last_row = max(sheet.max_row if rows is None else rows, 1)
        sheet.print_area = f"A1:{get_column_letter(columns)}{last_row}"


def print_input_sheet(sheet: Worksheet) -> None:
    """An input sheet copied into a report, printed as bulkcc prints its own: landscape, the header row on
    every page, and its leading id (and name) columns on every slice of a wide sheet. No print area: the
    sheet is the admin's, all of it is printed."""
    header = [str(cell.value).strip() if cell.value is not None else "" for cell in sheet[1]]
    titles = 0
    for wanted in (("id", "call_center_id"), ("name", "call_center_name")):
        if titles < len(header) and header[titles] in wanted:
            titles += 1
        else:
            break
    widths = column_widths(sheet)
    page_setup(sheet, widths=[widths.get(column, 8.43) for column in range(1, len(header) + 1)],
               title_columns=titles, area=False)
