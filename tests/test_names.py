"""Names compared as a person reads them (`bulkcc.names`), and counts said as a person says them."""

from __future__ import annotations

import unicodedata

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkcc.names import name_key, same_name, sent_name
from bulkcc.values import counted


@pytest.mark.parametrize("typed, live", [
    ("center 1001", "Center 1001"),  # case
    ("Center\u00a01002", "Center 1002"),  # a no-break space
    ("Center 1003\u200b", "Center 1003"),  # a zero-width space
    (" CENTER 1004 ", "Center 1004"),  # outer blanks and case
    (unicodedata.normalize("NFD", "Café Köln"), unicodedata.normalize("NFC", "Café Köln")),
    ("Sup\u00adport", "Support"),  # a soft hyphen
    ("\ufeffSales", "Sales"),  # a BOM pasted from a file
    ("Sales  \t EMEA", "Sales EMEA"),  # a run of blanks
    ("Ｓａｌｅｓ", "Sales"),  # full-width letters
    # Characters that show nothing though they are no format characters (Default_Ignorable_Code_Point):
    ("Sales\ufe0f", "Sales"),  # a variation selector
    ("Sa\u034fles", "Sales"),  # the combining grapheme joiner
    ("Sales\u3164", "Sales"),  # a Hangul filler
    ("Sales\u2800EMEA", "Sales EMEA"),  # the blank Braille pattern
])
def test_names_a_person_reads_as_one_are_one(typed: str, live: str) -> None:
    assert same_name(typed, live)


@pytest.mark.parametrize("first, second", [
    ("Sales 1", "Sales 2"), ("Sales-EMEA", "Sales EMEA"), ("Cafe Koln", "Café Köln"), ("SalesEMEA", "Sales EMEA"),
])
def test_names_that_read_differently_stay_apart(first: str, second: str) -> None:
    assert not same_name(first, second)


@settings(max_examples=examples(200), deadline=None)
@given(st.text(max_size=40))
def test_the_key_is_stable(name: str) -> None:
    key = name_key(name)
    assert name_key(key) == key
    assert same_name(name, f"  {name}\u200b ")  # outer blanks and invisible characters never make a new name


def test_a_name_is_sent_as_typed() -> None:
    assert sent_name("  Café\u00a0Köln ") == "Café\u00a0Köln"


@pytest.mark.parametrize("count, noun, said", [
    (1, "call center", "1 call center"), (3, "call center", "3 call centers"), (0, "row", "0 rows"),
    (1, "error", "1 error"), (2, "entry", "2 entries"), (1200, "request", "1,200 requests"),
])
def test_counts_are_said_as_a_person_says_them(count: int, noun: str, said: str) -> None:
    assert counted(count, noun) == said


@pytest.mark.parametrize("typed, live, words", [
    ("center 1001", "Center 1001", "they differ in case"),
    ("Center\u00a01002", "Center 1002", "they differ in blanks"),
    ("Center 1003\u200b", "Center 1003", "they differ in invisible characters"),
    (" CENTER  1004 ", "Center 1004", "they differ in blanks and case"),
    (unicodedata.normalize("NFD", "Café Köln"), "Café Köln", "they differ in Unicode form"),
    ("Sales\ufe0f", "Sales", "they differ in invisible characters"),
    ("Sales\u2800EMEA", "Sales EMEA", "they differ in blanks"),
])
def test_how_two_names_that_read_alike_differ_is_said_in_words(typed: str, live: str, words: str) -> None:
    from bulkcc.names import how_alike

    assert how_alike(typed, live).startswith(words)
