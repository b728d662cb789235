"""The reader's column-wise pass (`workbook.grid`) and its matrix from calamine change nothing.

A workbook and the same cells built in memory (`reader._build_sheet`, as the other test
files build sheets) give exactly the same problems in the same order, the same warnings,
the same raw frames and the same parsed values; blanks in every form a cell can hold them
are blank, and cells numpy could mistake for sequences stay whole.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from workbooks import write_sheet

from bulkcc.fields import COLUMNS
from bulkcc.validate.validation import Validation, validate_file, validate_sheet
from bulkcc.workbook.reader import _build_sheet

PATH = Path("mem.xlsx")


def in_memory(rows: list[list[Any]]) -> Validation:
    return validate_sheet(_build_sheet(PATH, "callcenters", rows))


def assert_same(from_file: Validation, from_memory: Validation) -> None:
    assert from_file.problems == from_memory.problems
    assert from_file.warnings == from_memory.warnings
    assert from_file.sheet.rows == from_memory.sheet.rows
    for kind in ("frame", "meta", "raw"):
        pd.testing.assert_frame_equal(getattr(from_file.sheet, kind), getattr(from_memory.sheet, kind))
    pd.testing.assert_frame_equal(from_file.typed, from_memory.typed)


# Cells as a workbook stores them and calamine gives them back: text without blanks at its ends
# (a workbook may drop them), numbers as floats, booleans; "" and " " are blank either way.
_TEXT = st.text(st.sampled_from("abcxyzAZ0189 :-,.#*'+=@/"), max_size=12).filter(lambda t: t == t.strip())
_SHOWN = ("08:00-12:00, 14:00-18:00", "closed", "18:00-08:00", "TRUE", "no", "9", "*", "voicemail", "voicemial",
          "user", "25", "30.5", "-1", "1e3", "=1+1", "#N/A", "#REF!", "'123", "12345678901234567890")
_CELL = st.one_of(
    st.just(""), st.just(" "), _TEXT, st.sampled_from(_SHOWN), st.booleans(),
    st.integers(-5, 20_000).map(float),
    st.floats(-1e6, 1e6).filter(lambda f: math.isfinite(f) and float(f"{f:.16g}") == f),
)
_NAMES = [*COLUMNS[1:40], "info.note", "unknown_column", ""]


@st.composite
def workbook_cells(draw: st.DrawFn) -> list[list[Any]]:
    header = ["id", *draw(st.lists(st.sampled_from(_NAMES), max_size=8))]
    width = len(header) + draw(st.integers(0, 1))  # sometimes a cell past the last name
    rows = []
    for number in range(draw(st.integers(1, 8))):
        if draw(st.integers(0, 4)) == 0:
            rows.append([""] * width)  # a blank row: skipped
            continue
        row_id: Any = draw(st.sampled_from([str(1000 + number), float(1000 + number), "", "x", str(1000)]))
        rows.append([row_id, *(draw(_CELL) if draw(st.booleans()) else "" for _ in range(width - 1))])
    return [header, *rows]


@settings(max_examples=examples(40), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(cells=workbook_cells())
def test_a_workbook_gives_exactly_the_problems_and_values_of_the_same_cells_in_memory(cells, tmp_path: Path) -> None:
    written = [[None if value == "" else value for value in row] for row in cells]
    assert_same(validate_file(write_sheet(tmp_path / "cells.xlsx", written)), in_memory(cells))


def test_every_form_of_blank_is_blank_and_a_row_of_them_is_skipped() -> None:
    blanks = [None, float("nan"), pd.NA, pd.NaT, "", " ", "\t\n", "\u3000"]
    rows = [["id", "name", "ring_seconds"], ["1001", "North", 30.0],
            *([blank, blanks[-1 - n], blank] for n, blank in enumerate(blanks)), ["1002", " ", pd.NA]]
    validation = in_memory(rows)
    assert validation.sheet.rows == [2, len(rows)]
    assert validation.sheet.frame.loc[len(rows)].tolist() == ["1002", None, None]
    assert validation.problems == []


def test_cells_numpy_could_take_for_sequences_stay_whole_and_are_problems_at_their_cell() -> None:
    rows = [["id", "ring_seconds", "monday_hours"], ["1001", [20, 30], ("08:00", "12:00")],
            ["1002", (1, 2), [1]], ["1003", 30.0, "08:00-12:00"]]
    validation = in_memory(rows)
    assert validation.sheet.frame.loc[2].tolist() == ["1001", [20, 30], ("08:00", "12:00")]
    assert [(p.row, p.column) for p in validation.problems] == [
        (2, "ring_seconds"), (2, "monday_hours"), (3, "ring_seconds"), (3, "monday_hours")]
    assert validation.typed.loc[4, "ring_seconds"] == 30
    assert validation.typed.loc[4, "monday_hours"] == ("08:00", "12:00")


@pytest.mark.parametrize("text", ["#N/A", "#DIV/0!"])
def test_a_csv_error_text_under_a_field_is_a_problem_and_blank_and_under_an_info_column_a_value(
        tmp_path: Path, text: str) -> None:
    path = tmp_path / "e.csv"
    path.write_text(f"id,ring_seconds,info.note\n1001,{text},{text}\n1002,30,\n", encoding="utf-8")
    validation = validate_file(path)
    assert [(p.row, p.column, p.value) for p in validation.problems] == [(2, "ring_seconds", text)]
    assert validation.sheet.frame.loc[2, "ring_seconds"] is None
    assert validation.sheet.raw.loc[2, "info.note"] == text
