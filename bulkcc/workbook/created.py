"""The `created` sheet of a rollback workbook: the call centers a run created, to delete on rollback.

A rollback of a create is a delete, which nothing else in bulkcc sends, so the
created centers are kept on a sheet of their own (`id, name, office_id`), apart
from the `callcenters` sheet of PATCH rows: applying the rollback workbook sends
`DELETE /api/v2/callcenters/{id}` for its rows only with `--allow-delete`
(`bulkcc.run.deletes`). Reading is strict: a row whose id or office_id is not an id is a Problem on that
sheet's cell, and that row is never deleted (it carries the problem); the other
rows are deleted only once the run's journal shows that run created them
(`bulkcc.run.undo`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from bulkcc.errors import InputError, Problem
from bulkcc.values import is_blank, printable
from bulkcc.workbook.layout import XLSX_SUFFIXES

CREATED_SHEET = "created"
CREATED_COLUMNS = ("id", "name", "office_id")
CREATED_NOTE = ("Call centers this run created. Applying this workbook with --allow-delete deletes them "
                "(DELETE /api/v2/callcenters/{id}); without it they are left alone. Remove a row to keep "
                "that call center.")
MAX_ID = 2**63 - 1
ROUNDED_FROM = 10**15  # a number of 16 digits: Excel may have rounded it


@dataclass(frozen=True)
class CreatedRow:
    """One row of the created sheet: a call center to delete on rollback."""

    row: int  # Excel row on the created sheet
    id: int  # 0: the cell does not read (see `problem`)
    name: str
    office_id: int | None
    problem: str | None = None  # why this row is never deleted (a cell that does not read, no proof)


def add_created_sheet(workbook: Workbook, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add the created sheet to a write-only workbook (ids as text: Excel keeps only 15 digits of a number)."""
    from bulkcc.workbook.rollback_book import stream_table

    cells = [[None if row.get(name) is None else row.get(name) if name == "name" else str(row.get(name))
              for name in CREATED_COLUMNS] for row in rows]
    stream_table(workbook, CREATED_SHEET, CREATED_COLUMNS, cells, widths=(22, 40, 22), note=CREATED_NOTE,
                 text_columns=(0, 2))


def _id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and 0 < value <= MAX_ID else None


def read_created(path: str | Path) -> tuple[list[CreatedRow], list[Problem]]:
    """The created sheet's rows and its problems; no such sheet (or not a workbook): nothing."""
    from bulkcc.workbook.reader import read_xlsx_rows

    path = Path(path)
    if path.suffix.lower() not in XLSX_SUFFIXES:
        return [], []
    try:
        # The bounded reader of every input sheet: a stray cell at XFD1048576 would otherwise have
        # calamine lay out 17 billion cells (an abort, not a message).
        read = read_xlsx_rows(path, lambda names: CREATED_SHEET if CREATED_SHEET in names else None)
    except InputError as exc:  # the data sheet was read already: a damaged second sheet is named here
        raise InputError(f"cannot read the {CREATED_SHEET} sheet of {printable(path.name)}: {exc}") from exc
    if read is None:
        return [], []
    cells = [list(row) for row in read[1]]
    if not cells:
        return [], []
    header = [str(h).strip() if h is not None else "" for h in cells[0]]
    if "id" not in header:
        return [], [Problem(1, None, None, f"the {CREATED_SHEET} sheet has no id column in row 1: its call centers "
                                           "cannot be deleted; keep its header as bulkcc wrote it", CREATED_SHEET)]
    where = {name: header.index(name) for name in CREATED_COLUMNS if name in header}
    rows: list[CreatedRow] = []
    problems: list[Problem] = []
    for number, values in enumerate(cells[1:], start=2):
        cell = {name: values[pos] if pos < len(values) else None for name, pos in where.items()}
        if all(is_blank(v) for v in cell.values()):
            continue
        name = "" if is_blank(cell.get("name")) else str(cell.get("name"))
        problem = _cell_problem(number, cell)
        if problem is not None:
            problems.append(problem)
            rows.append(CreatedRow(number, _id(cell.get("id")) or 0, name, _id(cell.get("office_id")),
                                   f"not deleted: {problem.column} {printable(str(problem.value), 40, quote=True)} "
                                   f"on row {number} of the {CREATED_SHEET} sheet does not read ({problem.message})"))
            continue
        rows.append(CreatedRow(number, _id(cell.get("id")) or 0, name, _id(cell.get("office_id"))))
    return rows, problems


def _cell_problem(number: int, cell: Mapping[str, Any]) -> Problem | None:
    """Why a row's id or office_id cannot be believed, or None."""
    for column in ("id", "office_id"):
        raw = cell.get(column)
        if isinstance(raw, float) and abs(raw) >= ROUNDED_FROM:
            # Excel keeps 15 digits of a number: a 16-digit id typed as one may be another center's id.
            return Problem(number, column, raw, "a number of 16 digits or more: a spreadsheet keeps only 15 digits "
                           "of a number, so it may be another call center's (or office's) id; format the column as "
                           "Text and type the id again, or remove the row", CREATED_SHEET)
        if _id(raw) is None:
            return Problem(number, column, raw, "not an id (a positive whole number): fix it or remove the row",
                           CREATED_SHEET)
    return None
