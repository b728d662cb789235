"""Every kind of workbook bulkcc writes, rendered by LibreOffice to PDF: pages a reviewer can read.

Skipped where LibreOffice (`soffice`) or poppler (`pdftotext`, `pdfinfo`) is not installed (CI
installs neither): never faked. The workbooks come from the README's walks on the built-in
simulator: the template; the results of the migration sample; an export with its agents, edited
(five call centers changed, a boolean among them, one created, agents re-skilled, removed and
added) and planned with `--diff --report` (the review), then applied with `--diff` (the rollback).
One soffice run converts the four files (a few seconds).

What a page shows is read back with pdftotext: LibreOffice leaves out the lines of a cell that
do not fit its row, and the part of a text that runs into a filled neighbour, so a word of a cell
missing from the PDF is a cut cell. Row heights are also checked against the wrapped-line count
of every wrapped cell, which is what keeps Excel's rows from cutting them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.worksheet.worksheet import Worksheet
from support import REPO, edit_sheet

from bulkcc.cli import main
from bulkcc.errors import EXIT_OK
from bulkcc.workbook.paper import LINE_HEIGHT, MAX_ROW_HEIGHT, wrapped_lines
from bulkcc.workbook.xlsx import BOOLEAN_FORMAT

TOOLS = ("soffice", "pdftotext", "pdfinfo")
pytestmark = [
    pytest.mark.render,
    pytest.mark.skipif(any(shutil.which(tool) is None for tool in TOOLS),
                       reason="needs LibreOffice (soffice) and poppler-utils (pdftotext, pdfinfo)"),
    pytest.mark.timeout(240),
]
FAST_SIM = ["--simulator", "--simulator-state", "company.jsonl", "--rate-limit", "600000", "--sim-rate-limit",
            "600000", "--concurrency", "16"]
MIGRATION = REPO / "sample_data" / "migration.xlsx"
RENDER_TIMEOUT = 180.0  # seconds for soffice to convert the four files (about 5 on an idle machine)
# The most pages each may print (LibreOffice 7.4, DejaVu Sans standing in for Calibri, measured 22, 4, 7
# and 4; before: 26, 4 with half of each row left out, 5 at half size with texts cut, and 27, 24 of them
# of unchanged rows).
MOST_PAGES = {"template": 24, "migration-results": 5, "edited-results-rollback": 9, "review": 5}


def _bulkcc(*args: Any) -> Any:
    run = CliRunner(env={"DIALPAD_API_KEY": None}).invoke(main, [str(a) for a in args])
    assert "Traceback" not in run.output, run.output
    return run


def _walk(folder: Path) -> dict[str, Path]:
    """The README's walk on the simulator, in `folder`: the four workbooks, by name."""
    assert _bulkcc("template", "-o", folder / "template.xlsx").exit_code == EXIT_OK
    exported = _bulkcc("export", "--operators", "-o", folder / "live.xlsx", *FAST_SIM)
    assert exported.exit_code == EXIT_OK, exported.output
    live = load_workbook(folder / "live.xlsx", read_only=True)
    header = [c.value for c in next(live["callcenters"].iter_rows(max_row=1))]
    hours_on = next(live["callcenters"].iter_rows(min_row=2, max_row=2, values_only=True))[header.index("hours_on")]
    operators = live["operators"].max_row
    live.close()
    edited = edit_sheet(folder / "live.xlsx", {
        (2, "ring_seconds"): 25, (2, "hours_on"): not hours_on, (3, "name"): "Tech Help APAC 2 (renamed)",
        (4, "hold_queue.max_hold_seconds"): 600, (5, "monday_hours"): "07:00-19:00",
        (6, "group_description"): "Outbound queue handed to the EMEA team from July; ask Dana before changing "
                                  "its routing, and keep the Friday hours as they are.",
        (252, "name"): "Support Hamburg", (252, "office_id"): "5100000000000002", (252, "ring_seconds"): 30})
    edited = edit_sheet(edited, {(2, "skill_level"): 70, (3, "remove"): True,
                                 (operators + 1, "call_center_name"): "Support Hamburg",
                                 (operators + 1, "user_id"): "6200000000000040"},
                        name="edited.xlsx", sheet_name="operators")
    planned = _bulkcc("plan", edited, "--diff", "--report", folder / "review.xlsx", *FAST_SIM)
    assert planned.exit_code == EXIT_OK, planned.output
    applied = _bulkcc("apply", edited, "--diff", "--yes", "--results", folder / "edited-results.xlsx", *FAST_SIM)
    assert applied.exit_code == EXIT_OK, applied.output
    migration = _bulkcc("apply", MIGRATION, "--yes", "--results", folder / "migration-results.xlsx", *FAST_SIM)
    assert migration.exit_code == EXIT_OK, migration.output
    return {name: folder / f"{name}.xlsx" for name in MOST_PAGES}


