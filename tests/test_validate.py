"""Validation of whole sheets: every rule at its exact (Excel row, column), the samples, reading."""

from __future__ import annotations

import re
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from workbooks import write_sheet

from bulkcc.errors import InputError, Problem
from bulkcc.fields import COLUMNS
from bulkcc.plan.plans import make_plan
from bulkcc.validate.validation import Validation, validate_file, validate_sheet
from bulkcc.workbook import inputfile, reader
from bulkcc.workbook.hidden import SENT
from bulkcc.workbook.reader import _build_sheet, read_sheet

R = "routing_options"
ROUTING = {  # the four cells routing_options needs as soon as any of its cells is filled
    f"{R}.open.action": "voicemail", f"{R}.open.try_dial_operators": True,
    f"{R}.closed.action": "voicemail", f"{R}.closed.try_dial_operators": False,
}


def check(header: list[str], *rows: list[Any]) -> Validation:
    return validate_sheet(_build_sheet(Path("input.xlsx"), "callcenters", [header, *rows]))


def check_rows(*rows: dict[str, Any]) -> Validation:
    """Validate rows given as column -> value (blank cells left out), id first."""
    header = ["id"] + sorted({c for r in rows for c in r} - {"id"}, key=COLUMNS.index)
    return check(header, *[[r.get(c) for c in header] for r in rows])


def cells(validation: Validation) -> set[tuple[int | None, str | None]]:
    return {(p.row, p.column) for p in validation.problems}


def only(validation: Validation) -> Problem:
    assert len(validation.problems) == 1, validation.problems
    return validation.problems[0]


# ---- per-cell checks ------------------------------------------------------------


@pytest.mark.parametrize("column, value, words", [
    ("ring_seconds", 30.5, ["30.5", "whole number"]),
    ("ring_seconds", "abc", ["'abc'", "whole number"]),
    ("ring_seconds", 60, ["60 is out of range", "ring_seconds must be from 10 to 45"]),
    ("ring_seconds", 9, ["from 10 to 45"]),
    ("hold_queue.max_hold_seconds", 29, ["from 30 to 18000"]),
    ("hold_queue.max_hold_seconds", 18001, ["from 30 to 18000"]),
    ("hold_queue.max_hold_count", 0, ["from 1 to 1000"]),
    ("hold_queue.max_hold_count", 1001, ["from 1 to 1000"]),
    ("alerts.cc_service_level", 101, ["from 0 to 100"]),
    ("alerts.cc_service_level", -1, ["from 0 to 100"]),
    ("advanced_settings.max_wrap_up_seconds", -1, ["0 or more"]),
    ("alerts.cc_service_level_seconds", 0, ["1 or more"]),
    ("hold_queue.announcement_interval_seconds", 0, ["1 or more"]),
    ("hold_queue.queue_callback_threshold", 0, ["1 or more"]),
    ("hours_on", "maybe", ["not TRUE or FALSE"]),
    ("hold_queue.queue_escape_dtmf", "10", ["not an allowed queue_escape_dtmf", "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, *, #"]),
    ("hold_queue.queue_callback_dtmf", 9.5, ["not a phone key"]),
    ("monday_hours", "18:00-08:00", ["open before it closes"]),
    ("tuesday_hours", "08:00-12:00, 11:00-13:00", ["without overlapping"]),
    ("wednesday_hours", "14:00-18:00, 08:00-12:00", ["ascend"]),
    ("thursday_hours", "24:00-25:00", ["not a time of day", "00:00 to 23:59"]),
    ("friday_hours", "9-5", ["not a time"]),
    ("name", "Helpdesk\nTokyo", ["single line"]),
    ("name", "Line\r\nbreak", ["single line"]),
    ("name", "x" * 101, ["101 characters", "limit of 100"]),
    ("group_description", "x" * 257, ["257 characters", "limit of 256"]),
])
def test_a_bad_cell_is_reported_on_its_row_and_column(column: str, value: Any, words: list[str]) -> None:
    validation = check(["id", column], [1001, None], [1002, value])
    problem = only(validation)
    assert (problem.row, problem.column) == (3, column)
    for word in words:
        assert word in problem.message
    assert validation.invalid_rows == {3} and validation.valid_rows == [2]


@pytest.mark.parametrize("column, value", [
    ("ring_seconds", 10), ("ring_seconds", 45), ("ring_seconds", 30.0), ("ring_seconds", "25"),
    ("hold_queue.max_hold_seconds", 30), ("hold_queue.max_hold_seconds", 18000),
    ("hold_queue.max_hold_count", 1), ("hold_queue.max_hold_count", 1000),
    ("alerts.cc_service_level", 0), ("alerts.cc_service_level", 100),
    ("advanced_settings.max_wrap_up_seconds", 0), ("alerts.cc_service_level_seconds", 1),
    ("hours_on", "yes"), ("hours_on", "N"), ("hours_on", 1), ("hours_on", False),
    ("hold_queue.queue_escape_dtmf", 9), ("hold_queue.queue_escape_dtmf", "#"),
    ("monday_hours", "closed"), ("monday_hours", "08:00-12:00, 14:00-18:00"),
    ("name", "x" * 100), ("name", "  Ventas México  "), ("group_description", "é" * 256),
    ("group_description", "two\nlines are fine here"),
])
def test_good_cells_pass(column: str, value: Any) -> None:
    assert check(["id", column], [1001, value]).problems == []


@pytest.mark.parametrize("name, words", [("Support\u2028EMEA", "single line"), ("Support\x85EMEA", "single line"),
                                         ("Support\x0bEMEA", "control characters")])
def test_a_name_with_any_line_break_is_refused(name: str, words: str) -> None:
    problem = only(check(["id", "name"], [1, name]))
    assert (problem.row, problem.column) == (2, "name") and words in problem.message


@pytest.mark.parametrize("leaf, typo, hint", [
    ("action", "voicemial", "voicemail"),
    ("operator_routing", "longestidel", "longestidle"),
    ("action_target_type", "usr", "user"),
])
def test_a_typo_in_an_enum_suggests_the_value(leaf: str, typo: str, hint: str) -> None:
    row = {"id": 1001, **ROUTING, f"{R}.open.{leaf}": typo}
    if leaf == "action_target_type":
        row[f"{R}.open.action_target_id"] = 5
    problem = only(check_rows(row))
    assert (problem.row, problem.column) == (2, f"{R}.open.{leaf}")
    assert f"'{typo}' is not an allowed {leaf}; did you mean {hint}?" in problem.message


