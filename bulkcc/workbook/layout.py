"""The layout of every workbook bulkcc reads or writes: sheet names and the Results columns.

One place owns them: the reader derives the meta columns it keeps from a fed-back
results workbook from `RESULT_COLUMNS`, and the results writer lays out exactly
these columns in front of the input's own.
"""

from __future__ import annotations

DATA_SHEET = "callcenters"  # the template's data sheet, and the one the reader looks for first
RESULTS_SHEET = "Results"  # first sheet of a results workbook: read as the data sheet when fed back
SUMMARY_SHEET = "Summary"
COLUMNS_SHEET = "Columns"  # the template's column reference
ERRORS_SHEET = "Errors"  # the validation report's list of problems

# What the Results sheet holds in front of the input's own columns (`id` is also an input column).
OUTCOME_COLUMNS = ("row", "id", "status", "http_status", "attempts", "error", "duration_ms")
CHANGES_COLUMN = "changes"  # with --diff: "field: old → new; …"
# The columns a fed-back results workbook adds to an input: kept as meta for
# `--only-failed`, and otherwise ignored (`id` is the input's own).
RESULT_COLUMNS = tuple(c for c in (*OUTCOME_COLUMNS, CHANGES_COLUMN) if c != "id")

# Export adds read-only context columns (office_id, timezone …) under this prefix;
# validate and apply ignore them and no PATCH ever carries them.
CONTEXT_PREFIX = "info."

# The operators sheet (bulkcc.operator_fields.OPERATORS_SHEET is "operators") as a results
# workbook holds it: a row per operator row, these outcome columns in front of the input's
# own. Fed back, its outcome columns are kept as meta and otherwise ignored.
OPERATOR_RESULTS_SHEET = "Operators"
OPERATOR_RESULT_COLUMNS = ("row", "status", "http_status", "attempts", "error", "duration_ms", "action")

XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
CSV_SUFFIXES = frozenset({".csv", ".txt"})



def misnamed_key(rows: list[list[str]], keys: tuple[str, ...]) -> str | None:
    """The fix for a sheet whose row 1 seems to lack a key column: row 1 has it written another way ('ID',
    'User ID'), or a row below row 1 holds the names (a title above them). None when neither is so."""
    header = rows[0] if rows else []
    for cell in header:
        name = "_".join(str(cell).strip().lower().split())
        if name in keys and str(cell).strip() != name:
            return (f"row 1 has {str(cell).strip()!r}: rename it {name} (column names are lower case, as "
                    "`bulkcc template` writes them)")
    for number, row in enumerate(rows[1:HEADER_SEARCH_ROWS], start=2):
        if any(str(cell).strip() in keys for cell in row):
            return (f"row {number} holds the column names: delete the rows above it, so that the names are "
                    "in row 1")
    return None


HEADER_SEARCH_ROWS = 10  # a title and notes above the column names: how far down they are looked for
