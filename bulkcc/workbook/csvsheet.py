"""A CSV is one sheet: which of a workbook's sheets it is, and what of the workbook it may have lost.

A spreadsheet program saves only the active sheet as CSV (LibreOffice and Excel both), so a
migration workbook saved so loses its operators sheet: its call centers validate and apply with
their agents quietly gone. Reading a CSV, bulkcc therefore says which sheet it takes it for, by
its row 1: `id` makes it the callcenters sheet (with the outcome columns, a results workbook's
Results sheet), `user_id` or `user_email` without `id` the operators sheet (with the outcome columns, the
Operators sheet of a results workbook). And it warns when the CSV looks saved from a workbook
whose other sheets may be missing: a workbook of the same name beside it, an export's `info.`
columns, a results workbook's outcome columns, rows that create call centers (a migration's
agents are on its operators sheet), or `call_center_name` cells, which may name centers that
a callcenters sheet the CSV does not hold creates in the same run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bulkcc.errors import InputError, Problem
from bulkcc.values import is_blank, printable
from bulkcc.workbook.layout import (
    CONTEXT_PREFIX,
    OPERATOR_RESULT_COLUMNS,
    RESULT_COLUMNS,
    XLSX_SUFFIXES,
    misnamed_key,
)
from bulkcc.workbook.reader import Sheet, _build_sheet, read_csv_rows

CALLCENTERS, OPERATORS = "callcenters", "operators"
# The columns row 1 must hold one of, by sheet (an operators sheet names its users by id or by email).
SHEET_KEYS = {CALLCENTERS: ("id",), OPERATORS: ("user_id", "user_email")}
# Outcome columns every results sheet has: with them, a CSV is a results workbook's sheet saved alone.
_OUTCOME_MARKS = ("row", "status", "http_status", "attempts")
assert all(c in RESULT_COLUMNS and c in OPERATOR_RESULT_COLUMNS for c in _OUTCOME_MARKS)


def csv_sheet_kind(header: Sequence[str]) -> str | None:
    """The sheet a CSV's row 1 says it is: callcenters (an `id` column), operators (`user_id` or `user_email`,
    no `id`), or None."""
    names = {str(h).strip() for h in header}
    return next((kind for kind in (CALLCENTERS, OPERATORS) if any(key in names for key in SHEET_KEYS[kind])), None)


def is_results_header(header: Sequence[str]) -> bool:
    """Row 1 of a results workbook's sheet (Results or Operators): its outcome columns are there."""
    names = {str(h).strip() for h in header}
    return all(mark in names for mark in _OUTCOME_MARKS)


def sibling_workbook(path: Path) -> Path | None:
    """A workbook of the CSV's name beside it (`live.xlsx` by `live.csv`), which it was likely saved from."""
    try:
        return next((p for p in sorted(path.parent.iterdir()) if p.stem == path.stem and p != path
                     and p.suffix.lower() in XLSX_SUFFIXES and p.is_file()), None)
    except OSError:
        return None


def saved_from_a_workbook(path: Path, header: Sequence[str], creates: int, named_centers: int) -> list[str]:
    """Why the CSV looks saved from a workbook with other sheets (none: it does not)."""
    reasons = []
    sibling = sibling_workbook(path)
    if sibling is not None:
        reasons.append(f"{printable(sibling.name, 80)} is beside it")
    if any(str(h).startswith(CONTEXT_PREFIX) for h in header):
        reasons.append(f"an export's {CONTEXT_PREFIX} columns")
    if is_results_header(header):
        reasons.append("a results workbook's columns")
    if creates:
        reasons.append("a row creates a call center" if creates == 1 else f"{creates:,} rows create call centers")
    if named_centers:
        reasons.append("call_center_name cells, which may name centers its callcenters sheet creates")
    return reasons


def csv_notes(path: Path, kind: str, header: Sequence[str], *, creates: int = 0,
              named_centers: int = 0) -> tuple[list[str], list[Problem]]:
    """What to tell of a CSV read as the `kind` sheet: a note of which sheet it is taken for, or, when it
    looks saved from a workbook of several sheets, a warning that says so (shown before apply asks)."""
    names = {str(h).strip() for h in header}
    why = f"by its {next(key for key in SHEET_KEYS[kind] if key in names)} column"
    if is_results_header(header):
        why += f"; a results workbook's {'Results' if kind == CALLCENTERS else 'Operators'} sheet"
    read_as = f"{printable(path.name, 80)} is one sheet, read as the {kind} sheet ({why})"
    reasons = saved_from_a_workbook(path, header, creates, named_centers)
    if not reasons:
        return [read_as], []
    lost = ("its operators sheet, if it had one, is not read (no agent changes)" if kind == CALLCENTERS
            else "its callcenters sheet is not read (no call center changes)")
    return [], [Problem(None, None, None, (
        f"{read_as}; it looks saved from a workbook ({', '.join(reasons)}), and a spreadsheet saves only the "
        f"active sheet as CSV: {lost}. To include it, give bulkcc the .xlsx"))]


_NAMES_IN_ROW_1 = "row 1 must hold the column names, e.g. from `bulkcc template`"


def read_csv_sheet(path: Path) -> Sheet:
    """A CSV as the sheet its row 1 says it is (see `csvsheet`): the callcenters sheet, or an operators
    sheet, read by `opsheet` (the callcenters sheet is then empty)."""
    rows = read_csv_rows(path)
    header = [cell.strip() for cell in rows[0]] if rows else []
    kind = csv_sheet_kind(header)
    if rows and kind is None:
        raise InputError(f"{printable(path.name)}: no 'id' column in row 1 (a callcenters sheet has one), nor a "
                         "'user_id' or 'user_email' column (an operators sheet has one); "
                         f"{misnamed_key(rows, ('id', 'user_id', 'user_email')) or _NAMES_IN_ROW_1}")
    if kind == OPERATORS:
        sheet = _build_sheet(path, None, [["id"]])
        named = header.index("call_center_name") if "call_center_name" in header else None
        centers = 0 if named is None else sum(1 for row in rows[1:] if named < len(row) and row[named].strip())
        sheet.notes, warnings = csv_notes(path, OPERATORS, header, named_centers=centers)
    else:
        sheet = _build_sheet(path, None, rows, shown_errors=True, results=is_results_header(header))
        frame = sheet.frame
        office = [frame[c].map(is_blank).eq(False) for c in ("office_id", "office_name") if c in frame]
        creates = int((frame["id"].map(is_blank) & (office[0] | office[-1])).sum()) if office and "id" in frame else 0
        sheet.notes, warnings = csv_notes(path, CALLCENTERS, header, creates=creates)
    sheet.warnings = [*warnings, *sheet.warnings]
    return sheet
