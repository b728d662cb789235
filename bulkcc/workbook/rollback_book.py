"""The rollback workbook's own sheets, as cells: what a run set, its agents, and what the rollback is.

A rollback workbook (`bulkcc.plan.undo_file` makes and reads it) is an input workbook whose
`callcenters` sheet holds the values to put back, plus:

- `set_by_run`: the same layout, holding the values the run set: a field is put back only while it
  still holds the value there (the stale guard);
- `agents`: one row per agent the run changed: its state before the run (put back) and the state
  the run left it in (the guard);
- `created`: the call centers the run created (`bulkcc.workbook.created`);
- `rollback`: what this workbook is (its format in A1, the run, the journal that proves what the run
  created, the target, how to apply it). Its presence makes `apply` apply the workbook as a rollback.

This module writes and reads those sheets as plain cells; the values they stand for are the plan
layer's (`bulkcc.plan.undo`).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment

from bulkcc.errors import InputError
from bulkcc.fields import FIELDS, FIELDS_BY_PATH
from bulkcc.values import is_blank, printable
from bulkcc.workbook.layout import XLSX_SUFFIXES
from bulkcc.workbook.paper import title_columns
from bulkcc.workbook.stream import WRAPPED, declare_layout, header_row, long_text, wrapped_height
from bulkcc.workbook.stream import cell as stream_cell
from bulkcc.workbook.xlsx import TEXT_FORMAT

FORMAT = "bulkcc-rollback/1"
ROLLBACK_SHEET = "rollback"
SET_SHEET = "set_by_run"
AGENTS_SHEET = "agents"
# The names beside the ids are what the run knew them by (read-only: the ids are what is sent).
AGENT_COLUMNS = ("call_center_id", "call_center_name", "user_id", "user_email", "was_operator", "role", "skill_level",
                 "run_left_operator", "run_left_role", "run_left_skill_level", "undo")
AGENT_IDS = ("call_center_id", "user_id")
PUT_BACK_NOTE = ("The values before the run: applying this workbook puts each back, only while its live value is "
                 "still the one the run set (the set_by_run sheet). Remove a row to keep that call center as it is.")
SET_NOTE = ("The values this run set. Applying the rollback puts a field back (the callcenters sheet) only while "
            "its live value is still the one here; one changed since is left as it is and reported stale.")
AGENTS_NOTE = ("Each agent this run changed (its call center's and user's names as the run knew them: not read back): "
               "was_operator, role and skill_level are how it was before the run "
               "(put back), run_left_* how the run left it. Applying the rollback changes an agent only while "
               "it is still as the run left it (else: stale, left alone). Remove a row to keep that change.")


def stream_table(workbook: Workbook, name: str, header: Sequence[str], rows: Sequence[Sequence[Any]], *,
                 widths: Sequence[float], note: str | None = None, text_columns: Sequence[int] = (),
                 wrap_column: int | None = None, freeze: str | None = "A2", index: int | None = None) -> None:
    """A sheet of a write-only workbook (a rollback can hold thousands of rows): the header styled, with
    `note` as its first cell's comment; the cells of `text_columns` (positions) stored as text cells and
    the columns formatted as text (ids: Excel keeps only 15 digits of a number); the cells of
    `wrap_column`, and any other text too long for its column, wrapped, their rows as tall. On paper
    (`paper.page_setup`), a slice of a wide sheet repeats its leading id and name columns."""
    sheet = workbook.create_sheet(name, index)
    declare_layout(sheet, columns=len(header), rows=len(rows) + 1, widths=widths, freeze=freeze,
                   print_columns=len(header), title_columns=title_columns(header),
                   text_columns=[position + 1 for position in text_columns])
    first = header_row(sheet, header)
    if note is not None:
        first[0].comment = Comment(note, "bulkcc")
    sheet.append(first)
    for number, row in enumerate(rows, start=2):
        wrap = [position == wrap_column or long_text(value, widths[position]) for position, value in enumerate(row)]
        cells = []
        for position, value in enumerate(row):
            text = position in text_columns and value is not None
            cells.append(stream_cell(sheet, str(value) if text else value,
                                     alignment=WRAPPED if wrap[position] else None,
                                     number_format=TEXT_FORMAT if text else None))
        height = wrapped_height([(value, widths[position]) for position, value in enumerate(row) if wrap[position]])
        if height is not None:
            sheet.row_dimensions[number].height = height
        sheet.append(cells)


def add_values_sheet(workbook: Workbook, name: str, rows: Sequence[Mapping[str, Any]], note: str) -> None:
    """A sheet of call centers' values (`callcenters`, `set_by_run`): `id` and only the columns some row
    fills, in the field table's order (a rollback touches a few fields: it reads and prints whole), ids
    and numbers Excel would round as text."""
    used = {column for row in rows for column, value in row.items() if value is not None}
    header = ["id"] + [f.path for f in FIELDS if f.path in used and f.path != "id"]
    ids = [position for position, path in enumerate(header) if FIELDS_BY_PATH[path].is_identifier]
    stream_table(workbook, name, header, [[_cell(column, row.get(column)) for column in header] for row in rows],
                 widths=[22 if FIELDS_BY_PATH[p].is_identifier else max(len(p) + 4, 12) for p in header],
                 note=note, text_columns=ids, freeze="B2")


def _cell(column: str, value: Any) -> Any:
    field = FIELDS_BY_PATH[column]
    if isinstance(value, int) and not isinstance(value, bool) and (field.is_identifier or abs(value) >= 10**15):
        return str(value)
    return value


def add_about_sheet(workbook: Workbook, about: Sequence[tuple[str, str]]) -> None:
    """The `rollback` sheet, first: the format in A1:B1, then one (key, value) per row."""
    stream_table(workbook, ROLLBACK_SHEET, ("format", FORMAT), [list(pair) for pair in about], widths=(14, 110),
                 wrap_column=1, freeze=None, index=0)


def add_agents_sheet(workbook: Workbook, rows: Sequence[Mapping[str, Any]]) -> None:
    """The `agents` sheet: booleans as words (a spreadsheet may show a boolean cell as 1 or 0)."""
    def shown(value: Any) -> Any:
        return ("TRUE" if value else "FALSE") if isinstance(value, bool) else value

    stream_table(workbook, AGENTS_SHEET, AGENT_COLUMNS, [[shown(row.get(c)) for c in AGENT_COLUMNS] for row in rows],
                 widths=(22, 24, 22, 26, 13, 12, 11, 17, 14, 19, 60), note=AGENTS_NOTE, text_columns=(0, 2),
                 wrap_column=len(AGENT_COLUMNS) - 1)


def is_rollback_workbook(path: str | Path) -> bool:
    """Whether `path` is a workbook with a `rollback` sheet (read from the zip's index, not the cells)."""
    return has_sheet(path, ROLLBACK_SHEET)


def has_sheet(path: str | Path, name: str) -> bool:
    """Whether `path` is a workbook with a sheet `name` (read from the zip's index, not the cells)."""
    from bulkcc.workbook.sheetxml import locate_sheet

    path = Path(path)
    if path.suffix.lower() not in XLSX_SUFFIXES or not path.is_file():
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            member, _ = locate_sheet(zf, name)
    except Exception:  # not a zip, a damaged one: the reader says what is wrong with it
        return False
    return member is not None


def _sheet_cells(path: Path, name: str) -> list[list[Any]] | None:
    from bulkcc.workbook.reader import read_xlsx_rows

    try:
        read = read_xlsx_rows(path, lambda names: name if name in names else None)
    except InputError as exc:
        raise InputError(f"cannot read the {name} sheet of {printable(path.name)}: {exc}") from exc
    return None if read is None else [list(row) for row in read[1]]


def read_about(path: str | Path) -> dict[str, str]:
    """The `rollback` sheet as key -> value; InputError unless its A1:B1 says the format bulkcc writes."""
    path = Path(path)
    cells = _sheet_cells(path, ROLLBACK_SHEET) or []
    first = [str(v).strip() if not is_blank(v) else "" for v in (cells[0] if cells else [])[:2]]
    if first != ["format", FORMAT]:
        raise InputError(f"{printable(path.name)}: its {ROLLBACK_SHEET} sheet does not start with "
                         f"'format | {FORMAT}', so it is not a rollback workbook bulkcc wrote (or it was edited): "
                         "rename that sheet to apply the workbook as an ordinary one")
    about = {}
    for row in cells[1:]:
        if len(row) >= 2 and not is_blank(row[0]):
            about[str(row[0]).strip()] = "" if is_blank(row[1]) else str(row[1])
    return about


def read_agent_cells(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Each filled row of the `agents` sheet as (Excel row, cells by column name); [] without one."""
    cells = _sheet_cells(Path(path), AGENTS_SHEET)
    if not cells:
        return []
    header = [str(h).strip() if not is_blank(h) else "" for h in cells[0]]
    out = []
    for number, values in enumerate(cells[1:], start=2):
        row = {name: values[i] for i, name in enumerate(header) if name in AGENT_COLUMNS and i < len(values)}
        if any(not is_blank(v) for v in row.values()):
            out.append((number, row))
    return out


def read_set_rows(path: str | Path) -> tuple[str, Any, Any, bool] | None:
    """The `set_by_run` sheet as the reader gives any data sheet (name, cells, scan, hidden), or None."""
    from bulkcc.workbook.reader import read_xlsx_rows

    path = Path(path)
    try:
        return read_xlsx_rows(path, lambda names: SET_SHEET if SET_SHEET in names else None)
    except InputError as exc:
        raise InputError(f"cannot read the {SET_SHEET} sheet of {printable(path.name)}: {exc}") from exc
