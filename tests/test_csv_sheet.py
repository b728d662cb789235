"""A CSV is one sheet: bulkcc says which sheet it takes it for, reads an operators CSV as operators,
and warns when the CSV looks saved from a workbook whose other sheets it lost.

LibreOffice and Excel save only the active sheet as CSV: a migration workbook saved so validated and
applied with its agents quietly gone, and an operators sheet saved so was refused as a callcenters
sheet with no `id` column.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from openpyxl import load_workbook

from bulkcc.cli import main
from bulkcc.errors import EXIT_INVALID, EXIT_OK
from bulkcc.validate import validate_file

OFFICE = "5100000000000002"


def _bulkcc(*args: object):
    run = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in run.output, run.output
    return run


def test_a_csv_of_call_centers_is_read_as_the_callcenters_sheet_and_says_so(write_csv) -> None:
    path = write_csv(["id", "ring_seconds"], [["4800000000000001", 25]], name="centers.csv")
    run = _bulkcc("validate", path)
    assert run.exit_code == EXIT_OK, run.output
    assert "note: centers.csv is one sheet, read as the callcenters sheet (by its id column)" in run.output
    assert "warning" not in run.output
    report = json.loads(_bulkcc("validate", path, "--format", "json").output)
    assert report["notes"] == ["centers.csv is one sheet, read as the callcenters sheet (by its id column)"]
    assert report["warnings"] == []


def test_an_operators_csv_is_read_as_the_operators_sheet_in_any_separator(tmp_path: Path) -> None:
    path = tmp_path / "agents.csv"  # semicolons, as Excel writes in much of Europe: found by the user_id column
    path.write_text("call_center_id;user_id;role;skill_level\n4800000000000001;6200000000000002;operator;40\n"
                    "4800000000000001;6200000000000003;;101\n", encoding="utf-8")
    validation = validate_file(path)
    assert validation.sheet.rows == [] and validation.operators is not None
    assert validation.operators.sheet.rows == [2, 3]
    assert [(p.row, p.column) for p in validation.operators.problems] == [(3, "skill_level")]
    run = _bulkcc("plan", path)
    assert run.exit_code == EXIT_INVALID, run.output  # row 3's skill level is out of range
    assert "note: agents.csv is one sheet, read as the operators sheet (by its user_id column)" in run.output
    assert "operators row 2: POST /api/v2/callcenters/4800000000000001/operators" in run.output
    report = tmp_path / "report.xlsx"
    _bulkcc("validate", path, "--report", report)
    copy = load_workbook(report)
    assert copy.sheetnames == ["operators", "Errors"]  # the bad cell is marked on the sheet the CSV is
    assert copy["operators"]["D3"].comment is not None


def test_a_migration_saved_as_csv_is_flagged_its_agents_are_not_in_it(write_csv) -> None:
    # The callcenters sheet of a migration workbook, saved as CSV: its operators sheet is gone.
    path = write_csv(["id", "name", "office_id", "ring_seconds"], [[None, "Support Berlin", OFFICE, 25],
                                                                   [None, "Support München", OFFICE, 25]],
                     name="migration.csv")
    run = _bulkcc("plan", path)
    assert run.exit_code == EXIT_OK, run.output
    warning = next(line for line in run.output.splitlines() if line.startswith("warning: migration.csv"))
    assert "read as the callcenters sheet" in warning and "2 rows create call centers" in warning
    assert "operators sheet, if it had one, is not read (no agent changes)" in run.output
    assert "give bulkcc the .xlsx" in run.output


def test_a_csv_beside_its_workbook_or_of_an_export_is_flagged(tmp_path: Path, write_csv, write_xlsx) -> None:
    write_xlsx(["id", "ring_seconds"], [["4800000000000001", 25]], name="live.xlsx")
    beside = write_csv(["id", "ring_seconds"], [["4800000000000001", 25]], name="live.csv")
    warnings = [w.message for w in validate_file(beside).warnings]
    assert len(warnings) == 1 and "live.xlsx is beside it" in warnings[0]
    export = write_csv(["id", "ring_seconds", "info.office_id"], [["4800000000000001", 25, OFFICE]],
                       name="export.csv")
    assert "an export's info. columns" in validate_file(export).warnings[0].message
    assert validate_file(export).sheet.notes == []  # the warning says which sheet it is


def test_an_operators_csv_naming_centers_by_name_says_their_sheet_may_be_missing(write_csv) -> None:
    path = write_csv(["call_center_name", "user_id"], [["Support Berlin", "6200000000000002"]], name="ops.csv")
    validation = validate_file(path)
    assert "call_center_name cells, which may name centers its callcenters sheet creates" in \
        validation.warnings[0].message
    assert "its callcenters sheet is not read (no call center changes)" in validation.warnings[0].message


def test_a_results_sheet_saved_as_csv_is_fed_back_with_its_outcome_kept_aside(write_csv) -> None:
    path = write_csv(["row", "id", "status", "http_status", "attempts", "error", "duration_ms", "ring_seconds"],
                     [[2, "4800000000000001", "failed", 500, 3, "boom", 5, 25]], name="results.csv")
    validation = validate_file(path)
    assert validation.ok, validation.problems  # no "unknown column 'row'": the outcome columns are meta
    assert list(validation.sheet.meta["status"]) == ["failed"]
    assert "a results workbook's Results sheet" in validation.warnings[0].message
    operators = write_csv(["row", "status", "http_status", "attempts", "error", "duration_ms", "action",
                           "call_center_id", "user_id"],
                          [[2, "failed", 500, 1, "boom", 3, "add", "4800000000000001", "6200000000000002"]],
                          name="operators-results.csv")
    validation = validate_file(operators)
    assert validation.operators is not None and validation.operators.ok, validation.operators.problems
    assert "a results workbook's Operators sheet" in validation.warnings[0].message


def test_a_csv_with_neither_key_column_says_what_row_1_needs(write_csv) -> None:
    run = _bulkcc("validate", write_csv(["name", "ring_seconds"], [["x", 20]], name="odd.csv"))
    assert run.exit_code == 2
    assert "no 'id' column in row 1 (a callcenters sheet has one), nor a 'user_id' or 'user_email' column" in run.output


def test_a_csv_saved_by_german_excel_reads_its_booleans(tmp_path: Path) -> None:
    # German Excel saves a CSV with ";" and its own words for TRUE and FALSE: they were refused as
    # "'WAHR' is not TRUE or FALSE", though the admin typed nothing of the kind.
    path = tmp_path / "de.csv"
    path.write_bytes("id;hours_on;hold_queue.announce_position\r\n1001;WAHR;FALSCH\r\n".encode("cp1252"))
    validation = validate_file(path)
    assert validation.ok, validation.problems
    assert bool(validation.typed.loc[2, "hours_on"]) is True
    assert bool(validation.typed.loc[2, "hold_queue.announce_position"]) is False
