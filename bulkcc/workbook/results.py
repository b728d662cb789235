"""The results workbook of `bulkcc apply`: what happened to each row, and a summary of the run.

The `Results` sheet is the input sheet again with the outcome in front of it
(`row, id, status, http_status, attempts, error, duration_ms`, and `changes` in
diff mode), so the file can be fed straight back: the reader takes `Results` as
the data sheet, keeps the result columns as meta, and `--only-failed` re-sends
the rows that failed once they are fixed in place. The `Summary` sheet counts
the rows by status and records when, where and from which file the run went.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.marker import DataPoint
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from bulkcc.fields import FIELDS
from bulkcc.status import Status
from bulkcc.values import is_missing, sha256_file
from bulkcc.workbook.layout import CHANGES_COLUMN, OUTCOME_COLUMNS, RESULTS_SHEET, SUMMARY_SHEET
from bulkcc.workbook.xlsx import FILLS, active_sheet, save_atomic, set_cell, style_header, wrap_column, write_row

__all__ = ["RowResult", "RunSummary", "read_results", "sha256_file", "write_results"]

# Always counted on the Summary, zero or not; the diff-mode statuses only when they occur.
STANDARD_STATUSES = tuple(s for s in Status if s.always_counted)
STATUSES = tuple(Status)
SIMULATOR_LINE = "Simulator: nothing real was changed"

# Column widths are measured on the first rows only: a 10,000-row sheet needs no full scan.
WIDTH_SAMPLE_ROWS = 200
MIN_WIDTH, MAX_WIDTH, MAX_TEXT_WIDTH = 6, 40, 80
WIDE_COLUMNS = {"error", CHANGES_COLUMN}


@dataclass
class RowResult:
    """What happened to one input row."""

    row: int  # Excel row in the input
    id: int | None
    status: str
    http_status: int | None = None
    attempts: int = 0
    error: str | None = None
    duration_ms: int | None = None
    changes: str | None = None  # diff mode, e.g. "ring_seconds: 30 → 25; name: A → B"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_cells(cls, row: int, cells: Mapping[str, Any]) -> RowResult:
        """The result a Results sheet's cells record for a row (blank cells as None)."""
        return cls(row=row, id=_int_or_none(cells.get("id")), status=str(cells.get("status") or Status.NOT_SENT),
                   http_status=_int_or_none(cells.get("http_status")),
                   attempts=_int_or_none(cells.get("attempts")) or 0, error=cells.get("error") or None,
                   duration_ms=_int_or_none(cells.get("duration_ms")), changes=cells.get(CHANGES_COLUMN) or None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RowResult:
        """Inverse of to_dict; keys this version does not know (a newer journal) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class RunSummary:
    """The facts of one run, for the Summary sheet."""

    started: datetime
    ended: datetime
    target_url: str
    input_name: str
    input_sha256: str
    version: str
    achieved_rate_per_min: float | None
    allowed_rate_per_min: int | None
    requests_sent: int
    throttled: int  # 429 answers seen
    simulator: bool
    note: str | None = None  # e.g. "stopped by Ctrl-C"

    @property
    def duration_s(self) -> float:
        return (_as_utc(self.ended) - _as_utc(self.started)).total_seconds()


def _as_utc(moment: datetime) -> datetime:
    """A naive datetime is taken as UTC (that is what apply records), an aware one converted."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def count_statuses(results: Sequence[RowResult]) -> dict[str, int]:
    """Rows per status: the standard five always, the others when present, in a fixed order."""
    counts = Counter(str(r.status) for r in results)
    order: list[str] = [*STANDARD_STATUSES, *(s for s in STATUSES if s not in STANDARD_STATUSES and counts[s])]
    order += sorted(s for s in counts if s not in STATUSES)
    return {status: counts.get(status, 0) for status in order}


def summary_rows(summary: RunSummary) -> list[tuple[str, Any]]:
    """The label/value rows of the Summary sheet below the counts (also handy for a terminal)."""
    def rate(value: float | int | None) -> Any:
        return "n/a" if value is None else round(value, 1)

    rows: list[tuple[str, Any]] = [
        ("Started (UTC)", _as_utc(summary.started).isoformat(timespec="seconds")),
        ("Ended (UTC)", _as_utc(summary.ended).isoformat(timespec="seconds")),
        ("Duration (s)", round(summary.duration_s, 1)),
        ("Requests sent", summary.requests_sent),
        ("429s seen", summary.throttled),
        ("Achieved rate (per minute)", rate(summary.achieved_rate_per_min)),
        ("Allowed rate (per minute)", rate(summary.allowed_rate_per_min)),
        ("Target URL", summary.target_url),
        ("Input file", summary.input_name),
        ("Input SHA-256", summary.input_sha256),
        ("bulkcc version", summary.version),
    ]
    if summary.note:
        rows.append(("Note", summary.note))
    return rows


def write_results(path: str | Path, results: Sequence[RowResult], input_frame: pd.DataFrame,
                  summary: RunSummary, include_changes: bool = False) -> Path:
    """Write the results workbook atomically; returns its path."""
    workbook = Workbook()
    _write_results_sheet(active_sheet(workbook), results, input_frame, include_changes)
    _write_summary_sheet(workbook.create_sheet(SUMMARY_SHEET), results, summary)
    return save_atomic(workbook, path)


# Ids are written as text: Excel keeps only 15 significant digits of a number.
IDENTIFIER_COLUMNS = frozenset(f.path for f in FIELDS if f.is_identifier)


def _identifier_text(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _cell_value(value)


def _write_results_sheet(sheet: Worksheet, results: Sequence[RowResult], input_frame: pd.DataFrame,
                         include_changes: bool) -> None:
    sheet.title = RESULTS_SHEET  # first sheet: the reader takes it as the data sheet when fed back
    outcome = [*OUTCOME_COLUMNS, CHANGES_COLUMN] if include_changes else list(OUTCOME_COLUMNS)
    # `id` is already an outcome column; a name twice in row 1 would make the file unreadable as input.
    input_columns = [c for c in input_frame.columns if c not in outcome]
    raw_rows = input_frame[input_columns].itertuples(index=False, name=None)
    raw_by_row = dict(zip(input_frame.index, raw_rows, strict=True))
    raw_ids = input_frame["id"].to_dict() if "id" in input_frame.columns else {}

    write_row(sheet, 1, [*outcome, *input_columns])
    for excel_row, result in enumerate(sorted(results, key=lambda r: r.row), start=2):
        # A row rejected for its id has id None; keep the cell as typed so it can be fixed in place.
        row_id = str(result.id) if result.id is not None else _cell_value(raw_ids.get(result.row))
        values = [result.row, row_id, result.status, result.http_status, result.attempts,
                  result.error, result.duration_ms]
        if include_changes:
            values.append(result.changes)
        write_row(sheet, excel_row, values)
        # Input sheets are sparse (a few of ~100 columns filled): touching a blank cell would
        # still write an element for it, so only filled cells are set.
        for col, (name, raw) in enumerate(zip(input_columns, raw_by_row.get(result.row, ()), strict=False),
                                          start=len(outcome) + 1):
            value = _identifier_text(raw) if name in IDENTIFIER_COLUMNS else _cell_value(raw)
            if value is not None:
                set_cell(sheet.cell(row=excel_row, column=col), value)
        fill = FILLS.get(result.status)
        if fill is not None:
            for col in range(1, len(outcome) + 1):
                sheet.cell(row=excel_row, column=col).fill = fill
    # Printed: the outcome columns (what a reviewer signs off); the input's own cells are in the file.
    style_header(sheet, len(outcome) + len(input_columns), freeze="C2", widths=_column_widths(sheet),
                 print_columns=len(outcome))
    for column, name in enumerate(outcome, start=1):
        if name in WIDE_COLUMNS:
            wrap_column(sheet, column)


def _cell_value(value: Any) -> Any:
    """A raw input cell as openpyxl can store it (pandas and numpy scalars, NaN, tz-aware times)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime) and value.tzinfo is not None:
        return _as_utc(value).replace(tzinfo=None)  # Excel has no time zones
    if isinstance(value, str | bool | int | float | date | time | timedelta):
        return value
    if hasattr(value, "item"):  # numpy scalar
        return _cell_value(value.item())
    return str(value)


def _column_widths(sheet: Worksheet) -> list[int]:
    widths = []
    last_row = min(sheet.max_row, WIDTH_SAMPLE_ROWS + 1)
    for col, (header,) in enumerate(sheet.iter_cols(min_row=1, max_row=1, values_only=True), start=1):
        longest = max((len(str(v)) for (v,) in sheet.iter_rows(min_row=1, max_row=last_row, min_col=col,
                                                               max_col=col, values_only=True) if v is not None),
                      default=0)
        cap = MAX_TEXT_WIDTH if header in WIDE_COLUMNS else MAX_WIDTH
        widths.append(max(MIN_WIDTH, min(cap, longest + 2)))
    return widths


def _write_summary_sheet(sheet: Worksheet, results: Sequence[RowResult], summary: RunSummary) -> None:
    counts = count_statuses(results)
    write_row(sheet, 1, ["Status", "Rows"])
    for offset, (status, count) in enumerate(counts.items()):
        write_row(sheet, 2 + offset, [status, count])
        if status in FILLS:
            sheet.cell(row=2 + offset, column=1).fill = FILLS[status]
    last_count_row = 1 + len(counts)
    write_row(sheet, last_count_row + 1, ["Total rows", len(results)])
    next_row = last_count_row + 3  # a blank row between the counts and the facts of the run
    for label, value in summary_rows(summary):
        write_row(sheet, next_row, [label, value])
        next_row += 1
    for (label_cell,) in sheet.iter_rows(min_row=last_count_row + 1, max_col=1):
        label_cell.font = Font(bold=True)
    if summary.simulator:
        set_cell(sheet.cell(row=next_row + 1, column=1), SIMULATOR_LINE).font = Font(bold=True, color="C00000")
    style_header(sheet, 2, freeze=None, widths=[28, 66])
    sheet.auto_filter.ref = None  # a label/value table needs no filter buttons
    sheet.add_chart(_status_chart(sheet, counts, last_count_row), "D2")


def _status_chart(sheet: Worksheet, counts: dict[str, int], last_count_row: int) -> BarChart:
    chart = BarChart()
    chart.type = "bar"  # horizontal: status names stay readable
    chart.title = "Rows by status"
    chart.legend = None
    chart.y_axis.title = "rows"
    chart.add_data(Reference(sheet, min_col=2, min_row=1, max_row=last_count_row), titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=last_count_row))
    series = chart.series[0]
    for index, status in enumerate(counts):
        if status in FILLS:  # each bar in its status colour, as on the Results sheet
            point = DataPoint(idx=index)
            point.graphicalProperties.solidFill = FILLS[status].fgColor.rgb[-6:]
            series.dPt.append(point)
    chart.width, chart.height = 16, 8
    return chart


def read_results(path: str | Path) -> list[RowResult]:
    """The Results sheet read back as RowResults (for tests and tools)."""
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        rows = workbook[RESULTS_SHEET].iter_rows(values_only=True)
        header = [str(h) if h is not None else "" for h in next(rows, ())]
        wanted = {name: header.index(name) for name in (*OUTCOME_COLUMNS, CHANGES_COLUMN) if name in header}
        out = []
        for values in rows:
            cell = {name: values[pos] if pos < len(values) else None for name, pos in wanted.items()}
            if cell.get("row") is None:
                continue
            row = _int_or_none(cell["row"])
            if row is not None:
                out.append(RowResult.from_cells(row, cell))
        return out
    finally:
        workbook.close()


def _int_or_none(value: Any) -> int | None:
    """A whole number from a results cell: 200, 200.0 (as calamine reads it), "4800000000000001" (an id)."""
    if is_missing(value) or value == "":
        return None
    try:
        return int(value.strip().split(".")[0]) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        return None
