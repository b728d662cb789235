"""The template's reference sheets: `Columns` (every column of both sheets, its type, allowed values,
range, default and description) and `README` (how to fill the workbook), from the field tables.

Both are read by people, never by bulkcc: every text wraps in rows of its height, and each prints
fitted to the width of a landscape page (the Columns sheet's names are never broken: they are
copied from here).
"""

from __future__ import annotations

import math

from openpyxl.styles import Alignment
from openpyxl.worksheet.worksheet import Worksheet

from bulkcc.fields import FIELDS, KIND_LABEL, Field
from bulkcc.operator_fields import OPERATOR_FIELDS, OPERATORS_SHEET
from bulkcc.workbook.paper import FIT_TO_WIDTH_MAX_UNITS, WRAP_TOP, fit_row_heights, font, page_setup, text_width
from bulkcc.workbook.xlsx import set_cell, style_header, write_row

README_SHEET = "README"
HEADER_WRAP = Alignment(wrap_text=True, vertical="bottom")
TOP = Alignment(vertical="top")

COLUMNS_HEADER = ("column", "group", "type", "allowed", "range", "max length", "default", "description")
COLUMNS_WIDTHS = (48, 12, 13, 22, 9, 8, 10, 30)  # the name's is measured, the description's takes the rest
COLUMNS_MIN_DESCRIPTION = 30

README_LINES = (
    "How to fill the callcenters sheet",
    "One row per call center: the id column says which one, every other column is a setting to change.",
    "A blank cell leaves that setting unchanged: only filled cells are sent.",
    "Booleans: TRUE or FALSE (yes/no, y/n and 1/0 are read as TRUE/FALSE too).",
    "Hours: HH:MM-HH:MM ranges separated by commas, e.g. 08:00-12:00, 14:00-18:00, or closed; "
    "they apply when hours_on is TRUE.",
    "DTMF menus (routing_options.open/closed.dtmf.K.*, collapsed: click + above the header) are sent "
    "whole: once any key of a menu is filled, fill every key you want to keep.",
    "When any routing_options cell is filled, action and try_dial_operators are needed for both open and closed.",
    "With --diff (plan/apply), the routing is completed from the live call center: a row fills only the routing "
    "cells it changes, and a blank cell keeps its live setting.",
    "An export leaves blank any live value a cell cannot hold exactly (bulkcc export lists them, with why): "
    "with --diff a blank cell leaves the live value as it is.",
    "Columns starting with info. are read-only context: validate and apply ignore them.",
    "To create a call center, leave id blank and give its name and office_id, or office_name (looked up by name).",
    "The operators sheet assigns agents: one row per operator of a call center, with user_id or user_email (looked "
    "up) and either call_center_id or call_center_name (the name of a row of the callcenters sheet, e.g. a center "
    "created in the same run, or of a live call center). A name that is unknown or could mean two is an invalid "
    "row: never guessed. remove TRUE removes the operator (fill only the center and the user); otherwise the row adds "
    "the operator, or with --diff sets its skill_level (a role is never changed: no API endpoint does). Blank role, "
    "skill_level and license_type mean the API's defaults when adding (operator, 100, agents).",
    "Each header's comment and the Columns sheet describe the column. "
    "Check a filled sheet with `bulkcc validate` and `bulkcc plan` before `bulkcc apply`.",
)


def allowed_cell_text(field: Field) -> str:
    """The allowed values for a reference table, blank where they only repeat the type."""
    return "" if field.allowed == KIND_LABEL[field.kind] else field.allowed


OPERATORS_GROUP = f"{OPERATORS_SHEET} sheet"  # the group the Columns sheet shows for the operators sheet's columns


def write_columns_sheet(sheet: Worksheet) -> None:
    write_row(sheet, 1, COLUMNS_HEADER)
    listed = [(field, field.group) for field in FIELDS] + [(field, OPERATORS_GROUP) for field in OPERATOR_FIELDS]
    # The names are never broken (they are copied from here); the other columns wrap, so that the
    # whole table fits a landscape page's width.
    name_width = max(math.ceil(text_width(field.path)) + 2 for field, _ in listed)
    widths = [name_width, *COLUMNS_WIDTHS[1:-1]]
    widths.append(max(COLUMNS_MIN_DESCRIPTION, math.floor(FIT_TO_WIDTH_MAX_UNITS - sum(widths)) - 1))
    for row, (field, group) in enumerate(listed, start=2):
        numeric_range = field.range_text
        allowed = "" if numeric_range else allowed_cell_text(field)  # the range column already says it
        write_row(sheet, row, [
            field.path, group, KIND_LABEL[field.kind], allowed, numeric_range,
            field.max_length, field.default, field.help,
        ])
        for column in range(1, len(COLUMNS_HEADER) + 1):
            sheet.cell(row=row, column=column).alignment = WRAP_TOP if column > 1 else TOP
    for column in range(1, len(COLUMNS_HEADER) + 1):
        sheet.cell(row=1, column=column).alignment = HEADER_WRAP  # "max length" over two lines
    style_header(sheet, len(COLUMNS_HEADER), freeze="B2", widths=widths)


README_WIDTH = 100


def write_readme_sheet(sheet: Worksheet) -> None:
    for row, line in enumerate(README_LINES, start=1):
        set_cell(sheet.cell(row=row, column=1), line).alignment = WRAP_TOP
    sheet.cell(row=1, column=1).font = font(bold=True, size=13)
    sheet.column_dimensions["A"].width = README_WIDTH
    fit_row_heights(sheet)
    page_setup(sheet, widths=[README_WIDTH], header_rows=0, one_page=True)
