"""The bottom layer's value helpers: `printable`, the one way outside text reaches a terminal."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkcc.values import printable


@pytest.mark.parametrize("text, shown", [
    ("Support – EMEA", "Support – EMEA"),  # non-ASCII letters stay as they are
    ("Helpdesk 東京 ✓", "Helpdesk 東京 ✓"),
    ("a\nb\tc\rd", "a\\x0ab\\x09c\\x0dd"),
    ("\x1b[2J", "\\x1b[2J"),  # clear screen
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),  # window title
    ("\x1b]52;c;aGk=\x07", "\\x1b]52;c;aGk=\\x07"),  # clipboard
    ("\x9b2J", "\\x9b2J"),  # the 8-bit CSI
    ("\x7f", "\\x7f"),
    ("abc\u202egnp.exe", "abc\\u202egnp.exe"),  # right-to-left override
    ("zero\u200bwidth", "zero\\u200bwidth"),
    ("\u00a0", "\\xa0"),  # a no-break space would look like a plain one
    ("line\u2028sep", "line\\u2028sep"),
    ("\U000e0041", "\\U000e0041"),  # a tag character
])
def test_control_and_escape_characters_are_made_visible(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_long_text_is_cut_and_its_length_stated() -> None:
    assert printable("a" * 10_485_760, 4, quote=True) == "'aaaa…' (10,485,760 characters)"
    assert printable("a" * 10_485_760, 4) == "aaaa… (10,485,760 characters)"
    assert printable("abcd", 4, quote=True) == "'abcd'"  # at the limit: whole, no length


@pytest.mark.parametrize("value, shown", [
    (25, "25"), (2.5, "2.5"), (None, "None"), (True, "True"),
    pytest.param(10**5000, "a number of about 5,000 digits", id="an int str() refuses"),
])
def test_values_that_are_not_text(value: Any, shown: str) -> None:
    assert printable(value) == shown


@settings(max_examples=examples(300))
@given(text=st.text(), limit=st.integers(1, 50))
def test_printable_output_is_bounded_and_has_nothing_a_terminal_acts_on(text: str, limit: int) -> None:
    shown = printable(text, limit)
    assert shown.isprintable()
    assert len(shown) <= limit + len(f"… ({len(text):,} characters)")  # never more than asked, and the length
    if len(text) <= limit and text.isprintable():
        assert shown == text
    assert printable(text, None) == printable(text, len(text) * 10 + 10)  # None: never cut
