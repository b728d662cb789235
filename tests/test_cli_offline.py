"""The offline commands through click: `validate` and `plan`, exit codes and outputs."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from openpyxl import load_workbook
from workbooks import write_sheet

from bulkcc.cli import main
from bulkcc.workbook.hidden import SENT

R = "routing_options"
HEADER = ["id", "name", "ring_seconds", "monday_hours", "hold_queue.max_hold_seconds", "hold_queue.announce_position"]
GOOD_ROWS = [
    [1001, "Support – EMEA", 25, "08:00-12:00, 14:00-18:00", None, None],
    [1002, None, None, "closed", 900, True],
    [1003, None, None, None, None, None],  # nothing to change
]
BAD_ROWS = GOOD_ROWS + [
    [1004, "Billing APAC", 60, None, None, None],  # row 5: ring_seconds out of range
    [1005, None, None, "18:00-08:00", 60, True],  # row 6: hours backwards; announce with a short hold
]


def run(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- validate -------------------------------------------------------------------


def test_validate_diff_accepts_a_row_that_fills_only_the_routing_it_changes(write_xlsx) -> None:
    path = write_xlsx(["id", f"{R}.open.operator_routing"], [[1001, "random"]])
    plain = run("validate", path)
    assert plain.exit_code == 1
    assert "use --diff" in " ".join(plain.output.split())
    diff = run("validate", path, "--diff")
    assert diff.exit_code == 0, diff.output
    assert "1 row, all valid" in diff.output
    report = json.loads(run("validate", path, "--diff", "--format", "json").stdout)
    assert (report["valid"], report["diff"]) == (True, True)


def test_validate_valid_exits_0(write_xlsx) -> None:
    result = run("validate", write_xlsx(HEADER, GOOD_ROWS))
    assert result.exit_code == 0, result.output
    assert "input.xlsx: 3 rows, all valid" in result.stdout


def test_validate_invalid_exits_1_and_lists_the_cells(write_xlsx) -> None:
    result = run("validate", write_xlsx(HEADER, BAD_ROWS))
    assert result.exit_code == 1
    assert "input.xlsx: 3 errors in 2 of 5 rows; 3 rows valid" in result.stdout
    for words in ("ring_seconds", "60 is out of range", "monday_hours", "announce_position"):
        assert words in result.stdout


def _not_a_zip(folder: Path) -> Path:
    path = folder / "fake.xlsx"
    path.write_text("not a zip")
    return path


def _no_id(folder: Path) -> Path:
    path = folder / "x.csv"
    path.write_text("name\nfoo\n")
    return path


UNREADABLE = [
    (lambda folder: folder / "missing.xlsx", "missing.xlsx: no such file"),
    (lambda folder: folder, "is a folder, not a workbook"),
    (_not_a_zip, "fake.xlsx is not an .xlsx workbook"),
    (_no_id, "x.csv: no 'id' column in row 1"),
    ("zip_bomb", "bomb.xlsx declares 315 MB of uncompressed content, over the 210 MB limit: refusing to open it"),
]


@pytest.mark.parametrize("make, words", UNREADABLE)
def test_validate_unreadable_exits_2_without_traceback(request, tmp_path: Path, make, words: str) -> None:
    path = request.getfixturevalue(make) if isinstance(make, str) else make(tmp_path)
    result = run("validate", path)
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert words in " ".join(result.stderr.split())


def test_a_short_error_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("validate", "nope.xlsx")
    assert result.exit_code == 2
    assert result.stderr == "error: nope.xlsx: no such file\n"


@pytest.mark.parametrize("make, words", [UNREADABLE[0], UNREADABLE[2]])
def test_a_long_error_is_still_one_line(tmp_path: Path, make, words: str) -> None:
    folder = tmp_path / ("long-folder-name-" * 12)  # > 200 characters: longer than any console
    folder.mkdir()
    result = run("validate", make(folder))
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_validate_json(write_xlsx) -> None:
    result = run("validate", write_xlsx(HEADER, BAD_ROWS), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert {k: report[k] for k in ("file", "sheet", "valid", "rows", "valid_rows", "invalid_rows", "error_count")} == {
        "file": "input.xlsx", "sheet": "callcenters", "valid": False, "rows": 5, "valid_rows": 3, "invalid_rows": 2,
        "error_count": 3,
    }
    assert [set(e) for e in report["errors"]] == [{"row", "column", "value", "message"}] * 3
    assert [(e["row"], e["column"]) for e in report["errors"]] == [
        (5, "ring_seconds"), (6, "monday_hours"), (6, "hold_queue.announce_position")]
    assert report["errors"][0]["value"] == 60
    assert report["errors"][1]["value"] == "18:00-08:00"


def test_validate_json_of_a_valid_file(write_csv) -> None:
    result = run("validate", write_csv(HEADER, GOOD_ROWS), "--format", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["valid"] is True and report["errors"] == [] and report["sheet"] is None


def test_validate_report_marks_the_bad_cells_and_leaves_the_input_alone(write_xlsx, tmp_path: Path) -> None:
    source = write_xlsx(HEADER + ["max_hold_secs"], [row + [None] for row in BAD_ROWS])
    before = sha256(source)
    report_path = tmp_path / "out" / "report.xlsx"
    result = run("validate", source, "--report", report_path)
    assert result.exit_code == 1
    assert f"wrote {report_path}" in " ".join(result.stdout.split())
    assert sha256(source) == before

    workbook = load_workbook(report_path)
    assert workbook.sheetnames == ["callcenters", "Errors"]
    sheet = workbook["callcenters"]
    column = {c.value: c.column_letter for c in sheet[1]}
    bad_cells = {f"{column['ring_seconds']}5", f"{column['monday_hours']}6",
                 f"{column['hold_queue.announce_position']}6", f"{column['max_hold_secs']}1"}
    for ref in bad_cells:
        cell = sheet[ref]
        assert cell.fill.fgColor.rgb.endswith("F8CBAD"), ref
        assert cell.comment is not None and cell.comment.author == "bulkcc"
    assert "60 is out of range" in sheet[f"{column['ring_seconds']}5"].comment.text
    assert "did you mean hold_queue.max_hold_seconds?" in sheet[f"{column['max_hold_secs']}1"].comment.text
    fine = sheet[f"{column['ring_seconds']}2"]
    assert fine.comment is None and fine.fill.fgColor.rgb != "00F8CBAD"
    assert sheet[f"{column['ring_seconds']}2"].value == 25  # the data is copied as it was

    errors = [[c.value for c in row] for row in workbook["Errors"].iter_rows()]
    assert errors[0] == ["row", "column", "value", "message"]
    assert [(r[0], r[1]) for r in errors[1:]] == [
        (1, "max_hold_secs"), (5, "ring_seconds"), (6, "monday_hours"), (6, "hold_queue.announce_position")]
    link = workbook["Errors"].cell(row=3, column=1).hyperlink
    assert link is not None
    assert f"'callcenters'!{column['ring_seconds']}5" in (link.location or link.target or "")


def test_validate_report_of_a_csv(write_csv, tmp_path: Path) -> None:
    source = write_csv(HEADER, BAD_ROWS)
    before = sha256(source)
    result = run("validate", source, "--report", tmp_path / "report.xlsx", "--format", "json")
    assert result.exit_code == 1
    json.loads(result.stdout)  # the report path is not printed into the JSON
    assert sha256(source) == before
    workbook = load_workbook(tmp_path / "report.xlsx")
    assert workbook.sheetnames == ["callcenters", "Errors"]
    assert workbook["callcenters"]["C5"].comment is not None  # ring_seconds, row 5


def test_the_report_copy_keeps_an_id_typed_into_it_as_text(write_csv, write_xlsx, tmp_path: Path) -> None:
    # The admin fixes the marked cells in the copy and validates it again: a 16-digit id typed into a
    # General cell of it was rounded again. Its id columns are text, cells and column.
    for source in (write_csv(["id", "ring_seconds"], [["4800000000000001", "abc"]]),
                   write_xlsx(["id", "ring_seconds", "routing_options.open.action_target_id"],
                              [[4.8e15, 30, "4538596013461197"]])):
        assert run("validate", source, "--report", tmp_path / "report.xlsx").exit_code == 1
        sheet = load_workbook(tmp_path / "report.xlsx")["callcenters"]
        ids = [c.column_letter for c in sheet[1] if c.value in ("id", "routing_options.open.action_target_id")]
        for letter in ids:
            assert sheet.column_dimensions[letter].number_format == "@"
            assert sheet[f"{letter}2"].number_format == "@"
        assert sheet["B2"].number_format == "General"  # ring_seconds


def test_validate_sample_files(samples_dir: Path) -> None:
    assert run("validate", samples_dir / "callcenters.xlsx").exit_code == 0
    assert run("validate", samples_dir / "callcenters.csv").exit_code == 0
    result = run("validate", samples_dir / "callcenters-with-errors.xlsx", "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error_count"] == 15


# ---- plan -----------------------------------------------------------------------


def test_plan_prints_the_requests_and_writes_json_lines(write_xlsx, tmp_path: Path) -> None:
    out = tmp_path / "plan.jsonl"
    result = run("plan", write_xlsx(HEADER, GOOD_ROWS), "--json", out)
    assert result.exit_code == 0, result.output
    assert "row 2: PATCH /api/v2/callcenters/1001" in result.stdout
    assert "row 4: id 1003 has nothing to change, not sent" in result.stdout
    assert "2 requests planned, 1 row with nothing to change, 0 invalid rows (never sent)" in result.stdout
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert lines == [
        {"row": 2, "id": 1001, "method": "PATCH", "path": "/api/v2/callcenters/1001",
         "body": {"name": "Support – EMEA", "ring_seconds": 25,
                  "monday_hours": ["08:00", "12:00", "14:00", "18:00"]}},
        {"row": 3, "id": 1002, "method": "PATCH", "path": "/api/v2/callcenters/1002",
         "body": {"monday_hours": [], "hold_queue": {"max_hold_seconds": 900, "announce_position": True}}},
    ]


def test_plan_exits_1_and_never_plans_invalid_rows(write_xlsx, tmp_path: Path) -> None:
    out = tmp_path / "plan.jsonl"
    result = run("plan", write_xlsx(HEADER, BAD_ROWS), "--json", out)
    assert result.exit_code == 1
    assert "2 requests planned, 1 row with nothing to change, 2 invalid rows (never sent)" in result.stdout
    assert "callcenters/1004" not in result.stdout and "callcenters/1005" not in result.stdout
    ids = [json.loads(line)["id"] for line in out.read_text("utf-8").splitlines()]
    assert ids == [1001, 1002]


def test_plan_of_the_sample(samples_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.jsonl"
    result = run("plan", samples_dir / "callcenters.xlsx", "--json", out)
    assert result.exit_code == 0
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [line["id"] for line in lines] == list(range(1001, 1021))
    assert all(line["method"] == "PATCH" and line["path"] == f"/api/v2/callcenters/{line['id']}" for line in lines)


def test_plan_of_the_error_sample_plans_nothing(samples_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.jsonl"
    result = run("plan", samples_dir / "callcenters-with-errors.xlsx", "--json", out)
    assert result.exit_code == 1
    assert out.read_text("utf-8") == ""  # an unknown column makes every row untrustworthy


def test_plan_unreadable_exits_2(tmp_path: Path) -> None:
    result = run("plan", tmp_path / "nope.csv")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("error: ")


# ---- plan output: plain lines when piped, a summary on a full terminal ----------


def _long_rows(count: int) -> list[list[Any]]:
    # A name and description long enough that a 200-column wrap would cut the JSON body.
    return [[2000 + n, f"Support line {n} " + "x" * 60, "d" * 250, 25] for n in range(count)]


LONG_HEADER = ["id", "name", "group_description", "ring_seconds"]


def test_piped_plan_output_is_plain_lines_and_every_body_parses(write_xlsx) -> None:
    result = run("plan", write_xlsx(LONG_HEADER, _long_rows(60)))
    assert result.exit_code == 0, result.output
    bodies = [line.strip() for line in result.stdout.splitlines() if line.startswith("  {")]
    assert len(bodies) == 60  # not a summary: a pipe gets every request
    assert all(json.loads(body)["group_description"] == "d" * 250 for body in bodies)


class _Terminal:
    """A stream that says it is a terminal, as a shell's stdout does."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)


