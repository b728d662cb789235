"""Workbooks holding what only a sheet's XML can: error cells, formulas with and without a saved
value, hidden rows, columns and sheets, cells far away, control characters (`_x001B_`).

openpyxl writes most of them; what it cannot (a formula's saved value, an escaped
control character, a sheet XML cut short) is patched into the saved file's XML.
Shared by test_validate, test_properties and test_bad_inputs.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook

SHEET_XML = "xl/worksheets/sheet1.xml"


def write_sheet(path: Path, rows: Sequence[Sequence[Any]], *, errors: Mapping[str, str] = {},
                formulas: Mapping[str, str] = {}, hidden_rows: Sequence[int] = (),
                hidden_columns: Sequence[str] = (), zero_height_rows: Sequence[int] = (),
                grouped_columns: Sequence[str] = (), hidden_sheet: bool = False,
                far_cell: tuple[int, int] | None = None, patch: Mapping[bytes, bytes] = {}) -> Path:
    """The `callcenters` sheet of `rows` (row 1 first), with:

    errors: cell ref -> error shown (`{"B3": "#DIV/0!"}`); formulas: cell ref -> formula
    (`"=A2*2"`, no saved value, as openpyxl writes it); hidden rows and columns (by
    number and letter); zero-height rows; columns hidden as a collapsed outline group;
    the sheet hidden (behind a visible `Notes` sheet); one value at (row, column)
    `far_cell`; `patch`: byte replacements in the sheet's XML once saved.
    """
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "callcenters"
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row, start=1):
            if value is not None:
                cell = sheet.cell(row=number, column=column, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # text stays text, even "=1+1" or "#REF!"
    for ref, shown in errors.items():
        sheet[ref].value = shown
        sheet[ref].data_type = "e"
    for ref, formula in formulas.items():
        sheet[ref].value = formula
        sheet[ref].data_type = "f"
    for number in hidden_rows:
        sheet.row_dimensions[number].hidden = True
    for letter in hidden_columns:
        sheet.column_dimensions[letter].hidden = True
    for letter in grouped_columns:
        sheet.column_dimensions[letter].outline_level = 1
        sheet.column_dimensions[letter].hidden = True
    if far_cell:
        sheet.cell(row=far_cell[0], column=far_cell[1], value="x")
    if hidden_sheet:
        workbook.create_sheet("Notes", 0).append(["notes"])
        sheet.sheet_state = "hidden"
        workbook.active = 0
    workbook.save(path)
    patch = dict(patch)
    for number in zero_height_rows:  # openpyxl leaves out a height of 0
        patch[f'<row r="{number}"'.encode()] = f'<row r="{number}" ht="0" customHeight="1"'.encode()
    if patch:
        patch_sheet_xml(path, patch)
    return path


def patch_sheet_xml(path: Path, patch: Mapping[bytes, bytes], member: str = SHEET_XML) -> Path:
    """Replace bytes in one member of the package (each replacement must occur)."""
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in members:
            if info.filename == member:
                for old, new in patch.items():
                    assert old in data, (old, data[:2000])
                    data = data.replace(old, new)
            target.writestr(info, data)
    return path


def sheet_member(path: Path, member: str, transform) -> Path:
    """Rewrite one member of the package through `transform(bytes) -> bytes`."""
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in members:
            target.writestr(info, transform(data) if info.filename == member else data)
    return path
