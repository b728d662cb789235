"""Reading the admin's workbook (or CSV) into a frame of raw cell values.

Reading is deliberately dumb: it finds the data sheet, the header row and the
non-empty rows, and keeps each cell's value as the file holds it. Parsing and
validation happen in `cells` and `schema`, so that every problem is reported at
once with its Excel row and column.

Workbooks come from outside, so they are treated as untrusted: a zip whose members
declare an absurd uncompressed size is refused before any XML is parsed, and
openpyxl (used when a workbook is copied for a report) parses through defusedxml.
The cell values are read with python-calamine, which measured 15x faster than
openpyxl's read-only mode on a 10,000 x 100 sheet of short random cells (0.60 s
against 9.36 s; bench/bench_validate.py shows 2.3x on realistic rows).
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from openpyxl.utils import get_column_letter

from bulkcc.errors import InputError, Problem
from bulkcc.fields import FIELDS_BY_PATH, suggest_column
from bulkcc.values import is_blank
from bulkcc.workbook.layout import (
    CONTEXT_PREFIX,
    CSV_SUFFIXES,
    DATA_SHEET,
    RESULT_COLUMNS,
    RESULTS_SHEET,
    XLSX_SUFFIXES,
)

# A real call center workbook is a few MB of XML; 300 MB of XML fits in a 300 KB zip.
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_ROWS = 100_000


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
    header_problems: list[Problem] = field(default_factory=list)

    @property
    def rows(self) -> list[int]:
        return list(self.frame.index)


def check_zip_size(path: Path, limit: int | None = None) -> None:
    """Refuse a zip bomb before anything parses it."""
    limit = MAX_UNCOMPRESSED_BYTES if limit is None else limit
    try:
        with zipfile.ZipFile(path) as zf:
            declared = sum(info.file_size for info in zf.infolist())
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path.name} is not an .xlsx workbook ({exc}); save it as .xlsx or .csv") from exc
    if declared > limit:
        raise InputError(
            f"{path.name} declares {declared / 1e6:.0f} MB of uncompressed content, over the "
            f"{limit / 1e6:.0f} MB limit: refusing to open it (a zip bomb or a corrupted file)"
        )


def _read_xlsx_rows(path: Path) -> tuple[str, list[list]]:
    from python_calamine import CalamineError, CalamineWorkbook

    check_zip_size(path)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        names = workbook.sheet_names
        if not names:
            raise InputError(f"{path.name} has no sheets")
        name = DATA_SHEET if DATA_SHEET in names else names[0]
        rows = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except CalamineError as exc:
        raise InputError(f"cannot read {path.name}: {exc}") from exc
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read {path.name}: {exc}") from exc
    return name, rows


def read_csv_rows(path: Path) -> list[list]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [list(r) for r in csv.reader(handle)]
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name} is not UTF-8 text; export the CSV as UTF-8") from exc
    except csv.Error as exc:
        raise InputError(f"cannot read {path.name} as CSV: {exc}") from exc


def read_sheet(path: str | Path) -> Sheet:
    """Read the data sheet of a workbook or CSV; raise InputError if it cannot be read."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a workbook")
    suffix = path.suffix.lower()
    if suffix in XLSX_SUFFIXES:
        sheet_name, rows = _read_xlsx_rows(path)
    elif suffix in CSV_SUFFIXES:
        sheet_name, rows = None, read_csv_rows(path)
    elif suffix == ".xls":
        raise InputError(f"{path.name} is an old .xls file; save it as .xlsx")
    else:
        raise InputError(f"{path.name}: expected an .xlsx or .csv file")
    return _build_sheet(path, sheet_name, rows)


def _build_sheet(path: Path, sheet_name: str | None, rows: list[list]) -> Sheet:
    if not rows:
        raise InputError(f"{path.name}: the sheet is empty; row 1 must hold the column names")
    if len(rows) > MAX_ROWS + 1:
        raise InputError(f"{path.name} has {len(rows) - 1} rows, over the {MAX_ROWS} limit; split the file")
    header = ["" if is_blank(h) else str(h).strip() for h in rows[0]]
    if "id" not in header:
        raise InputError(
            f"{path.name}: no 'id' column in row 1 of sheet {sheet_name or '(csv)'}; "
            "row 1 must hold the column names, e.g. from `bulkcc template`"
        )
    allow_meta = sheet_name == RESULTS_SHEET
    problems: list[Problem] = []
    field_cols: dict[str, int] = {}
    meta_cols: dict[str, int] = {}
    raw_cols: dict[str, int] = {}
    for pos, name in enumerate(header):
        if not name:
            continue  # a blank header: its cells are checked below
        if name in raw_cols or name in meta_cols:
            problems.append(Problem(1, name, name, f"column '{name}' appears twice; keep one"))
            continue
        if not (allow_meta and name in RESULT_COLUMNS):
            raw_cols[name] = pos
        if name in FIELDS_BY_PATH:
            field_cols[name] = pos
        elif allow_meta and name in RESULT_COLUMNS:
            meta_cols[name] = pos
        elif name.startswith(CONTEXT_PREFIX):
            continue  # read-only context from an export
        else:
            hint = suggest_column(name)
            fix = f"did you mean {hint}?" if hint else "see the Columns sheet of `bulkcc template` for the names"
            problems.append(Problem(1, name, name, f"unknown column '{name}': {fix}"))

    blank_header_positions = [p for p, h in enumerate(header) if not h]
    index, field_values, meta_values, raw_values = [], [], [], []
    for excel_row, raw in enumerate(rows[1:], start=2):
        if all(is_blank(v) for v in raw):
            continue
        cells = [None if is_blank(v) else v for v in raw]
        cells += [None] * (len(header) - len(cells))
        # Cells under no name: a blank header, or past the last one (an unquoted comma in a CSV).
        for pos in blank_header_positions + list(range(len(header), len(cells))):
            if cells[pos] is not None:
                problems.append(Problem(excel_row, None, cells[pos],
                                        f"a value in column {get_column_letter(pos + 1)}, which has no name in row 1; "
                                        "name the column or clear the cell (in a CSV: quote a text with commas)"))
        index.append(excel_row)
        field_values.append([cells[p] for p in field_cols.values()])
        meta_values.append([cells[p] for p in meta_cols.values()])
        raw_values.append([cells[p] for p in raw_cols.values()])

    idx = pd.Index(index, name="excel_row", dtype="int64")
    frame = pd.DataFrame(field_values, columns=list(field_cols), index=idx, dtype=object)
    meta = pd.DataFrame(meta_values, columns=list(meta_cols), index=idx, dtype=object)
    raw_frame = pd.DataFrame(raw_values, columns=list(raw_cols), index=idx, dtype=object)
    return Sheet(path=path, sheet_name=sheet_name, frame=frame, meta=meta, header_problems=problems, raw=raw_frame)