def test_a_plan_taller_than_the_terminal_is_summed_up(write_xlsx) -> None:
    from bulkcc.cli.plan_output import FIRST_ROWS, write_requests
    from bulkcc.plan import make_plan
    from bulkcc.validate import validate_file

    plan = make_plan(validate_file(write_xlsx(LONG_HEADER, _long_rows(500))))
    terminal = _Terminal()
    write_requests(plan, terminal, full_plan_hint="write them all with --json PATH")
    lines = terminal.text.splitlines()
    assert len(lines) < 40  # not 1,500 lines of requests
    assert sum(line.startswith("row ") for line in lines) == FIRST_ROWS
    assert f"… and {500 - FIRST_ROWS} more requests" in terminal.text and "--json PATH" in terminal.text
    counts = {line.split()[0]: line.split()[1] for line in lines if line.startswith("  ") and "call center" in line}
    assert counts == {"name": "500", "group_description": "500", "ring_seconds": "500"}


def test_a_short_plan_on_a_terminal_is_shown_whole(write_xlsx) -> None:
    from bulkcc.cli.plan_output import write_requests
    from bulkcc.plan import make_plan
    from bulkcc.validate import validate_file

    plan = make_plan(validate_file(write_xlsx(LONG_HEADER, _long_rows(3))))
    terminal = _Terminal()
    write_requests(plan, terminal, full_plan_hint="")
    assert sum(line.startswith("row ") for line in terminal.text.splitlines()) == 3


