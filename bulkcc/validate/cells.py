"""Turning one raw cell into the value it stands for.

Spreadsheets are loose about types: Excel stores 25 as 25.0, a key typed as 9
becomes the number 9, booleans arrive as TRUE, "yes" or 1. Each parser accepts
what an admin reasonably types and raises `CellError` with a message that says
the rule and the fix for anything else. Ranges, enums and lengths are checked
afterwards by the pandera schema, on the parsed values.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable
from typing import Any

from bulkcc.fields import INT64_MAX, Field
from bulkcc.values import printable

TRUE_WORDS = {"true", "yes", "1", "y"}
# TRUE and FALSE as a spreadsheet in another language saves them into a CSV (German Excel writes WAHR and
# FALSCH): read as what they are, since a boolean cell was saved so, not typed.
SAVED_WORDS = {word.lower(): flag for words, flag in (
    ("WAHR VRAI VERDADERO VERO WAAR VERDADEIRO SANT SAND SANN PRAWDA PRAVDA IGAZ TOSI DOĞRU ИСТИНА", True),
    ("FALSCH FAUX FALSO ONWAAR FALSKT FALSK USANN FAŁSZ NEPRAVDA HAMIS EPÄTOSI YANLIŞ ЛОЖЬ", False))
    for word in words.split()}
FALSE_WORDS = {"false", "no", "0", "n"}
# ASCII digits only ([0-9], not \d, which takes any script's digits), and few
# enough of them: int() refuses strings of over 4300 digits with a plain ValueError.
_INT_TEXT = re.compile(r"^[+-]?[0-9]{1,25}(\.0*)?$")
_DECIMAL_TEXT = re.compile(r"^[+-]?[0-9]*\.[0-9]+$")
_LONG_DIGITS = re.compile(r"^[+-]?[0-9]{26,}(\.0*)?$")
# Control characters no call center name needs (tab and line breaks aside, NEL \x85 included): the
# C0 ones an xlsx cannot hold, DEL, and the C1 ones (\x9b is a terminal's CSI; text that holds them
# was decoded in the wrong code page, e.g. Windows-1252's en dash read as \x96).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f]")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_RANGE_SPLIT = re.compile(r"\s*[-–—]\s*")
_SCIENTIFIC = re.compile(r"^[+-]?[0-9]+(?:[.,][0-9]*)?[eE][+-]?[0-9]+$")
# Excel and LibreOffice keep 15 significant digits of a number: a 16-digit id typed as
# a number is stored rounded (…457 becomes …460), so no such number can be trusted.
SAFE_NUMBER_DIGITS = 15
_PLAIN_DIGITS = 18  # digits that always fit in int64 (its maximum has 19)


def has_control_characters(text: str) -> bool:
    """True for text a cell refuses (and an xlsx cannot hold): control characters but tab and line breaks."""
    return _CONTROL.search(text) is not None


class CellError(ValueError):
    """A cell whose value cannot be read as its column's type."""


