"""Reading the admin's workbook (or CSV) into a frame of raw cell values.

Reading is deliberately dumb: it finds the data sheet, the header row and the
non-empty rows, and keeps each cell's value as the file holds it. Parsing and
validation happen in `cells` and `schema`, so that every problem is reported at
once with its Excel row and column.

Workbooks come from outside, so they are treated as untrusted: only a regular
file of bounded size is opened (`inputfile`), a zip whose members declare an
absurd uncompressed size is refused before any XML is parsed, and openpyxl (used
when a workbook is copied for a report) parses through defusedxml. The cell
values are read with python-calamine, which measured 15x faster than openpyxl's
read-only mode on a 10,000 x 100 sheet of short random cells (0.60 s against
9.36 s; bench/bench_validate.py shows 5x on realistic rows, parsing included). What
calamine does not say (error cells, formulas never computed, hidden rows and
columns, the extent of the sheet) comes from one pass over the sheet's XML
(`sheetxml`), made first because it bounds what calamine lays out; calamine then
parses the sheet on a second core while the matrix for its cells is laid out, and
blank cells and rows are found column-wise at C speed (`grid`). CSV text in any
encoding and separator Excel writes is read by `csvtext`.

Data that could be wrong is refused: a cell that shows an error or a formula
without a value is a Problem at that cell, never a blank. Data an admin does not
see on screen (a hidden data sheet, hidden rows or columns holding values) is a
warning on the Sheet, which validate, plan and apply show.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl.utils import get_column_letter

from bulkcc.errors import InputError, Problem
from bulkcc.fields import FIELDS_BY_PATH, Field, suggest_column
from bulkcc.values import is_blank, printable
from bulkcc.workbook.csvtext import csv_rows, decode
from bulkcc.workbook.grid import grid_of, into, room
from bulkcc.workbook.hidden import hidden_warnings
from bulkcc.workbook.inputfile import check_input_file, read_input_bytes
from bulkcc.workbook.layout import (
    CONTEXT_PREFIX,
    CSV_SUFFIXES,
    DATA_SHEET,
    HEADER_SEARCH_ROWS,
    RESULT_COLUMNS,
    RESULTS_SHEET,
    XLSX_SUFFIXES,
    misnamed_key,
)
from bulkcc.workbook.sheetxml import ERROR, SheetScan, locate_sheet, scan_sheet_xml

# A real call center workbook is a few MB of XML; 300 MB of XML fits in a 300 KB zip.
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_ROWS = 100_000  # rows that hold something; blank rows are free
# calamine lays out every cell from A1 to the last one: 25 million cells is ~1.5 GB,
# twice a full sheet of MAX_ROWS rows of every column.
MAX_CELLS = 25_000_000
# What Excel and LibreOffice show in a cell whose formula failed, and write so into a CSV.
ERROR_TEXTS = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
                         "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!",
                         "Err:502", "Err:504", "Err:508", "Err:522", "Err:523"})
Rows = np.ndarray | list[list[Any]]  # a sheet's cells from A1, row by row
_UNNAMED_SHOWN = 3  # past this many cells under no name in one row, one problem says how many


@dataclass(frozen=True)
class SheetTable:
    """What the reader needs to know of one kind of sheet: its columns and its results form.

    `key` is the column row 1 must hold: without it the callcenters sheet is no sheet
    of call centers (InputError); a sheet with `key_required=False` gets a Problem in
    row 1 instead (the operators sheet: the rest of the workbook stays readable).
    A sheet named `results_sheet` is a fed-back results workbook's: its
    `result_columns` are kept as meta and otherwise ignored.
    """

    fields: Mapping[str, Field]
    suggest: Callable[[str], str | None]
    key: str
    results_sheet: str
    result_columns: tuple[str, ...]
    key_required: bool = True
    alternate_keys: tuple[str, ...] = ()  # columns that stand in for `key` (the operators sheet's user_email)


CALLCENTERS_TABLE = SheetTable(FIELDS_BY_PATH, suggest_column, "id", RESULTS_SHEET, RESULT_COLUMNS)


@dataclass
class Sheet:
    """The data sheet as read: raw cells indexed by Excel row number."""

    path: Path
    sheet_name: str | None
    frame: pd.DataFrame  # columns: the field columns present; index: Excel row numbers
    meta: pd.DataFrame  # result columns of a fed-back results workbook (may be empty)
    # Every named column but the result ones, in sheet order, unknown and info. ones
    # included: the results workbook carries them all, so a misnamed column can be
    # renamed in place and the row re-sent with nothing lost.
    raw: pd.DataFrame
    # Problems found while reading: the header, cells under no name, cells that show
    # an error or a formula never computed.
    header_problems: list[Problem] = field(default_factory=list)
    # What an admin reviewing the sheet on screen does not see; never makes a row invalid.
    warnings: list[Problem] = field(default_factory=list)
    # How the file was read, said once (a CSV: which sheet it is taken for).
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> list[int]:
        return list(self.frame.index)


def check_zip_size(path: Path, limit: int | None = None) -> None:
    """Refuse a zip bomb before anything parses it."""
    limit = MAX_UNCOMPRESSED_BYTES if limit is None else limit
    name = printable(path.name)
    try:
        with zipfile.ZipFile(path) as zf:
            declared = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise InputError(f"{name} is not an .xlsx workbook ({printable(exc)}); save it as .xlsx or .csv") from exc
    except OSError as exc:
        raise InputError(f"cannot read {name}: {printable(exc.strerror or exc)}") from exc
    if declared > limit:
        raise InputError(
            f"{name} declares {declared / 1e6:.0f} MB of uncompressed content, over the "
            f"{limit / 1e6:.0f} MB limit: refusing to open it (a zip bomb or a corrupted file)"
        )


def _scan_xlsx(path: Path, sheet_name: str) -> tuple[SheetScan, bool]:
    """The XML facts of the data sheet (see `sheetxml`), and whether it is hidden."""
    name = printable(path.name)
    try:
        with zipfile.ZipFile(path) as zf:
            member, hidden = locate_sheet(zf, sheet_name)
            if member is None:
                raise InputError(f"cannot read {name}: the sheet {printable(sheet_name, quote=True)} is listed "
                                 "but its content is missing (a damaged file); save it again as .xlsx")
            # zipfile stops at the declared size, which check_zip_size has bounded.
            scan = scan_sheet_xml(zf.read(member))
    except InputError:
        raise
    except Exception as exc:  # zipfile, zlib, defusedxml raise many kinds for a damaged file
        raise InputError(f"cannot read {name}: {printable(exc)} (a damaged workbook); "
                         "save it again as .xlsx") from exc
    cells = scan.last_row * scan.last_column
    if cells > MAX_CELLS:
        corner = f"{get_column_letter(min(scan.last_column, 16384))}{scan.last_row}"
        raise InputError(
            f"{name}: the sheet's cells run to {corner} ({cells:,} cells from A1), over the {MAX_CELLS:,} "
            "limit: something is typed far below or right of the table (Ctrl+End in Excel goes there); "
            "delete those rows and columns and save")
    return scan, hidden


def _data_sheet(names: list[str]) -> str:
    return DATA_SHEET if DATA_SHEET in names else names[0]


def read_xlsx_rows(path: Path, pick: Callable[[list[str]], str | None] = _data_sheet
                   ) -> tuple[str, Rows, SheetScan, bool] | None:
    """(sheet name, rows from A1, XML facts, hidden) of the sheet `pick` chooses among the workbook's; None if
    none. The rows are an object matrix (see `grid.room`) unless the sheet's extent was not the scan's."""
    from python_calamine import CalamineWorkbook

    check_input_file(path)
    check_zip_size(path)
    name = printable(path.name)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        names = workbook.sheet_names
        if not names:
            raise InputError(f"{name} has no sheets")
        sheet_name = pick(names)
        if sheet_name is None:
            return None
        scan, hidden = _scan_xlsx(path, sheet_name)  # first: it bounds what calamine will lay out
        with ThreadPoolExecutor(1, thread_name_prefix="bulkcc-calamine") as pool:
            parsing = pool.submit(workbook.get_sheet_by_name, sheet_name)  # 1 s at 100,000 rows, without the GIL
            cells = room(scan.last_row, scan.last_column)
            sheet = parsing.result()
        rows = into(cells, sheet.to_python(skip_empty_area=False))
        del sheet  # calamine's copy of the cells (3 times the size of the matrix)
    except InputError:
        raise
    except Exception as exc:  # CalamineError, XmlError, ZipError, OSError, ValueError …
        raise InputError(f"cannot read {name}: {printable(exc)} (a damaged workbook?); "
                         "open it in Excel or LibreOffice and save it again as .xlsx") from exc
    except BaseException as exc:  # a panic inside calamine is a BaseException (pyo3's PanicException)
        if type(exc).__name__ != "PanicException":
            raise
        raise InputError(f"cannot read {name}: the workbook is damaged ({printable(exc)})") from exc
    return sheet_name, rows, scan, hidden


def read_csv_rows(path: Path) -> list[list]:
    """Every record of a CSV file as text cells (any encoding and separator `csvtext` reads)."""
    return list(iter_csv_rows(path))


def iter_csv_rows(path: Path) -> Iterable[list[str]]:
    name = printable(path.name)
    return csv_rows(decode(read_input_bytes(path), name), name)


def read_sheet(path: str | Path) -> Sheet:
    """Read the data sheet of a workbook or CSV; raise InputError if it cannot be read."""
    path = Path(path)
    check_input_file(path)  # missing, a folder, a FIFO or device, unreadable, too large
    suffix = path.suffix.lower()
    name = printable(path.name)
    if suffix in XLSX_SUFFIXES:
        read = read_xlsx_rows(path)
        assert read is not None  # the data sheet is always picked
        sheet_name, rows, scan, hidden = read
        return _build_sheet(path, sheet_name, rows, scan=scan, sheet_hidden=hidden)
    if suffix in CSV_SUFFIXES:
        from bulkcc.workbook.csvsheet import read_csv_sheet  # here: it builds its sheet with this module

        return read_csv_sheet(path)
    if suffix == ".xls":
        raise InputError(f"{name} is an old .xls file; save it as .xlsx")
    raise InputError(f"{name}: expected an .xlsx or .csv file")


def _cell_ref(row: int, position: int) -> str:
    return f"{get_column_letter(position + 1)}{row}"


def _bad_cell_message(kind: str, ref: str, shown: str | None) -> str:
    if kind == ERROR:
        return (f"{ref} shows the error {printable(shown, 40)}: a cell with an error is not blank, and is never "
                "read as 'leave unchanged'; fix the formula or type the value (or clear the cell)")
    formula = f" {printable(shown, 60)}" if shown else ""
    return (f"{ref} holds a formula{formula} with no saved value (the program that wrote the file does not "
            "calculate formulas): open and save the file in Excel or LibreOffice, or type the value")


@dataclass
class _Columns:
    """Where each kind of column sits in the header (0-based positions)."""

    header: list[str]
    fields: dict[str, int]
    meta: dict[str, int]
    raw: dict[str, int]
    unnamed: list[int]
    problems: list[Problem]


def _columns(header: list[str], allow_meta: bool, table: SheetTable = CALLCENTERS_TABLE) -> _Columns:
    problems: list[Problem] = []
    field_cols: dict[str, int] = {}
    meta_cols: dict[str, int] = {}
    raw_cols: dict[str, int] = {}
    for pos, name in enumerate(header):
        if not name:
            continue  # a blank header: its cells are checked row by row
        shown = printable(name, 80, quote=True)
        if name in raw_cols or name in meta_cols:
            problems.append(Problem(1, name, name, f"column {shown} appears twice; keep one"))
            continue
        if not (allow_meta and name in table.result_columns):
            raw_cols[name] = pos
        if name in table.fields:
            field_cols[name] = pos
        elif allow_meta and name in table.result_columns:
            meta_cols[name] = pos
        elif name.startswith(CONTEXT_PREFIX):
            continue  # read-only context from an export
        else:
            hint = table.suggest(name) if len(name) <= 200 else None  # difflib on a huge name is slow
            fix = f"did you mean {hint}?" if hint else "see the Columns sheet of `bulkcc template` for the names"
            problems.append(Problem(1, name, name, f"unknown column {shown}: {fix}"))
    unnamed = [p for p, h in enumerate(header) if not h]
    return _Columns(header, field_cols, meta_cols, raw_cols, unnamed, problems)


def _unnamed_problems(row: int, filled: list[tuple[int, Any]]) -> list[Problem]:
    """Cells under no name (position, value): a blank header, or past the last one (an unquoted
    separator in a CSV)."""
    if len(filled) <= _UNNAMED_SHOWN:
        return [Problem(row, None, value,
                        f"a value in column {get_column_letter(p + 1)}, which has no name in row 1; "
                        "name the column or clear the cell (in a CSV: quote a text with commas)")
                for p, value in filled]
    letters = ", ".join(get_column_letter(p + 1) for p, _ in filled[:_UNNAMED_SHOWN])
    return [Problem(row, None, filled[0][1],
                    f"{len(filled):,} values in columns which have no name in row 1 ({letters} …); name the "
                    "columns or clear the cells (in a CSV: quote a text that holds the separator)")]


def _bad_cell_problems(row: int, bad: Sequence[tuple[int, str, str | None]], header: list[str]) -> list[Problem]:
    """A problem for each cell of `row` that shows an error or a formula never computed."""
    named = [header[p] if p < len(header) and header[p] else None for p, _, _ in bad]
    return [Problem(row, column, shown, _bad_cell_message(kind, _cell_ref(row, position), shown))
            for column, (position, kind, shown) in zip(named, bad, strict=True)]


_NAMES_IN_ROW_1 = "row 1 must hold the column names, e.g. from `bulkcc template`"


def _first_rows(rows: Iterable[Sequence[Any]] | np.ndarray) -> list[list[str]]:
    """The rows under row 1 in which a title's column names may be (only of rows held whole)."""
    if not isinstance(rows, np.ndarray | list):
        return []
    return [["" if is_blank(cell) else str(cell) for cell in row] for row in rows[1:HEADER_SEARCH_ROWS]]