def test_enum_values_are_case_insensitive_and_trimmed() -> None:
    validation = check_rows({"id": 1, **ROUTING, f"{R}.open.action": " VoiceMail ",
                             f"{R}.open.operator_routing": "LongestIdle"})
    assert validation.problems == []
    assert validation.typed.at[2, f"{R}.open.action"] == "voicemail"


def test_the_problem_shows_the_cell_as_typed() -> None:
    problem = only(check(["id", "monday_hours"], [1, "18:00-08:00"]))
    assert problem.value == "18:00-08:00"


# ---- id -------------------------------------------------------------------------


def test_id_blank_not_positive_not_whole_or_repeated() -> None:
    validation = check(
        ["id", "ring_seconds"],
        [None, 20],  # row 2: blank id on a row with data
        [0, 20],  # row 3
        [-5, 20],  # row 4
        [1.5, 20],  # row 5
        ["abc", 20],  # row 6
        [7, 20],  # row 7
        ["7", 20],  # row 8: the same id, typed as text
        [8, 20],  # row 9: fine
    )
    assert cells(validation) == {(2, "id"), (3, "id"), (4, "id"), (5, "id"), (6, "id"), (7, "id"), (8, "id")}
    by_row = {p.row: p.message for p in validation.problems}
    assert "id is required" in by_row[2]
    assert "0 is out of range: id must be 1 or more" == by_row[3]
    assert "-5 is out of range" in by_row[4]
    assert "whole number" in by_row[5] and "whole number" in by_row[6]
    assert by_row[7] == "id 7 appears more than once (also in row 8); keep one row per call center"
    assert by_row[8] == "id 7 appears more than once (also in row 7); keep one row per call center"
    assert validation.valid_rows == [9]


def test_an_id_repeated_three_times_names_the_other_rows() -> None:
    validation = check(["id"], [5], [6], [5], [5.0])
    assert cells(validation) == {(2, "id"), (4, "id"), (5, "id")}
    assert "also in row 4, 5" in validation.problems[0].message


def test_a_row_with_only_an_id_is_valid() -> None:
    validation = check(["id", "name"], [1001, None])
    assert validation.problems == [] and validation.valid_rows == [2]


# ---- rules between fields -------------------------------------------------------


@pytest.mark.parametrize("filled", [
    f"{R}.open.action", f"{R}.closed.try_dial_operators", f"{R}.open.operator_routing",
    f"{R}.closed.dtmf.3.action",
])
def test_any_routing_cell_requires_the_four_cells(filled: str) -> None:
    value = {"action": "voicemail", "try_dial_operators": True, "operator_routing": "random"}[filled.rsplit(".", 1)[-1]]
    validation = check_rows({"id": 1001, filled: value})
    required = set(ROUTING) - {filled}
    assert cells(validation) == {(2, c) for c in required}
    for problem in validation.problems:
        assert f"{problem.column} is required when any routing_options cell is filled" in problem.message


def test_complete_routing_options_pass() -> None:
    assert check_rows({"id": 1001, **ROUTING}).problems == []


def test_routing_rule_names_diff_as_the_way_to_fill_only_what_changes() -> None:
    validation = check_rows({"id": 1001, f"{R}.open.operator_routing": "random"})
    assert len(validation.problems) == 4
    assert all("use --diff" in p.message for p in validation.problems)


@pytest.mark.parametrize("filled", [
    f"{R}.open.operator_routing", f"{R}.closed.try_dial_operators", f"{R}.closed.dtmf.3.action",
])
def test_diff_mode_lets_a_row_fill_only_the_routing_cells_it_changes(filled: str) -> None:
    """With --diff the rest of the routing comes from the live call center (checked there, not here)."""
    value = {"try_dial_operators": True, "operator_routing": "random", "action": "menu"}[filled.rsplit(".", 1)[-1]]
    row = {"id": 1001, filled: value}
    sheet = _build_sheet(Path("input.xlsx"), "callcenters", [list(row), list(row.values())])
    assert len(validate_sheet(sheet).problems) >= 3  # without --diff the rule stays as it is
    validation = validate_sheet(sheet, diff=True)
    assert validation.problems == [] and validation.diff
    assert validation.to_dict()["diff"] is True


def test_diff_mode_keeps_every_other_rule() -> None:
    """Only the routing-is-whole rule is left to the live state: pairs, ranges, choices still hold."""
    row = {"id": 1001, f"{R}.open.action_target_type": "user", f"{R}.closed.dtmf.2.action_target_id": 5,
           f"{R}.closed.dtmf.2.action_target_type": "user", "ring_seconds": 50, f"{R}.open.action": "nope",
           "hold_queue.max_hold_seconds": 60, "hold_queue.announce_position": True}
    sheet = _build_sheet(Path("input.xlsx"), "callcenters", [list(row), list(row.values())])
    assert cells(validate_sheet(sheet, diff=True)) == {
        (2, "ring_seconds"), (2, f"{R}.open.action"), (2, f"{R}.open.action_target_id"),
        (2, f"{R}.closed.dtmf.2.action"), (2, "hold_queue.announce_position")}


def test_validate_file_diff_mode(write_xlsx) -> None:
    path = write_xlsx(["id", f"{R}.open.operator_routing"], [[1001, "random"]])
    assert len(validate_file(path).problems) == 4
    assert validate_file(path, diff=True).problems == []


@pytest.mark.parametrize("prefix", [f"{R}.open", f"{R}.closed"])
def test_target_type_and_id_come_together(prefix: str) -> None:
    validation = check_rows(
        {"id": 1, **ROUTING, f"{prefix}.action_target_type": "callcenter"},
        {"id": 2, **ROUTING, f"{prefix}.action_target_id": 123},
        {"id": 3, **ROUTING, f"{prefix}.action_target_type": "callcenter", f"{prefix}.action_target_id": 123},
    )
    assert cells(validation) == {(2, f"{prefix}.action_target_id"), (3, f"{prefix}.action_target_type")}
    for problem in validation.problems:
        assert "action_target_type and action_target_id come together" in problem.message


