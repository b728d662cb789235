"""The template workbook: every column of FIELDS, with drop-downs, ranges and help.

Its `operators` sheet is laid out the same way from OPERATOR_FIELDS: a row per
(call center, user), to add, change or remove the agents of a center.

The sheet `callcenters` holds one column per field, in table order, each with
its help as the header's comment and as the input message of a data validation
(a drop-down for enums, booleans and phone keys; a whole-number range; a text
length). `Columns` is the reference table of every column and `README` says how
to fill the sheet (both from `reference`). Export writes the same workbook with rows filled in and
read-only `info.` context columns, so both come from `build_workbook`.

The output is deterministic (fixed document times, no randomness) so that the
committed `templates/callcenters.xlsx` can be checked against the code.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.packaging.core import DocumentProperties
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.properties import Outline
from openpyxl.worksheet.worksheet import Worksheet

from bulkcc.fields import FIELDS, FIELDS_BY_PATH, Field
from bulkcc.operator_fields import OPERATOR_FIELDS, OPERATORS_SHEET
from bulkcc.status import Status
from bulkcc.workbook.layout import COLUMNS_SHEET, DATA_SHEET
from bulkcc.workbook.paper import fits_one_line, font, text_width, title_columns, wrap_cells
from bulkcc.workbook.reader import MAX_ROWS
from bulkcc.workbook.reference import README_SHEET, write_columns_sheet, write_readme_sheet
from bulkcc.workbook.xlsx import (
    BOOLEAN_FORMAT,
    FILLS,
    TEXT_FORMAT,
    active_sheet,
    save_atomic,
    style_header,
    write_row,
)

DOCUMENT_TIME = dt.datetime(2024, 1, 1)
AUTHOR = "bulkcc"
# Drop-downs and ranges cover every row the reader accepts (a range is one string in the
# file, not a cell each, so this costs nothing).
VALIDATED_ROWS = MAX_ROWS
CONTEXT_NOTE = "read-only: shown for context, ignored by validate and apply"

# Excel's limits: longer texts are refused or make Excel "repair" the file.
PROMPT_TITLE_LIMIT = 32
PROMPT_LIMIT = 255
ERROR_LIMIT = 225
LITERAL_LIST_LIMIT = 255

# Outlined (collapsible) groups and whether each starts collapsed. Excel merges
# adjacent columns of the same outline level into one group, so only groups with
# ungrouped columns between them are outlined; the DTMF menus (30 columns each)
# start collapsed under their routing columns.
OUTLINED_GROUPS = {"hours": False, "hold queue": False, "dtmf open": True, "dtmf closed": True}

class _FixedTimeProperties(DocumentProperties):
    """Document properties that keep their times: openpyxl stamps `modified` with now on save."""

    # openpyxl's metaclass derives these from the class body alone, so a subclass restates them.
    __attrs__ = DocumentProperties.__attrs__
    __nested__ = DocumentProperties.__nested__
    __elements__ = DocumentProperties.__elements__
    __namespaced__ = DocumentProperties.__namespaced__

    def to_tree(self, *args, **kwargs):
        self.modified = DOCUMENT_TIME
        return super().to_tree(*args, **kwargs)


# ---- the help texts of the comments and the drop-downs ----

def column_help(field: Field) -> str:
    """The full help of a column: description, allowed values and default."""
    lines = [field.help, f"Allowed: {field.allowed}."]
    if field.default:
        lines.append(f"Default: {field.default}.")
    return "\n".join(lines)


def _shorten(text: str, limit: int) -> str:
    """`text` cut at a word boundary to fit `limit` characters, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "…"


def _prompt_title(path: str) -> str:
    """The column name, or its longest dotted tail that fits Excel's title limit."""
    parts = path.split(".")
    for start in range(len(parts)):
        tail = ".".join(parts[start:])
        if len(tail) <= PROMPT_TITLE_LIMIT:
            return tail
    return path[-PROMPT_TITLE_LIMIT:]


# Every word the reader takes for a boolean, TRUE and FALSE first: a drop-down that marked
# `yes` invalid (as LibreOffice did with TRUE,FALSE only) would contradict `bulkcc validate`.
BOOL_LIST = ("TRUE", "FALSE", "yes", "no", "1", "0", "y", "n")


def list_values(field: Field) -> tuple[str, ...]:
    """The drop-down values of a column, or () when it has none."""
    return BOOL_LIST if field.kind == "bool" else field.choices


