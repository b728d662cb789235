"""What an admin reviewing the sheet on screen does not see, but bulkcc reads and sends.

A hidden data sheet, hidden rows (a filter hides rows too) and hidden columns (a
collapsed outline group too) that hold values become warnings on the Sheet:
validate and plan print them, apply shows them before it asks, and `validate
--format json` lists them. They never make a row invalid nor change an exit code.
"""

from __future__ import annotations

import pandas as pd
from openpyxl.utils import get_column_letter

from bulkcc.errors import Problem
from bulkcc.values import counted, printable
from bulkcc.workbook.sheetxml import SheetScan

_HIDDEN_COLUMNS_SHOWN = 5  # past this many hidden columns holding values, one warning names the first _NAMED
_NAMED = 3
# True with and without --diff (the reader does not know which): an edited export's collapsed DTMF
# menus hold the live values, which --diff does not send again.
SENT = "which bulkcc reads and sends like visible cells (with --diff, only those that differ from live)"


def hidden_warnings(sheet_name: str | None, index: list[int], frame: pd.DataFrame, fields: dict[str, int],
                    scan: SheetScan, sheet_hidden: bool) -> list[Problem]:
    """What an admin reviewing the sheet on screen does not see, but bulkcc reads and sends."""
    warnings: list[Problem] = []
    if sheet_hidden:
        warnings.append(Problem(None, None, sheet_name, (
            f"the sheet {printable(sheet_name or '', 80, quote=True)}, which bulkcc reads, is hidden in the workbook: "
            "on screen you see other sheets, not these rows; unhide it (right-click a sheet tab > Unhide) "
            "to review what will be sent")))
    hidden_rows = [r for r in index if r in scan.hidden_rows]
    if hidden_rows:
        shown = ", ".join(map(str, hidden_rows[:20])) + (" …" if len(hidden_rows) > 20 else "")
        many = len(hidden_rows) > 1
        warnings.append(Problem(None, None, None, (
            f"{counted(len(hidden_rows), 'hidden row')} {'hold' if many else 'holds'} values, {SENT}: "
            f"{'rows' if many else 'row'} {shown}; unhide {'them' if many else 'it'} to review "
            "(a filter hides rows too: clear it)")))
    if 1 in scan.hidden_rows:
        warnings.append(Problem(None, None, None, "row 1, the column names, is hidden; unhide it to review the sheet"))
    hidden_columns = []
    for column, position in fields.items():
        grouped = scan.column_hidden(position)
        if grouped is not None and (filled := int(frame[column].notna().sum())):
            hidden_columns.append((column, position, grouped, filled))
    if len(hidden_columns) <= _HIDDEN_COLUMNS_SHOWN:
        for column, position, grouped, filled in hidden_columns:
            how = " (in a collapsed group: the + above the columns opens it)" if grouped else ""
            warnings.append(Problem(None, column, None, (
                f"column {get_column_letter(position + 1)} ({column}) is hidden{how} and holds values in "
                f"{counted(filled, 'row')}, {SENT}; unhide it to review them")))
    else:
        # The fix first and three names: a terminal line is cut at 400 characters, and five dotted names ran
        # past it, taking the fix with them.
        names = ", ".join(f"{get_column_letter(p + 1)} ({c})" for c, p, _, _ in hidden_columns[:_NAMED])
        how = " (some in collapsed groups: the + above the columns opens them)" \
            if any(g for _, _, g, _ in hidden_columns) else ""
        warnings.append(Problem(None, None, None, (
            f"{counted(len(hidden_columns), 'hidden column')}{how} hold values, {SENT}; unhide them to review "
            f"them: {names} and {len(hidden_columns) - _NAMED} more")))
    return warnings