def _shown(value: Any, quote: bool = False) -> str:
    """A cell as a message shows it: at most 40 characters (then "…" and its full length),
    its control characters visible."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**40:
        return "a number of over 40 digits"  # str() of a huge int is slow, or refused past 4300 digits
    return printable(value, 40, quote=quote)


def _quoted(value: Any) -> str:
    """A cell quoted, as `'abc'`, or `'abc…' (5,000 characters)` when cut."""
    return _shown(value, quote=True)


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    if isinstance(value, str) and value.strip().lower() in SAVED_WORDS:
        return SAVED_WORDS[value.strip().lower()]
    raise CellError(f"{_quoted(value)} is not TRUE or FALSE; use TRUE/FALSE (or yes/no, 1/0)")


_PERCENT_TEXT = re.compile(r"^[+-]?\d+(\.\d+)?\s*%$")


def _percent_hint(value: float) -> str:
    """For a fraction that is a whole percentage (0.8): the cell was likely typed 80% (a spreadsheet stores 0.8)."""
    percent = round(value * 100, 9)
    if math.isfinite(value) and 0 < abs(value) < 1 and percent.is_integer() and percent:
        shown = int(percent)
        return f" (typed as {shown}%? A spreadsheet stores {shown}% as {value!r}: type {shown}, without the %)"
    return ""


def parse_int(value: Any) -> int:
    if isinstance(value, bool):
        raise CellError(f"{value} is not a whole number; type a number here")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise CellError(f"{_shown(value)} is not a whole number; remove the decimals{_percent_hint(value)}")
        number = int(value)
    elif isinstance(value, str) and _INT_TEXT.match(value.strip()):
        number = int(value.strip().split(".")[0])
    elif isinstance(value, str) and _LONG_DIGITS.match(value.strip()):
        raise CellError(f"{_shown(value)} is too large for the API (over 2^63)")
    elif isinstance(value, str) and _DECIMAL_TEXT.match(value.strip()):
        raise CellError(f"{value.strip()} is not a whole number; remove the decimals")
    elif isinstance(value, dt.date | dt.time | dt.timedelta):
        raise CellError(f"{_shown(value)} is a date or time, not a whole number; format the cell as Number")
    elif isinstance(value, str) and _PERCENT_TEXT.match(value.strip()):
        typed = value.strip().rstrip("%").strip()
        raise CellError(f"{_quoted(value)} is not a whole number: type {typed} without the %")
    else:
        raise CellError(f"{_quoted(value)} is not a whole number")
    if abs(number) > INT64_MAX:
        raise CellError(f"{_shown(value)} is too large for the API (over 2^63)")
    return number


def _digits(number: float) -> int:
    return len(str(int(abs(number))))  # only called within int64


def parse_identifier(value: Any) -> int:
    """An id (`id`, `*.action_target_id`): a whole number that cannot have been rounded.

    Text ids are exact at any length; Excel's leading apostrophe (its "this is text"
    mark, which LibreOffice keeps as a character of a text cell) is not part of one.
    """
    # A spreadsheet's number cell reaches us as a float (xlsx stores every number as
    # one): that is the value that may have been rounded. A Python int never went
    # through a spreadsheet (a sheet built in memory, a saved plan's JSON): it is exact.
    # (Past int64 it is too large for the API whatever its digits: parse_int says so.)
    if isinstance(value, float) and 10**SAFE_NUMBER_DIGITS <= abs(value) <= INT64_MAX:
        raise CellError(
            f"{_shown(_plain_number(value))} is a number of {_digits(value)} digits: a spreadsheet keeps only "
            f"{SAFE_NUMBER_DIGITS} digits of a number, so the last ones may have been rounded (an id typed as "
            "…457 is stored as …460: another id, or none); format the column as Text and type the id again")
    if value.__class__ is str and len(value) <= _PLAIN_DIGITS and value.isascii() and value.isdigit():
        # The commonest cell of a sheet (every row's id): plain digits, far within int64. The same
        # number as the checks below give, without two regexes and a split (100,000 ids a sheet).
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if _INT_TEXT.match(text):  # the common case: digits typed as text
            return parse_int(text)
        if text.startswith("'"):
            text = text[1:].strip()
        if _SCIENTIFIC.match(text):
            raise CellError(
                f"{_quoted(text)} is an id in scientific notation: its last digits were lost when the number was "
                "written; format the column as Text and type the id again")
        return parse_int(text)
    return parse_int(value)


def _plain_number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def parse_text(value: Any) -> str:
    if isinstance(value, str):
        if has_control_characters(value):
            raise CellError("contains control characters (invisible codes pasted from another program); "
                            "retype the text")
        return value.strip()
    if isinstance(value, bool) or isinstance(value, dt.date | dt.time | dt.timedelta):
        raise CellError(f"{_shown(value)} is not text; format the cell as Text")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        if abs(value) >= 10**SAFE_NUMBER_DIGITS:
            # Typed into a General cell, a long number is kept to 15 digits: sent, it would be text no one typed.
            raise CellError(
                f"{_shown(_plain_number(value))} is a number of {len(str(int(abs(value))))} digits: a spreadsheet "
                f"keeps only {SAFE_NUMBER_DIGITS} digits of a number, so the last ones may have been rounded; "
                "format the cell as Text and type the text again")
        return str(int(value)) if value.is_integer() else repr(value)
    raise CellError(f"{_quoted(value)} is not text")


def parse_choice(value: Any) -> str:
    """Enum cells: trimmed and lower-cased; membership is the schema's check."""
    return parse_text(value).lower()