def test_validate_prints_no_library_warning(samples_dir: Path) -> None:
    # pandera warned on pandas 2.x (the floor CI runs) about concatenating all-NA frames.
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "bulkcc.cli", "validate",  # the warnings a user sees
                           str(samples_dir / "callcenters-with-errors.xlsx")], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert "Warning" not in done.stderr and "Traceback" not in done.stderr, done.stderr


# ---- warnings: shown, in JSON, never an exit code --------------------------------------------


def test_validate_and_plan_show_hidden_data_as_warnings_with_exit_0(tmp_path: Path) -> None:
    path = write_sheet(tmp_path / "hidden.xlsx", [["id", "name"], ["1001", "a"], ["1002", "b"]], hidden_rows=[3])
    text = run("validate", path)
    assert text.exit_code == 0, text.output
    assert "warning: 1 hidden row holds values, " + SENT + ": row 3" in text.stdout
    assert "hidden.xlsx: 2 rows, all valid; 1 warning" in text.stdout

    report = json.loads(run("validate", path, "--format", "json").stdout)
    assert report["valid"] is True and report["error_count"] == 0
    assert [(w["row"], w["column"]) for w in report["warnings"]] == [(None, None)]
    assert report["warnings"][0]["message"].startswith("1 hidden row holds values")

    planned = run("plan", path)
    assert planned.exit_code == 0
    assert "warning: 1 hidden row holds values" in planned.stdout
    assert "2 requests planned" in planned.stdout


