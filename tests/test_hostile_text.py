"""Text a server chooses, or an admin types, that no workbook (or journal) can hold as it is: a lone
surrogate (a JSON text may escape one), a text longer than Excel's 32,767-character cell (counted in
UTF-16 units, as Excel counts: an emoji is two), and a text so long its row would pass Excel's 409-point
limit. Every file bulkcc writes must still open, in Excel as in bulkcc, and say what it cut."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from creates_api import CallCenterApi, migration_book
from openpyxl import load_workbook
from support import invoke_in_thread
from test_results import input_frame, row_results, run_summary

from bulkcc.validate import validate_file
from bulkcc.workbook.paper import MAX_ROW_HEIGHT
from bulkcc.workbook.results import write_results
from bulkcc.workbook.xlsx import CELL_LIMIT, clean_text, utf16_length

pytestmark = pytest.mark.timeout(60)


def _cells(path: Path):
    book = load_workbook(path)  # raises on a file Excel would call damaged (an invalid character)
    for sheet in book:
        for row in sheet.iter_rows():
            yield from (cell for cell in row if isinstance(cell.value, str))


def test_huge_and_wide_texts_fit_a_cell_and_a_row_excel_allows(tmp_path: Path) -> None:
    results = row_results()
    results[0].error = "x " * 20_000 + "END"  # 40,003 characters
    results[1].changes = "😀" * 20_000  # 20,000 characters, 40,000 UTF-16 units: over what a cell holds
    results[2].error = "bad \ud800 text"  # a lone surrogate: written as it is, no program opens the file
    frame = input_frame()
    frame.loc[3, "group_description"] = "名\u0301" * 12_000  # wide and combining: 24,000 characters, fits
    path = write_results(tmp_path / "r.xlsx", results, frame, run_summary(), include_changes=True)
    book = load_workbook(path)
    for sheet in book:
        assert all((d.height or 0) <= MAX_ROW_HEIGHT for d in sheet.row_dimensions.values()), sheet.title
    texts = [cell.value for cell in _cells(path)]
    assert all(utf16_length(text) <= CELL_LIMIT for text in texts)
    assert any(text.endswith("… (40,003 characters)") for text in texts)
    assert any(text.startswith("😀😀") and text.endswith("… (20,000 characters)") for text in texts)
    assert "bad \ufffd text" in texts
    assert "名\u0301" * 12_000 in texts  # under the limit: kept whole


def test_clean_text_keeps_what_fits() -> None:
    assert clean_text("plain") == "plain"
    assert clean_text("tab\tline\nend") == "tab\tline\nend"
    assert clean_text("a\x1bb") == "ab"
    assert clean_text("x" * CELL_LIMIT) == "x" * CELL_LIMIT
    cut = clean_text("x" * (CELL_LIMIT + 1))
    assert len(cut) == CELL_LIMIT and cut.endswith(f"… ({CELL_LIMIT + 1:,} characters)")


async def test_a_lone_surrogate_in_server_text_is_shown_and_every_file_still_written(tmp_path: Path) -> None:
    # A live name "Old \ud800" (JSON may escape a lone surrogate): apply stopped with a UnicodeEncodeError
    # traceback while journaling it, and the review held an invalid character that no program opened.
    out = tmp_path / "out"
    out.mkdir()
    book = migration_book(tmp_path / "m.xlsx", [{"id": 1001, "ring_seconds": 45, "name": "Renamed"}],
                          [{"call_center_id": 1001, "user_id": 503, "role": "operator"}])
    async with CallCenterApi() as api:
        api.store[1001] = {"id": 1001, "name": "Old \ud800", "office_id": 124, "ring_seconds": 25,
                           "group_description": "desc \udfff"}
        api.operators[1001] = {502: {"role": "supervisor", "skill_level": 70}}
        api.refuse_add[503] = (400, "user 503 \ud83d cannot join")
        target = ["--base-url", api.base_url, "--max-attempts", "1", "--timeout", "5"]
        runs = [
            await invoke_in_thread("plan", book, "--diff", "--report", out / "review.xlsx", *target),
            await invoke_in_thread("apply", book, "--diff", "--yes", "--results", out / "r.xlsx", *target),
        ]
    for run in runs:
        assert run.exception is None or isinstance(run.exception, SystemExit), run.exception
        assert run.exit_code in (0, 1) and "Traceback" not in run.output, run.output
    assert {p.name for p in out.iterdir()} >= {"review.xlsx", "r.xlsx", "r-rollback.xlsx", "r.journal.jsonl"}
    for path in out.glob("*.xlsx"):
        list(_cells(path))
    journal = (out / "r.journal.jsonl").read_text(encoding="utf-8")
    assert all(json.loads(line) for line in journal.splitlines())
    rollback = [cell.value for cell in _cells(out / "r-rollback.xlsx")]
    assert "Old \\ud800" in rollback  # made visible, as a control character is: what the rollback restores


def test_a_long_number_typed_into_a_text_column_is_not_sent_rounded(write_xlsx) -> None:
    # Typed into a General cell, 1234567890123456789 is kept as 1.23456789012345E+18: bulkcc sent the name
    # "1234567890123457024", digits no one typed. A short number is the text it shows.
    path = write_xlsx(["id", "name", "group_description"],
                      [["1001", 1.234567890123457e18, 1e20], ["1002", 1234.0, 5.5],
                       ["1003", "1234567890123456789", None]])
    validation = validate_file(path)
    messages = {(p.row, p.column): p.message for p in validation.problems}
    assert set(messages) == {(2, "name"), (2, "group_description")}
    assert "keeps only 15 digits" in messages[(2, "name")] and "format the cell as Text" in messages[(2, "name")]


def test_wide_characters_are_counted_as_wide_as_excel_draws_them() -> None:
    # A full-width character is an em wide (14.7 px at 11 pt) against Calibri's 7-px digit: 2.1 units.
    # Counted 1.8, fifteen of them fit one line of a 30-wide column, and Excel cut the row's second line.
    from bulkcc.workbook.paper import wrapped_lines

    for char in ("漢", "한", "😀"):
        assert wrapped_lines(char * 15, 30) == 2, char
    assert wrapped_lines("a\u0301" * 20, 30) == 1  # combining marks take no room


def test_text_that_reads_as_an_xlsx_escape_stays_itself(tmp_path: Path) -> None:
    # In a cell "_x0041_" is the escape of "A": Excel and bulkcc's reader showed a live name "Team_x0041_"
    # as "TeamA" (export left such cells blank; results, review and rollback showed the other text).
    from bulkcc.workbook.reader import read_sheet
    from bulkcc.workbook.template import build_workbook
    from bulkcc.workbook.xlsx import save_atomic

    names = ["Team_x0041_", "a_x000D_b", "_x005F_x0041_", "plain_x41_", "Team_X0041_"]
    save_atomic(build_workbook(rows=[{"id": n + 1, "name": name} for n, name in enumerate(names)]),
                path := tmp_path / "e.xlsx")
    assert list(read_sheet(path).frame["name"]) == names
    frame = input_frame()
    frame["name"] = names[:4]
    results = write_results(tmp_path / "r.xlsx", row_results(), frame, run_summary())
    assert list(read_sheet(results).frame["name"]) == names[:4]