def _render(books: dict[str, Path], folder: Path) -> dict[str, Path]:
    """Each workbook's PDF, from one soffice run with a profile of its own (two runs at once share none)."""
    command = ["soffice", f"-env:UserInstallation={(folder / 'profile').as_uri()}", "--headless",
               "--convert-to", "pdf", "--outdir", str(folder), *map(str, books.values())]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=RENDER_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # soffice and the helpers it started, nothing else
        process.communicate()
        pytest.fail(f"soffice did not convert the workbooks within {RENDER_TIMEOUT:.0f} s")
    pdfs = {name: folder / f"{path.stem}.pdf" for name, path in books.items()}
    missing = [name for name, pdf in pdfs.items() if not pdf.is_file()]
    assert not missing, f"soffice wrote no PDF of {missing}: {output.decode(errors='replace')[-2000:]}"
    return pdfs


def _pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    return text.split("\f")[:-1]  # each page ends in a form feed


def _page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True, timeout=60).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))


def _printed_cells(sheet: Worksheet) -> Iterator[Any]:
    """The cells of the sheet's print area (all of it without one) that are not in a hidden column."""
    areas = [area.split("!")[-1].replace("$", "") for area in str(sheet.print_area or "").split(",") if area]
    bounds = [range_boundaries(area) for area in areas] or [(1, 1, sheet.max_column, sheet.max_row)]
    for min_col, min_row, max_col, max_row in bounds:
        for row in sheet.iter_rows(min_row=min_row, max_row=max_row, min_col=min_col, max_col=max_col):
            for cell in row:
                if not sheet.column_dimensions[get_column_letter(cell.column)].hidden and cell.value is not None:
                    yield cell


def _words(text: str) -> list[str]:
    return [w.strip(".,;:()'\"") for w in text.split() if len(w.strip(".,;:()'\"")) > 1]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], dict[str, Path]]:
    folder = tmp_path_factory.mktemp("render")
    cwd = Path.cwd()
    os.chdir(folder)  # the simulator's state file and the results' journal stay in the test's folder
    try:
        books = _walk(folder)
    finally:
        os.chdir(cwd)
    return books, _render(books, folder)


def test_each_workbook_prints_on_few_pages_and_the_review_leaves_unchanged_rows_off_paper(rendered) -> None:
    books, pdfs = rendered
    counts = {name: _page_count(pdf) for name, pdf in pdfs.items()}
    assert all(1 <= counts[name] <= most for name, most in MOST_PAGES.items()), counts
    footers = [re.search(r"bulkcc review: (.+?)\s{2,}", page) for page in _pages(pdfs["review"])]
    printed = [footer.group(1) for footer in footers if footer]
    assert len(printed) == counts["review"], printed  # every page names its sheet (and the plan)
    assert printed[0] == "Summary" and "Changes" in printed and "Operators" in printed
    assert not any(name.startswith("Unchanged") for name in printed)  # counted on the Summary, listed on screen
    assert {"Unchanged", "Unchanged operators"} <= set(load_workbook(books["review"], read_only=True).sheetnames)