def test_validate_json_has_an_empty_warnings_list_when_nothing_is_hidden(write_csv) -> None:
    report = json.loads(run("validate", write_csv(HEADER, GOOD_ROWS), "--format", "json").stdout)
    assert report["warnings"] == []


# ---- output bounded, outside text made harmless -----------------------------------------------


def table_column(stdout: str, index: int) -> str:
    """The text of one column of the problems table, its folded lines joined (1: Row … 4: Message)."""
    parts = [line.split("│") for line in stdout.splitlines() if line.startswith("│")]
    return "".join(p[index].strip() for p in parts if len(p) > index)


def test_a_10_mb_cell_is_shown_cut_with_its_length(tmp_path: Path) -> None:
    # openpyxl cuts a cell to Excel's 32,767 characters; the XML itself holds any length.
    path = write_sheet(tmp_path / "huge.xlsx", [["id", "name", f"{R}.open.action"], ["1001", "HUGE", "LONG"]],
                       patch={b"HUGE": b"a" * 10_485_760, b"LONG": b"b" * 100_000})
    text = run("validate", path)
    assert text.exit_code == 1
    assert len(text.output) < 10_000
    shown = table_column(text.stdout, 3)
    assert "a" * 60 + "…' (10,485,760 characters)" in shown and "b" * 60 + "…' (100,000 characters)" in shown

    report = json.loads(run("validate", path, "--format", "json").stdout)
    values = {e["column"]: e["value"] for e in report["errors"]}
    assert values["name"] == "a" * 200 + "… (10,485,760 characters)"
    assert values[f"{R}.open.action"].endswith("… (100,000 characters)")
    assert all(len(e["message"]) <= 1100 for e in report["errors"])

    report_path = tmp_path / "report.xlsx"
    assert run("validate", path, "--report", report_path).exit_code == 1
    errors = list(load_workbook(report_path)["Errors"].iter_rows(values_only=True))
    assert all(len(str(value)) < 1000 for row in errors for value in row)


