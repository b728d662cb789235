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
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.marker import DataPoint

from bulkcc.fields import FIELDS
from bulkcc.status import Status
from bulkcc.values import is_missing, sha256_file
from bulkcc.workbook.layout import CHANGES_COLUMN, OUTCOME_COLUMNS, RESULTS_SHEET, SUMMARY_SHEET
from bulkcc.workbook.paper import font, text_width
from bulkcc.workbook.stream import WRAPPED, StreamSheet, declare_layout, header_row, long_text, wrapped_height
from bulkcc.workbook.stream import cell as stream_cell
from bulkcc.workbook.xlsx import FILLS, TEXT_FORMAT, save_atomic

__all__ = ["RowResult", "RunSummary", "read_results", "sha256_file", "write_results"]

# Always counted on the Summary, zero or not; the diff-mode statuses only when they occur.
STANDARD_STATUSES = tuple(s for s in Status if s.always_counted)
STATUSES = tuple(Status)
SIMULATOR_LINE = "Simulator: nothing real was changed"

# Column widths are measured on the first rows only: a 10,000-row sheet needs no full scan.
WIDTH_SAMPLE_ROWS = 200
MIN_WIDTH, MAX_WIDTH, MAX_TEXT_WIDTH = 6, 40, 50
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
    plan: str | None = None  # applying a saved plan: its file, checksum and age
    operator_counts: Mapping[str, int] | None = None  # the operators sheet's rows by status, if it has any

    @property
    def duration_s(self) -> float:
        return (_as_utc(self.ended) - _as_utc(self.started)).total_seconds()