def _build_sheet(path: Path, sheet_name: str | None, rows: Iterable[Sequence[Any]] | np.ndarray, *,
                 scan: SheetScan | None = None, sheet_hidden: bool = False, shown_errors: bool = False,
                 table: SheetTable = CALLCENTERS_TABLE, results: bool | None = None) -> Sheet:
    """The Sheet of these rows (row 1 first); `scan` adds what only the sheet's XML says.

    `shown_errors`: the rows are text a spreadsheet saved (CSV), where a cell whose formula
    failed was written as the error it showed (`#N/A`): such a cell is a problem, not a value.
    `results`: the rows are a results workbook's sheet, whose outcome columns are kept as meta
    (default: the sheet is named as that sheet is).
    """
    name = printable(path.name)
    scan = scan or SheetScan()
    iterator = iter(rows)
    first = next(iterator, None)
    body = rows[1:] if isinstance(rows, np.ndarray) else None  # a matrix from read_xlsx_rows: no copy
    if first is None:
        raise InputError(f"{name}: the sheet is empty; row 1 must hold the column names")
    header = ["" if is_blank(h) else str(h).strip() for h in first]
    missing_key = table.key not in header and not any(key in header for key in table.alternate_keys)
    if missing_key and table.key_required and str(sheet_name or "").strip().lower() == "operators":
        # A workbook of agents only: its operators sheet is no callcenters sheet, and says so.
        raise InputError(
            f"{name} has no callcenters sheet (its first sheet is the operators sheet): add a sheet named "
            "callcenters with an id column in row 1 (`bulkcc template` has it), even if it lists no call centers")
    if missing_key and table.key_required:
        raise InputError(
            f"{name}: no '{table.key}' column in row 1 of sheet {printable(sheet_name or '(csv)', 80)}; "
            f"{misnamed_key([header, *_first_rows(rows)], (table.key,)) or _NAMES_IN_ROW_1}"
        )
    columns = _columns(header, allow_meta=sheet_name == table.results_sheet if results is None else results,
                       table=table)
    problems = columns.problems
    if missing_key:
        either = " or ".join((table.key, *table.alternate_keys))
        problems.insert(0, Problem(1, table.key, None, (
            f"no {either} column in row 1 of the {printable(sheet_name or '', 80)} sheet: every row needs "
            f"one; add the column (the names are those of `bulkcc template`)")))
    # The bad cells that matter: any in row 1; below it those of field columns and of columns
    # with no name (an info. or a result column is never sent, an unknown one is refused).
    reported = set(columns.fields.values()) | set(columns.unnamed)
    bad_by_row: dict[int, list[tuple[int, str, str | None]]] = {}
    for (bad_row, position), (kind, shown) in sorted(scan.bad_cells.items()):
        if bad_row == 1 or position in reported or position >= len(header):
            bad_by_row.setdefault(bad_row, []).append((position, kind, shown))
    for position, kind, shown in bad_by_row.get(1, []):
        problems.append(Problem(1, None, shown, "the column name in " + _bad_cell_message(kind, _cell_ref(1, position),
                                                                                            shown)))

    # Column-wise, at C speed (see `grid`): body row r is Excel row r + 2.
    grid = grid_of(list(iterator) if body is None else body, len(header))
    keep = np.asarray(grid.filled.any(axis=1))  # a blank row is skipped, unless it holds a bad cell
    keep[[r - 2 for r in bad_by_row if 2 <= r < len(keep) + 2]] = True
    kept = np.flatnonzero(keep)
    past = sorted(r for r in bad_by_row if r > len(keep) + 1)  # bad cells past calamine's last row
    if len(kept) + len(past) > MAX_ROWS:
        raise InputError(f"{name} has {len(kept) + len(past):,} rows that hold values, over the {MAX_ROWS} limit; "
                         "split the file")
    bad_at = {r - 2: bad for r, bad in bad_by_row.items() if 2 <= r < len(keep) + 2}
    if shown_errors:  # each such cell is then blank, as an xlsx error cell reads
        for r, found in grid.take(sorted(reported | set(range(len(header), grid.width))), ERROR_TEXTS).items():
            bad_at[r] = [*bad_at.get(r, ()), *((position, ERROR, str(value)) for position, value in found)]
    # Problems row by row, as a reader of the sheet meets them: cells under no name, then bad cells.
    unnamed = [*columns.unnamed, *range(len(header), grid.width)]
    with_unnamed = np.flatnonzero(grid.filled[:, unnamed].any(axis=1)).tolist() if unnamed else []
    for r in sorted({*with_unnamed, *bad_at}):
        filled = [(p, grid.cells[r, p]) for p in unnamed if grid.filled[r, p]]
        problems += _unnamed_problems(r + 2, filled)
        problems += _bad_cell_problems(r + 2, bad_at.get(r, ()), header)
    for excel_row in past:
        problems += _bad_cell_problems(excel_row, bad_by_row[excel_row], header)

    index = [*(kept + 2).tolist(), *past]
    idx = pd.Index(index, name="excel_row", dtype="int64")
    frame, meta, raw = grid.frames(kept, len(past), idx, columns.fields, columns.meta, columns.raw)
    warnings = hidden_warnings(sheet_name, index, frame, columns.fields, scan, sheet_hidden)
    return Sheet(path=path, sheet_name=sheet_name, frame=frame, meta=meta, header_problems=problems, raw=raw,
                 warnings=warnings)