@pytest.mark.parametrize("key", ["0", "5", "9"])
def test_dtmf_key_target_pairs_and_needs_its_action(key: str) -> None:
    k = f"{R}.open.dtmf.{key}"
    validation = check_rows(
        {"id": 1, **ROUTING, f"{k}.action": "person", f"{k}.action_target_type": "user"},  # row 2: no id
        {"id": 2, **ROUTING, f"{k}.action": "person", f"{k}.action_target_id": 42},  # row 3: no type
        {"id": 3, **ROUTING, f"{k}.action_target_type": "user", f"{k}.action_target_id": 42},  # row 4: no action
        {"id": 4, **ROUTING, f"{k}.action_target_id": 42},  # row 5: no action, no type
        {"id": 5, **ROUTING, f"{k}.action": "operator"},  # row 6: an action alone is fine
        {"id": 6, **ROUTING, f"{k}.action": "person", f"{k}.action_target_type": "user",
         f"{k}.action_target_id": 42},  # row 7: whole
    )
    assert cells(validation) == {
        (2, f"{k}.action_target_id"), (3, f"{k}.action_target_type"), (4, f"{k}.action"),
        (5, f"{k}.action"), (5, f"{k}.action_target_type"),
    }
    messages = {(p.row, p.column): p.message for p in validation.problems}
    assert "a DTMF key's target needs that key's action" in messages[(4, f"{k}.action")]


@pytest.mark.parametrize("max_hold, announce, bad", [
    (60, True, True), (119, "TRUE", True), (119, "yes", True), (120, True, False), (60, False, False),
    (900, True, False), (None, True, False), (60, None, False),
])
def test_announce_position_needs_a_hold_of_two_minutes(max_hold: Any, announce: Any, bad: bool) -> None:
    validation = check(["id", "hold_queue.max_hold_seconds", "hold_queue.announce_position"],
                       [1, max_hold, announce])
    if bad:
        problem = only(validation)
        assert (problem.row, problem.column) == (2, "hold_queue.announce_position")
        assert "announce_position TRUE is not allowed with max_hold_seconds under 120" in problem.message
    else:
        assert validation.problems == []


@pytest.mark.parametrize("escape, callback, bad", [
    ("*", "*", True), (9, "9", True), ("9", 9.0, True), ("#", "#", True), ("*", "9", False), (0, "#", False),
    ("*", None, False),
])
def test_escape_and_callback_keys_differ(escape: Any, callback: Any, bad: bool) -> None:
    validation = check(["id", "hold_queue.queue_escape_dtmf", "hold_queue.queue_callback_dtmf"],
                       [1, escape, callback])
    if bad:
        problem = only(validation)
        assert (problem.row, problem.column) == (2, "hold_queue.queue_callback_dtmf")
        assert "may not be the same key" in problem.message
    else:
        assert validation.problems == []


def test_a_cell_is_reported_once_even_when_several_checks_fail() -> None:
    # The action is unparseable (a date) and therefore also missing for routing_complete.
    import datetime as dt

    validation = check_rows({"id": 1, **ROUTING, f"{R}.open.action": dt.date(2024, 1, 1)})
    assert [(p.row, p.column) for p in validation.problems] == [(2, f"{R}.open.action")]


# ---- header ---------------------------------------------------------------------


@pytest.mark.parametrize("column, hint", [
    ("max_hold_secs", "hold_queue.max_hold_seconds"),
    ("ring_second", "ring_seconds"),
    ("announce_position", "hold_queue.announce_position"),
    ("Monday Hours", "monday_hours"),
])
def test_an_unknown_column_is_named_with_a_suggestion(column: str, hint: str) -> None:
    validation = check(["id", column, "ring_seconds"], [1, 300, 20], [2, None, 25])
    problem = only(validation)
    assert (problem.row, problem.column) == (1, column)
    assert problem.message == f"unknown column '{column}': did you mean {hint}?"
    # The header is wrong, so no row can be trusted.
    assert validation.invalid_rows == {2, 3} and validation.valid_rows == []


def test_an_unknown_column_without_a_likely_meaning() -> None:
    problem = only(check(["id", "zzz"], [1, 2]))
    assert problem.message.startswith("unknown column 'zzz': see the Columns sheet")


def test_a_repeated_column_and_a_value_under_a_blank_header() -> None:
    validation = check(["id", "ring_seconds", "ring_seconds", None], [1, 20, 25, None], [2, None, None, "x"])
    assert cells(validation) == {(1, "ring_seconds"), (3, None)}
    messages = {(p.row, p.column): p.message for p in validation.problems}
    assert "appears twice" in messages[(1, "ring_seconds")]
    assert "column D, which has no name in row 1" in messages[(3, None)]


def test_info_columns_are_ignored() -> None:
    assert check(["id", "info.timezone"], [1, "Europe/Paris"]).problems == []


# ---- the sample workbooks -------------------------------------------------------


def test_the_sample_workbook_is_valid(samples_dir: Path) -> None:
    validation = validate_file(samples_dir / "callcenters.xlsx")
    assert validation.problems == []
    assert validation.sheet.sheet_name == "callcenters"
    assert validation.valid_rows == list(range(2, 22))
    assert [int(i) for i in validation.typed["id"]] == list(range(1001, 1021))


def test_the_sample_csv_is_valid(samples_dir: Path) -> None:
    validation = validate_file(samples_dir / "callcenters.csv")
    assert validation.problems == [] and len(validation.valid_rows) >= 3


def test_the_error_sample_gives_exactly_the_expected_problems(samples_dir: Path, make_samples) -> None:
    validation = validate_file(samples_dir / "callcenters-with-errors.xlsx")
    _, _, expected = make_samples.errors_rows()
    want = {cell for pairs in expected.values() for cell in pairs}
    assert cells(validation) == want
    # Spelt out, so that a change of the sample is a visible change of this test:
    assert want == {
        (1, "max_hold_secs"), (3, f"{R}.closed.action"), (4, "hold_queue.max_hold_count"), (5, "id"),
        (5, "ring_seconds"), (6, "monday_hours"), (7, "hold_queue.announce_position"),
        (8, "hold_queue.queue_callback_dtmf"), (9, f"{R}.open.action_target_id"), (10, f"{R}.open.dtmf.2.action"),
        (11, f"{R}.closed.action"), (11, f"{R}.closed.try_dial_operators"), (13, "id"), (14, "id"), (15, "name"),
    }
    messages = {(p.row, p.column): p.message for p in validation.problems}
    assert "did you mean hold_queue.max_hold_seconds?" in messages[(1, "max_hold_secs")]
    assert "did you mean voicemail?" in messages[(3, f"{R}.closed.action")]
    assert "30.5 is not a whole number" in messages[(4, "hold_queue.max_hold_count")]
    assert "also in row 13" in messages[(5, "id")]


