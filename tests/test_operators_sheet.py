"""The operators sheet, offline: reading it, its cells (pandera), its rules, and the reports of it.

Sheets are built in memory with `opsheet.build_operator_sheet` (as `read_operator_sheet`
does after reading a file), or written as real workbooks and run through `bulkcc validate`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from bulkcc.cli import main
from bulkcc.operator_fields import LICENSE_TYPES, OPERATOR_COLUMNS, OPERATORS_SHEET, ROLES, OperatorRow
from bulkcc.validate.validation import Validation, validate_file, validate_sheet
from bulkcc.workbook.hidden import SENT
from bulkcc.workbook.layout import OPERATOR_RESULT_COLUMNS, OPERATOR_RESULTS_SHEET, RESULTS_SHEET
from bulkcc.workbook.opsheet import build_operator_sheet
from bulkcc.workbook.reader import _build_sheet
from bulkcc.workbook.template import build_workbook

PATH = Path("ops.xlsx")
CENTERS = [["id", "name"], ["1001", "Sales"], ["1002", "Support"], ["1003", "Support"], ["1004", "Billing"]]
OPS = ["call_center_id", "call_center_name", "user_id", "role", "skill_level", "license_type",
       "keep_paid_numbers", "remove"]


def validate(rows: list[list[Any]], header: list[str] = OPS, centers: list[list[Any]] = CENTERS, *,
             diff: bool = False) -> Validation:
    return validate_sheet(_build_sheet(PATH, "callcenters", centers), diff=diff,
                          operators=build_operator_sheet(PATH, [header, *rows]))


def row(**cells: Any) -> list[Any]:
    return [cells.get(name) for name in OPS]


def cells(validation: Validation) -> dict[tuple[int | None, str | None], str]:
    assert validation.operators is not None
    return {(p.row, p.column): p.message for p in validation.operators.problems}


# ---- valid rows ---------------------------------------------------------------------------


def test_valid_rows_become_operator_rows_in_sheet_order() -> None:
    validation = validate([
        row(call_center_id="1001", user_id=5, role="Admin", skill_level=50.0, license_type="agents",
            keep_paid_numbers="no"),
        row(call_center_name=" Billing ", user_id="6"),
        row(call_center_id=1001, user_id=7, remove="TRUE"),
    ])
    assert validation.ok and validation.problems == [] and validation.operators is not None
    assert validation.operator_rows == [
        OperatorRow(2, 5, call_center_id=1001, role="admin", skill_level=50, license_type="agents",
                    keep_paid_numbers=False),
        OperatorRow(3, 6, call_center_name="Billing"),
        OperatorRow(4, 7, call_center_id=1001, remove=True),
    ]
    assert validation.operators.center_rows == {3: 5}  # "Billing" is row 5 of the callcenters sheet
    assert validation.operator_rows[1].add_body() == {"user_id": 6}  # blanks: the API's defaults


def test_no_operators_sheet_means_no_operator_rows(write_xlsx, write_csv) -> None:
    for path in (write_xlsx(["id"], [["1001"]]), write_csv(["id"], [["1001"]])):
        validation = validate_file(path)
        assert validation.operators is None and validation.operator_rows == [] and validation.ok
        assert validation.to_dict()["operators"] is None


# ---- cells: pandera, by sheet, row and column ---------------------------------------------


def test_bad_cells_are_problems_on_the_operators_sheet_at_their_row_and_column() -> None:
    validation = validate([
        row(call_center_id="1001", user_id=5, role="boss", skill_level=101, license_type="agent",
            keep_paid_numbers="maybe"),
        row(call_center_id="abc", user_id=0, skill_level=2.5),
        row(call_center_id="1001", user_id=1234567890123460.0),
    ])
    assert validation.problems == []  # the callcenters sheet is fine: these are the operators sheet's
    assert not validation.ok
    assert validation.operators is not None
    assert {p.sheet for p in validation.operators.problems} == {OPERATORS_SHEET}
    found = cells(validation)
    assert found[(2, "role")] == "'boss' is not an allowed role; allowed: admin, operator, supervisor"
    assert found[(2, "skill_level")] == "101 is out of range: skill_level must be from 0 to 100"
    assert "did you mean agents?" in found[(2, "license_type")]
    assert "is not TRUE or FALSE" in found[(2, "keep_paid_numbers")]
    assert found[(3, "call_center_id")] == ("'abc' is not a whole number; to give the call center by its name, use "
                                            "call_center_name instead of call_center_id")
    assert found[(3, "user_id")] == "0 is out of range: user_id must be 1 or more"
    assert "remove the decimals" in found[(3, "skill_level")]
    assert "may have been rounded" in found[(4, "user_id")]
    assert validation.operators.invalid_rows == {2, 3, 4} and validation.operator_rows == []


def test_an_unknown_column_gets_a_suggestion_and_makes_every_operator_row_invalid() -> None:
    validation = validate([["1001", "5", "x"]], header=["call_center_id", "user_id", "skil_level"])
    assert cells(validation) == {(1, "skil_level"): "unknown column 'skil_level': did you mean skill_level?"}
    assert validation.operators is not None and validation.operators.invalid_rows == {2}
    named = validate([["1001", "5"]], header=["id", "user"])
    assert "did you mean call_center_id?" in cells(named)[(1, "id")]
    assert "did you mean user_id?" in cells(named)[(1, "user")]


def test_a_sheet_without_user_id_is_a_problem_of_its_row_1_not_an_unreadable_file() -> None:
    validation = validate([["1001", "admin"]], header=["call_center_id", "role"])
    assert cells(validation)[(1, "user_id")].startswith(
        "no user_id or user_email column in row 1 of the operators sheet")
    assert validation.operators is not None and validation.operators.invalid_rows == {2}


# ---- the rules between cells --------------------------------------------------------------


def test_a_row_names_its_user_by_user_id_or_user_email_exactly_one() -> None:
    header = [*OPS, "user_email"]
    found = cells(validate([[*row(call_center_id="1001", role="admin"), None],
                            [*row(call_center_id="1001", user_id=5), "a@example.com"],
                            [*row(call_center_id="1001"), "not an email"],
                            [*row(call_center_id="1001"), " Anna@Example.com "]], header=header))
    assert found == {
        (2, "user_id"): "the row names no user: fill in user_id, or user_email (looked up when planned with a key "
                        "or applied)",
        (3, "user_email"): "user_id and user_email are both filled: a row gives one of them; clear user_email to "
                           "use the id, or user_id to look the user up by email",
        (4, "user_email"): "'not an email' is not an email address (name@domain, no blanks): type the user's "
                           "email, or use user_id"}
    validation = validate([[*row(call_center_id="1001"), " Anna@Example.com "]], header=header)
    assert validation.ok and validation.operators is not None
    assert validation.operators.rows == [] and validation.operators.lookups == {2: {"user_email": "Anna@Example.com"}}


def test_exactly_one_of_call_center_id_and_call_center_name() -> None:
    found = cells(validate([row(user_id=5), row(call_center_id="1001", call_center_name="Sales", user_id=6),
                            row(call_center_id="bad", call_center_name="Sales", user_id=7)]))
    assert found[(2, "call_center_id")].startswith("the row names no call center: fill in call_center_id")
    assert found[(3, "call_center_name")].startswith("call_center_id and call_center_name are both filled")
    assert (4, "call_center_name") in found  # a bad id cell is still a filled one
    assert set(found) == {(2, "call_center_id"), (3, "call_center_name"), (4, "call_center_id"),
                          (4, "call_center_name")}


def test_a_call_center_name_names_exactly_one_row_of_the_callcenters_sheet() -> None:
    validation = validate([row(call_center_name="Support", user_id=5), row(call_center_name="sales", user_id=6),
                           row(call_center_name="Biling", user_id=7), row(call_center_name="Nowhere", user_id=8),
                           row(call_center_name="Sales", user_id=9),
                           row(call_center_name="\u00a0SALES\u200b", user_id=10)])
    found = cells(validation)
    assert found[(2, "call_center_name")] == (
        "call_center_name 'Support' names 2 rows of the callcenters sheet (rows 3, 4): it must name one; "
        "make those names distinct, or use call_center_id")
    # A name that reads as a row's name (case, blanks, invisible characters aside) names that row; a name
    # no row has is a live call center's, looked up by the run: offline a warning says so, with the sheet's
    # close names (a typo shows before anything is read).
    assert set(found) == {(2, "call_center_name")}
    assert validation.operators is not None and validation.operators.center_rows == {3: 2, 6: 2, 7: 2}
    assert validation.operators.lookups == {4: {"call_center_name": "Biling"}, 5: {"call_center_name": "Nowhere"}}
    assert [w.message for w in validation.operators.warnings] == [
        "call_center_name in 2 rows (rows 4, 5) names no row of the callcenters sheet: looked up among the live "
        "call centers when planned with a key or applied (row 4 'Biling': did you mean the sheet's 'Billing'?)"]
    without_names = validate([row(call_center_name="Sales", user_id=5)], centers=[["id"], ["1001"]])
    assert without_names.ok and without_names.operators.lookups == {2: {"call_center_name": "Sales"}}


def test_the_same_call_center_and_user_twice_is_an_error_on_both_rows() -> None:
    found = cells(validate([row(call_center_id="1001", user_id=5), row(call_center_id="1002", user_id=5),
                            row(call_center_name="Sales", user_id=5), row(call_center_id="1001", user_id=6)]))
    message = ("user 5 is listed more than once for call center 1001 (also in row {}): one row per operator of "
               "a call center; keep one of these rows")
    assert found == {(2, "user_id"): message.format(4), (4, "user_id"): message.format(2)}
    created = cells(validate([row(call_center_name="New", user_id=5), row(call_center_name="New", user_id=5)],
                             centers=[["id", "name"], [None, "New"]]))
    assert "for the call center of callcenters row 2 (also in row 3)" in created[(2, "user_id")]


def test_remove_with_other_cells_filled_is_a_warning_and_the_removal_takes_only_the_user() -> None:
    # An exported row marked for removal still holds the agent's role and skill: no need to clear them.
    validation = validate([row(call_center_id="1001", user_id=5, remove=True, role="admin", skill_level=5,
                               license_type="agents", keep_paid_numbers=False),
                           row(call_center_id="1001", user_id=6, remove=False, role="admin")])
    assert validation.ok
    assert [w.message for w in validation.operators.warnings] == [
        "remove is TRUE in 1 row that also fills role, skill_level, license_type, keep_paid_numbers (row 2): "
        "that operator is removed, and those cells are not used (a removal takes only the user)"]
    removed = validation.operator_rows[0]
    assert (removed.remove, removed.role, removed.skill_level, removed.license_type, removed.keep_paid_numbers) \
        == (True, None, None, None, None)


def test_skill_level_0_only_with_diff() -> None:
    sheet = [row(call_center_id="1001", user_id=5, skill_level=0)]
    found = cells(validate(sheet))
    assert found == {(2, "skill_level"): (
        "skill_level 0 is allowed only when changing an existing operator's level (with --diff); adding an "
        "operator takes 1-100: type 1 to 100, or run with --diff to change the level of an operator the "
        "call center has")}
    with_diff = validate(sheet, diff=True)
    assert with_diff.ok and with_diff.operator_rows[0].skill_level == 0
    assert validate([row(call_center_id="1001", user_id=5, skill_level=1)]).ok


# ---- reports: JSON, terminal, workbook, exit codes ---------------------------------------


def write_book(path: Path, centers: list[list[Any]], operators: list[list[Any]] | None,
               operators_name: str = OPERATORS_SHEET, first: str = "callcenters") -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = first
    for values in centers:
        sheet.append(values)
    if operators is not None:
        extra = workbook.create_sheet(operators_name)
        for values in operators:
            extra.append(values)
    workbook.save(path)
    return path


BAD_OPS = [OPS, row(call_center_id="1001", user_id=5, role="boss"),
           row(call_center_id="1001", call_center_name="Sales", user_id=6), row(call_center_id="1001", user_id=7)]


def run(*args: Any):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_validate_exits_1_on_a_bad_operator_row_and_shows_its_own_table(tmp_path: Path) -> None:
    path = write_book(tmp_path / "book.xlsx", CENTERS, BAD_OPS)
    result = run("validate", path)
    assert result.exit_code == 1, result.output
    text = " ".join(result.stdout.split())
    assert "operators sheet" in text and "'boss' is not an allowed role" in text
    assert ("book.xlsx: 4 rows, all valid; operators sheet: 2 errors in 2 of 3 rows, 1 row valid") in text
    good = write_book(tmp_path / "good.xlsx", CENTERS, [OPS, row(call_center_id="1001", user_id=5)])
    result = run("validate", good)
    assert result.exit_code == 0 and "good.xlsx: 4 rows, all valid; operators sheet: 1 row, all valid" in result.stdout


def test_plan_exits_1_on_a_bad_operator_row_too(tmp_path: Path) -> None:
    result = run("plan", write_book(tmp_path / "book.xlsx", CENTERS, BAD_OPS))
    assert result.exit_code == 1 and "'boss' is not an allowed role" in " ".join(result.stdout.split())


def test_the_json_report_has_an_operators_key(tmp_path: Path) -> None:
    result = run("validate", write_book(tmp_path / "book.xlsx", CENTERS, BAD_OPS), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["errors"] == [] and report["error_count"] == 0
    operators = report["operators"]
    assert {k: operators[k] for k in ("sheet", "valid", "rows", "valid_rows", "invalid_rows", "error_count")} == {
        "sheet": "operators", "valid": False, "rows": 3, "valid_rows": 1, "invalid_rows": 2, "error_count": 2}
    assert [(e["sheet"], e["row"], e["column"]) for e in operators["errors"]] == [
        ("operators", 2, "role"), ("operators", 3, "call_center_name")]
    assert operators["warnings"] == []


def test_the_report_workbook_marks_operator_cells_and_lists_them_with_their_sheet(tmp_path: Path) -> None:
    path = write_book(tmp_path / "book.xlsx", [["id", "ring_seconds"], ["1001", 99], ["1002", 20]], BAD_OPS)
    report = tmp_path / "report.xlsx"
    assert run("validate", path, "--report", report).exit_code == 1
    workbook = load_workbook(report)
    assert workbook.sheetnames == ["callcenters", "operators", "Errors"]
    assert workbook["operators"]["D2"].comment is not None  # role, row 2
    assert "not an allowed role" in workbook["operators"]["D2"].comment.text
    assert workbook["operators"]["B3"].fill.fgColor.rgb.endswith("F8CBAD")  # call_center_name, row 3
    assert workbook["operators"]["C4"].comment is None
    errors = list(workbook["Errors"].iter_rows(values_only=True))
    assert errors[0] == ("row", "column", "value", "message", "sheet")
    assert [(r[0], r[1], r[4]) for r in errors[1:]] == [
        (2, "ring_seconds", "callcenters"), (2, "role", "operators"), (3, "call_center_name", "operators")]
    link = workbook["Errors"].cell(row=3, column=1).hyperlink
    assert "'operators'!D2" in (link.location or link.target or "")


def test_a_fed_back_results_workbook_reads_its_operators_sheet_without_the_outcome_columns(tmp_path: Path) -> None:
    centers = [["row", "id", "status", "name"], [2, "1001", "updated", "Sales"]]
    operators = [[*OPERATOR_RESULT_COLUMNS, "call_center_id", "user_id", "role"],
                 [2, "added", 201, 1, None, 12, "add", "1001", "5", "admin"]]
    path = write_book(tmp_path / "results.xlsx", centers, operators, OPERATOR_RESULTS_SHEET, first=RESULTS_SHEET)
    validation = validate_file(path)
    assert validation.ok, (validation.problems, validation.operators and validation.operators.problems)
    assert validation.operators is not None and validation.operators.sheet_name == OPERATOR_RESULTS_SHEET
    assert validation.operator_rows == [OperatorRow(2, 5, call_center_id=1001, role="admin")]
    assert list(validation.operators.sheet.meta.columns) == list(OPERATOR_RESULT_COLUMNS)
    # The same columns in an input's operators sheet are unknown columns, as on the callcenters sheet.
    plain = write_book(tmp_path / "input.xlsx", [["id"], ["1001"]], operators)
    assert "unknown column 'status'" in cells(validate_file(plain))[(1, "status")]


def test_a_hidden_operators_sheet_and_hidden_rows_are_warnings(tmp_path: Path) -> None:
    workbook = Workbook()
    workbook.active.title = "callcenters"
    workbook.active.append(["id"])
    workbook.active.append(["1001"])
    sheet = workbook.create_sheet(OPERATORS_SHEET)
    for values in ([*OPS], row(call_center_id="1001", user_id=5), row(call_center_id="1001", user_id=6)):
        sheet.append(values)
    sheet.sheet_state = "hidden"
    sheet.row_dimensions[3].hidden = True
    path = tmp_path / "hidden.xlsx"
    workbook.save(path)
    validation = validate_file(path)
    assert validation.ok and validation.warnings == []
    assert validation.operators is not None and len(validation.operators.warnings) == 2
    result = run("validate", path)
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "warning: operators sheet: the sheet 'operators', which bulkcc reads, is hidden" in text
    assert "warning: operators sheet: 1 hidden row holds values, " + SENT + ": row 3" in text
    assert "2 warnings" in text


def test_an_export_with_operator_rows_reads_back_as_those_rows(tmp_path: Path) -> None:
    book = build_workbook(rows=[{"id": 1001, "name": "Sales"}],
                          operator_rows=[{"call_center_id": 1001, "user_id": 5, "role": "supervisor",
                                          "skill_level": 80},
                                         {"call_center_name": "Sales", "user_id": 2**60, "remove": True}])
    book.save(tmp_path / "export.xlsx")
    validation = validate_file(tmp_path / "export.xlsx", diff=True)
    assert validation.ok
    assert validation.operator_rows == [OperatorRow(2, 5, call_center_id=1001, role="supervisor", skill_level=80),
                                        OperatorRow(3, 2**60, call_center_name="Sales", remove=True)]
    assert OPERATORS_SHEET not in build_workbook(rows=[{"id": 1001}]).sheetnames  # an export without it


# ---- a property: no operators sheet crashes the reader or the validator ------------------

PLAUSIBLE = {
    "call_center_id": st.one_of(st.sampled_from(["1001", "1002", 1001.0, "abc", "-3", "0", None])),
    "call_center_name": st.sampled_from(["Sales", "Support", "sales", "Nowhere", " Billing ", "a\nb", None]),
    "user_id": st.one_of(st.integers(-2, 8), st.sampled_from(["5", "x", 2.5, 1234567890123460.0, None])),
    "role": st.sampled_from([*ROLES, "ADMIN", "boss", 3, None]),
    "skill_level": st.one_of(st.integers(-1, 101), st.sampled_from(["50", 0.5, "high", None])),
    "license_type": st.sampled_from([*LICENSE_TYPES, "agent", None]),
    "keep_paid_numbers": st.sampled_from([True, False, "yes", "maybe", 1, None]),
    "remove": st.sampled_from([True, False, "TRUE", "no", 2, None]),
}


@st.composite
def operator_sheet(draw: st.DrawFn) -> tuple[list[str], list[list[Any]]]:
    header = draw(st.lists(st.sampled_from(OPERATOR_COLUMNS), min_size=1, max_size=8, unique=True))
    if draw(st.integers(0, 9)) == 0:
        header.append("skil_level")
    rows = [[draw(PLAUSIBLE.get(c, st.just("x"))) for c in header] for _ in range(draw(st.integers(1, 5)))]
    return header, rows


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sheet=operator_sheet(), diff=st.booleans())
def test_any_operators_sheet_validates_to_problems_or_rows_never_an_exception(sheet, diff: bool) -> None:
    header, rows = sheet
    validation = validate(rows, header=header, diff=diff)
    operators = validation.operators
    assert operators is not None
    json.dumps(validation.to_dict(), allow_nan=False)  # the JSON report can always be written
    assert all(p.sheet == OPERATORS_SHEET and p.row is not None for p in operators.problems)
    assert all(p.column is None or p.column in header or p.column in OPERATOR_COLUMNS for p in operators.problems)
    valid = [r for r in operators.sheet.rows if r not in operators.invalid_rows]  # blank rows are not rows
    # A valid row is a row, or waits for a look-up (a live call center's name, an email).
    assert sorted([r.excel_row for r in operators.rows] + list(operators.lookups)) == valid
    assert not {r.excel_row for r in operators.rows} & set(operators.lookups)
    for parsed in operators.rows:  # every valid row keeps the sheet's rules
        assert (parsed.call_center_id is None) != (parsed.call_center_name is None)
        assert parsed.user_id >= 1
        assert parsed.role in (None, *ROLES) and parsed.license_type in (None, *LICENSE_TYPES)
        assert parsed.skill_level is None or (0 if diff else 1) <= parsed.skill_level <= 100
        if parsed.remove:
            assert parsed.add_body() == {"user_id": parsed.user_id}
    keys = [(r.call_center_id, r.call_center_name, r.user_id) for r in operators.rows]
    assert len(keys) == len(set(keys))
    assert validation.ok == (operators.problems == [])


@pytest.mark.parametrize("name", ["Operators", "OPERATORS"])
def test_the_operators_sheet_is_found_whatever_its_case(tmp_path: Path, name: str) -> None:
    path = write_book(tmp_path / "case.xlsx", [["id"], ["1001"]], [OPS, row(call_center_id="1001", user_id=5)],
                      operators_name=name)
    assert validate_file(path).operator_rows == [OperatorRow(2, 5, call_center_id=1001)]


@settings(max_examples=examples(20), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(sheet=operator_sheet())
def test_an_operators_sheet_in_a_workbook_gives_what_the_same_cells_give_in_memory(sheet, tmp_path: Path) -> None:
    header, rows = sheet
    path = write_book(tmp_path / "prop.xlsx", CENTERS, [header, *rows])
    from_file, in_memory = validate_file(path), validate(rows, header=header)
    assert from_file.operators is not None and in_memory.operators is not None
    # The cells, not the words: a workbook holds 2 as the number 2.0, which a message shows as it is.
    assert [(p.row, p.column) for p in from_file.operators.problems] == [
        (p.row, p.column) for p in in_memory.operators.problems]
    assert from_file.operator_rows == in_memory.operator_rows


def test_one_row_looked_up_live_is_called_one_row() -> None:
    validation = validate([row(call_center_name="Nowhere", user_id=5)], centers=[["id", "name"], ["1001", "Sales"]])
    assert validation.operators is not None
    assert [w.message.split(" names no row")[0] for w in validation.operators.warnings] == [
        "call_center_name in 1 row (row 2)"]