def _comment(text: str) -> Comment:
    """A comment sized to show its whole text (about 7 pixels a character)."""
    width = 340
    chars_per_line = width // 7
    lines = sum(1 + len(line) // chars_per_line for line in text.split("\n"))
    return Comment(text, AUTHOR, height=24 + 16 * lines, width=width)


# ---- the data sheet ----

def field_validation(field: Field) -> DataValidation:
    """The validation of a field's cells; every column gets one, if only for its input message."""
    values = list_values(field)
    if values:
        formula = '"' + ",".join(values) + '"'
        if len(formula) > LITERAL_LIST_LIMIT or any("," in v or '"' in v for v in values):
            # Excel refuses such a literal list: it would need a range on a Lists sheet.
            raise ValueError(f"{field.path}: its choices do not fit an Excel literal list")
        validation = DataValidation(type="list", formula1=formula)
    elif field.is_identifier:
        # Ids are text (Excel would round a 16-digit number), so the check is on digits typed.
        validation = DataValidation(type="textLength", operator="between", formula1="1", formula2="19")
    elif field.minimum is not None:
        if field.maximum is None:
            validation = DataValidation(type="whole", operator="greaterThanOrEqual", formula1=str(field.minimum))
        else:
            validation = DataValidation(type="whole", operator="between",
                                        formula1=str(field.minimum), formula2=str(field.maximum))
    elif field.max_length:
        validation = DataValidation(type="textLength", operator="lessThanOrEqual", formula1=str(field.max_length))
    else:
        validation = DataValidation()  # any value: carries the input message only
    validation.allow_blank = True  # blank = leave unchanged
    validation.showInputMessage = True
    validation.promptTitle = _prompt_title(field.path)
    prompt = field.help if values else f"{field.help} Allowed: {field.allowed}."  # lists show their values
    if field.default:
        prompt += f" Default: {field.default}."
    validation.prompt = _shorten(prompt, PROMPT_LIMIT)
    if validation.type:
        validation.showErrorMessage = True
        validation.errorTitle = "Not allowed here"
        validation.error = _shorten(validation_error(field), ERROR_LIMIT)
    return validation


def validation_error(field: Field) -> str:
    """What the drop-down or range check says when a typed value breaks it: the rule, and the fix."""
    if field.is_identifier:
        return (f"{field.path} takes an id: a whole number of 1 to 19 digits. Type the digits only; the column is "
                "formatted as Text, so all 16 digits of a Dialpad id are kept.")
    if field.kind == "bool":
        return f"{field.path} takes TRUE or FALSE (yes/no, y/n and 1/0 are read as TRUE/FALSE too)."
    if field.choices:
        return f"{field.path} takes one of: {field.allowed}. Pick one from the list."
    if field.minimum is not None:
        return f"{field.path} takes a whole number, {field.range_text}. Type it without a unit or a %."
    if field.max_length:
        return f"{field.path} takes text of {field.allowed}; shorten it."
    return f"{field.path} takes {field.allowed}."


def _style_context_header(sheet: Worksheet, column: int) -> None:
    cell = sheet.cell(row=1, column=column)
    cell.fill = FILLS[Status.UNCHANGED]  # grey: read-only context
    cell.font = font(bold=True, italic=True, color="595959")
    cell.comment = _comment(CONTEXT_NOTE)


def _outline_groups(sheet: Worksheet) -> None:
    """Make the big groups collapsible, their +/- button on the column left of each group."""
    # Per-column levels rather than column_dimensions.group(): group() merges the
    # columns into one dimension and so gives them all the first column's width.
    outline = sheet.sheet_properties.outlinePr
    if outline is None:
        outline = sheet.sheet_properties.outlinePr = Outline()
    outline.summaryRight = False
    position = 1
    for group, members in itertools.groupby(FIELDS, key=lambda f: f.group):
        count = len(list(members))
        if group in OUTLINED_GROUPS:
            collapsed = OUTLINED_GROUPS[group]
            for column in range(position, position + count):
                dimension = sheet.column_dimensions[get_column_letter(column)]
                dimension.outline_level = 1
                dimension.hidden = collapsed
            if collapsed and position > 1:
                sheet.column_dimensions[get_column_letter(position - 1)].collapsed = True
        position += count


EXCEL_DIGITS = 10**15  # Excel keeps 15 significant digits of a number


def _as_cell(column: str, value: Any, fields: Mapping[str, Field] = FIELDS_BY_PATH) -> Any:
    """Ids, and numbers Excel would round, are written as text: Excel keeps only 15 significant digits."""
    field = fields.get(column)
    if field is not None and isinstance(value, int) and not isinstance(value, bool) and (
            field.is_identifier or abs(value) >= EXCEL_DIGITS):
        return str(value)
    return value


ID_WIDTH = 22  # a 19-digit id (int64) and the filter button
DATA_TEXT_WIDTH = 30  # a data column widens to its values up to this; a longer text wraps
WIDTH_SAMPLE_ROWS = 200  # widths come from the first rows: a 10,000-row export needs no full scan
TITLE_COLUMNS = 2  # the callcenters sheet's identity columns (id, name): printed whatever the rows fill


def _data_column_width(name: str, fields: Mapping[str, Field] = FIELDS_BY_PATH) -> int:
    """Wide enough for the whole header (and its filter button), and for a 19-digit id."""
    field = fields.get(name)
    floor = ID_WIDTH if field is not None and field.is_identifier else 12
    return max(len(name) + 4, math.ceil(text_width(name, bold=True)) + 4, floor)


def _write_data_sheet(sheet: Worksheet, rows: Iterable[Mapping[str, Any]], context_columns: Sequence[str],
                      fields: tuple[Field, ...] = FIELDS) -> None:
    by_path = {field.path: field for field in fields}
    header = [field.path for field in fields] + list(context_columns)
    write_row(sheet, 1, header)
    known = set(header)
    row_count = 0
    used = 0  # the last column that holds a value
    widest = [0.0] * len(header)
    texts: list[tuple[int, int, str]] = []  # (row, column, text) of the cells that may need wrapping
    # A filled cell takes its own format, not its column's: an exported id cell left General turned a
    # 16-digit id typed over it (a new routing target, another user) into a rounded number.
    id_columns = [position + 1 for position, name in enumerate(header)
                  if (field := by_path.get(name)) is not None and field.is_identifier]
    for row_count, values in enumerate(rows, start=1):
        unknown = sorted(set(values) - known)
        if unknown:  # a caller's bug: the value would silently not be written
            raise ValueError(f"row {row_count}: no column named {', '.join(unknown)}")
        cells = [_as_cell(name, values.get(name), by_path) for name in header]
        write_row(sheet, row_count + 1, cells)
        for column in id_columns:
            if cells[column - 1] is not None:
                sheet.cell(row=row_count + 1, column=column).number_format = TEXT_FORMAT
        for position, value in enumerate(cells):
            if value is None:
                continue
            used = max(used, position + 1)
            if isinstance(value, str):
                if len(value) > 5:
                    texts.append((row_count + 1, position + 1, value))
                if row_count <= WIDTH_SAMPLE_ROWS:
                    widest[position] = max(widest[position], text_width(value))
    last_row = max(VALIDATED_ROWS + 1, row_count + 1)

    for column, field in enumerate(fields, start=1):
        letter = get_column_letter(column)
        sheet.cell(row=1, column=column).comment = _comment(column_help(field))
        validation = field_validation(field)
        validation.add(f"{letter}2:{letter}{last_row}")
        if field.is_identifier:
            sheet.column_dimensions[letter].number_format = TEXT_FORMAT  # typed ids stay text, all 16 digits
        elif field.kind == "bool":
            sheet.column_dimensions[letter].number_format = BOOLEAN_FORMAT  # TRUE/FALSE, not 1/0
        sheet.add_data_validation(validation)
    widths = [max(_data_column_width(name, by_path), min(DATA_TEXT_WIDTH, math.ceil(longest) + 2))
              for name, longest in zip(header, widest, strict=True)]
    callcenters = fields is FIELDS
    # The callcenters sheet keeps its id column in view, and on paper its id and name on every slice; an
    # operators row reads left to right. A sheet of rows prints the columns up to the last one filled; the
    # template's have no print area: one fixed to its rows would leave out every row an admin types.
    if callcenters:
        _outline_groups(sheet)  # first: the collapsed columns take no room on paper
    style_header(sheet, len(header), freeze="B2" if callcenters else "A2", widths=widths,
                 print_columns=min(len(header), max(used, TITLE_COLUMNS)) if row_count else None,
                 print_area=bool(row_count), title_columns=title_columns(header) if row_count else 0,
                 wrap=False)
    for column in range(len(fields) + 1, len(header) + 1):
        _style_context_header(sheet, column)
    wrap_cells(sheet, [(r, c, text) for r, c, text in texts if not fits_one_line(text, widths[c - 1])], widths)


def build_workbook(rows: Iterable[Mapping[str, Any]] = (), context_columns: Sequence[str] = (),
                   operator_rows: Iterable[Mapping[str, Any]] | None = None,
                   operator_context: Sequence[str] = ()) -> Workbook:
    """The call center workbook: an export when given rows and context columns (`build_template`: the template).

    `rows` map column names to cell values already rendered for a cell (see
    `payload.cell_value`); a missing column is a blank cell. `context_columns`
    (`info.` names) come after every field column and are never read back.
    `operator_rows` (OPERATOR_FIELDS names to cells; ids as ints or text) fill an
    `operators` sheet, placed after the callcenters sheet; None: no such sheet. Its
    `operator_context` columns (`info.user_email` …) come after its field columns.
    """
    workbook = Workbook()
    workbook.properties = _FixedTimeProperties(creator=AUTHOR, lastModifiedBy=AUTHOR,
                                               created=DOCUMENT_TIME, modified=DOCUMENT_TIME)
    data_sheet = active_sheet(workbook)
    data_sheet.title = DATA_SHEET
    _write_data_sheet(data_sheet, rows, context_columns)
    if operator_rows is not None:
        _write_data_sheet(workbook.create_sheet(OPERATORS_SHEET), operator_rows, operator_context, OPERATOR_FIELDS)
    write_columns_sheet(workbook.create_sheet(COLUMNS_SHEET))
    write_readme_sheet(workbook.create_sheet(README_SHEET))
    return workbook


def build_template() -> Workbook:
    """The empty template: the callcenters sheet, the operators sheet and the reference sheets."""
    return build_workbook(operator_rows=())


def write_template(path: str | Path) -> Path:
    """Write the empty template to `path` (atomically) and return the path."""
    return save_atomic(build_template(), path)