def test_control_characters_and_markup_in_cells_are_shown_not_acted_on(tmp_path: Path) -> None:
    path = tmp_path / "esc.csv"
    path.write_text(f"id,name,{R}.open.action,[bold]x\n"
                    "1001,\x1b]0;title\x07\x1b[2J[/bold],[/]\x1b[31mred\x9b2J\u202eevil,\n", encoding="utf-8")
    for args in (["validate", path], ["plan", path], ["validate", path, "--format", "json"]):
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
        for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert raw not in result.output, (args, raw)
    stdout = run("validate", path).stdout
    assert "'\\x1b]0;title\\x07\\x1b[2J[/bold]'" in table_column(stdout, 3)  # escaped; markup shown as text
    assert "[bold]x" in table_column(stdout, 2)
    report = json.loads(run("validate", path, "--format", "json").stdout)
    assert report["errors"][1]["value"] == "\x1b]0;title\x07\x1b[2J[/bold]"  # JSON keeps the value, escaped


def test_an_escape_code_in_an_xlsx_cell_is_shown_escaped(tmp_path: Path) -> None:
    """xlsx writes control characters as _x001B_; calamine turns them back into ESC."""
    path = write_sheet(tmp_path / "esc.xlsx", [["id", "name"], ["1001", "MARK"]],
                       patch={b"MARK": b"_x001B_[2J_x001B_]52;c;aGk=_x0007_"})
    result = run("validate", path)
    assert "\x1b" not in result.output
    # python-calamine 0.5 (the floor) keeps `_x001B_` as the text it is, which is harmless and valid;
    # newer releases decode it to ESC, which is refused and shown escaped.
    assert (result.exit_code, "\\x1b[2J" in result.stdout) in ((1, True), (0, False)), result.output


