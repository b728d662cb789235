"""The review workbook of `bulkcc plan --report` (plan/review builds it, workbook/review writes it).

A reviewer approves what these sheets show, so the tests read the workbook
back and hold it against the plan file it names: every cell is a planned
change and every planned change a cell, the checksum is the file's.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from support import edit_sheet, invoke_in_thread, realistic_rows, write_rows

from bulkcc.cli import main
from bulkcc.errors import EXIT_OK
from bulkcc.plan.diff import shown
from bulkcc.plan.payload import values_from_callcenter
from bulkcc.run.export import ExportQuery, export_async
from bulkcc.send.connection import ConnectionOptions
from bulkcc.send.target import Target
from bulkcc.sim.server import Simulator, SimulatorConfig, ids_for_demo, seed_store
from bulkcc.workbook.review import CHANGED_FILL, MAX_FIELDS_PER_SHEET

pytestmark = pytest.mark.timeout(60)

KEY = "review-test-key"
FAST = 600_000
IDS = list(ids_for_demo(30))


def _sheet_rows(sheet) -> list[dict[str, Any]]:
    rows = list(sheet.iter_rows(values_only=True))
    header = [str(h).replace("\n", "") for h in rows[0]]  # field names are broken over lines after a dot
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def _changes_cells(workbook) -> dict[tuple[int, str], str]:
    """Every filled field cell of every Changes sheet, as (id, field) -> `old → new` on one line."""
    cells: dict[tuple[int, str], str] = {}
    for name in workbook.sheetnames:
        if not name.startswith("Changes"):
            continue
        for row in _sheet_rows(workbook[name]):
            for column, value in row.items():
                if column not in ("row", "id", "call center", "office") and value is not None:
                    assert (int(row["id"]), column) not in cells, f"{column} of {row['id']} shown twice"
                    cells[(int(row["id"]), column)] = value.replace("\n→ ", " → ")
    return cells


def _summary(workbook) -> dict[str, Any]:
    return {row[0]: row[1] for row in workbook["Summary"].iter_rows(values_only=True, max_col=2) if row[0]}


async def test_the_review_cells_equal_the_planned_changes(tmp_path: Path) -> None:
    config = SimulatorConfig(api_key=KEY, page_size=100, rate_limit_per_min=FAST)
    async with Simulator(config, store=seed_store(IDS, random.Random(0))) as sim:
        exported = tmp_path / "export.xlsx"
        await export_async(exported, ExportQuery(), ConnectionOptions(target=Target(sim.base_url), api_key=KEY,
                                                                      rate_per_min=FAST, concurrency=8))
        store = sim.store
        ring = {i: (store[i]["ring_seconds"] + 5 if store[i]["ring_seconds"] < 45 else 10) for i in IDS[:4]}
        edited = edit_sheet(exported, {
            (2, "ring_seconds"): ring[IDS[0]], (3, "ring_seconds"): ring[IDS[1]],
            (4, "name"): "Renamed =SUM(A1)", (5, "hold_queue.max_hold_count"): 999})
        plan, review = tmp_path / "plan.json", tmp_path / "review.xlsx"
        url = sim.base_url
        result = await invoke_in_thread("plan", edited, "--diff", "--out", plan, "--report", review,
                                        "--base-url", sim.base_url, "--rate-limit", FAST, key=KEY)
    assert result.exit_code == EXIT_OK, result.output
    document = json.loads(plan.read_text("utf-8"))
    workbook = load_workbook(review)

    assert workbook.sheetnames == ["Summary", "Changes", "Unchanged"]
    planned = {(r["id"], c["field"]): f"{shown(c['field'], c['before'])} → {shown(c['field'], c['after'])}"
               for r in document["requests"] for c in r["changes"]}
    assert _changes_cells(workbook) == planned
    assert len(planned) == 4
    changes = _sheet_rows(workbook["Changes"])
    assert [(r["row"], int(r["id"])) for r in changes] == [(2, IDS[0]), (3, IDS[1]), (4, IDS[2]), (5, IDS[3])]
    # The office is the export's info.office_id; the name the live one; formula-looking text stays text.
    assert {int(r["id"]): r["office"] for r in changes} == {i: str(store[i]["office_id"]) for i in IDS[:4]}
    assert {int(r["id"]): r["call center"] for r in changes} == {i: store[i]["name"] for i in IDS[:4]}
    assert workbook["Changes"].cell(row=4, column=5).data_type == "s"
    # Changed cells are coloured, the others not.
    sheet = workbook["Changes"]
    for row in sheet.iter_rows(min_row=2, min_col=5):
        for cell in row:
            assert (cell.fill.fgColor.rgb == CHANGED_FILL.fgColor.rgb) == (cell.value is not None)

    unchanged = _sheet_rows(workbook["Unchanged"])
    assert sorted(int(r["id"]) for r in unchanged) == sorted(IDS[4:])
    assert {r["why"] for r in unchanged} == {"live state already matches the row"}

    summary = _summary(workbook)
    assert summary["Plan SHA-256"] == hashlib.sha256(plan.read_bytes()).hexdigest()
    assert summary["Plan file"] == "plan.json" and summary["Target"] == url
    assert summary["Input SHA-256"] == document["input"]["sha256"]
    assert (summary["Call centers to change"], summary["Unchanged"]) == (4, 26)
    assert summary["ring_seconds"] == 2 and summary["name"] == 1 and summary["hold_queue.max_hold_count"] == 1
    offices = {str(store[i]["office_id"]) for i in IDS}
    table = {row[0]: row[1:5] for row in workbook["Summary"].iter_rows(values_only=True) if row[0] in offices}
    assert sum(to_change for _, to_change, _, _ in table.values()) == 4  # "To change" per office
    assert sum(to_create for to_create, _, _, _ in table.values()) == 0
    assert sum(unchanged for _, _, unchanged, _ in table.values()) == 26

    # It prints legibly: landscape, fit to the page's width, the header on every page.
    for name in ("Changes", "Unchanged"):
        setup = workbook[name]
        assert setup.page_setup.orientation == "landscape"
        assert (setup.page_setup.fitToWidth, setup.page_setup.fitToHeight) == (1, 0)
        assert setup.sheet_properties.pageSetUpPr.fitToPage
        assert setup.print_title_rows.replace("$", "") == "1:1"
        assert summary["Plan SHA-256"] in setup.oddFooter.center.text


def test_without_diff_the_cells_are_the_values_sent_and_the_office_unknown(tmp_path: Path, write_xlsx) -> None:
    source = write_xlsx(["id", "ring_seconds", "hours_on"], [["1001", 20, True], ["1002", None, None]])
    review = tmp_path / "review.xlsx"
    result = CliRunner().invoke(main, ["plan", str(source), "--report", str(review)])
    assert result.exit_code == EXIT_OK, result.output
    workbook = load_workbook(review)

    assert _changes_cells(workbook) == {(1001, "ring_seconds"): "20", (1001, "hours_on"): "TRUE"}
    assert [r["office"] for r in _sheet_rows(workbook["Changes"])] == ["unknown"]
    assert [(int(r["id"]), r["why"]) for r in _sheet_rows(workbook["Unchanged"])] == [
        (1002, "nothing to change: the row holds only an id")]
    summary = _summary(workbook)
    assert summary["Plan SHA-256"] == "none (no plan file)"
    assert summary["Plan file"].startswith("none written")
    assert summary["Compared with live state"] == "no"


def test_a_plan_of_many_fields_is_split_over_sheets_a_page_can_hold(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.xlsx", realistic_rows(40))
    plan, review = tmp_path / "plan.json", tmp_path / "review.xlsx"
    result = CliRunner().invoke(main, ["plan", str(source), "--out", str(plan), "--report", str(review)])
    assert result.exit_code == EXIT_OK, result.output
    workbook = load_workbook(review)
    document = json.loads(plan.read_text("utf-8"))

    sent = {(r["id"], path): shown(path, value) for r in document["requests"]
            for path, value in values_from_callcenter(r["body"]).items()}
    assert _changes_cells(workbook) == sent
    change_sheets = [name for name in workbook.sheetnames if name.startswith("Changes")]
    assert len(change_sheets) > 3
    for name in change_sheets:
        assert len(name) <= 31
        fields = [c for c in _sheet_rows(workbook[name])[0] if c not in ("row", "id", "call center", "office")]
        assert 0 < len(fields) <= MAX_FIELDS_PER_SHEET
    # The Summary says on which sheet each field's changes are.
    on_sheet = {row[0]: row[2] for row in workbook["Summary"].iter_rows(values_only=True) if row[0] in
                {path for _, path in sent}}
    assert set(on_sheet.values()) == set(change_sheets)


def test_the_review_puts_creates_on_a_sheet_of_their_own(tmp_path: Path) -> None:
    from bulkcc.cli import main

    book = tmp_path / "c.csv"
    book.write_text("id,name,office_id,ring_seconds\n,Support Berlin,124,20\n1001,,,25\n")
    report = tmp_path / "review.xlsx"
    result = CliRunner().invoke(main, ["plan", str(book), "--report", str(report)])
    assert result.exit_code == 0, result.output
    workbook = load_workbook(report)
    assert workbook.sheetnames.index("Creates") < workbook.sheetnames.index("Changes")
    assert _sheet_rows(workbook["Creates"]) == [{"row": 2, "id": None, "call center": "Support Berlin",
                                                  "office": "124", "name": "Support Berlin", "ring_seconds": "20"}]
    assert [r["id"] for r in _sheet_rows(workbook["Changes"])] == ["1001"]
    facts = {row[0]: row[1] for row in workbook["Summary"].iter_rows(values_only=True) if row and row[0]}
    assert facts["Call centers to create"] == 1 and facts["Call centers to change"] == 1
    offices = {row[0]: row[1:5] for row in workbook["Summary"].iter_rows(values_only=True) if row[0] in ("124",)}
    assert offices == {"124": (1, 0, 0, 0)}  # office, to create, to change, unchanged, left out