def test_the_samples_are_what_make_samples_writes(tmp_path: Path, samples_dir: Path, make_samples) -> None:
    from openpyxl import load_workbook

    def content(path: Path) -> object:
        if path.suffix == ".csv":
            return path.read_text("utf-8-sig")
        workbook = load_workbook(path)
        return {name: [[c.value for c in row] for row in workbook[name].iter_rows()] for name in workbook.sheetnames}

    written = make_samples.main(tmp_path)
    assert [p.name for p in written] == ["callcenters.xlsx", "callcenters-with-errors.xlsx", "callcenters.csv",
                                         "migration.xlsx"]
    for path in written:
        assert content(path) == content(samples_dir / path.name), f"{path.name} is stale: rerun make_samples.py"


# ---- reading: sheets, empty rows, csv vs xlsx -----------------------------------


def test_the_callcenters_sheet_is_used_wherever_it_is(write_xlsx) -> None:
    path = write_xlsx(["id", "ring_seconds"], [[1, 20]], other_sheets={"Notes": [["id", "ring_seconds"], [1, 99]]},
                      first="Notes")
    validation = validate_file(path)
    assert validation.sheet.sheet_name == "callcenters" and validation.problems == []


def test_without_a_callcenters_sheet_the_first_sheet_is_used(write_xlsx) -> None:
    path = write_xlsx(["id", "ring_seconds"], [[1, 20], [2, 99]], sheet="Sheet1",
                      other_sheets={"Other": [["nonsense"], ["x"]]})
    validation = validate_file(path)
    assert validation.sheet.sheet_name == "Sheet1"
    assert cells(validation) == {(3, "ring_seconds")}


def test_empty_rows_are_skipped_and_row_numbers_kept(write_xlsx) -> None:
    path = write_xlsx(["id", "ring_seconds", "name"],
                      [[1, 20, None], [None, None, None], [None, "  ", ""], [2, 99, None], [None, None, None],
                       [3, None, "ok"]])
    validation = validate_file(path)
    assert validation.sheet.rows == [2, 5, 7]
    assert cells(validation) == {(5, "ring_seconds")}


def _mixed_rows() -> tuple[list[str], list[list[Any]]]:
    header = ["id", "name", "hours_on", "ring_seconds", "monday_hours", "hold_queue.queue_escape_dtmf",
              "hold_queue.queue_callback_dtmf", f"{R}.open.action", f"{R}.open.try_dial_operators",
              f"{R}.closed.action", f"{R}.closed.try_dial_operators", f"{R}.open.dtmf.1.action_target_id"]
    rows = [
        [1001, "Ventas México", True, 25, "08:00-12:00, 14:00-18:00", "*", 9, "voicemail", True, "menu", False, None],
        [1002, None, "maybe", 30.5, "18:00-08:00", "#", "#", None, None, None, None, None],
        [1003, "Billing APAC", False, 60, "closed", None, None, "voicemial", "yes", "voicemail", "no", 77],
        [None, "no id", None, None, None, None, None, None, None, None, None, None],
        [1001, None, None, 45, None, None, None, None, None, None, None, None],
    ]
    return header, rows


def test_csv_and_xlsx_give_the_same_result(write_xlsx, write_csv) -> None:
    header, rows = _mixed_rows()
    from_xlsx = validate_file(write_xlsx(header, rows))
    from_csv = validate_file(write_csv(header, rows))
    assert cells(from_xlsx) == cells(from_csv) != set()
    assert from_xlsx.valid_rows == from_csv.valid_rows
    assert ({(p.row, p.column): p.message for p in from_xlsx.problems}
            == {(p.row, p.column): p.message for p in from_csv.problems})
    assert from_xlsx.typed.astype(object).equals(from_csv.typed.astype(object))


# ---- unreadable input -----------------------------------------------------------


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        validate_file(tmp_path / "nope.xlsx")


def test_a_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        validate_file(tmp_path)


def test_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "fake.xlsx"
    path.write_text("id,name\n1,x\n")
    with pytest.raises(InputError, match="fake.xlsx is not an .xlsx workbook"):
        validate_file(path)


def test_a_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "hello")
    with pytest.raises(InputError, match="cannot read archive.xlsx"):
        validate_file(path)


@pytest.mark.parametrize("name, words", [("old.xls", "old .xls file"), ("data.json", "expected an .xlsx or .csv")])
def test_other_file_types(tmp_path: Path, name: str, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InputError, match=words):
        validate_file(path)


def test_no_id_column(write_xlsx, write_csv) -> None:
    for path in (write_xlsx(["name", "ring_seconds"], [["x", 20]]), write_csv(["ID?", "name"], [[1, "x"]])):
        with pytest.raises(InputError, match="no 'id' column in row 1"):
            validate_file(path)


