"""Validation: every cell and every rule of a sheet, all problems at once.

Owns the cell parsers (`cells`), a sheet parsed column by column (`frame`), the
pandera schema generated from a field table (`schema`), the rules between fields
(`rules`; the operators sheet's: `operator_rules`), the `Validation` report
(`validation`; the operators sheet's part: `operators`) and its renderings as a terminal table, JSON and an annotated
workbook (`report`). May import `workbook` (to read the sheet) and the bottom
layer; never `plan`, `send`, `run` or `sim`.
"""

from bulkcc.validate.report import render_json, render_text, render_warnings, warning_lines, write_report_workbook
from bulkcc.validate.validation import Validation, validate_file, validate_sheet

__all__ = ["Validation", "render_json", "render_text", "render_warnings", "validate_file", "validate_sheet",
           "warning_lines", "write_report_workbook"]
