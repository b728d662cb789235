"""Writing workbooks safely: cells that stay text, headers, atomic saves.

Everything bulkcc writes (the template, validation reports, results, exports,
rollback files) goes through these helpers, so two promises hold everywhere:
a value that came from outside (a cell, an API message) is written as text and
never becomes a formula or an error cell, and a file is replaced atomically, so
a crash never leaves half a workbook behind. A kill during a save can leave its
temporary file (`.<stem>-XXXXXXXX.xlsx.tmp` beside the target); this module owns
that name, so it also owns finding and removing such leftovers, and the check
that a folder takes a save at all before a run starts.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bulkcc.errors import UsageError
from bulkcc.status import Status
from bulkcc.workbook.paper import FONT_NAME, FONT_SIZE, WRAP_TOP, fit_row_heights, page_setup, wrap_long_cells

# Text that Excel (or openpyxl) would turn into a formula or an error cell.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ERROR_LITERALS = {"#N/A", "#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#GETTING_DATA", "#SPILL!"}
ILLEGAL_CONTROL = {c for c in range(32) if chr(c) not in "\t\n\r"}

HEADER_FONT = Font(name=FONT_NAME, size=FONT_SIZE, bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="305496")
# A bad cell in a validation report, and each row status in its own colour (from Status).
FILLS: dict[str, PatternFill] = {
    "error": PatternFill("solid", fgColor="F8CBAD"),
    **{str(status): PatternFill("solid", fgColor=status.fill) for status in Status},
}


# A boolean cell reads TRUE or FALSE everywhere: Excel shows a boolean so whatever its format, but
# LibreOffice showed 1 and 0 under the General format. A number typed into a boolean column reads as
# bulkcc reads it: 1 TRUE, 0 FALSE, any other as itself (it showed TRUE for 5 or 0.5, which bulkcc
# refuses as "'5' is not TRUE or FALSE"; LibreOffice drops the sign of a negative one, showing 1 for -1).
BOOLEAN_FORMAT = '[=1]"TRUE";[=0]"FALSE";General'
TEXT_FORMAT = "@"  # ids: Excel keeps only 15 significant digits of a number, and Dialpad's ids have 16


# What one Excel cell holds, counted as Excel counts: in UTF-16 code units (an emoji is two). A longer text
# makes Excel call the whole file damaged and offer to repair it; openpyxl cuts at 32,767 characters, which
# leaves a text of emoji twice too long.
CELL_LIMIT = 32_767
_SURROGATE = re.compile("[\ud800-\udfff]")
# In a cell's text "_x0041_" is the xlsx escape of a character ("A"): Excel (and bulkcc's reader) show and
# read the character, so a name "Team_x0041_" read as "TeamA". Its own "_" escaped ("_x005F_") keeps it text.
_LOOKS_ESCAPED = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")


def clean_text(text: str) -> str:
    """Text as an xlsx cell can hold it: the control characters the format cannot hold dropped (openpyxl
    would raise), a lone surrogate (a server's JSON may escape one: "\\ud800") shown as U+FFFD (written
    as it is, it made a file that neither Excel nor bulkcc could open), text that reads as an xlsx escape
    ("_x0041_") escaped so it stays itself, and a text longer than a cell holds cut, saying how long it was."""
    if not text.isascii():
        if _SURROGATE.search(text):
            text = _SURROGATE.sub("\ufffd", text)
    elif len(text) <= CELL_LIMIT and text.isprintable() and "_x" not in text:
        return text
    if any(ord(ch) in ILLEGAL_CONTROL for ch in text):
        text = "".join(ch for ch in text if ord(ch) not in ILLEGAL_CONTROL)
    if "_x" in text:
        text = _LOOKS_ESCAPED.sub("_x005F_", text)
    return fit_cell(text)


def utf16_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


def fit_cell(text: str) -> str:
    """`text` cut to what one cell holds, ending with how long it was (Excel repairs a file with a longer one)."""
    if len(text) <= CELL_LIMIT // 2 or utf16_length(text) <= CELL_LIMIT:
        return text
    tail = f"… ({len(text):,} characters)"
    room, units = CELL_LIMIT - len(tail), 0
    for end, char in enumerate(text):  # an astral character (an emoji) takes two units
        units += 2 if ord(char) > 0xFFFF else 1
        if units > room:
            return text[:end] + tail
    return text


def set_cell(cell: Cell | MergedCell, value: Any) -> Cell | MergedCell:
    """Write a value; text is always stored as text, never as a formula or an error."""
    if isinstance(value, tuple | list):
        value = ", ".join(map(str, value))
    if isinstance(value, str):
        text = clean_text(value)
        cell.value = text
        # openpyxl decides a str starting with '=' is a formula on assignment: undo that,
        # and ask Excel (quotePrefix) not to reinterpret the text when it is edited.
        cell.data_type = "s"
        if text.startswith(FORMULA_STARTS) or text.strip() in ERROR_LITERALS:
            cell.quotePrefix = True
        return cell
    cell.value = value
    if isinstance(value, bool):
        cell.number_format = BOOLEAN_FORMAT
    return cell


def write_row(sheet: Worksheet, row: int, values: Sequence[Any], start_col: int = 1) -> None:
    for offset, value in enumerate(values):
        set_cell(sheet.cell(row=row, column=start_col + offset), value)


def style_header(sheet: Worksheet, columns: int, freeze: str | None = "A2",
                 widths: Iterable[float] | None = None, print_columns: int | None = None,
                 title_columns: int = 0, print_area: bool = True, wrap: bool = True) -> None:
    """Bold coloured header, frozen, with filters on; with `wrap` every text too long for its column
    wrapped, in a row of its height; printed as `paper.page_setup` says (its first `print_columns`
    columns, default all; no print area without `print_area`)."""
    for col in range(1, columns + 1):
        cell = sheet.cell(row=1, column=col)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
    sheet.freeze_panes = freeze
    if columns:
        sheet.auto_filter.ref = f"A1:{get_column_letter(columns)}{max(sheet.max_row, 1)}"
    widths = list(widths or [])
    for col, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    widths += [DEFAULT_WIDTH] * (columns - len(widths))
    if wrap:
        wrap_long_cells(sheet, first_row=1)
    page_setup(sheet, widths=widths[:columns], columns=print_columns, title_columns=title_columns, area=print_area)


WRAPPED = WRAP_TOP
DEFAULT_WIDTH = 8.43  # a column whose width is not set


def wrap_column(sheet: Worksheet, column: int) -> None:
    """Long texts (messages, changes) wrap inside their column instead of running off the page, in rows
    of the height of their wrapped text (see `paper`)."""
    rows = set()
    for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
        cell.alignment = WRAPPED
        rows.add(int(cell.row or 0))
    fit_row_heights(sheet, rows)


WORKBOOK_TEMP_SUFFIX = ".xlsx.tmp"
# mkstemp's random part: 8 characters of this alphabet. Matching it exactly keeps the
# temporary files of `a-b.xlsx` safe from a run on `a.xlsx` (".a-b-XXXXXXXX" has 10).
_RANDOM_PART = "[a-z0-9_]{8}"


def _temp_file(path: Path, suffix: str) -> tuple[int, str]:
    return tempfile.mkstemp(prefix=f".{path.stem}-", suffix=suffix, dir=path.parent)


@contextmanager
def _replaced_atomically(path: Path, suffix: str) -> Iterator[Path]:
    """A temporary path beside `path`, renamed over it if the block succeeds, removed if not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = _temp_file(path, suffix)
    os.close(handle)
    try:
        yield Path(temp)
        # mkstemp makes the file private (0600); a saved workbook gets the permissions any
        # new file of the user's gets (the umask), as if it had been written in place.
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: put it straight back
    os.umask(mask)
    return mask