def test_an_empty_sheet(write_xlsx, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(InputError, match="the sheet is empty"):
        validate_file(path)


def test_a_cell_of_5000_digits_is_a_problem_not_a_crash(write_csv) -> None:
    validation = validate_file(write_csv(["id", "ring_seconds"], [[1001, "9" * 5000]]))
    assert cells(validation) == {(2, "ring_seconds")}


def test_a_csv_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,name\n1,Ventas México\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        validate_file(path)


def test_too_many_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_ROWS", 3)
    with pytest.raises(InputError, match="over the 3 limit"):
        _build_sheet(Path("big.xlsx"), "callcenters", [["id"], [1], [2], [3], [4]])


# ---- zip bombs ------------------------------------------------------------------


def test_the_size_limit_follows_the_module_setting(write_xlsx, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_xlsx(["id", "ring_seconds"], [[1, 20]])
    assert validate_file(path).problems == []
    monkeypatch.setattr(reader, "MAX_UNCOMPRESSED_BYTES", 1000)
    with pytest.raises(InputError, match="refusing to open it"):
        validate_file(path)


def test_check_zip_size_refuses_over_the_limit(write_xlsx) -> None:
    path = write_xlsx(["id", "ring_seconds"], [[1, 20]])
    reader.check_zip_size(path)  # a real workbook is far below the default
    with pytest.raises(InputError) as info:
        reader.check_zip_size(path, limit=1000)
    assert re.fullmatch(r"input\.xlsx declares 0 MB of uncompressed content, over the 0 MB limit: "
                        r"refusing to open it \(a zip bomb or a corrupted file\)", str(info.value))


def test_a_real_zip_bomb_is_refused_fast_before_parsing(zip_bomb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = zip_bomb
    assert path.stat().st_size < 2 * 1024 * 1024  # small on disk, 300 MB inside
    def no_parsing(*args: Any, **kwargs: Any) -> None:
        pytest.fail("the workbook was opened before the size check")

    monkeypatch.setattr("python_calamine.CalamineWorkbook.from_path", no_parsing)
    started = time.perf_counter()
    with pytest.raises(InputError) as info:
        validate_file(path)
    assert time.perf_counter() - started < 3
    assert str(info.value) == ("bomb.xlsx declares 315 MB of uncompressed content, over the 210 MB limit: "
                               "refusing to open it (a zip bomb or a corrupted file)")


def test_read_sheet_gives_raw_values_by_excel_row(write_xlsx) -> None:
    sheet = read_sheet(write_xlsx(["id", "name", "hours_on"], [[1, " a ", True], [None, None, None], [2, None, "no"]]))
    assert sheet.rows == [2, 4]
    assert sheet.frame.at[2, "name"] == " a " and sheet.frame.at[2, "hours_on"] is True
    assert sheet.frame.at[4, "name"] is None


# ---- regression: cells past the last named column ---------------------------------


def test_a_csv_row_with_more_cells_than_the_header_is_a_problem_of_that_row(tmp_path: Path) -> None:
    """An unquoted comma (`Sales, EMEA`) spills a cell past the last named column: it must not be dropped."""
    import json

    from click.testing import CliRunner

    from bulkcc.cli import main
    from bulkcc.plan.plans import make_plan

    path = tmp_path / "spill.csv"
    path.write_text("id,ring_seconds,name\n1001,20,Sales, EMEA\n1002,25,Support\n", encoding="utf-8")

    validation = validate_file(path)
    problem = only(validation)
    assert (problem.row, problem.column, problem.value) == (2, None, " EMEA")
    assert "column D, which has no name in row 1" in problem.message and "quote" in problem.message
    assert validation.invalid_rows == {2} and validation.valid_rows == [3]
    the_plan = make_plan(validation)
    assert [(r.row, r.id) for r in the_plan.requests] == [(3, 1002)]  # nothing planned for row 2
    assert all(r.row != 2 for r in the_plan.skipped)

    result = CliRunner().invoke(main, ["validate", str(path), "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["invalid_rows"] == 1
    assert [(e["row"], e["column"]) for e in report["errors"]] == [(2, None)]


# ---- data that could be wrong is refused: error cells, uncomputed formulas -----------


def _problems_at(validation: Validation) -> dict[tuple[int | None, str | None], Problem]:
    return {(p.row, p.column): p for p in validation.problems}


@pytest.mark.parametrize("error", ["#DIV/0!", "#REF!", "#N/A", "#VALUE!", "#NAME?"])
def test_a_cell_that_shows_an_error_is_a_problem_at_that_cell_never_a_blank(tmp_path: Path, error: str) -> None:
    path = write_sheet(tmp_path / "e.xlsx", [["id", "name", "ring_seconds"], ["1001", None, 20], ["1002", "ok", 25]],
                       errors={"B2": error})
    validation = validate_file(path)
    problem = only(validation)
    assert (problem.row, problem.column, problem.value) == (2, "name", error)
    assert problem.message.startswith(f"B2 shows the error {error}:")
    assert "never read as 'leave unchanged'" in problem.message
    assert validation.valid_rows == [3]
    assert [r.row for r in make_plan(validation).requests] == [3]  # row 2 is never planned


def test_an_error_in_the_id_or_a_row_of_nothing_else_keeps_the_row_and_names_the_cell(tmp_path: Path) -> None:
    path = write_sheet(tmp_path / "e.xlsx", [["id", "name"], [None, "x"], ["1002", None], ["1003", "ok"]],
                       errors={"A2": "#REF!", "B3": "#N/A", "B5": "#DIV/0!"})
    validation = validate_file(path)
    assert set(_problems_at(validation)) == {(2, "id"), (3, "name"), (5, "id"), (5, "name")}
    assert "A2 shows the error #REF!" in _problems_at(validation)[(2, "id")].message  # not "id is required"
    assert validation.sheet.rows == [2, 3, 4, 5]  # row 5 holds only an error: kept, and invalid
    assert validation.valid_rows == [4]


def test_an_error_in_the_header_or_under_no_name_is_reported(tmp_path: Path) -> None:
    path = write_sheet(tmp_path / "e.xlsx", [["id", "name"], ["1001", "x"]], errors={"C1": "#REF!", "D2": "#N/A"})
    validation = validate_file(path)
    messages = {(p.row, p.column): p.message for p in validation.problems}
    assert messages[(1, None)].startswith("the column name in C1 shows the error #REF!")
    assert "D2 shows the error #N/A" in messages[(2, None)]
    assert validation.valid_rows == []  # a problem in row 1 makes every row invalid


def test_an_error_in_an_info_column_is_ignored_as_its_values_are(tmp_path: Path) -> None:
    path = write_sheet(tmp_path / "e.xlsx", [["id", "info.office_id", "name"], ["1001", None, "x"]],
                       errors={"B2": "#REF!"})
    assert validate_file(path).problems == []


def test_a_formula_without_a_saved_value_is_a_problem(tmp_path: Path) -> None:
    """What openpyxl (and other programs that do not calculate) write: a formula and no value."""
    path = write_sheet(tmp_path / "f.xlsx", [["id", "ring_seconds"], ["1001", None], ["1002", 25]],
                       formulas={"B2": "=B3-5"})
    problem = only(validate_file(path))
    assert (problem.row, problem.column, problem.value) == (2, "ring_seconds", "=B3-5")
    assert "B2 holds a formula =B3-5 with no saved value" in problem.message
    assert "save the file in Excel or LibreOffice, or type the value" in problem.message


def test_a_formula_with_a_saved_value_uses_it(tmp_path: Path) -> None:
    path = write_sheet(tmp_path / "f.xlsx", [["id", "ring_seconds", "name"], ["1001", None, None]],
                       formulas={"B2": "=10+10", "C2": '=""'},
                       # the saved values, as Excel writes them: a number, and an empty text
                       patch={b"<f>10+10</f><v />": b"<f>10+10</f><v>20</v>",
                              b'<c r="C2"><f>""</f><v />': b'<c r="C2" t="str"><f>""</f><v></v>'})
    validation = validate_file(path)
    assert validation.problems == []
    assert make_plan(validation).requests[0].body == {"ring_seconds": 20}  # C2 computed to "": blank


def test_a_shared_formula_without_values_is_a_problem_in_every_cell(tmp_path: Path) -> None:
    path = write_sheet(tmp_path / "f.xlsx", [["id", "ring_seconds"], ["1001", 20], ["1002", None], ["1003", None]],
                       formulas={"B3": "=B2", "B4": "=B2"},
                       patch={b'<c r="B3"><f>B2</f><v />': b'<c r="B3"><f t="shared" ref="B3:B4" si="0">B2</f>',
                              b'<c r="B4"><f>B2</f><v />': b'<c r="B4"><f t="shared" si="0"/>'})
    assert cells(validate_file(path)) == {(3, "ring_seconds"), (4, "ring_seconds")}


# ---- rounded ids -----------------------------------------------------------------------


def test_a_16_digit_id_stored_as_a_number_is_refused_as_maybe_rounded(tmp_path: Path) -> None:
    """LibreOffice saved 1234567890123457 typed as a number as 1234567890123460: another id."""
    target = f"{R}.open.action_target_id"
    header = ["id", *ROUTING, f"{R}.open.action_target_type", target]
    path = write_sheet(tmp_path / "ids.xlsx", [header, [1234567890123460, *ROUTING.values(), "user", "123"],
                                              ["1002", *ROUTING.values(), "user", 5012345678901240]])
    problems = _problems_at(validate_file(path))
    assert set(problems) == {(2, "id"), (3, target)}
    message = problems[(2, "id")].message
    assert message.startswith("1234567890123460 is a number of 16 digits")
    for words in ("rounded", "format the column as Text", "type the id again"):
        assert words in message


def test_text_ids_work_at_every_length_and_a_leading_apostrophe_is_not_part_of_one(tmp_path: Path) -> None:
    target = f"{R}.open.action_target_id"
    header = ["id", *ROUTING, f"{R}.open.action_target_type", target]
    path = write_sheet(tmp_path / "ids.xlsx", [
        header,
        ["1234567890123457", *ROUTING.values(), "user", "'5012345678901234"],  # LibreOffice keeps the ' in a text cell
        ["'9223372036854775807", *ROUTING.values(), "user", 123456789012345],  # 15 digits as a number: exact
    ])
    validation = validate_file(path)
    assert validation.problems == []
    assert validation.ids == [1234567890123457, 9223372036854775807]
    assert int(validation.typed.at[2, target]) == 5012345678901234


def test_an_id_in_scientific_notation_lost_its_digits(write_csv) -> None:
    """A CSV saved by Excel from a number-formatted id column: 1.23457E+15."""
    problem = only(validate_file(write_csv(["id", "name"], [["1.23457E+15", "x"]])))
    assert (problem.row, problem.column) == (2, "id")
    assert "scientific notation" in problem.message and "type the id again" in problem.message


# ---- hidden data: warnings, never invalid rows --------------------------------------------


def _warnings(validation: Validation) -> list[str]:
    return [w.message for w in validation.warnings]


def test_hidden_rows_holding_values_are_a_warning_not_a_problem(tmp_path: Path) -> None:
    rows = [["id", "name"], ["1001", "a"], ["1002", "b"], [None, None], ["1004", "d"]]
    validation = validate_file(write_sheet(tmp_path / "h.xlsx", rows, hidden_rows=[3, 4, 5]))
    assert validation.problems == [] and validation.valid_rows == [2, 3, 5]
    [message] = _warnings(validation)  # row 4 is hidden but empty: nothing to see
    assert message.startswith("2 hidden rows hold values, " + SENT + ": rows 3, 5;")


def test_a_zero_height_row_is_hidden_too(tmp_path: Path) -> None:
    validation = validate_file(write_sheet(tmp_path / "h.xlsx", [["id"], ["1001"], ["1002"]], zero_height_rows=[3]))
    assert _warnings(validation) == ["1 hidden row holds values, " + SENT + ": row 3; unhide it "
                                     "to review (a filter hides rows too: clear it)"]


def test_hidden_columns_holding_values_are_a_warning_each(tmp_path: Path) -> None:
    rows = [["id", "name", "ring_seconds", "hold_queue.max_hold_seconds"], ["1001", "a", 20, None]]
    validation = validate_file(write_sheet(tmp_path / "h.xlsx", rows, hidden_columns=["B", "D"],
                                           grouped_columns=["C"]))
    assert validation.problems == []
    assert [(w.column, w.message) for w in validation.warnings] == [
        ("name", "column B (name) is hidden and holds values in 1 row, " + SENT + "; "
                 "unhide it to review them"),
        ("ring_seconds", "column C (ring_seconds) is hidden (in a collapsed group: the + above the columns opens "
                         "it) and holds values in 1 row, " + SENT + "; unhide it to review them"),
    ]  # D is hidden but empty


def test_many_hidden_columns_are_one_warning(tmp_path: Path) -> None:
    header = ["id", *[f"{day}_hours" for day in ("monday", "tuesday", "wednesday", "thursday", "friday",
                                                 "saturday")]]
    rows = [header, ["1001", *["closed"] * 6]]
    validation = validate_file(write_sheet(tmp_path / "h.xlsx", rows, hidden_columns=list("BCDEFG")))
    [message] = _warnings(validation)
    assert message == ("6 hidden columns hold values, " + SENT + "; unhide them to review them: B (monday_hours), "
                       "C (tuesday_hours), D (wednesday_hours) and 3 more")
    assert len(message) < 400  # a terminal line is cut at 400 characters: the fix must not be


def test_a_hidden_data_sheet_is_a_warning(tmp_path: Path) -> None:
    validation = validate_file(write_sheet(tmp_path / "h.xlsx", [["id"], ["1001"]], hidden_sheet=True))
    assert validation.problems == []
    [warning] = validation.warnings
    assert warning.message.startswith("the sheet 'callcenters', which bulkcc reads, is hidden in the workbook")


def test_nothing_hidden_no_warning(write_xlsx) -> None:
    assert validate_file(write_xlsx(["id", "name"], [["1001", "a"]])).warnings == []


# ---- CSV as Excel writes it in other locales ------------------------------------------------


CSV_TEXT = 'id{s}name{s}ring_seconds\r\n1001{s}"Ventas{s} México"{s}25\r\n1002{s}Billing, APAC{s}\r\n'


@pytest.mark.parametrize("separator", [",", ";", "\t"])
@pytest.mark.parametrize("encoding, bom", [
    ("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
    ("utf-16-le", b""), ("utf-16-be", b""), ("utf-32-le", b"\xff\xfe\x00\x00"),
])
def test_csv_in_any_separator_and_encoding_excel_writes(tmp_path: Path, separator: str, encoding: str,
                                                        bom: bytes) -> None:
    text = CSV_TEXT.format(s=separator)
    if separator == ",":
        text = text.replace("Billing, APAC", '"Billing, APAC"')
    path = tmp_path / "locale.csv"
    path.write_bytes(bom + text.encode(encoding))
    validation = validate_file(path)
    assert validation.problems == [], validation.problems
    bodies = [r.body for r in make_plan(validation).requests]
    assert bodies == [{"name": f"Ventas{separator} México", "ring_seconds": 25}, {"name": "Billing, APAC"}]


@pytest.mark.parametrize("first_line", ["sep=;\r\n", "sep=;\n", '"sep=;"\n', "SEP=;;;\n"])
def test_excels_sep_line_names_the_separator_and_is_not_a_row(tmp_path: Path, first_line: str) -> None:
    path = tmp_path / "sep.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (first_line + "id;name\n1001;a,b\n1002;60\n").encode())
    validation = validate_file(path)
    assert validation.problems == [] and validation.sheet.rows == [2, 3]  # rows as Excel shows them
    assert [r.body for r in make_plan(validation).requests] == [{"name": "a,b"}, {"name": "60"}]


def test_a_one_column_semicolon_csv_keeps_commas_in_its_cells(tmp_path: Path) -> None:
    """With only `id` in row 1 every separator finds the id column; none may split a cell."""
    path = tmp_path / "one.csv"
    path.write_text("id\n1001\n1002\n", encoding="utf-8")
    assert validate_file(path).ids == [1001, 1002]
    path.write_text("sep=;\nid\n1001\n", encoding="utf-8")
    assert validate_file(path).ids == [1001]


@pytest.mark.parametrize("content, words", [
    ("id,name\n1,Ventas México\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 on line 2)"),
    (bytes(range(1, 256)) * 8, "is not UTF-8 text (byte 0x80 on line 2)"),
    (b"id,name\n1,\x00\x01\x02\n", "holds zero bytes: it is a binary file, not CSV text"),
    (b"PK\x03\x04" + b"\x00" * 40, "is an .xlsx workbook (a zip file), not CSV text; rename it to .xlsx"),
    (b"\xd0\xcf\x11\xe0" + b"\x00" * 40, "is an Excel .xls (or another Office) file"),
    (b"\xff\xfe" + "id,name\n1,".encode("utf-16-le") + b"\x00\xd8", "starts as UTF-16 text but is not valid"),
])
def test_text_that_cannot_be_read_says_why(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=re.escape(words)):
        validate_file(path)


# ---- input bounded --------------------------------------------------------------------------


def test_a_csv_over_the_size_limit_is_refused_before_it_is_read(write_csv, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_csv(["id", "name"], [[1001, "x" * 5000]])
    monkeypatch.setattr(inputfile, "MAX_INPUT_BYTES", 1000)
    with pytest.raises(InputError, match=r"is 0 MB, over the 0 MB limit for an input; split the file"):
        validate_file(path)


@pytest.mark.parametrize("kind", ["fifo", "device", "socket"])
def test_only_regular_files_are_opened(tmp_path: Path, kind: str) -> None:
    import os
    import socket

    path = tmp_path / "input.csv"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would wait for a writer
    elif kind == "device":
        path.symlink_to("/dev/zero")  # reading it would grow memory without limit
    else:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    words = {"fifo": "a named pipe (FIFO)", "device": "a character device", "socket": "a socket"}[kind]
    with pytest.raises(InputError, match=re.escape(f"input.csv is {words}, not a file")):
        validate_file(path)


def test_the_row_limit_counts_rows_that_hold_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_ROWS", 3)
    blank = [[None]] * 50
    assert _build_sheet(Path("a.xlsx"), "callcenters", [["id"], [1], *blank, [2], *blank, [3], *blank]).rows == [
        2, 53, 104]
    with pytest.raises(InputError, match="has 4 rows that hold values, over the 3 limit"):
        _build_sheet(Path("a.xlsx"), "callcenters", [["id"], [1], *blank, [2], [3], [4]])


def test_a_csv_row_wider_than_a_sheet_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("id,name\n1001,a\n1002," + ",".join(["x"] * 20_000) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 3 has 20,001 cells, more than the 16,384 columns a sheet can hold"):
        validate_file(path)


def test_many_cells_under_no_name_are_one_problem_of_the_row(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("id,name\n1001,a," + ",".join(["x"] * 10_000) + "\n1002,b\n", encoding="utf-8")
    validation = validate_file(path)
    problem = only(validation)
    assert (problem.row, problem.column) == (2, None)
    assert problem.message.startswith("10,000 values in columns which have no name in row 1 (C, D, E …)")
    assert validation.valid_rows == [3]


def test_a_csv_cell_past_the_field_limit_says_a_quote_is_likely_open(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    path.write_text('id,name\n1001,"never closed\n' + "x\n" * 70_000, encoding="utf-8")
    with pytest.raises(InputError, match=r"a cell at row 2 runs past 131,072 characters: most likely a quote"):
        validate_file(path)


def test_a_cell_far_away_is_refused_before_the_sheet_is_laid_out(tmp_path: Path) -> None:
    """One value in XFD1048576: calamine would ask for 17 billion cells, and the process would abort."""
    path = write_sheet(tmp_path / "far.xlsx", [["id"], ["1001"]], far_cell=(1_048_576, 16_384))
    with pytest.raises(InputError, match=r"the sheet's cells run to XFD1048576 \(17,179,869,184 cells from A1\), "
                                         r"over the 25,000,000 limit"):
        validate_file(path)


def test_a_cell_a_little_far_away_is_fine(tmp_path: Path) -> None:
    path = write_sheet(tmp_path / "far.xlsx", [["id"], ["1001"]], far_cell=(20_000, 5))
    validation = validate_file(path)
    assert validation.sheet.rows == [2, 20_000]  # the stray cell's row is read, and reported
    assert cells(validation) == {(20_000, None), (20_000, "id")}


def test_a_csv_cell_that_holds_an_error_as_excel_wrote_it_is_a_problem(write_csv) -> None:
    """Excel writes a failed formula into a CSV as the error it shows: "#N/A" would become a name."""
    path = write_csv(["id", "name", "ring_seconds"], [[1001, "#N/A", 20], [1002, "ok", "#DIV/0!"], [1003, "#", None]])
    validation = validate_file(path)
    assert {(p.row, p.column, p.value) for p in validation.problems} == {(2, "name", "#N/A"),
                                                                       (3, "ring_seconds", "#DIV/0!")}
    assert all("shows the error" in p.message for p in validation.problems)
    assert validation.valid_rows == [4]


def test_error_text_typed_as_text_in_a_workbook_is_text(tmp_path: Path) -> None:
    """In an xlsx an error cell says so (t="e"): "#N/A" typed into a Text cell is what was typed."""
    validation = validate_file(write_sheet(tmp_path / "t.xlsx", [["id", "name"], ["1001", "#N/A"]]))
    assert validation.problems == []


def test_a_hidden_header_row_is_a_warning(tmp_path: Path) -> None:
    validation = validate_file(write_sheet(tmp_path / "h.xlsx", [["id"], ["1001"]], hidden_rows=[1]))
    assert _warnings(validation) == ["row 1, the column names, is hidden; unhide it to review the sheet"]


def test_a_bad_cell_only_in_an_info_column_leaves_its_row_blank(tmp_path: Path, write_csv) -> None:
    """Found by the property test: an info. column is never sent, so its error keeps a row blank."""
    path = write_sheet(tmp_path / "i.xlsx", [["id", "info.office_id"], ["1001", None], [None, None]],
                       formulas={"A2": "=1+1", "B2": "=1+1", "B3": "=2+2"})
    validation = validate_file(path)
    assert {(p.row, p.column) for p in validation.problems} == {(2, "id")}  # the id's formula, not the info's
    assert validation.sheet.rows == [2]  # row 3 holds only an info column's formula: blank
    csv_path = write_csv(["id", "info.office_id", "name"], [[1001, "#N/A", "ok"]])
    assert validate_file(csv_path).problems == []


# ---- creates (issue 11): a blank id and an office_id -------------------------------------

def _problems(tmp_path: Path, rows: list[list[Any]], diff: bool = False) -> dict[tuple[int, str | None], str]:
    validation = validate_file(write_sheet(tmp_path / "c.xlsx", rows), diff=diff)
    return {(p.row, p.column): p.message for p in validation.problems}


def test_a_blank_id_with_an_office_id_is_a_create_that_needs_a_name(tmp_path: Path) -> None:
    problems = _problems(tmp_path, [["id", "name", "office_id"], [None, "Support Berlin", 124], [None, None, 124],
                                    [None, "No office", None], ["1001", "Renamed", 124]])
    assert list(problems) == [(3, "name"), (4, "id")]
    assert problems[(3, "name")].startswith("name is required to create a call center")
    # A blank id with no office_id stays the error it was, and names the other way out.
    assert problems[(4, "id")].startswith("id is required: fill in the call center's id")
    assert "or fill office_id" in problems[(4, "id")]
    validation = validate_file(tmp_path / "c.xlsx")
    assert validation.create_rows == [2]
    assert "1 valid row creates a call center (POST), 1 changes an existing one (PATCH)" in render_summary(validation)


def render_summary(validation: Validation) -> str:
    from bulkcc.validate.report import summary_line

    return summary_line(validation)


def test_two_creates_of_one_name_in_one_office_are_errors_on_both_rows(tmp_path: Path) -> None:
    problems = _problems(tmp_path, [["id", "name", "office_id"], [None, "Support", 124], [None, "Support ", 124],
                                    [None, "Support", 125], [None, "Sales", 124], ["1001", "Support", 124]])
    assert set(problems) == {(2, "name"), (3, "name")}  # the other office and the update are no clash
    assert ("office 124 would get two call centers named alike: 'Support' is the same name as row 3's "
            "'Support'") in problems[(2, "name")]


@pytest.mark.parametrize("alike", ["center 1001", "Center\u00a01001", "Center 1001\u200b", " CENTER  1001 ",
                                   "Ce\u0301nter 1001", "\uff23enter 1001", "Cen\u00adter 1001"],
                         ids=["case", "no-break space", "zero-width space", "blanks", "NFD", "full-width",
                              "soft hyphen"])
def test_two_creates_whose_names_read_alike_are_errors_showing_both_names(tmp_path: Path, alike: str) -> None:
    first = "Cénter 1001" if "\u0301" in alike else "Center 1001"
    problems = _problems(tmp_path, [["id", "name", "office_id"], [None, first, 124], [None, alike, 124]])
    assert set(problems) == {(2, "name"), (3, "name")}
    message = problems[(3, "name")]
    assert "would get two call centers named alike" in message
    # Both names are shown, the look-alike's invisible and odd characters made visible.
    from bulkcc.values import printable

    assert printable(alike.strip(), 60, quote=True) in message and f"row 2's '{first}'" in message


def test_ids_stay_unique_with_create_rows_between_them(tmp_path: Path) -> None:
    problems = _problems(tmp_path, [["id", "name", "office_id"], ["7", "a", None], [None, "b", 1], [None, "c", 1],
                                    ["7", "d", None]])
    assert problems == {(2, "id"): "id 7 appears more than once (also in row 5); keep one row per call center",
                        (5, "id"): "id 7 appears more than once (also in row 2); keep one row per call center"}


def test_a_create_keeps_the_whole_routing_rule_with_diff(tmp_path: Path) -> None:
    rows = [["id", "name", "office_id", "routing_options.open.action"], [None, "New", 124, "voicemail"],
            ["1001", None, None, "voicemail"]]
    with_diff = _problems(tmp_path, rows, diff=True)
    # The create has no live call center to complete its routing from; the update has.
    assert {row for row, _ in with_diff} == {2}
    assert all(cell[1].startswith("routing_options.") for cell in with_diff)
    assert {row for row, _ in _problems(tmp_path, rows)} == {2, 3}
