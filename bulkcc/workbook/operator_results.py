"""The `Operators` sheet of a results workbook: what became of each row of the operators sheet.

One row per operator row, in sheet order, then one per operator that
--exact-operators removed (no sheet row: `row` is blank, and its input cells
are the call center, the user and `remove` TRUE, which is what happened; those
columns are added when the input lacked them). So the sheet is a faithful
input: fed back, no row of it undoes what the run did. The
outcome columns come first (`row, status, http_status, attempts, error,
duration_ms, action`), then the input's own cells, so the sheet is fed back as
an operators sheet like the Results sheet is fed back as the callcenters one:
the reader ignores the outcome columns, and `--only-failed` re-sends the rows
that failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import load_workbook

from bulkcc.operator_fields import OPERATOR_COLUMNS, OPERATOR_FIELDS
from bulkcc.values import is_blank
from bulkcc.workbook.layout import OPERATOR_RESULT_COLUMNS, OPERATOR_RESULTS_SHEET
from bulkcc.workbook.results import WIDE_COLUMNS, _cell_value, _identifier_text, _int_or_none, stream_outcome_sheet
from bulkcc.workbook.stream import StreamSheet

# The sheet's name in a results workbook (the reader takes it as the operators sheet when fed back,
# its outcome columns as meta), and those columns.
OPERATORS_RESULTS = OPERATOR_RESULTS_SHEET
OPERATOR_OUTCOME_COLUMNS = OPERATOR_RESULT_COLUMNS
OPERATOR_IDENTIFIERS = frozenset(f.path for f in OPERATOR_FIELDS if f.is_identifier)
_WIDE = WIDE_COLUMNS | {"action"}
CENTER_CONTEXT = "info.call_center_id"  # beside call_center_name: read-only, never read back


@dataclass
class OperatorResult:
    """What happened to one operator row (or to one --exact-operators removal: `row` None)."""

    row: int | None
    status: str
    http_status: int | None = None
    attempts: int = 0
    error: str | None = None
    duration_ms: int | None = None
    action: str | None = None  # "add user 42 to 'Support Berlin' as supervisor, skill 80"
    call_center_id: int | None = None  # as resolved (a name's, or a center created in this run)
    user_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OperatorResult:
        """Inverse of to_dict; keys this version does not know (a newer journal) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _front(result: OperatorResult) -> list[Any]:
    return [result.row, str(result.status), result.http_status, result.attempts, result.error,
            result.duration_ms, result.action]


def write_operator_sheet(sheet: StreamSheet, results: Sequence[OperatorResult], input_frame: pd.DataFrame | None
                         ) -> None:
    """Lay out the Operators sheet (a write-only sheet) of `results`; `input_frame` holds the operators
    sheet's own cells by Excel row (None: the cells are made from the results)."""
    columns = [c for c in (input_frame.columns if input_frame is not None else ()) if c not in
               OPERATOR_OUTCOME_COLUMNS]
    columns = [str(c) for c in columns] or list(OPERATOR_COLUMNS)
    if any(r.row is None for r in results):
        # An --exact-operators removal says what it did in cells the reader takes: its center, its user
        # and remove TRUE, whatever columns the input had (fed back, a bare row would add the user again).
        columns += [c for c in ("call_center_id", "user_id", "remove") if c not in columns]
    raw: dict[int, dict[str, Any]] = {}
    if input_frame is not None:
        raw = {int(row): dict(zip(input_frame.columns, values, strict=True))
               for row, values in zip(input_frame.index, input_frame.itertuples(index=False, name=None),
                                      strict=True)}
    # A center named by its name shows the id it had, beside the name: one created in this run too (known
    # only once created, so not by the look-up that put the live ones' there).
    by_name = {r.row: r.call_center_id for r in results if r.row in raw and r.call_center_id is not None
               and not is_blank(raw[r.row].get("call_center_name"))}
    if by_name and "call_center_name" in columns and CENTER_CONTEXT not in columns:
        columns.insert(columns.index("call_center_name") + 1, CENTER_CONTEXT)

    def back(result: OperatorResult) -> list[Any]:
        if result.row is not None and result.row in raw:
            cells = raw[result.row]
            if result.row in by_name and is_blank(cells.get(CENTER_CONTEXT)):
                cells = {**cells, CENTER_CONTEXT: str(by_name[result.row])}
        elif result.row is None:  # an --exact-operators removal: the row that stands for what was done
            cells = {"call_center_id": result.call_center_id, "user_id": result.user_id, "remove": True}
        else:
            cells = {"call_center_id": result.call_center_id, "user_id": result.user_id}
        return [_identifier_text(cells.get(c)) if c in OPERATOR_IDENTIFIERS else _cell_value(cells.get(c))
                for c in columns]

    ordered = sorted(results, key=lambda r: (r.row is None, r.row or 0, r.call_center_id or 0, r.user_id or 0))
    # Printed: the outcome and the row's call center; the action says the rest in words ("add user
    # 6200000000000101 (ana@example.com) to 'Support Berlin' (created in this run) as operator, skill 100").
    centers = [columns.index(name) + 1 for name in ("call_center_id", "call_center_name") if name in columns]
    printed = len(OPERATOR_OUTCOME_COLUMNS) + (max(centers) if centers else len(columns))
    stream_outcome_sheet(sheet, OPERATOR_OUTCOME_COLUMNS, columns, ordered, lambda r: (_front(r), back(r)), _WIDE,
                         text_columns=OPERATOR_IDENTIFIERS, title_columns=1, print_columns=printed)


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def read_operator_results(path: str | Path) -> list[OperatorResult]:
    """The Operators sheet of a results workbook read back (for tests and tools); [] if it has none."""
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        if OPERATORS_RESULTS not in workbook.sheetnames:
            return []
        rows = workbook[OPERATORS_RESULTS].iter_rows(values_only=True)
        header = [str(h) if h is not None else "" for h in next(rows, ())]
        out = []
        for values in rows:
            cells = dict(zip(header, values, strict=False))
            if not cells.get("status"):
                continue
            out.append(OperatorResult(
                row=_int_or_none(cells.get("row")), status=str(cells["status"]),
                http_status=_int_or_none(cells.get("http_status")), attempts=_int_or_none(cells.get("attempts")) or 0,
                error=_text(cells.get("error")), duration_ms=_int_or_none(cells.get("duration_ms")),
                action=_text(cells.get("action")), call_center_id=_int_or_none(cells.get("call_center_id")),
                user_id=_int_or_none(cells.get("user_id"))))
        return out
    finally:
        workbook.close()
