"""Messages that say the rule and the fix for the cell they are about, and count as a person reads.

Each case is one the issue found: a create row with a bad office_id was told to fill office_id, a
rounded user_id was called another call center's, `80%` typed was "0.8 is not a whole number", the
template's drop-downs refused a 20-digit id with "id takes 1 or more." and said booleans take only
TRUE/FALSE, and counts read "1 call centers", "1 rows valid", "(rows 4)".
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from openpyxl import Workbook

from bulkcc.cli import main
from bulkcc.fields import FIELDS_BY_PATH
from bulkcc.validate import validate_file
from bulkcc.values import counted
from bulkcc.workbook.reference import README_LINES
from bulkcc.workbook.template import field_validation


def _messages(validation, sheet: str = "callcenters") -> dict[tuple[int | None, str | None], str]:
    problems = validation.problems if sheet == "callcenters" else validation.operators.problems
    return {(p.row, p.column): p.message for p in problems}


def test_a_create_row_with_a_bad_office_id_is_told_about_its_office_id_only(write_xlsx) -> None:
    path = write_xlsx(["id", "name", "office_id"], [[None, "Support Berlin", "Berlin"], [None, "x", None]])
    messages = _messages(validate_file(path))
    assert set(messages) == {(2, "office_id"), (3, "id")}  # row 3 is blank in both: it is told to fill one
    assert "id is required" in messages[(3, "id")]


def test_a_rounded_user_id_is_not_called_a_call_center(tmp_path: Path) -> None:
    workbook = Workbook()
    workbook.active.title = "callcenters"
    workbook.active.append(["id"])
    operators = workbook.create_sheet("operators")
    operators.append(["call_center_id", "user_id"])
    operators.append(["4800000000000001", 6200000000000040.0])  # typed as a number: Excel keeps 15 digits
    workbook.save(path := tmp_path / "agents.xlsx")
    message = _messages(validate_file(path), "operators")[(2, "user_id")]
    assert "call center" not in message and "rounded" in message and "format the column as Text" in message


def test_a_percentage_typed_in_a_whole_number_column_says_to_drop_the_percent(write_xlsx, write_csv) -> None:
    messages = _messages(validate_file(write_xlsx(["id", "ring_seconds"], [["1001", 0.25]])))
    assert "type 25, without the %" in messages[(2, "ring_seconds")]
    messages = _messages(validate_file(write_csv(["id", "ring_seconds"], [["1001", "25%"]])))
    assert messages[(2, "ring_seconds")] == "'25%' is not a whole number: type 25 without the %"
    messages = _messages(validate_file(write_xlsx(["id", "ring_seconds"], [["1001", 30.5]])))
    assert messages[(2, "ring_seconds")] == "30.5 is not a whole number; remove the decimals"


def test_the_templates_drop_down_errors_agree_with_the_rules() -> None:
    identifier = field_validation(FIELDS_BY_PATH["id"]).error
    assert "1 to 19 digits" in identifier and "Text" in identifier and "1 or more" not in identifier
    boolean = field_validation(FIELDS_BY_PATH["hours_on"]).error
    assert "TRUE or FALSE" in boolean and "yes/no" in boolean and "1/0" in boolean
    ranged = field_validation(FIELDS_BY_PATH["ring_seconds"]).error
    assert "10–45" in ranged and "without a unit or a %" in ranged
    assert any(line.startswith("Booleans: TRUE or FALSE (yes/no") for line in README_LINES)


def test_counts_read_as_a_person_reads_them(write_xlsx) -> None:
    assert [counted(n, "call center") for n in (0, 1, 2, 1200)] == [
        "0 call centers", "1 call center", "2 call centers", "1,200 call centers"]
    path = write_xlsx(["id", "ring_seconds"], [["1001", 25], ["1002", 99]])
    run = CliRunner().invoke(main, ["validate", str(path)])
    assert "input.xlsx: 1 error in 1 of 2 rows; 1 row valid" in run.output, run.output
    new = write_xlsx(["id", "name", "office_id"], [[None, "Support Berlin", "124"]], name="new.xlsx")
    planned = CliRunner().invoke(main, ["plan", str(new)])
    assert "1 call center to create (POST), 0 requests planned, 0 rows with nothing to change" in planned.output


def test_a_header_written_another_way_or_below_a_title_says_how_to_fix_it(write_xlsx, write_csv) -> None:
    # "no 'id' column in row 1" alone left the admin to guess that 'ID' must be 'id', or that the title
    # rows above the names must go.
    def error(path: Path) -> str:
        run = CliRunner().invoke(main, ["validate", str(path)])
        assert run.exit_code != 0 and "Traceback" not in run.output
        return " ".join(run.output.split())

    assert "row 1 has 'ID': rename it id" in error(write_xlsx(["ID", "name"], [["1001", "A"]]))
    assert "row 1 has 'User ID': rename it user_id" in error(
        write_csv(["Call Center ID", "User ID"], [["1001", "501"]]))
    titled = write_csv(["Call centers of ACME", ""], [["", ""], ["id", "name"], ["1001", "A"]], name="t.csv")
    assert "row 3 holds the column names: delete the rows above it" in error(titled)
    titled = write_xlsx(["Call centers of ACME"], [[], ["id", "name"], ["1001", "A"]], name="t.xlsx")
    assert "row 3 holds the column names: delete the rows above it" in error(titled)


def test_a_number_cell_that_is_no_number_is_told_the_column_s_rule(write_csv) -> None:
    # "'abc' is not a whole number" said what is wrong, not what the column takes.
    path = write_csv(["id", "ring_seconds"], [["1001", "abc"], ["1002", "99999999999999999999999"], ["1003", "12.5"]])
    messages = _messages(validate_file(path))
    rule = "ring_seconds takes a whole number " + FIELDS_BY_PATH["ring_seconds"].range_text
    assert messages[(2, "ring_seconds")] == f"'abc' is not a whole number; {rule}"
    assert messages[(3, "ring_seconds")].endswith(f"(over 2^63); {rule}")
    assert messages[(4, "ring_seconds")] == "12.5 is not a whole number; remove the decimals"  # its fix already