def test_plan_prints_bodies_with_terminal_codes_escaped_and_writes_them_exact(tmp_path: Path) -> None:
    path = tmp_path / "bidi.csv"
    path.write_text("id,name\n1001,Sales \u202eAPAC\n", encoding="utf-8")
    out = tmp_path / "plan.jsonl"
    result = run("plan", path, "--json", out)
    assert result.exit_code == 0, result.output
    assert "\u202e" not in result.output
    assert '{"name": "Sales \\u202eAPAC"}' in result.stdout  # the same JSON value, shown safely
    assert json.loads(out.read_text("utf-8"))["body"] == {"name": "Sales \u202eAPAC"}


def test_the_report_links_no_more_problems_than_excel_holds_links(write_csv, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Past 65,530 hyperlinks in a sheet Excel calls the file damaged and drops them all (100,000 rows,
    # each with a problem, made that many): the first 65,530 problems are linked, the rest listed plain.
    from bulkcc.validate import report

    monkeypatch.setattr(report, "MAX_LINKS", 2)
    source = write_csv(["id", "ring_seconds"], [[str(1001 + n), "abc"] for n in range(4)])
    assert run("validate", source, "--report", tmp_path / "report.xlsx").exit_code == 1
    errors = load_workbook(tmp_path / "report.xlsx")["Errors"]
    assert errors.max_row == 5
    assert [bool(errors.cell(row=r, column=1).hyperlink) for r in range(2, 6)] == [True, True, False, False]



def test_the_report_copy_of_a_csv_cell_longer_than_excel_holds_is_cut_as_excel_counts(tmp_path: Path) -> None:
    # Excel counts an emoji as two: 20,000 of them (40,000 units) are over what one cell holds.
    source = tmp_path / "long.csv"
    source.write_text("id,group_description\n1001," + "\U0001F600" * 20_000 + "\n", "utf-8")
    assert run("validate", source, "--report", tmp_path / "report.xlsx").exit_code == 1
    cell = load_workbook(tmp_path / "report.xlsx").active["B2"].value
    assert len(cell.encode("utf-16-le")) // 2 <= 32_767 and cell.endswith("… (20,000 characters)")

# ---- a bug in bulkcc ----------------------------------------------------------------


def test_a_bug_in_bulkcc_ends_in_one_message_and_a_crash_file_without_the_key_never_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bulkcc.validate.validation
    from bulkcc.cli.options import redact

    key = "sk-live-CRASH-0123456789abcdef"
    redact.add(key)  # as a run that loaded it would have

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError(f"a bug, with the key {key} in its text")

    monkeypatch.setattr(bulkcc.validate.validation, "validate_sheet", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the crash file goes
    source = write_sheet(tmp_path / "in.xlsx", [HEADER, *GOOD_ROWS])
    result = run("validate", source)
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output and key not in result.output
    assert "internal error: ZeroDivisionError: a bug, with the key **** in its text" in result.output
    assert "This is a bug in bulkcc, not a problem in your data" in result.output
    (report,) = tmp_path.glob("bulkcc-crash-*.txt")
    assert str(report) in result.output.replace("\n", "")
    text = report.read_text("utf-8")
    assert "Traceback" in text and "ZeroDivisionError" in text and key not in text


def test_the_report_copy_of_a_cell_longer_than_excel_holds_is_cut_saying_so(write_xlsx, tmp_path: Path) -> None:
    # LibreOffice saves a cell of 40,000 characters; copied as it was, the report was one Excel calls damaged.
    import zipfile

    source = write_xlsx(["id", "group_description"], [["1001", "x" * 32_767]])
    with zipfile.ZipFile(source) as book:
        members = {item: book.read(item) for item in book.infolist()}
    with zipfile.ZipFile(longer := tmp_path / "long.xlsx", "w") as book:
        for item, data in members.items():
            book.writestr(item, data.replace(b"x" * 32_767, b"x" * 40_000))
    assert run("validate", longer, "--report", tmp_path / "report.xlsx").exit_code == 1
    cell = load_workbook(tmp_path / "report.xlsx")["callcenters"]["B2"].value
    assert len(cell) <= 32_767 and cell.endswith("… (40,000 characters)")
