"""The cell parsers (`bulkcc.cells`): what an admin types -> the value, or the exact message."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import pytest

from bulkcc.fields import FIELDS_BY_PATH
from bulkcc.validate.cells import (
    CellError,
    hours_in_order,
    parse_bool,
    parse_cell,
    parse_choice,
    parse_dtmf_key,
    parse_hours,
    parse_identifier,
    parse_int,
    parse_text,
)

# ---- booleans -------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False),
    ("TRUE", True), ("true", True), ("True", True), (" FALSE ", False), ("false", False),
    ("yes", True), ("YES", True), ("No", False), ("no", False),
    ("1", True), ("0", False), (1, True), (0, False), (1.0, True), (0.0, False),
    # as a spreadsheet in another language saves them into a CSV (German Excel: WAHR, FALSCH)
    ("WAHR", True), ("FALSCH", False), ("Vrai", True), (" faux ", False), ("ИСТИНА", True), ("YANLIŞ", False),
])
def test_parse_bool_accepts(value: Any, expected: bool) -> None:
    assert parse_bool(value) is expected


@pytest.mark.parametrize("value, message", [
    ("maybe", "'maybe' is not TRUE or FALSE; use TRUE/FALSE (or yes/no, 1/0)"),
    ("truee", "'truee' is not TRUE or FALSE; use TRUE/FALSE (or yes/no, 1/0)"),
    (2, "'2' is not TRUE or FALSE; use TRUE/FALSE (or yes/no, 1/0)"),
    (0.5, "'0.5' is not TRUE or FALSE; use TRUE/FALSE (or yes/no, 1/0)"),
    ("", "'' is not TRUE or FALSE; use TRUE/FALSE (or yes/no, 1/0)"),
    (dt.date(2024, 1, 1), "'2024-01-01' is not TRUE or FALSE; use TRUE/FALSE (or yes/no, 1/0)"),
    (float("inf"), "'inf' is not TRUE or FALSE; use TRUE/FALSE (or yes/no, 1/0)"),
])
def test_parse_bool_refuses(value: Any, message: str) -> None:
    with pytest.raises(CellError) as info:
        parse_bool(value)
    assert str(info.value) == message


# ---- integers -------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    (30, 30), (30.0, 30), ("25", 25), (" 25 ", 25), ("+25", 25), ("-3", -3), ("25.0", 25), ("25.", 25),
    ("25.00", 25), (0, 0), (-0.0, 0), (2**63 - 1, 2**63 - 1), (float(2**53), 2**53),
    ("9223372036854775807", 2**63 - 1),
])
def test_parse_int_accepts(value: Any, expected: int) -> None:
    result = parse_int(value)
    assert result == expected and type(result) is int


@pytest.mark.parametrize("value, message", [
    (30.5, "30.5 is not a whole number; remove the decimals"),
    ("30.5", "30.5 is not a whole number; remove the decimals"),
    (".5", ".5 is not a whole number; remove the decimals"),
    ("abc", "'abc' is not a whole number"),
    ("1e3", "'1e3' is not a whole number"),
    ("=1+1", "'=1+1' is not a whole number"),
    ("", "'' is not a whole number"),
    (True, "True is not a whole number; type a number here"),
    (False, "False is not a whole number; type a number here"),
    (float("nan"), "nan is not a whole number; remove the decimals"),
    (float("inf"), "inf is not a whole number; remove the decimals"),
    (dt.time(8, 0), "08:00:00 is a date or time, not a whole number; format the cell as Number"),
    (dt.date(2024, 1, 31), "2024-01-31 is a date or time, not a whole number; format the cell as Number"),
    (dt.datetime(2024, 1, 31, 8), "2024-01-31 08:00:00 is a date or time, not a whole number; format the cell "
                                  "as Number"),
    (2**63, "9223372036854775808 is too large for the API (over 2^63)"),
    (-(2**63), "-9223372036854775808 is too large for the API (over 2^63)"),
    ("9223372036854775808", "9223372036854775808 is too large for the API (over 2^63)"),
    (1e300, "1e+300 is too large for the API (over 2^63)"),
    ("x" * 50, "'" + "x" * 40 + "…' (50 characters) is not a whole number"),  # cut, full length stated
])
def test_parse_int_refuses(value: Any, message: str) -> None:
    with pytest.raises(CellError) as info:
        parse_int(value)
    assert str(info.value) == message


@pytest.mark.parametrize("digits", [4301, 10_000])
def test_parse_int_a_very_long_digit_string_is_a_cell_error(digits: int) -> None:
    with pytest.raises(CellError, match="too large"):
        parse_int("9" * digits)


# ---- text and choices -----------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("  Support – EMEA  ", "Support – EMEA"),
    ("Ventas México", "Ventas México"),
    ("Helpdesk 東京 ☎", "Helpdesk 東京 ☎"),
    ("\tBilling APAC\n", "Billing APAC"),
    ("=1+1", "=1+1"),  # text, never evaluated
    (42, "42"),
    (7.0, "7"),
    (1.5, "1.5"),
    ("", ""),
])
def test_parse_text(value: Any, expected: str) -> None:
    assert parse_text(value) == expected


@pytest.mark.parametrize("value, message", [
    (True, "True is not text; format the cell as Text"),
    (dt.datetime(2024, 1, 2, 3, 4), "2024-01-02 03:04:00 is not text; format the cell as Text"),
    (dt.time(9, 30), "09:30:00 is not text; format the cell as Text"),
    (float("nan"), "'nan' is not text"),
    (float("-inf"), "'-inf' is not text"),
])
def test_parse_text_refuses(value: Any, message: str) -> None:
    with pytest.raises(CellError) as info:
        parse_text(value)
    assert str(info.value) == message


@pytest.mark.parametrize("value, expected", [
    (" VoiceMail ", "voicemail"), ("LONGESTIDLE", "longestidle"), ("voicemial", "voicemial"), (5, "5"),
])
def test_parse_choice_trims_and_lowercases_membership_is_the_schemas(value: Any, expected: str) -> None:
    assert parse_choice(value) == expected


# ---- DTMF keys ------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    (9, "9"), (9.0, "9"), (0.0, "0"), (0, "0"), ("9", "9"), (" * ", "*"), ("#", "#"),
    ("10", "10"),  # passes the parser; the schema refuses it (not one of the keys)
])
def test_parse_dtmf_key(value: Any, expected: str) -> None:
    assert parse_dtmf_key(value) == expected


@pytest.mark.parametrize("value, message", [
    (9.5, "'9.5' is not a phone key; use one of 0-9, * or #"),
    (10.0, "'10.0' is not a phone key; use one of 0-9, * or #"),
    (True, "'True' is not a phone key; use one of 0-9, * or #"),
    (float("nan"), "'nan' is not a phone key; use one of 0-9, * or #"),
    (dt.time(9, 0), "'09:00:00' is not a phone key; use one of 0-9, * or #"),
])
def test_parse_dtmf_key_refuses(value: Any, message: str) -> None:
    with pytest.raises(CellError) as info:
        parse_dtmf_key(value)
    assert str(info.value) == message


# ---- hours ----------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("08:00-12:00, 14:00-18:00", ("08:00", "12:00", "14:00", "18:00")),
    ("08:00-18:00", ("08:00", "18:00")),
    (" 8:00 - 9:30 ", ("08:00", "09:30")),
    ("08:00 – 12:00; 13:00—17:00", ("08:00", "12:00", "13:00", "17:00")),  # en/em dash, semicolon
    ("00:00-23:59", ("00:00", "23:59")),
    ("closed", ()),
    (" Closed ", ()),
    ("CLOSED", ()),
    ("18:00-08:00", ("18:00", "08:00")),  # parses; the order is the schema's check
])
def test_parse_hours(value: str, expected: tuple[str, ...]) -> None:
    assert parse_hours(value) == expected


LIST_FIX = ("is not a list of hours; write HH:MM-HH:MM ranges separated by commas, e.g. 08:00-12:00, 14:00-18:00, "
            "or closed")


@pytest.mark.parametrize("value, message", [
    ("08:00", f"'08:00' {LIST_FIX}"),
    ("08:00-12:00-14:00", f"'08:00-12:00-14:00' {LIST_FIX}"),
    ("08:00-12:00,", f"'08:00-12:00,' {LIST_FIX}"),
    ("", f"'' {LIST_FIX}"),
    ("8-12", "'8-12': '8' is not a time; write HH:MM-HH:MM, e.g. 08:00-12:00, 14:00-18:00"),
    ("8:5-9:00", "'8:5-9:00': '8:5' is not a time; write HH:MM-HH:MM, e.g. 08:00-12:00, 14:00-18:00"),
    ("24:00-25:00", "'24:00-25:00': 24:00 is not a time of day; times run from 00:00 to 23:59"),
    ("08:60-09:00", "'08:60-09:00': 08:60 is not a time of day; times run from 00:00 to 23:59"),
    ("open", f"'open' {LIST_FIX}"),
    (dt.time(8, 0), "08:00:00 is not a list of hours; write text like 08:00-18:00 (or closed)"),
    (800, "800 is not a list of hours; write text like 08:00-18:00 (or closed)"),
])
def test_parse_hours_refuses(value: Any, message: str) -> None:
    with pytest.raises(CellError) as info:
        parse_hours(value)
    assert str(info.value) == message


@pytest.mark.parametrize("times, ok", [
    ((), True),
    (("08:00", "18:00"), True),
    (("08:00", "12:00", "14:00", "18:00"), True),
    (("18:00", "08:00"), False),  # closes before it opens
    (("08:00", "08:00"), False),  # empty range
    (("08:00", "12:00", "11:00", "13:00"), False),  # overlap
    (("14:00", "18:00", "08:00", "12:00"), False),  # not ascending
    (("08:00", "12:00", "12:00", "18:00"), False),  # touching ranges are one range
])
def test_hours_in_order(times: tuple[str, ...], ok: bool) -> None:
    assert hours_in_order(times) is ok


# ---- dispatch by the column's kind ----------------------------------------------


@pytest.mark.parametrize("column, value, expected", [
    ("id", 1001.0, 1001),
    ("ring_seconds", "25", 25),
    ("hours_on", "yes", True),
    ("name", "  Billing APAC ", "Billing APAC"),
    ("routing_options.open.action", "VoiceMail", "voicemail"),
    ("hold_queue.queue_callback_dtmf", 9.0, "9"),
    ("monday_hours", "closed", ()),
])
def test_parse_cell_uses_the_columns_kind(column: str, value: Any, expected: Any) -> None:
    assert parse_cell(FIELDS_BY_PATH[column], value) == expected


def test_messages_shorten_long_values_and_state_their_length() -> None:
    with pytest.raises(CellError) as info:
        parse_bool("y" * 10_485_760)
    assert str(info.value).startswith("'" + "y" * 40 + "…' (10,485,760 characters) is not TRUE or FALSE")


def test_nan_never_counts_as_a_number() -> None:
    for parser in (parse_int, parse_text, parse_dtmf_key, parse_bool):
        with pytest.raises(CellError):
            parser(math.nan)


@pytest.mark.parametrize("value", ["a\x9b2Jb", "Ventas \x96 México", "x\x80y", "del\x7f"])
def test_parse_text_refuses_c1_controls_and_del(value: str) -> None:
    """\\x9b is a terminal's CSI; \\x96 is Windows-1252's en dash read in the wrong code page."""
    with pytest.raises(CellError, match="contains control characters"):
        parse_text(value)


@pytest.mark.parametrize("value, expected", [
    ("1234567890123457", 1234567890123457),  # text: exact at any length
    ("9223372036854775807", 9223372036854775807),
    ("'1234567890123457", 1234567890123457),  # Excel's text mark, kept by LibreOffice, is not part of the id
    (" '42 ", 42),
    (123456789012345, 123456789012345),  # 15 digits as a number: a spreadsheet keeps them
    (1234567890123456, 1234567890123456),  # a Python int never went through a spreadsheet: exact
    (123456789012345.0, 123456789012345),
    (1001.0, 1001),
])
def test_parse_identifier_accepts(value: Any, expected: int) -> None:
    assert parse_identifier(value) == expected


@pytest.mark.parametrize("value, words", [
    (1234567890123460.0, "1234567890123460 is a number of 16 digits: a spreadsheet keeps only 15 digits"),
    (9.2e18, "is a number of 19 digits"),
    ("1.23457E+15", "'1.23457E+15' is an id in scientific notation: its last digits were lost"),
    ("5,01235E+15", "in scientific notation"),  # as a comma-decimal locale writes it
    (1e300, "too large for the API"),
    ("''12", "is not a whole number"),  # one apostrophe is Excel's mark; a second is a typo
])
def test_parse_identifier_refuses_what_may_have_been_rounded(value: Any, words: str) -> None:
    with pytest.raises(CellError, match=re.escape(words)):
        parse_identifier(value)


def test_identifier_columns_use_the_identifier_parser() -> None:
    for column in ("id", "routing_options.open.action_target_id", "routing_options.closed.dtmf.3.action_target_id"):
        with pytest.raises(CellError, match="may have been rounded"):
            parse_cell(FIELDS_BY_PATH[column], 1234567890123460.0)
    assert parse_cell(FIELDS_BY_PATH["ring_seconds"], 25.0) == 25
