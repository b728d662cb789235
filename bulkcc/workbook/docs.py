"""The column reference of the docs (`docs/columns.md`), generated from FIELDS and OPERATOR_FIELDS.

The 60 per-key DTMF columns are shown as 6 rows with a `K` placeholder for the
key. Regenerate with `python -m bulkcc.docs`; a test checks the file is current.
"""

from __future__ import annotations

import re
from pathlib import Path

from bulkcc.fields import FIELDS, KIND_LABEL, MENU_KEYS, Field, dtmf_path, split_dtmf_path
from bulkcc.operator_fields import OPERATOR_FIELDS, OPERATORS_SHEET
from bulkcc.workbook.reference import allowed_cell_text
from bulkcc.workbook.xlsx import write_atomic_text

DOCS_PATH = Path(__file__).resolve().parents[2] / "docs" / "columns.md"
KEY_PLACEHOLDER = "K"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("\n", " ")


def _with_placeholder(field: Field) -> tuple[str, str]:
    """A DTMF key column's name and help with its key replaced by K."""
    dtmf = split_dtmf_path(field.path)
    if dtmf is None:
        return field.path, field.help
    state, key, part = dtmf
    return dtmf_path(state, KEY_PLACEHOLDER, part), re.sub(rf"\b{key}\b", KEY_PLACEHOLDER, field.help)


def columns_markdown() -> str:
    """The Markdown table of every column, DTMF key columns folded into K rows."""
    lines = [
        "# Workbook columns",
        "",
        "Generated from `bulkcc/fields.py` and `bulkcc/operator_fields.py` by `python -m bulkcc.docs`; "
        "do not edit by hand.",
        "",
        f"A blank cell leaves a setting unchanged. In the `dtmf.{KEY_PLACEHOLDER}` rows, {KEY_PLACEHOLDER} "
        f"stands for a phone key {MENU_KEYS[0]}…{MENU_KEYS[-1]}: each row is ten columns.",
        "",
        "| column | type | allowed | default | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for field in FIELDS:
        name, help_text = field.path, field.help
        dtmf = split_dtmf_path(field.path)
        if dtmf is not None:
            if dtmf[1] != MENU_KEYS[0]:
                continue  # the key-0 column stands for all ten
            name, help_text = _with_placeholder(field)
        lines.append(_row(field, name, help_text))
    lines += [
        "",
        f"## The `{OPERATORS_SHEET}` sheet",
        "",
        "One row per operator (agent) of a call center: exactly one of `user_id` and `user_email` (looked up), "
        "and exactly one of `call_center_id` and `call_center_name` (the `name` of one row of the callcenters "
        "sheet, e.g. a center created in the same run, or of a live call center, looked up). A name that names "
        "no one thing is an invalid row, never a guess. `remove` TRUE removes the operator and takes only the "
        "center and the user. Otherwise the row adds "
        "the operator (blank `role`, `skill_level`, `license_type` mean the API's defaults: operator, 100, "
        "agents; `skill_level` takes 1–100), or with `--diff` changes the role and skill level of an operator "
        "the center has (`skill_level` 0–100). A (call center, user) appears once.",
        "",
        "| column | type | allowed | default | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [_row(field, field.path, field.help) for field in OPERATOR_FIELDS]
    return "\n".join(lines) + "\n"


def _row(field: Field, name: str, help_text: str) -> str:
    cells = [f"`{name}`", KIND_LABEL[field.kind], allowed_cell_text(field), field.default, help_text]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def write_columns_doc(path: str | Path = DOCS_PATH) -> Path:
    return write_atomic_text(path, columns_markdown())


if __name__ == "__main__":
    print(f"wrote {write_columns_doc()}")