def active_sheet(workbook: Workbook) -> Worksheet:
    """A new workbook's first sheet (openpyxl types `active` loosely)."""
    sheet = workbook.active
    assert isinstance(sheet, Worksheet)
    return sheet


def save_atomic(workbook: Workbook, path: str | Path) -> Path:
    """Save to a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    try:
        with _replaced_atomically(path, ".xlsx.tmp") as temp:
            workbook.save(temp)
    except BaseException:
        _discard_streams(workbook)
        raise
    return path


def _discard_streams(workbook: Workbook) -> None:
    """After a failed save of a write-only workbook, close its half-written row streams quietly.

    Otherwise each open stream is closed by the garbage collector later, which prints an
    "Exception ignored … Traceback" about the temporary file that is gone.
    """
    for sheet in workbook.worksheets:
        rows = getattr(sheet, "_rows", None)  # openpyxl's write-only row generator
        if rows is not None:
            with contextlib.suppress(Exception):
                rows.close()


def write_atomic_text(path: str | Path, text: str) -> Path:
    """Write a text file (JSON, JSON Lines) atomically."""
    path = Path(path)
    with _replaced_atomically(path, ".tmp") as temp:
        temp.write_text(text, encoding="utf-8")
    return path


def stale_temp_files(path: str | Path) -> list[Path]:
    """The temporary files a save of `path` left behind when it was killed (none if the folder is unreadable)."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.stem)}-{_RANDOM_PART}{re.escape(WORKBOOK_TEMP_SUFFIX)}")
    try:
        return sorted(p for p in path.parent.iterdir() if pattern.fullmatch(p.name) and p.is_file())
    except OSError:
        return []


def remove_stale_temp_files(path: str | Path) -> list[Path]:
    """Remove what `stale_temp_files` finds; only call it while no other save of `path` can run."""
    removed = []
    for temp in stale_temp_files(path):
        try:
            temp.unlink()
        except OSError:
            continue  # a leftover we cannot remove is only clutter; the run goes on
        removed.append(temp)
    return removed


def check_writable(path: str | Path, option: str) -> None:
    """Refuse (UsageError) a target whose folder is missing, not a folder, or takes no file.

    It probes the way a save writes: a temporary file beside `path`, a few bytes,
    fsync, then removed. Checking permission bits would not do: root passes them all,
    and a full disk or a read-only mount only shows when something is written.
    """
    path = Path(path)
    folder = path.absolute().parent
    where = f"{option} {path}"
    if not folder.exists():
        raise UsageError(f"{where}: the folder {folder} does not exist; create it or pick another path "
                         "(nothing was sent)")
    if not folder.is_dir():
        raise UsageError(f"{where}: {folder} is not a folder; pick another path (nothing was sent)")
    if path.is_dir():
        raise UsageError(f"{where} is a folder; name a file in it (nothing was sent)")
    try:
        handle, temp = _temp_file(path, WORKBOOK_TEMP_SUFFIX)
    except OSError as exc:
        raise UsageError(f"{where}: cannot write in {folder} ({exc.strerror or exc}); pick a folder you can write "
                         "to (nothing was sent)") from None
    try:
        os.write(handle, b"bulkcc write check\n")
        os.fsync(handle)
    except OSError as exc:
        raise UsageError(f"{where}: cannot write in {folder} ({exc.strerror or exc}); free some space or pick "
                         "another folder (nothing was sent)") from None
    finally:
        os.close(handle)
        Path(temp).unlink(missing_ok=True)
