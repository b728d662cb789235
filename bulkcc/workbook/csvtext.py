"""CSV as Excel writes it in any locale: the encoding, the separator and its `sep=` line.

Excel writes a "CSV" with the list separator of the machine's region: a comma in
English locales, a semicolon where the comma is the decimal mark (most of Europe
and Latin America), a tab for "Unicode Text", which is also UTF-16. This module
turns the file's bytes into rows of text cells without losing or inventing one:

- encoding: a BOM says it (UTF-8, UTF-16 LE/BE, UTF-32); UTF-16 without a BOM is
  recognised by the zero bytes of its header's first two (ASCII) characters; anything else must be UTF-8,
  and is refused with the byte and line that are not, rather than guessed;
- separator: Excel's `sep=;` first line when there is one, else the one of comma,
  semicolon and tab that makes row 1 hold an `id` column (a callcenters sheet) or a
  `user_id` or `user_email` one (an operators sheet). With a one-column header every
  separator gives it; then the one under which no row is wider than the header
  wins: the true separator, or one that does not occur outside quotes, which
  splits the rows the same way;
- bounds: a row wider than a sheet's 16,384 columns, or a field past the csv
  module's 131,072 characters (almost always a quote never closed), is an
  `InputError` naming the row.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator

from bulkcc.errors import InputError

SEPARATORS = (",", ";", "\t")
MAX_COLUMNS = 16_384  # Excel's last column, XFD
_SEP_LINE = re.compile(r'"?sep=([^\r\n])"?[,;\t]*(\r\n|\n|\r|$)', re.IGNORECASE)
_BOMS = (  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
_SHOWN = {",": "comma", ";": "semicolon", "\t": "tab"}


def _utf16_without_bom(data: bytes) -> str | None:
    """utf-16-le/-be when the file starts with two ASCII characters in UTF-16, as every header
    bulkcc reads does (`id`, a field path, `info.…`, `sep=`). UTF-8 text has no zero byte."""
    head = data[:4]
    if len(head) < 4:
        return None
    if head[0] and not head[1] and head[2] and not head[3] and head[0] < 0x80 and head[2] < 0x80:
        return "utf-16-le"
    if not head[0] and head[1] and not head[2] and head[3] and head[1] < 0x80 and head[3] < 0x80:
        return "utf-16-be"
    return None


def decode(data: bytes, name: str) -> str:
    """The file's text; InputError if it is not text in an encoding that can be known."""
    if data.startswith(b"PK\x03\x04"):
        raise InputError(f"{name} is an .xlsx workbook (a zip file), not CSV text; rename it to .xlsx")
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(f"{name} is an Excel .xls (or another Office) file, not CSV text; "
                         "save it as .xlsx or as CSV UTF-8")
    body, encoding, label = data, "utf-8", "UTF-8"
    for bom, codec, words in _BOMS:
        if data.startswith(bom):
            body, encoding, label = data[len(bom):], codec, words
            break
    else:
        guessed = _utf16_without_bom(data)
        if guessed:
            encoding, label = guessed, "UTF-16"
    binary = InputError(f"{name} holds zero bytes: it is a binary file, not CSV text; "
                        "export the sheet as CSV UTF-8 or save it as .xlsx")
    if label == "UTF-8" and b"\x00" in body:
        raise binary
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        line = body[:exc.start].count(b"\n") + 1
        if label == "UTF-8":
            raise InputError(
                f"{name} is not UTF-8 text (byte 0x{body[exc.start]:02x} on line {line}); it may be in a "
                "Windows or Mac code page such as Windows-1252: in Excel save it as \"CSV UTF-8\"; in "
                "LibreOffice (whose CSV is often Windows-1252 unless asked) tick \"Edit filter settings\" "
                "when saving and choose the character set \"Unicode (UTF-8)\" (or save it as .xlsx)") from exc
        raise InputError(f"{name} starts as {label} text but is not valid {label} (at line {line}); "
                         "save it again as CSV UTF-8") from exc
    if "\x00" in text:
        raise binary
    return text


def _header(text: str, separator: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text, newline=""), delimiter=separator), [])
    except csv.Error:
        return []


def _rows_wider_than(text: str, separator: str, width: int) -> int:
    try:
        return sum(1 for row in csv.reader(io.StringIO(text, newline=""), delimiter=separator) if len(row) > width)
    except csv.Error:
        return 1 << 62


# Row 1 of a callcenters sheet holds the first, of an operators sheet one of the others.
KEY_COLUMNS = ("id", "user_id", "user_email")


def sniff_separator(text: str) -> str:
    """The separator that makes row 1 hold an `id` (or `user_id`) column (comma if none does)."""
    headers = {sep: [cell.strip() for cell in _header(text, sep)] for sep in SEPARATORS}
    with_id = [sep for sep in SEPARATORS if any(key in headers[sep] for key in KEY_COLUMNS)]
    if not with_id:
        return ","
    widest = max(len(headers[sep]) for sep in with_id)
    tied = [sep for sep in with_id if len(headers[sep]) == widest]
    if len(tied) == 1:
        return tied[0]
    return min(tied, key=lambda sep: _rows_wider_than(text, sep, widest))  # min keeps the first of equals


def split_separator_line(text: str) -> tuple[str | None, str]:
    """Excel's `sep=;` first line: the separator it names and the text after it (Excel hides the line)."""
    match = _SEP_LINE.match(text)
    if match is None:
        return None, text
    return match.group(1), text[match.end():]


def separator_name(separator: str) -> str:
    return _SHOWN.get(separator, repr(separator))


def csv_rows(text: str, name: str) -> Iterator[list[str]]:
    """Every record of the CSV text, as Excel numbers them (a `sep=` line is not a row)."""
    separator, text = split_separator_line(text)
    separator = separator or sniff_separator(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    number = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _csv_error(name, number + 1, exc) from exc
        number += 1
        if len(row) > MAX_COLUMNS:
            raise InputError(
                f"{name}: row {number} has {len(row):,} cells, more than the {MAX_COLUMNS:,} columns a sheet "
                f"can hold (read with {separator_name(separator)} as the separator); this is not a call center "
                "sheet, or that row's separators are not the header's")
        yield row


def _csv_error(name: str, row: int, exc: csv.Error) -> InputError:
    if "field larger than field limit" in str(exc):
        limit = csv.field_size_limit()
        return InputError(f"{name}: a cell at row {row} runs past {limit:,} characters: most likely a quote (\") "
                          "that is never closed; check that row (a cell holds at most 32,767 characters in Excel)")
    return InputError(f"cannot read {name} as CSV at row {row}: {exc}")