def parse_dtmf_key(value: Any) -> str:
    """A phone key; Excel turns a typed 9 into the number 9.0, which is the key "9"."""
    if isinstance(value, float) and value.is_integer() and 0 <= value <= 9:
        return str(int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    raise CellError(f"{_quoted(value)} is not a phone key; use one of 0-9, * or #")


def _minutes(text: str, cell: str) -> int:
    match = _TIME.match(text)
    if not match:
        raise CellError(f"{_quoted(cell)}: {_quoted(text)} is not a time; write HH:MM-HH:MM, "
                        "e.g. 08:00-12:00, 14:00-18:00")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 23 or minutes > 59:
        raise CellError(f"{_quoted(cell)}: {text} is not a time of day; times run from 00:00 to 23:59")
    return hours * 60 + minutes


def parse_hours(value: Any) -> tuple[str, ...]:
    """`08:00-12:00, 14:00-18:00` -> ("08:00","12:00","14:00","18:00"); `closed` -> ().

    Ordering (opens before it closes, ascending, no overlap) is the schema's check.
    """
    if not isinstance(value, str):
        raise CellError(f"{_shown(value)} is not a list of hours; write text like 08:00-18:00 (or closed)")
    text = value.strip()
    if text.lower() == "closed":
        return ()
    times: list[str] = []
    for part in text.replace(";", ",").split(","):
        bounds = _RANGE_SPLIT.split(part.strip())
        if len(bounds) != 2:
            raise CellError(f"{_quoted(value)} is not a list of hours; write HH:MM-HH:MM ranges separated by "
                            "commas, e.g. 08:00-12:00, 14:00-18:00, or closed")
        for bound in bounds:
            minutes = _minutes(bound, value)
            times.append(f"{minutes // 60:02d}:{minutes % 60:02d}")
    return tuple(times)


def hours_in_order(times: tuple[str, ...]) -> bool:
    """Each range opens before it closes, and ranges ascend without overlapping."""
    try:
        return _hours_in_order(times)
    except TypeError:  # not a tuple (unhashable): checked on its own
        return _ascending(times)


def _ascending(times: tuple[str, ...]) -> bool:
    return all(a < b for a, b in zip(times, times[1:], strict=False))


# The schema checks every hours cell (700,000 in a full sheet) and a sheet's hours repeat: the
# answer of each distinct list is kept (a few thousand at most, bounded).
_hours_in_order = functools.lru_cache(maxsize=4096)(_ascending)


PARSERS: dict[str, Callable[[Any], Any]] = {
    "id": parse_int,
    "int": parse_int,
    "bool": parse_bool,
    "text": parse_text,
    "enum": parse_choice,
    "dtmf_key": parse_dtmf_key,
    "hours": parse_hours,
}


def parser_for(field: Field) -> Callable[[Any], Any]:
    """The parser of a column's cells: ids have their own, which refuses rounded numbers."""
    return parse_identifier if field.is_identifier else PARSERS[field.kind]


def plain_numbers(values: list[Any]) -> list[int] | None:
    """The numbers parse_int and parse_identifier read in these cells when every one is plain ASCII
    digits (a column of ids), in one pass at C speed; None when any is not."""
    if not values or any(value.__class__ is not str for value in values):
        return None
    if max(map(len, values)) > _PLAIN_DIGITS or min(map(len, values)) < 1:
        return None
    joined = "".join(values)
    return list(map(int, values)) if joined.isascii() and joined.isdigit() else None


# Parsers that read a whole column of plain cells at once (see plain_numbers).
COLUMN_PARSERS: dict[Callable[[Any], Any], Callable[[list[Any]], list[Any] | None]] = {
    parse_int: plain_numbers,
    parse_identifier: plain_numbers,
}


def parse_cell(field: Field, value: Any) -> Any:
    """The parsed value of a non-blank cell, or CellError."""
    return parser_for(field)(value)
