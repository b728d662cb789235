"""The column reference of the docs (`docs/columns.md`), generated from FIELDS.

The 60 per-key DTMF columns are shown as 6 rows with a `K` placeholder for the
key. Regenerate with `python -m bulkcc.docs`; a test checks the file is current.
"""

from __future__ import annotations

import re
from pathlib import Path

from .fields import FIELDS, KIND_LABEL, MENU_KEYS, Field
from .template import allowed_cell_text
from .xlsx import write_atomic_text

DOCS_PATH = Path(__file__).resolve().parent.parent / "docs" / "columns.md"
KEY_PLACEHOLDER = "K"
_DTMF_KEY = re.compile(r"\.dtmf\.(\d)\.")


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("\n", " ")


def _with_placeholder(field: Field) -> tuple[str, str]:
    """A DTMF key column's name and help with its key replaced by K."""
    key = _DTMF_KEY.search(field.path).group(1)
    name = _DTMF_KEY.sub(f".dtmf.{KEY_PLACEHOLDER}.", field.path)
    return name, re.sub(rf"\b{key}\b", KEY_PLACEHOLDER, field.help)


def columns_markdown() -> str:
    """The Markdown table of every column, DTMF key columns folded into K rows."""
    lines = [
        "# Workbook columns",
        "",
        "Generated from `bulkcc/fields.py` by `python -m bulkcc.docs`; do not edit by hand.",
        "",
        f"A blank cell leaves a setting unchanged. In the `dtmf.{KEY_PLACEHOLDER}` rows, {KEY_PLACEHOLDER} "
        f"stands for a phone key {MENU_KEYS[0]}…{MENU_KEYS[-1]}: each row is ten columns.",
        "",
        "| column | type | allowed | default | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for field in FIELDS:
        name, help_text = field.path, field.help
        if field.is_dtmf_menu:
            if _DTMF_KEY.search(field.path).group(1) != MENU_KEYS[0]:
                continue  # the key-0 column stands for all ten
            name, help_text = _with_placeholder(field)
        cells = [f"`{name}`", KIND_LABEL[field.kind], allowed_cell_text(field), field.default, help_text]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def write_columns_doc(path: str | Path = DOCS_PATH) -> Path:
    return write_atomic_text(path, columns_markdown())


if __name__ == "__main__":
    print(f"wrote {write_columns_doc()}")
