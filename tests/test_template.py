"""The template workbook, the committed template and the generated column docs."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter

from bulkcc.fields import FIELDS
from bulkcc.operator_fields import OPERATOR_FIELDS, OPERATORS_SHEET
from bulkcc.validate.cells import FALSE_WORDS, TRUE_WORDS, parse_bool
from bulkcc.validate.validation import validate_file
from bulkcc.workbook.docs import DOCS_PATH, columns_markdown
from bulkcc.workbook.layout import DATA_SHEET
from bulkcc.workbook.reader import MAX_ROWS, read_sheet
from bulkcc.workbook.template import (
    BOOL_LIST,
    CONTEXT_NOTE,
    DOCUMENT_TIME,
    OUTLINED_GROUPS,
    PROMPT_LIMIT,
    PROMPT_TITLE_LIMIT,
    VALIDATED_ROWS,
    build_template,
    build_workbook,
    write_template,
)

ROOT = Path(__file__).resolve().parent.parent
COMMITTED_TEMPLATE = ROOT / "templates" / "callcenters.xlsx"
REGENERATE = "run `bulkcc template -o templates/callcenters.xlsx --force` and commit the result"


def _saved(workbook: Workbook, path: Path) -> Workbook:
    """The workbook as a reader sees it once written: comparisons are between loaded files."""
    workbook.save(path)
    return load_workbook(path)


def _validations(sheet) -> list[tuple[Any, ...]]:
    return sorted(
        (str(dv.sqref), dv.type, dv.operator, dv.formula1, dv.formula2, dv.promptTitle, dv.prompt, dv.error)
        for dv in sheet.data_validations.dataValidation
    )


def _columns(sheet) -> dict[int, tuple[Any, ...]]:
    """Per column: outline level, hidden, collapsed, width (a dimension may span several columns)."""
    columns = {}
    for dimension in sheet.column_dimensions.values():
        for column in range(dimension.min, dimension.max + 1):
            columns[column] = (dimension.outline_level, dimension.hidden, dimension.collapsed, dimension.width)
    return columns


def _content(sheet) -> dict[str, Any]:
    return {
        "cells": [list(row) for row in sheet.iter_rows(values_only=True)],
        "data validations": _validations(sheet),
        "comments": {c.coordinate: c.comment.text for row in sheet.iter_rows() for c in row if c.comment},
        "freeze panes": sheet.freeze_panes,
        "columns": _columns(sheet),
    }


def _validation_of(sheet, column: int):
    letter = get_column_letter(column)
    found = [dv for dv in sheet.data_validations.dataValidation if str(dv.sqref).startswith(f"{letter}2:")]
    assert len(found) == 1, f"column {letter}: {len(found)} validations"
    return found[0]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Workbook:
    return _saved(build_template(), tmp_path_factory.mktemp("template") / "template.xlsx")


def test_committed_template_is_current(template):
    committed = load_workbook(COMMITTED_TEMPLATE)
    assert committed.sheetnames == template.sheetnames, f"templates/callcenters.xlsx is stale: {REGENERATE}"
    for name in template.sheetnames:
        expected, actual = _content(template[name]), _content(committed[name])
        for part in expected:
            assert actual[part] == expected[part], (
                f"templates/callcenters.xlsx, sheet {name}: {part} differ from build_template(): {REGENERATE}"
            )
    assert committed.properties.modified == DOCUMENT_TIME


def test_header_is_every_field_in_order(template):
    sheet = template[DATA_SHEET]
    assert template.sheetnames[0] == DATA_SHEET
    assert [c.value for c in sheet[1]] == [f.path for f in FIELDS]
    assert sheet.freeze_panes == "B2"
    comments = [sheet.cell(row=1, column=i).comment for i in range(1, len(FIELDS) + 1)]
    assert all(c is not None and f.help in c.text for c, f in zip(comments, FIELDS, strict=False))
    columns_sheet = template["Columns"]
    listed = [row[:2] for row in columns_sheet.iter_rows(min_row=2, values_only=True)]
    assert listed == [(f.path, f.group) for f in FIELDS] + [(f.path, "operators sheet") for f in OPERATOR_FIELDS]


def test_the_operators_sheet_has_every_operator_column_with_its_help(template):
    assert template.sheetnames[:2] == [DATA_SHEET, OPERATORS_SHEET]
    sheet = template[OPERATORS_SHEET]
    assert [c.value for c in sheet[1]] == [f.path for f in OPERATOR_FIELDS]
    assert sheet.freeze_panes == "A2"
    for column, field in enumerate(OPERATOR_FIELDS, start=1):
        comment = sheet.cell(row=1, column=column).comment
        assert comment is not None and field.help in comment.text and f"Allowed: {field.allowed}." in comment.text
        width = sheet.column_dimensions[get_column_letter(column)].width
        assert width >= len(field.path) + 2, field.path
    drop_downs = {field.path: _validation_of(sheet, column).formula1
                  for column, field in enumerate(OPERATOR_FIELDS, start=1)}
    assert drop_downs["role"] == '"admin,operator,supervisor"'
    assert drop_downs["license_type"] == '"agents,lite_support_agents"'
    assert drop_downs["remove"].startswith('"TRUE,FALSE,') and drop_downs["keep_paid_numbers"] == drop_downs["remove"]
    skill = _validation_of(sheet, [f.path for f in OPERATOR_FIELDS].index("skill_level") + 1)
    assert (skill.type, skill.operator, skill.formula1, skill.formula2) == ("whole", "between", "0", "100")
    assert "1-100 when adding" in skill.prompt


def test_the_template_s_operators_sheet_reads_as_no_operator_rows(tmp_path):
    validation = validate_file(write_template(tmp_path / "template.xlsx"))
    assert validation.ok and validation.operators is not None and validation.operator_rows == []
    assert validation.operators.sheet.rows == [] and validation.operators.problems == []


@pytest.mark.parametrize(("sheet_name", "fields"), [(DATA_SHEET, FIELDS), (OPERATORS_SHEET, OPERATOR_FIELDS)])
def test_validations_match_the_fields(template, sheet_name, fields):
    sheet = template[sheet_name]
    for column, field in enumerate(fields, start=1):
        dv = _validation_of(sheet, column)
        letter = get_column_letter(column)
        assert str(dv.sqref) == f"{letter}2:{letter}{VALIDATED_ROWS + 1}"
        assert dv.prompt and len(dv.prompt) <= PROMPT_LIMIT and len(dv.promptTitle) <= PROMPT_TITLE_LIMIT
        if field.kind in ("enum", "bool", "dtmf_key"):
            expected = BOOL_LIST if field.kind == "bool" else field.choices
            assert dv.type == "list" and len(dv.formula1) <= 255, field.path
            assert tuple(dv.formula1.strip('"').split(",")) == expected, field.path
        elif field.is_identifier:
            # 16-digit ids are text: Excel would round them as numbers.
            assert (dv.type, dv.operator, dv.formula1, dv.formula2) == ("textLength", "between", "1", "19")
            assert sheet.column_dimensions[letter].number_format == "@", field.path
        elif field.kind in ("id", "int") and field.minimum is not None:
            assert dv.type == "whole" and dv.formula1 == str(field.minimum), field.path
            if field.maximum is None:
                assert (dv.operator, dv.formula2) == ("greaterThanOrEqual", None), field.path
            else:
                assert (dv.operator, dv.formula2) == ("between", str(field.maximum)), field.path
        elif field.max_length:
            assert (dv.type, dv.operator, dv.formula1) == ("textLength", "lessThanOrEqual", str(field.max_length))
    if fields is FIELDS:
        keys = _validation_of(sheet, [f.path for f in FIELDS].index("hold_queue.queue_escape_dtmf") + 1)
        assert keys.formula1 == '"0,1,2,3,4,5,6,7,8,9,*,#"'


def test_outlined_groups_are_separate_and_dtmf_collapsed(template):
    columns = _columns(template[DATA_SHEET])
    position, outlined = 1, []
    for group, members in itertools.groupby(FIELDS, key=lambda f: f.group):
        count = len(list(members))
        levels = {columns[c][:2] for c in range(position, position + count)}
        if group in OUTLINED_GROUPS:
            assert levels == {(1, OUTLINED_GROUPS[group])}, group
            outlined.append((position, position + count - 1))
        else:
            assert levels == {(0, False)}, group
        position += count
    # Adjacent outlined groups would merge into one group in Excel.
    assert all(end + 1 < start for (_, end), (start, _) in zip(outlined, outlined[1:], strict=False))
    assert OUTLINED_GROUPS["dtmf open"] and OUTLINED_GROUPS["dtmf closed"]


def test_reader_accepts_the_template(tmp_path):
    path = write_template(tmp_path / "template.xlsx")
    validation = validate_file(path)
    assert validation.problems == []
    assert validation.sheet.rows == []


def test_rows_and_context_columns_round_trip(tmp_path):
    formula_like = "=cmd|' /C calc'!A0"
    workbook = build_workbook(
        rows=[{"id": 1, "name": formula_like, "monday_hours": "08:00-18:00"}],
        context_columns=["info.office_id"],
    )
    context = workbook[DATA_SHEET].cell(row=1, column=len(FIELDS) + 1)
    assert context.value == "info.office_id" and context.comment.text == CONTEXT_NOTE
    path = tmp_path / "export.xlsx"
    workbook.save(path)

    sheet = read_sheet(path)
    assert sheet.header_problems == []
    assert "info.office_id" not in sheet.frame.columns
    assert sheet.rows == [2]
    assert sheet.frame.at[2, "name"] == formula_like
    assert sheet.frame.at[2, "monday_hours"] == "08:00-18:00"
    assert sheet.frame.at[2, "id"] == "1"  # ids are written as text, all their digits kept
    assert load_workbook(path)[DATA_SHEET]["B2"].data_type == "s"  # text, not a formula
    assert validate_file(path).problems == []


def test_unknown_row_column_is_refused():
    with pytest.raises(ValueError, match="no column named nmae"):
        build_workbook(rows=[{"id": 1, "nmae": "x"}])


def test_validations_cover_every_row_up_to_the_row_limit():
    workbook = build_workbook(rows=[{"id": i} for i in range(1, 1501)])
    ranges = [str(dv.sqref) for dv in workbook[DATA_SHEET].data_validations.dataValidation]
    assert len(ranges) == len(FIELDS)
    last = MAX_ROWS + 1  # the header is row 1
    assert all(re.fullmatch(rf"(?P<column>[A-Z]+)2:(?P=column){last}", cells) for cells in ranges), ranges[:3]


def test_the_boolean_drop_down_offers_every_word_the_reader_takes():
    # LibreOffice marked `yes` invalid against a TRUE,FALSE list although validate accepts it.
    words = {w for w in TRUE_WORDS | FALSE_WORDS}
    assert {w.lower() for w in BOOL_LIST} == words
    assert {parse_bool(w) for w in BOOL_LIST} == {True, False}


def test_id_columns_fit_19_digits_and_no_header_is_cut(template):
    sheet = template[DATA_SHEET]
    for column, field in enumerate(FIELDS, start=1):
        width = sheet.column_dimensions[get_column_letter(column)].width
        assert width >= len(field.path) + 2, field.path
        if field.is_identifier:
            assert width >= 21, field.path  # 19 digits and the filter button


def test_every_sheet_prints_landscape_fit_to_width_with_the_header_repeated(template):
    for sheet in (template["Columns"],):
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.page_setup.fitToWidth == 1 and sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.print_title_rows in ("1:1", "$1:$1")


def test_columns_doc_is_current():
    assert DOCS_PATH.read_text(encoding="utf-8") == columns_markdown(), (
        "docs/columns.md is stale: run `python -m bulkcc.docs` and commit the result"
    )
    assert sum(".dtmf.K." in line for line in columns_markdown().splitlines()) == 6


def test_an_exported_id_cell_is_formatted_as_text_so_an_id_typed_over_it_keeps_its_digits():
    # A filled cell takes its own format, not its column's: left General, a 16-digit routing target or
    # user id typed over an exported one became a rounded number.
    workbook = build_workbook(
        rows=[{"id": 4800000000000001, "name": "Sales", "routing_options.open.action_target_id": 4538596013461197,
               "ring_seconds": 30}],
        operator_rows=[{"call_center_id": 4800000000000001, "user_id": 6200000000000002, "role": "operator"}])
    data = workbook["callcenters"]
    header = [c.value for c in data[1]]
    for name in ("id", "routing_options.open.action_target_id"):
        cell = data.cell(row=2, column=header.index(name) + 1)
        assert isinstance(cell.value, str) and cell.number_format == "@", name
    assert data.cell(row=2, column=header.index("ring_seconds") + 1).number_format == "General"
    operators = workbook["operators"]
    for cell in (operators["A2"], operators["C2"]):  # call_center_id, user_id
        assert isinstance(cell.value, str) and cell.number_format == "@", cell.coordinate
