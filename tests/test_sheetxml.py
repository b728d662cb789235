"""The sheet XML scan (`bulkcc.workbook.sheetxml`) on the layouts writers use, written out by hand.

Excel, LibreOffice and openpyxl write `r` first on every row and cell, double-quoted, with no
namespace prefix; other writers leave `r` out, put it later, or prefix every tag (`x:c`).
The scan must give the same facts for each.
"""

from __future__ import annotations

import pytest

from bulkcc.workbook.sheetxml import ERROR, UNCOMPUTED, scan_sheet_xml


def sheet(body: str, prefix: str = "") -> bytes:
    tag = f"{prefix}:" if prefix else ""
    xmlns = f"xmlns:{prefix}" if prefix else "xmlns"
    return (f'<{tag}worksheet {xmlns}="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"<{tag}sheetData>{body}</{tag}sheetData></{tag}worksheet>").encode()


@pytest.mark.parametrize("body, last_row, last_column", [
    ('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1"><v>1</v></c></row><row r="2"><c r="B2"><v>2</v></c></row>',
     2, 3),
    ('<row r="1"><c t="s"><v>0</v></c><c><v>1</v></c><c><v>1</v></c></row><row r="5"><c><v>2</v></c></row>', 5, 3),
    ('<row r="1"><c s="1" r="D1"><v>0</v></c></row><row r="2"><c s="0" r="B2"><v>2</v></c></row>', 2, 4),
    ('<row r="1"><c r="E1"><v>0</v></c></row><row r="2"></row><row r="3"><c r="B3"><v>2</v></c></row>', 3, 5),
    ('<row><c r="A1"><v>0</v></c></row><row><c r="B2"><v>2</v></c></row><row/>', 2, 2),
    # a height set on a far row, and a styled empty cell, hold nothing: calamine skips them
    ('<row r="1"><c r="A1"><v>0</v></c><c r="XFD1" s="3"/></row><row r="1000000" ht="20" customHeight="1"/>', 1, 1),
    ("<row r='1'><c r='B1'><v>0</v></c></row>", 1, 2),
])
def test_the_extent_is_the_last_row_and_column_that_hold_a_cell(body: str, last_row: int, last_column: int) -> None:
    scan = scan_sheet_xml(sheet(body))
    assert (scan.last_row, scan.last_column) == (last_row, last_column)


@pytest.mark.parametrize("prefix", ["", "x"])
def test_error_cells_formulas_and_hidden_rows_with_or_without_a_prefix(prefix: str) -> None:
    p = f"{prefix}:" if prefix else ""
    body = (f'<{p}row r="1"><{p}c r="B1" t="e"><{p}v>#N/A</{p}v></{p}c></{p}row>'
            f'<{p}row r="2" hidden="1"><{p}c r="A2"><{p}f>1+1</{p}f><{p}v/></{p}c>'
            f'<{p}c r="B2" t="str"><{p}f>""</{p}f><{p}v></{p}v></{p}c>'  # computed: the empty text
            f'<{p}c r="C2"><{p}f>2+2</{p}f><{p}v>4</{p}v></{p}c></{p}row>'  # computed: 4
            f'<{p}row r="3" hidden="true" ht="15"><{p}c r="A3" t="inlineStr"><{p}is><{p}t>t="e" &lt;f&gt;</{p}t>'
            f"</{p}is></{p}c></{p}row>"
            f'<{p}row r="4" ht="0" customHeight="1"><{p}c r="A4"><{p}v>1</{p}v></{p}c></{p}row>'
            f'<{p}row r="5" hidden="false" ht="12.8"><{p}c r="A5"><{p}v>1</{p}v></{p}c></{p}row>')
    scan = scan_sheet_xml(sheet(body, prefix))
    assert scan.bad_cells == {(1, 1): (ERROR, "#N/A"), (2, 0): (UNCOMPUTED, "=1+1")}
    assert scan.hidden_rows == {2, 3, 4}
    assert (scan.last_row, scan.last_column) == (5, 3)


def test_hidden_columns_and_collapsed_groups() -> None:
    data = (b'<worksheet xmlns="x"><cols><col min="2" max="3" hidden="1" width="0"/>'
            b'<col min="5" max="5" width="0"/><col min="7" max="16384" hidden="true" outlineLevel="1"/>'
            b'<col min="4" max="4" width="12"/></cols><sheetData/></worksheet>')
    scan = scan_sheet_xml(data)
    assert [scan.column_hidden(p) for p in range(8)] == [None, False, False, None, False, None, True, True]
    assert scan.column_hidden(16_383) is True


def test_a_self_closing_error_cell_and_one_without_a_value() -> None:
    body = '<row r="1"><c r="A1" t="e"/><c r="B1" t="e"><v>#REF!</v></c></row>'
    assert scan_sheet_xml(sheet(body)).bad_cells == {(1, 0): (ERROR, "#ERROR"), (1, 1): (ERROR, "#REF!")}
