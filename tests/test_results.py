"""The results workbook (`bulkcc.results`): layout, colours, text safety, summary, atomicity, feed-back."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter

from bulkcc.workbook.layout import RESULT_COLUMNS
from bulkcc.workbook.reader import read_sheet
from bulkcc.workbook.results import (
    SIMULATOR_LINE,
    RowResult,
    RunSummary,
    read_results,
    sha256_file,
    write_results,
)
from bulkcc.workbook.xlsx import BOOLEAN_FORMAT, FILLS

TRICKY = ['=HYPERLINK("http://x","y")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "#N/A", "#REF!"]
INPUT_COLUMNS = ["id", "name", "ring_seconds", "hours_on", "group_description"]
OUTCOME_HEADER = ["row", "id", "status", "http_status", "attempts", "error", "duration_ms"]


def input_frame() -> pd.DataFrame:
    """Raw cells as the reader gives them: Excel rows 2, 3, 5, 7 (blank rows 4 and 6 skipped)."""
    rows = {
        2: [101, "Sales", 25, True, TRICKY[7]],
        3: [102, TRICKY[0], 30, False, TRICKY[1]],
        5: ["10x", "Support", "abc", None, TRICKY[2]],
        7: [104, TRICKY[3], 45, True, dt.datetime(2024, 5, 1, 8, 30)],
    }
    index = pd.Index(list(rows), name="excel_row", dtype="int64")
    return pd.DataFrame(list(rows.values()), columns=INPUT_COLUMNS, index=index, dtype=object)


def row_results() -> list[RowResult]:
    # Given out of order: the sheet must sort them by row.
    return [
        RowResult(row=7, id=104, status="failed", http_status=400, attempts=1, error=TRICKY[4] + " | " + TRICKY[6],
                  duration_ms=80),
        RowResult(row=2, id=101, status="updated", http_status=200, attempts=2, duration_ms=120,
                  changes="ring_seconds: 30 → 25"),
        RowResult(row=5, id=None, status="invalid", error=TRICKY[2]),
        RowResult(row=3, id=102, status="mismatch", http_status=200, attempts=1, error=TRICKY[5], duration_ms=95),
    ]


def run_summary(**overrides) -> RunSummary:
    values = dict(
        started=dt.datetime(2024, 6, 1, 10, 0, 0, tzinfo=dt.UTC),
        ended=dt.datetime(2024, 6, 1, 10, 1, 30, tzinfo=dt.UTC),
        target_url="http://127.0.0.1:8123 (simulator)", input_name="centers.xlsx", input_sha256="ab" * 32,
        version="0.1.0", achieved_rate_per_min=2.66666, allowed_rate_per_min=1200, requests_sent=5,
        throttled=1, simulator=True, note=TRICKY[0],
    )
    values.update(overrides)
    return RunSummary(**values)


@pytest.fixture
def written(tmp_path: Path) -> Path:
    return write_results(tmp_path / "results.xlsx", row_results(), input_frame(), run_summary())


def sheet_xml(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n).decode("utf-8") for n in zf.namelist() if n.startswith("xl/worksheets/")}


# ---- Results sheet ------------------------------------------------------------------


def test_results_header_and_first_sheet(written: Path):
    workbook = load_workbook(written)
    assert workbook.sheetnames == ["Results", "Summary"]
    header = [c.value for c in workbook["Results"][1]]
    assert header == OUTCOME_HEADER + INPUT_COLUMNS[1:]
    sheet = workbook["Results"]
    assert sheet.freeze_panes == "C2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(header)).column_letter}5"


def test_changes_column_only_in_diff_mode(tmp_path: Path):
    path = write_results(tmp_path / "r.xlsx", row_results(), input_frame(), run_summary(), include_changes=True)
    sheet = load_workbook(path)["Results"]
    assert [c.value for c in sheet[1]] == OUTCOME_HEADER + ["changes"] + INPUT_COLUMNS[1:]
    assert sheet["H2"].value == "ring_seconds: 30 → 25"


def test_rows_sorted_with_status_colours(written: Path):
    sheet = load_workbook(written)["Results"]
    assert [sheet.cell(r, 1).value for r in range(2, 6)] == [2, 3, 5, 7]
    assert [sheet.cell(r, 3).value for r in range(2, 6)] == ["updated", "mismatch", "invalid", "failed"]
    for r in range(2, 6):
        expected = FILLS[sheet.cell(r, 3).value].fgColor.rgb
        assert {sheet.cell(r, c).fill.fgColor.rgb for c in range(1, 8)} == {expected}


def test_input_values_follow_their_row(written: Path):
    sheet = load_workbook(written)["Results"]
    by_row = {sheet.cell(r, 1).value: [c.value for c in sheet[r]] for r in range(2, 6)}
    assert by_row[2][1:] == ["101", "updated", 200, 2, None, 120, "Sales", 25, True, TRICKY[7]]
    assert by_row[7][7:] == [TRICKY[3], 45, True, dt.datetime(2024, 5, 1, 8, 30)]
    # An id the reader rejected stays as typed, to be fixed in place.
    assert by_row[5][1] == "10x" and by_row[5][7:10] == ["Support", "abc", None]


def test_formula_and_error_text_stays_text(written: Path):
    workbook = load_workbook(written)
    texts = [c for row in workbook["Results"].iter_rows(min_row=2) for c in row if isinstance(c.value, str)]
    texts += [c for row in workbook["Summary"].iter_rows() for c in row if isinstance(c.value, str)]
    assert all(c.data_type == "s" for c in texts)
    seen = {c.value for c in texts}
    # XML turns a raw carriage return into a line feed when the file is parsed, and openpyxl
    # neither escapes it on writing nor decodes Excel's _x000D_ on reading: "\rx" reads back "\nx".
    stored = {t: t.replace("\r", "\n") for t in TRICKY}
    # "|" joins two tricky values in one error message; every other one is a cell of its own.
    assert {stored[t] for t in TRICKY if t not in (TRICKY[4], TRICKY[6])} <= seen
    assert TRICKY[4] + " | " + TRICKY[6] in seen
    assert all(c.quotePrefix for c in texts if c.value in stored.values())
    for name, xml in sheet_xml(written).items():
        assert "<f>" not in xml and "<f " not in xml, name
        assert 't="e"' not in xml, name


def test_read_results_round_trip(written: Path):
    expected = sorted(row_results(), key=lambda r: r.row)
    for result in expected:
        result.changes = None  # not written without include_changes
        result.error = result.error and result.error.replace("\r", "\n")  # see the test above
    assert read_results(written) == expected


def test_row_result_dict_round_trip():
    result = row_results()[1]
    assert RowResult.from_dict(result.to_dict()) == result
    assert RowResult.from_dict({**result.to_dict(), "added_later": 1}) == result


# ---- fed back as input --------------------------------------------------------------


def test_results_read_back_as_input(written: Path):
    sheet = read_sheet(written)
    assert sheet.sheet_name == "Results"
    assert not sheet.header_problems
    assert list(sheet.frame.columns) == INPUT_COLUMNS
    assert set(sheet.meta.columns) == set(RESULT_COLUMNS) - {"changes"}
    assert list(sheet.frame.index) == list(sheet.meta.index) == [2, 3, 4, 5]
    original = input_frame()
    for excel_row, source_row in sheet.meta["row"].items():
        got = sheet.frame.loc[excel_row]
        want = original.loc[int(source_row)]
        assert str(got["name"]) == str(want["name"])
        assert str(got["group_description"] or "") == str(want["group_description"] or "")
    assert list(sheet.meta["status"]) == ["updated", "mismatch", "invalid", "failed"]


# ---- Summary sheet ------------------------------------------------------------------


def summary_values(path: Path) -> dict[str, object]:
    sheet = load_workbook(path)["Summary"]
    return {row[0]: row[1] if len(row) > 1 else None for row in sheet.iter_rows(values_only=True) if row[0]}


def test_summary_counts_and_fields(written: Path):
    values = summary_values(written)
    assert {s: values[s] for s in ("updated", "failed", "invalid", "skipped", "not_sent", "mismatch")} == {
        "updated": 1, "failed": 1, "invalid": 1, "skipped": 0, "not_sent": 0, "mismatch": 1}
    assert "unchanged" not in values  # diff-mode statuses only when they occur
    assert values["Total rows"] == 4
    assert values["Started (UTC)"] == "2024-06-01T10:00:00+00:00"
    assert values["Ended (UTC)"] == "2024-06-01T10:01:30+00:00"
    assert values["Duration (s)"] == 90
    assert values["Requests sent"] == 5 and values["429s seen"] == 1
    assert values["Achieved rate (per minute)"] == 2.7 and values["Allowed rate (per minute)"] == 1200
    assert values["Target URL"] == "http://127.0.0.1:8123 (simulator)"
    assert values["Input file"] == "centers.xlsx" and values["Input SHA-256"] == "ab" * 32
    assert values["bulkcc version"] == "0.1.0"
    assert values["Note"] == TRICKY[0]
    assert SIMULATOR_LINE in values


def test_summary_of_a_real_run(tmp_path: Path):
    path = write_results(tmp_path / "r.xlsx", [], input_frame(),
                         run_summary(simulator=False, note=None, achieved_rate_per_min=None))
    values = summary_values(path)
    assert SIMULATOR_LINE not in values and "Note" not in values
    assert values["Total rows"] == 0 and values["Achieved rate (per minute)"] == "n/a"


def test_summary_chart(written: Path):
    assert len(load_workbook(written)["Summary"]._charts) == 1
    with zipfile.ZipFile(written) as zf:
        assert any(n.startswith("xl/charts/chart") for n in zf.namelist())


def test_duration_and_sha256(tmp_path: Path):
    assert run_summary().duration_s == 90
    naive = run_summary(started=dt.datetime(2024, 1, 1), ended=dt.datetime(2024, 1, 1, 0, 0, 2))
    assert naive.duration_s == 2
    (tmp_path / "f").write_bytes(b"abc")
    assert sha256_file(tmp_path / "f") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# ---- atomic writing -----------------------------------------------------------------


def test_write_leaves_no_temp_files(written: Path):
    assert sorted(p.name for p in written.parent.iterdir()) == ["results.xlsx"]


def test_failed_save_keeps_previous_file(written: Path, monkeypatch: pytest.MonkeyPatch):
    before = written.read_bytes()

    def broken_save(self, filename):
        Path(filename).write_bytes(b"half a workbook")
        raise OSError("disk full")

    monkeypatch.setattr(Workbook, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_results(written, row_results()[:1], input_frame(), run_summary())
    assert written.read_bytes() == before
    assert sorted(p.name for p in written.parent.iterdir()) == ["results.xlsx"]


def test_the_results_print_legibly(written: Path):
    # 20 rows printed on 42 pages once, then only the outcome columns (no names, no values sent): now the
    # outcome and every input column a row fills, fitted to a landscape page or in slices that repeat row
    # and id; long texts wrap in rows of their height.
    workbook = load_workbook(written)
    results, summary = workbook["Results"], workbook["Summary"]
    for sheet in (results, summary):
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.print_title_rows in ("1:1", "$1:$1")
    assert summary.page_setup.fitToWidth == summary.page_setup.fitToHeight == 1
    assert results.page_setup.fitToWidth == 1 or results.print_title_cols.replace("$", "") == "A:B"
    header = [c.value for c in results[1]]
    filled = [name for position, name in enumerate(header, start=1)
              if any(results.cell(row=r, column=position).value is not None for r in range(2, results.max_row + 1))]
    last = get_column_letter(header.index(filled[-1]) + 1)
    assert str(results.print_area).replace("$", "") == f"'Results'!A1:{last}{results.max_row}"
    error_column = header.index("error") + 1
    assert results.cell(row=2, column=error_column).alignment.wrap_text


def test_a_saved_workbook_gets_the_users_usual_permissions(tmp_path: Path):
    import os

    old = os.umask(0o022)
    try:
        path = write_results(tmp_path / "r.xlsx", row_results()[:1], input_frame(), run_summary())
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0600: a reviewer can read it


def test_ids_are_text_and_booleans_read_true_or_false_typed_over_or_not(written: Path):
    # A 16-digit id typed over a failed row's id (to fix it in place for --only-failed) must stay text:
    # the id column is formatted as text, its cells too; booleans carry a format LibreOffice shows as TRUE/FALSE.
    sheet = load_workbook(written)["Results"]
    header = [c.value for c in sheet[1]]
    letter = get_column_letter(header.index("id") + 1)
    assert sheet.column_dimensions[letter].number_format == "@"
    ids = [sheet[f"{letter}{r}"] for r in range(2, sheet.max_row + 1)]
    assert all(c.number_format == "@" and isinstance(c.value, str) for c in ids if c.value is not None)
    booleans = [c for row in sheet.iter_rows(min_row=2) for c in row if isinstance(c.value, bool)]
    assert booleans and all(c.number_format == BOOLEAN_FORMAT for c in booleans)
