"""A corpus of bad inputs through `bulkcc validate` and `bulkcc plan`: the exit code, the message,
and never a traceback, whatever the file or the file-system state.

Each case makes its input in a folder (or names a committed file of tests/corpus/, see its
README) and states the exit code both commands give and words the output holds. Cases whose
failure would hang or abort the test process (a FIFO, a device, a sheet that asks for 17
billion cells) run as real subprocesses; the others through click's runner, which would
report any exception that escaped. Other areas add their cases to CASES.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_xlsx_file
from openpyxl import Workbook
from workbooks import patch_sheet_xml, sheet_member, write_sheet

from bulkcc.cli import main
from bulkcc.errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE

CORPUS = Path(__file__).resolve().parent / "corpus"
R = "routing_options"


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], Path]  # makes the input in a folder; returns its path
    code: int  # what validate and plan exit with
    words: str  # in the output of both (stderr when the code is 2)
    process: bool = False  # a real subprocess: a regression would hang or abort the test process
    plan_words: str | None = None  # in plan's output, when not `words`


def committed(name: str) -> Callable[[Path], Path]:
    return lambda folder: CORPUS / name


def _small_xlsx(folder: Path, name: str = "small.xlsx") -> Path:
    return write_xlsx_file(folder / name, ["id", "name"], [["1001", "a"]])


def truncated_xlsx(folder: Path) -> Path:
    data = _small_xlsx(folder).read_bytes()
    path = folder / "truncated.xlsx"
    path.write_bytes(data[: len(data) // 2])
    return path


def zip_bomb(folder: Path) -> Path:
    """A real workbook plus a member of 220 MB of spaces (~220 KB on disk)."""
    small = _small_xlsx(folder)
    path = folder / "bomb.xlsx"
    with zipfile.ZipFile(small) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in source.infolist():
            bomb.writestr(info, source.read(info))
        with bomb.open("xl/worksheets/sheet2.xml", "w", force_zip64=True) as member:
            chunk = b" " * (1 << 20)
            for _ in range(220):
                member.write(chunk)
    return path


def named(name: str, content: bytes | Callable[[Path], bytes]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content(folder) if callable(content) else content)
        return path
    return make


def not_a_workbook_zip(folder: Path) -> Path:
    path = folder / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hello")
    return path


def broken_sheet(folder: Path) -> Path:
    return sheet_member(_small_xlsx(folder, "broken.xlsx"), "xl/worksheets/sheet1.xml", lambda d: d[: len(d) // 2])


def broken_workbook_xml(folder: Path) -> Path:
    return sheet_member(_small_xlsx(folder, "broken-book.xlsx"), "xl/workbook.xml", lambda d: d[:40])


def huge_cell(folder: Path) -> Path:
    path = write_sheet(folder / "huge.xlsx", [["id", "name"], ["1001", "HUGE"]])
    return patch_sheet_xml(path, {b"HUGE": b"a" * 10_485_760})


def csv_text(name: str, text: str) -> Callable[[Path], Path]:
    return named(name, text.encode("utf-8"))


def wide_row(cells: int) -> str:
    return "id,name\n1001," + ",".join(["x"] * cells) + "\n"


def fifo(folder: Path) -> Path:
    path = folder / "pipe.csv"
    os.mkfifo(path)
    return path


def link(name: str, target: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.symlink_to(target)
        return path
    return make


def folder_named(folder: Path) -> Path:
    path = folder / "folder.xlsx"
    path.mkdir()
    return path


def through_a_file(folder: Path) -> Path:
    (folder / "plain").write_text("x")
    return folder / "plain" / "input.csv"


def far_cell(folder: Path) -> Path:
    return write_sheet(folder / "far.xlsx", [["id"], ["1001"]], far_cell=(1_048_576, 16_384))


OPS = ["call_center_id", "call_center_name", "user_id", "role", "skill_level", "remove"]


def with_operators(name: str, rows: list[list], *, header: list[str] = OPS, errors: dict[str, str] | None = None,
                   hidden: bool = False, far: bool = False) -> Callable[[Path], Path]:
    """A workbook with a valid callcenters sheet and an operators sheet of `rows` (sheet2.xml)."""
    def make(folder: Path) -> Path:
        workbook = Workbook()
        centers = workbook.active
        centers.title = "callcenters"
        centers.append(["id", "name"])
        centers.append(["1001", "Sales"])
        sheet = workbook.create_sheet("operators")
        for number, values in enumerate([header, *rows], start=1):
            for column, value in enumerate(values, start=1):
                if value is not None:
                    cell = sheet.cell(row=number, column=column, value=value)
                    if isinstance(value, str):
                        cell.data_type = "s"  # text stays text
        for ref, shown in (errors or {}).items():
            sheet[ref].value = shown
            sheet[ref].data_type = "e"
        if far:
            sheet.cell(row=1_048_576, column=16_384, value="x")
        sheet.sheet_state = "hidden" if hidden else "visible"
        path = folder / name
        workbook.save(path)
        return path
    return make


def operators_cut_short(folder: Path) -> Path:
    path = with_operators("ops-broken.xlsx", [["1001", None, "5"]])(folder)
    return sheet_member(path, "xl/worksheets/sheet2.xml", lambda d: d[: len(d) // 2])


def operators_huge_cell(folder: Path) -> Path:
    path = with_operators("ops-huge.xlsx", [["1001", "HUGE", "5"]])(folder)
    return patch_sheet_xml(path, {b"HUGE": b"a" * 10_485_760}, member="xl/worksheets/sheet2.xml")


def operators_only(folder: Path) -> Path:
    """A workbook of agents only: an operators sheet and no callcenters sheet."""
    workbook = Workbook()
    workbook.active.title = "operators"
    workbook.active.append(OPS[:3])
    workbook.active.append(["1001", None, "5"])
    path = folder / "ops-only.xlsx"
    workbook.save(path)
    return path


OPERATOR_CASES = [
    Case("operators: the only sheet, no callcenters sheet", operators_only, EXIT_USAGE,
         "has no callcenters sheet (its first sheet is the operators sheet)"),
    Case("operators: a bad role and a name of no row", with_operators("ops-bad.xlsx", [
        ["1001", None, "5", "boss"], [None, "Nowhere", "6"]]), EXIT_INVALID, "'boss' is not an allowed role"),
    Case("operators: no user_id column", with_operators("ops-no-user.xlsx", [["1001", "admin"]],
                                                         header=["call_center_id", "role"]),
         EXIT_INVALID, "no user_id or user_email column in row 1 of the operators sheet"),
    Case("operators: error cells", with_operators("ops-errors.xlsx", [["1001", None, None]], errors={"C2": "#N/A"}),
         EXIT_INVALID, "C2 shows the error #N/A"),
    Case("operators: sheet XML cut short", operators_cut_short, EXIT_USAGE, "cannot read ops-broken.xlsx"),
    Case("operators: 10 MB cell", operators_huge_cell, EXIT_INVALID, "(10,485,760 characters)"),
    Case("operators: a value in XFD1048576", with_operators("ops-far.xlsx", [["1001", None, "5"]], far=True),
         EXIT_USAGE, "the sheet's cells run to XFD1048576", process=True),
    Case("operators: hidden sheet", with_operators("ops-hidden.xlsx", [["1001", None, "5"]], hidden=True),
         EXIT_OK, "warning: operators sheet: the sheet 'operators', which bulkcc reads, is hidden",
         plan_words="is hidden"),
    Case("operators: remove with a role, the same user twice", with_operators("ops-rules.xlsx", [
        ["1001", None, "5", "admin", None, "TRUE"], [None, "Sales", "6"], ["1001", None, "6"]]), EXIT_INVALID,
         "is listed more than once"),
]

CASES = [
    Case("truncated zip", truncated_xlsx, EXIT_USAGE, "truncated.xlsx is not an .xlsx workbook"),
    Case("zip bomb", zip_bomb, EXIT_USAGE, "refusing to open it (a zip bomb or a corrupted file)", process=True),
    Case("empty .xlsx", named("empty.xlsx", b""), EXIT_USAGE, "empty.xlsx is not an .xlsx workbook"),
    Case("empty .csv", committed("empty.csv"), EXIT_USAGE, "the sheet is empty"),
    Case("a zip that is no workbook", not_a_workbook_zip, EXIT_USAGE, "cannot read archive.xlsx"),
    Case("CSV named .xlsx", named("csv.xlsx", b"id,name\n1,x\n"), EXIT_USAGE, "csv.xlsx is not an .xlsx workbook"),
    Case("old .xls named .xlsx", named("old.xlsx", b"\xd0\xcf\x11\xe0" + b"\x00" * 600), EXIT_USAGE,
         "old.xlsx is not an .xlsx workbook"),
    Case("xlsx named .csv", named("book.csv", lambda f: _small_xlsx(f).read_bytes()), EXIT_USAGE,
         "book.csv is an .xlsx workbook (a zip file), not CSV text; rename it to .xlsx"),
    Case("sheet XML cut short", broken_sheet, EXIT_USAGE, "cannot read broken.xlsx"),
    Case("workbook XML cut short", broken_workbook_xml, EXIT_USAGE, "cannot read broken-book.xlsx"),
    Case("binary junk named .csv", committed("junk.csv"), EXIT_USAGE, "junk.csv holds zero bytes"),
    Case("Windows-1252 CSV", committed("windows-1252.csv"), EXIT_USAGE,
         "windows-1252.csv is not UTF-8 text (byte 0xe9 on line 2)"),
    Case("Windows-1252 CSV: the fix in LibreOffice too", committed("windows-1252.csv"), EXIT_USAGE,
         'in LibreOffice (whose CSV is often Windows-1252 unless asked) tick "Edit filter settings"'),
    Case("semicolon CSV", committed("semicolon.csv"), EXIT_OK, "2 rows, all valid", plan_words="2 requests planned"),
    Case("sep= line", committed("sep-line.csv"), EXIT_OK, "1 row, all valid", plan_words="1 request planned"),
    Case("UTF-16 tab CSV", committed("utf16-tab.csv"), EXIT_OK, "1 row, all valid", plan_words="1 request planned"),
    Case("UTF-16 CSV without BOM", committed("utf16-no-bom.csv"), EXIT_OK, "1 row, all valid",
         plan_words="1 request planned"),
    Case("10 MB cell", huge_cell, EXIT_INVALID, "(10,485,760 characters)"),
    Case("20,000-cell row", csv_text("wide.csv", wide_row(20_000)), EXIT_USAGE,
         "row 2 has 20,001 cells, more than the 16,384 columns a sheet can hold"),
    Case("header wider than a sheet", csv_text("header.csv", "id," + ",".join(f"c{i}" for i in range(16_384))),
         EXIT_USAGE, "row 1 has 16,385 cells"),
    Case("10,000 cells under no name", csv_text("spill.csv", wide_row(10_000)), EXIT_INVALID,
         "9,999 values in columns which have no name in row 1"),
    Case("unclosed quote", csv_text("quote.csv", 'id,name\n1001,"Sales\n' + "x,y\n" * 40_000), EXIT_USAGE,
         "most likely a quote"),
    Case("error cells", lambda f: write_sheet(f / "errors.xlsx", [["id", "name"], ["1001", None]],
                                              errors={"B2": "#DIV/0!"}), EXIT_INVALID, "B2 shows the error #DIV/0!"),
    Case("formula without a value", lambda f: write_sheet(f / "formula.xlsx", [["id", "ring_seconds"], ["1001", None]],
                                                          formulas={"B2": "=10+10"}), EXIT_INVALID,
         "B2 holds a formula =10+10 with no saved value"),
    Case("hidden rows", lambda f: write_sheet(f / "hidden.xlsx", [["id"], ["1001"], ["1002"]], hidden_rows=[3]),
         EXIT_OK, "warning: 1 hidden row holds values"),
    Case("hidden sheet", lambda f: write_sheet(f / "hidden-sheet.xlsx", [["id"], ["1001"]], hidden_sheet=True),
         EXIT_OK, "is hidden in the workbook"),
    Case("16-digit id as a number", lambda f: write_sheet(f / "rounded.xlsx", [["id"], [1234567890123460]]),
         EXIT_INVALID, "may have been rounded"),
    Case("escape codes in cells", csv_text("esc.csv", "id,name\n1001,\x1b]0;x\x07\x1b[2J[/bold]\n"), EXIT_INVALID,
         "contains control characters"),
    Case("a value in XFD1048576", far_cell, EXIT_USAGE, "the sheet's cells run to XFD1048576", process=True),
    Case("a FIFO", fifo, EXIT_USAGE, "pipe.csv is a named pipe (FIFO), not a file", process=True),
    Case("/dev/zero named .csv", link("zero.csv", "/dev/zero"), EXIT_USAGE, "zero.csv is a character device",
         process=True),
    Case("a directory", folder_named, EXIT_USAGE, "folder.xlsx is a folder, not a workbook"),
    Case("a symlink loop", link("loop.csv", "loop.csv"), EXIT_USAGE, "Too many levels of symbolic links"),
    Case("a dangling symlink", link("gone.xlsx", "nowhere.xlsx"), EXIT_USAGE, "gone.xlsx: no such file"),
    Case("a path through a file", through_a_file, EXIT_USAGE, "Not a directory"),
    Case("a missing file", lambda f: f / "missing.csv", EXIT_USAGE, "missing.csv: no such file"),
    *OPERATOR_CASES,
]


def _flat(text: str) -> str:
    """Text without its spaces and table borders: a message folded over lines of the table reads whole."""
    return "".join(ch for ch in text if not ch.isspace() and not "\u2500" <= ch <= "\u257f")


def _run(args: list[str], in_process: bool) -> tuple[int, str, str]:
    if in_process:
        result = CliRunner().invoke(main, args)
        # An exception that escaped would be here, not printed: it must only ever be an exit.
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        return result.exit_code, result.stdout, result.stderr
    done = subprocess.run([sys.executable, "-m", "bulkcc", *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("command", ["validate", "plan"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_input_gets_its_exit_code_and_a_message_never_a_traceback(tmp_path: Path, case: Case,
                                                                        command: str) -> None:
    path = case.make(tmp_path)
    code, stdout, stderr = _run([command, str(path)], in_process=not case.process)
    assert code == case.code, (stdout, stderr)
    assert "Traceback" not in stdout + stderr
    words = case.plan_words if command == "plan" and case.plan_words else case.words
    assert _flat(words) in _flat(stdout + stderr), (stdout, stderr)
    if code == EXIT_USAGE:
        assert stdout == "" and stderr.startswith("error: ")
        assert len(stderr.strip().splitlines()) == 1, stderr  # one line
    assert len(stdout) < 20_000  # bounded, whatever the input held


def test_an_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("the tests run as root, and chmod 000 does not stop root from reading; the unreadable "
                    "shapes root cannot read (a symlink loop, a path through a file) are CASES above")
    path = _small_xlsx(tmp_path)
    path.chmod(0)
    try:
        for command in ("validate", "plan"):
            code, stdout, stderr = _run([command, str(path)], in_process=True)
            assert code == EXIT_USAGE and "Traceback" not in stdout + stderr
            assert "permission denied" in stderr
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("args", [["validate", "--report"], ["plan", "--json"]],
                         ids=["validate --report", "plan --json"])
def test_an_output_path_that_cannot_be_written_is_one_line(tmp_path: Path, args: list[str]) -> None:
    source = _small_xlsx(tmp_path)
    (tmp_path / "plain").write_text("a file where the folder should be")
    command, option = args
    code, stdout, stderr = _run([command, str(source), option, str(tmp_path / "plain" / "out")], in_process=True)
    assert code == EXIT_USAGE and "Traceback" not in stdout + stderr
    assert stderr.startswith("error: cannot write ") and stderr.strip().endswith("pick another path")