def test_every_page_of_rows_names_its_call_center_and_the_summary_prints_its_chart(rendered) -> None:
    _, pdfs = rendered
    pages = _pages(pdfs["migration-results"])
    results_pages = [page for page in pages if re.search(r"^\s*row\s+id\s", page, re.MULTILINE)]
    assert results_pages, "no page of the Results sheet"
    for page in results_pages:  # the row and id columns repeat on every slice of a wide sheet
        assert re.search(r"\b49000000000000\d\d\b", page), page[:500]  # a center the migration created
    summary = [page for page in pages if "Total rows" in page]
    assert len(summary) == 1 and "Rows by status" in summary[0]  # the chart is in the print area
    for page in _pages(pdfs["edited-results-rollback"]):
        if re.search(r"^\s*id\s+name\s", page, re.MULTILINE):
            assert re.search(r"\b4[89]000000000000\d\d\b", page), page[:500]


@pytest.mark.parametrize("name", list(MOST_PAGES))
def test_no_printed_cell_is_cut_and_booleans_read_true_or_false(rendered, name: str) -> None:
    books, pdfs = rendered
    text = "\n".join(_pages(pdfs[name]))
    words, joined = set(text.split()), "".join(text.split())
    workbook = load_workbook(books[name])
    cut: list[str] = []
    booleans = 0
    for sheet in workbook.worksheets:
        widths = {letter: d.width for letter, d in sheet.column_dimensions.items() if d.width}
        merged = {str(r.coord).split(":")[0] for r in sheet.merged_cells.ranges}  # wider than their column
        for cell in _printed_cells(sheet):
            value = cell.value
            if isinstance(value, bool):
                booleans += 1
                assert cell.number_format == BOOLEAN_FORMAT, (sheet.title, cell.coordinate)
                continue
            if not isinstance(value, str):
                continue
            missing = [w for w in _words(value) if w not in words and w not in joined]
            if missing:
                cut.append(f"{sheet.title}!{cell.coordinate} {value[:60]!r}: {missing[:3]}")
            alignment = cell.alignment
            width = widths.get(get_column_letter(cell.column), 8.43)
            lines = wrapped_lines(value, width, bold=bool(cell.font and cell.font.b))
            if alignment is not None and alignment.wrap_text and lines > 1 and cell.coordinate not in merged:
                height = sheet.row_dimensions[cell.row].height or LINE_HEIGHT
                wanted = min(lines * LINE_HEIGHT, MAX_ROW_HEIGHT)  # Excel's tallest row holds 27 lines
                assert height >= wanted, (sheet.title, cell.coordinate, value[:60], height, lines)
    assert not cut, "\n".join(cut[:20])
    tokens = re.findall(r"\b(TRUE|FALSE)\b", text)
    assert len(tokens) >= booleans  # a boolean prints as TRUE or FALSE, never as 1 or 0
    if name == "edited-results-rollback":
        assert booleans, "the rollback restores hours_on: a boolean"


def test_a_number_in_a_boolean_column_shows_as_bulkcc_reads_it(tmp_path: Path) -> None:
    # Under the boolean format 1 reads TRUE and 0 FALSE, as bulkcc reads them; 5 showed TRUE, and
    # bulkcc refused it as "'5' is not TRUE or FALSE": a cell must not look like a value bulkcc refuses.
    workbook = Workbook()
    for value in (True, False, 1, 0, 5, 0.5):
        workbook.active.append([value])
        workbook.active.cell(row=workbook.active.max_row, column=1).number_format = BOOLEAN_FORMAT
    workbook.save(book := tmp_path / "booleans.xlsx")
    shown = _pages(_render({"booleans": book}, tmp_path)["booleans"])[0].split()
    assert shown == ["TRUE", "FALSE", "TRUE", "FALSE", "5", "0.5"]
