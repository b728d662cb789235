"""Validation: every cell and every rule of a sheet, all problems at once.

Owns the cell parsers (`cells`), the pandera schema generated from the field
table (`schema`), the rules between fields (`rules`), the `Validation` report
(`validation`) and its renderings as a terminal table, JSON and an annotated
workbook (`report`). May import `workbook` (to read the sheet) and the bottom
layer; never `plan`, `send`, `run` or `sim`.
"""

from bulkcc.validate.report import render_json, render_text, render_warnings, warning_lines, write_report_workbook
from bulkcc.validate.validation import Validation, validate_file, validate_sheet

__all__ = ["Validation", "render_json", "render_text", "render_warnings", "validate_file", "validate_sheet",
           "warning_lines", "write_report_workbook"]