def _as_utc(moment: datetime) -> datetime:
    """A naive datetime is taken as UTC (that is what apply records), an aware one converted."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class _WithStatus(Protocol):
    status: str


def count_statuses(results: Sequence[_WithStatus]) -> dict[str, int]:
    """Rows (of call centers or operators) per status: the standard five always, the others when
    present, in a fixed order."""
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
    if summary.operator_counts:
        counts = ", ".join(f"{n} {status}" for status, n in summary.operator_counts.items() if n)
        rows.append(("Operator rows", f"{sum(summary.operator_counts.values())}: {counts}"))
    if summary.plan:
        rows.append(("Plan", summary.plan))
    if summary.note:
        rows.append(("Note", summary.note))
    return rows


# A sheet of its own after Results: (name, header, rows); a `status` column is coloured by status.
ExtraSheet = tuple[str, Sequence[str], Sequence[Sequence[Any]]]


def write_results(path: str | Path, results: Sequence[RowResult], input_frame: pd.DataFrame,
                  summary: RunSummary, include_changes: bool = False, extra_sheets: Sequence[ExtraSheet] = (),
                  more_sheets: Sequence[tuple[str, Callable[[StreamSheet], None]]] = ()) -> Path:
    """Write the results workbook atomically; returns its path.

    Streamed (write-only): each row is made and appended once, so 100,000 rows cost
    little more than a plain dump of their cells (bench/bench_results.py). `extra_sheets`
    (e.g. the Deleted sheet of a rollback's deletes) come after Results, which stays first
    so that the file can be fed back; then `more_sheets`, each (name, writer) laying out a
    sheet of its own (the operators sheet's `Operators`).
    """
    workbook = Workbook(write_only=True)
    _write_results_sheet(workbook.create_sheet(RESULTS_SHEET), results, input_frame, include_changes)
    for name, header, rows in extra_sheets:
        _write_extra_sheet(workbook.create_sheet(name), header, rows)
    for name, write_sheet in more_sheets:
        write_sheet(workbook.create_sheet(name))
    _write_summary_sheet(workbook.create_sheet(SUMMARY_SHEET), results, summary)
    return save_atomic(workbook, path)


def _write_extra_sheet(sheet: StreamSheet, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    status = list(header).index("status") if "status" in header else None

    class _Row:  # a row of the sheet, coloured (all of it) by its status cell
        def __init__(self, values: Sequence[Any]) -> None:
            self.values = [_cell_value(value) for value in values]
            self.status = str(values[status]) if status is not None else ""

    stream_outcome_sheet(sheet, list(header), [], [_Row(row) for row in rows], lambda item: (item.values, []),
                         WIDE_COLUMNS, text_columns=IDENTIFIER_COLUMNS | {"id"})


# Ids are written as text: Excel keeps only 15 significant digits of a number.
IDENTIFIER_COLUMNS = frozenset(f.path for f in FIELDS if f.is_identifier)


def _identifier_text(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _cell_value(value)


def _write_results_sheet(sheet: StreamSheet, results: Sequence[RowResult], input_frame: pd.DataFrame,
                         include_changes: bool) -> None:
    outcome = [*OUTCOME_COLUMNS, CHANGES_COLUMN] if include_changes else list(OUTCOME_COLUMNS)
    # `id` is already an outcome column; a name twice in row 1 would make the file unreadable as input.
    input_columns = [c for c in input_frame.columns if c not in outcome]
    # (pandas 2.2.0's itertuples of no columns yields no rows at all, rather than empty ones)
    raw_rows = input_frame[input_columns].itertuples(index=False, name=None) if input_columns else \
        (() for _ in input_frame.index)
    raw_by_row = dict(zip(input_frame.index, raw_rows, strict=True))
    raw_ids = input_frame["id"].to_dict() if "id" in input_frame.columns else {}
    identifier = [name in IDENTIFIER_COLUMNS for name in input_columns]

    def values_of(result: RowResult) -> tuple[list[Any], list[Any]]:
        # A row rejected for its id has id None; keep the cell as typed so it can be fixed in place.
        row_id = str(result.id) if result.id is not None else _cell_value(raw_ids.get(result.row))
        front = [result.row, row_id, str(result.status), result.http_status, result.attempts,
                 result.error, result.duration_ms]
        if include_changes:
            front.append(result.changes)
        raw = raw_by_row.get(result.row, ())
        back = [_identifier_text(v) if is_id else _cell_value(v) for v, is_id in zip(raw, identifier, strict=False)]
        return front, back

    ordered = sorted(results, key=lambda r: r.row)
    stream_outcome_sheet(sheet, outcome, input_columns, ordered, values_of, WIDE_COLUMNS,
                         text_columns=IDENTIFIER_COLUMNS | {"id"},
                         print_columns=len(outcome) + _printed_inputs(input_frame, input_columns, include_changes))


def _printed_inputs(frame: pd.DataFrame, columns: Sequence[str], diffed: bool) -> int:
    """How many of the input's columns print after the outcome: up to the last one any row fills (the
    values sent); with --diff, whose `changes` say what was sent, up to `name` (an export's every
    column is filled, and printed whole a run over 250 call centers was 300 pages)."""
    if diffed and "name" in columns:
        return list(columns).index("name") + 1
    filled: list[bool] = frame[list(columns)].notna().any(axis=0).tolist() if len(columns) else []
    return max((position + 1 for position, used in enumerate(filled) if used), default=0)


class _HasStatus(Protocol):
    status: Any


def stream_outcome_sheet(sheet: StreamSheet, outcome: Sequence[str], input_columns: Sequence[str],
                         results: Sequence[_HasStatus], values_of: Callable[[Any], tuple[list[Any], list[Any]]],
                         wide_columns: Collection[str], *, text_columns: Collection[str] = (),
                         title_columns: int = 2, print_columns: int | None = None) -> None:
    """A sheet of one row per result (Results, Operators): its outcome cells (coloured by status) then the
    input's own cells; `values_of(result)` gives (outcome, input) cells. A text too long for its column
    wraps, in a row of its height; the cells of `text_columns` (ids) are text, typed over or not.

    Printed: the first `print_columns` (default: all; what was sent is what a reviewer signs off), fitted
    to the page width when that stays readable, else in slices that each repeat the first `title_columns`.
    """
    header = [*outcome, *input_columns]
    widths = _column_widths(header, [values_of(r) for r in results[:WIDTH_SAMPLE_ROWS]], wide_columns)
    is_text = [name in text_columns for name in header]
    declare_layout(sheet, columns=len(header), rows=len(results) + 1, widths=widths, freeze="C2",
                   title_columns=title_columns, print_columns=print_columns,
                   text_columns=[position for position, text in enumerate(is_text, start=1) if text])
    sheet.append(header_row(sheet, header))
    wide = [name in wide_columns for name in header]
    for excel_row, result in enumerate(results, start=2):
        front, back = values_of(result)
        values = [*front, *back]
        long = [long_text(value, width) or is_wide for value, width, is_wide in zip(values, widths, wide, strict=False)]
        if any(long):
            height = wrapped_height([(v, w) for v, w, wrap in zip(values, widths, long, strict=False) if wrap])
            if height is not None:
                sheet.row_dimensions[excel_row].height = height
        fill = FILLS.get(result.status)
        sheet.append([
            stream_cell(sheet, value, fill=fill if position < len(front) else None,
                        alignment=WRAPPED if long[position] else None,
                        number_format=TEXT_FORMAT if is_text[position] and value is not None else None)
            # Input sheets are sparse (a few of ~100 columns filled): blanks stay unwritten.
            for position, value in enumerate(values)
        ])


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


def _column_widths(header: Sequence[str], sample: Sequence[tuple[list[Any], list[Any]]],
                   wide_columns: Collection[str] = WIDE_COLUMNS) -> list[int]:
    """Widths from the header (all of it, and the filter button) and the first rows (a 10,000-row sheet
    needs no full scan); a longer text wraps."""
    rows = [[*front, *back] for front, back in sample]
    widths = []
    for position, name in enumerate(header):
        longest = max([*(_shown_width(row[position]) for row in rows
                         if position < len(row) and row[position] is not None), 0.0])
        cap = MAX_TEXT_WIDTH if name in wide_columns else MAX_WIDTH
        widths.append(max(MIN_WIDTH, math.ceil(text_width(name, bold=True)) + FILTER_BUTTON,
                          min(cap, math.ceil(longest) + 2)))
    return widths


FILTER_BUTTON = 2  # a header's filter button covers the end of a cell about this wide


def _shown_width(value: Any) -> float:
    if isinstance(value, bool):
        return 5.5  # FALSE
    return text_width(value if isinstance(value, str) else str(value))


CHART_ROWS = 18  # rows of the default height the chart (8 cm high) covers, and a blank one above it


def _write_summary_sheet(sheet: StreamSheet, results: Sequence[RowResult], summary: RunSummary) -> None:
    counts = count_statuses(results)
    facts = summary_rows(summary)
    last_count_row = 1 + len(counts)
    rows = last_count_row + 2 + len(facts) + (2 if summary.simulator else 0)
    widths = [28, 66]
    # The chart sits below the table, inside the print area: one page holds the counts, the facts and it.
    declare_layout(sheet, columns=2, rows=rows + CHART_ROWS, widths=widths, freeze=None, filters=False,
                   one_page=True)
    bold = font(bold=True)
    sheet.append(header_row(sheet, ["Status", "Rows"]))
    for status, count in counts.items():
        sheet.append([stream_cell(sheet, status, fill=FILLS.get(status)), stream_cell(sheet, count)])
    sheet.append([stream_cell(sheet, "Total rows", font=bold), stream_cell(sheet, len(results))])
    sheet.append([])  # a blank row between the counts and the facts of the run
    for excel_row, (label, value) in enumerate(facts, start=last_count_row + 3):
        wrap = long_text(value, widths[1])
        if wrap and (height := wrapped_height([(value, widths[1])])) is not None:
            sheet.row_dimensions[excel_row].height = height
        sheet.append([stream_cell(sheet, label, font=bold, alignment=WRAPPED if wrap else None),
                      stream_cell(sheet, value, alignment=WRAPPED if wrap else None)])
    if summary.simulator:
        sheet.append([])
        sheet.append([stream_cell(sheet, SIMULATOR_LINE, font=font(bold=True, color="C00000"))])
    sheet.add_chart(_status_chart(sheet, counts, last_count_row), f"A{rows + 2}")


def _status_chart(sheet: StreamSheet, counts: dict[str, int], last_count_row: int) -> BarChart:
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
