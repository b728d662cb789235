"""Export's promise, cell by cell: a cell reads back as the live value, or it is blank and a note says why.

An unedited export applied with --diff must change nothing, whatever the API
returned: nulls, missing objects, a DTMF key `*`, an hours list of odd length,
an action value the workbook does not list, names with control characters,
numbers Excel would round. So no value is ever written "nearly": a value no
cell can hold exactly is left out, the cell stays blank (with --diff a blank
cell leaves the live value as it is), and a note (`Problem`: Excel row, column,
live value, why) tells the admin. Live routing entries no column holds at all
are noted too, because --diff will refuse to send that row's routing.

It takes two passes. `live_cells` looks at each value (types, odd hours,
control characters, lengths, halves of a target, what `plan.exact` says a
PATCH cannot carry back). `write_export` then writes the workbook and reads it
back through the very reader and --diff validation `plan --diff` uses: any cell
that does not read back as its live value (the xlsx format turns a carriage
return into a line break, a time like 8:00 reads back as 08:00, a value breaks
a rule) is blanked, and the workbook written again.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bulkcc.errors import InputError, LiveStateError, Problem
from bulkcc.fields import COLUMNS, FIELDS, FIELDS_BY_PATH, KIND_LABEL, Field, split_dtmf_path, target_pairs
from bulkcc.plan.diff import same_value
from bulkcc.plan.exact import routing_losses, shown_value
from bulkcc.plan.payload import LiveValues, cell_value, read_callcenter, row_values
from bulkcc.run.answers import answer_id
from bulkcc.send.scrub import Scrubbed
from bulkcc.validate.cells import has_control_characters
from bulkcc.validate.validation import validate_file
from bulkcc.workbook.layout import CONTEXT_PREFIX
from bulkcc.workbook.template import build_workbook
from bulkcc.workbook.xlsx import save_atomic

# Read-only fields shown for context; no PATCH ever carries them.
CONTEXT_FIELDS = ("office_id", "timezone", "state", "country", "phone_numbers", "availability_status")
OFFICE_NAME = CONTEXT_PREFIX + "office_name"  # beside info.office_id: the office's name, from the offices listed
# The operators sheet's read-only columns (export --operators): the center's name, the agent's email and name.
OPERATOR_CONTEXT = (CONTEXT_PREFIX + "call_center_name", CONTEXT_PREFIX + "user_email", CONTEXT_PREFIX + "user_name")
EXCEL_CELL_MAX = 32_767  # characters Excel keeps in a cell
LEFT_BLANK = "the cell is left blank: with --diff a blank cell leaves the live value as it is"
ROUNDS = 3  # write-and-read rounds at most; the second only confirms what the first blanked

Notes = dict[str, tuple[Any, str]]  # column (or live path) -> (live value, why)


def _has_surrogates(text: str) -> bool:
    """Lone surrogates (JSON can carry them as escapes): no xlsx reader takes the file that holds one."""
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _unwritable(field: Field, value: Any, cell: Any) -> str | None:
    """Why no cell can hold this (parsed) live value exactly, or None. The round trip catches the rest."""
    if field.kind == "hours" and len(value) % 2:
        return "it has an odd number of times (an opening with no closing), which time ranges cannot show"
    if isinstance(cell, Scrubbed):
        return ("it contains control characters (invisible codes), characters that are not valid Unicode (lone "
                "surrogates) or the API key, which bulkcc never writes (shown made visible, the key as ****): a "
                "cell could not hold the live value exactly")
    if isinstance(cell, str):
        if _has_surrogates(cell):
            return "it holds characters that are not valid Unicode (lone surrogates), which a workbook cannot hold"
        if has_control_characters(cell):
            return "it contains control characters (invisible codes), which a workbook cell cannot hold"
        if "\r" in cell:
            return "it contains a carriage return, which a workbook cell turns into a line break"
        limit = min(field.max_length or EXCEL_CELL_MAX, EXCEL_CELL_MAX)
        if len(cell) > limit:
            return f"it has {len(cell)} characters, over the limit of {limit}"
    return None


def _blank(cells: dict[str, Any], notes: Notes, column: str, value: Any, why: str) -> None:
    cells.pop(column, None)
    notes.setdefault(column, (value, why))


def _keep_targets_whole(cells: dict[str, Any], notes: Notes, live: Mapping[str, Any]) -> None:
    """A target is a type and an id (and a DTMF key's target needs its action): never write half of one."""
    for action, kind, target in target_pairs():
        for present, missing in ((kind, target), (target, kind)):
            if present in cells and missing not in cells:
                _blank(cells, notes, present, live.get(present),
                       f"{missing} is blank in this row (see its note, or the live call center has none), and "
                       f"a target is given as action_target_type and action_target_id together; {LEFT_BLANK}")
        if split_dtmf_path(action) is not None and action not in cells:
            for part in (kind, target):
                if part in cells:
                    _blank(cells, notes, part, live.get(part),
                           f"{action} is blank in this row, and a DTMF key's target needs its action; {LEFT_BLANK}")


def live_cells(callcenter: Mapping[str, Any], read: LiveValues | None = None) -> tuple[dict[str, Any], Notes]:
    """One call center's field cells, and a note for each live value left out and why."""
    read = read or read_callcenter(callcenter)
    cells: dict[str, Any] = {}
    notes: Notes = {}
    for loss in routing_losses(callcenter):
        if loss.column is None:
            notes.setdefault(loss.path, (loss.value, f"{loss.why}. With --diff, this call center's routing is "
                                         "not sent while that is there (sending it whole would lose it): change "
                                         "it in Dialpad first; the other fields can be changed as usual"))
        else:
            notes.setdefault(loss.column, (loss.value, f"{loss.why}; {LEFT_BLANK}. With --diff, this call "
                                           "center's routing is sent only with this cell filled (sending it whole "
                                           "would otherwise lose the live value)"))
    for column, raw in read.unreadable.items():
        kind = KIND_LABEL[FIELDS_BY_PATH[column].kind]
        notes.setdefault(column, (raw, f"the live value {shown_value(raw)} is not a {kind}; {LEFT_BLANK}"))
    for field in FIELDS:
        if field.path not in read.values or field.path in notes:
            continue
        value = read.values[field.path]
        cell = cell_value(field, value)
        why = _unwritable(field, value, cell)
        if why:
            notes[field.path] = (value, f"{why}; {LEFT_BLANK}")
        else:
            cells[field.path] = cell
    _keep_targets_whole(cells, notes, read.values)
    return cells, notes


def context_text(value: Any) -> str:
    """A value an `info.` cell shows: text (a list joined), any lone surrogate replaced, cut to what a cell holds
    (the workbook writer drops the control characters xlsx cannot hold)."""
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    if _has_surrogates(text):
        text = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text[:EXCEL_CELL_MAX]


def context_cells(callcenter: Mapping[str, Any], office_names: Mapping[int, str] | None = None) -> dict[str, str]:
    """The `info.` cells of a call center: read-only, never read back, so shown as text; with `office_names`
    its office's name beside its office_id."""
    row: dict[str, str] = {}
    for name in CONTEXT_FIELDS:
        value = callcenter.get(name)
        if value is not None:
            row[CONTEXT_PREFIX + name] = context_text(value)
        if name == "office_id" and office_names:
            office = office_names.get(answer_id(value))  # type: ignore[arg-type]
            if office is not None:
                row[OFFICE_NAME] = context_text(office)
    return row


def _misread(path: Path, rows: Sequence[Mapping[str, Any]], reads: Sequence[LiveValues]) -> dict[int, Notes]:
    """By row index, the cells of the written workbook that do not read back, for --diff, as their live value."""
    try:
        validation = validate_file(path, diff=True)
    except InputError as exc:  # a value the checks above missed made the file unreadable: say so plainly
        raise LiveStateError(f"the export could not be read back to check it ({exc}); nothing was written") from exc
    parsed = row_values(validation.typed)
    problems: dict[tuple[int | None, str | None], Problem] = {}
    for reported in validation.problems:
        problems.setdefault((reported.row, reported.column), reported)
    found: dict[int, Notes] = {}
    for index, (cells, read) in enumerate(zip(rows, reads, strict=True)):
        excel_row = index + 2
        back = parsed.get(excel_row, {})
        for column in cells:
            if column == "id" or column not in FIELDS_BY_PATH:
                continue  # the id is the row's own (never blanked); info. cells are never read
            live = read.values.get(column)
            problem = problems.get((excel_row, column))
            if problem is not None:
                why = f"the live value {shown_value(live)} is not valid in the workbook: {problem.message}"
            elif not same_value(live, back.get(column)):
                got = "blank" if column not in back else shown_value(back[column])
                why = f"a cell cannot hold the live value {shown_value(live)} exactly (it reads back as {got})"
            else:
                continue
            found.setdefault(index, {})[column] = (live, f"{why}; {LEFT_BLANK}")
    return found


def _notes_as_problems(all_notes: Sequence[Notes]) -> list[Problem]:
    order = {name: position for position, name in enumerate(COLUMNS)}
    problems = [Problem(index + 2, column, _jsonable(value), why)
                for index, notes in enumerate(all_notes) for column, (value, why) in notes.items()]
    return sorted(problems, key=lambda p: (p.row or 0, order.get(p.column or "", len(order)), p.column or ""))


def _jsonable(value: Any) -> Any:
    """A live value as a note shows it: plain JSON types, long text cut short."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, tuple):
        value = list(value)  # hours, as the API sends them
    if isinstance(value, list) and len(value) <= 20 and all(isinstance(v, str) and len(v) <= 20 for v in value):
        return value
    return value if isinstance(value, str) and len(value) <= 200 else shown_value(value)


def write_export(output: Path, callcenters: Sequence[Mapping[str, Any]],
                 operator_rows: Sequence[Mapping[str, Any]] | None = None,
                 office_names: Mapping[int, str] | None = None) -> list[Problem]:
    """Write the call centers (one row each, in order, from Excel row 2) to `output`; return the notes.
    `operator_rows` (export --operators) fill the operators sheet; None: the export has none. `office_names`
    (office id: name) put each office's name beside its id (`info.office_name`).

    The file is replaced atomically, and only once every cell reads back as its live value.
    """
    reads = [read_callcenter(cc) for cc in callcenters]
    rows: list[dict[str, Any]] = []
    all_notes: list[Notes] = []
    for callcenter, read in zip(callcenters, reads, strict=True):
        cells, notes = live_cells(callcenter, read)
        rows.append({**cells, **context_cells(callcenter, office_names)})
        all_notes.append(notes)
    names = [CONTEXT_PREFIX + name for name in CONTEXT_FIELDS]
    names.insert(names.index(CONTEXT_PREFIX + "office_id") + 1, OFFICE_NAME)
    context = [name for name in names if any(name in r for r in rows)]
    operator_context = [c for c in OPERATOR_CONTEXT if any(c in r for r in operator_rows or ())]
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{output.stem}-", suffix=".xlsx", dir=output.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        for _ in range(ROUNDS):
            save_atomic(build_workbook(rows=rows, context_columns=context, operator_rows=operator_rows,
                                       operator_context=operator_context), temp)
            misread = _misread(temp, rows, reads)
            if not misread:
                break
            for index, found in misread.items():
                for column, (value, why) in found.items():
                    _blank(rows[index], all_notes[index], column, value, why)
                _keep_targets_whole(rows[index], all_notes[index], reads[index].values)
        else:
            save_atomic(build_workbook(rows=rows, context_columns=context, operator_rows=operator_rows,
                                       operator_context=operator_context), temp)
        os.replace(temp, output)
    finally:
        temp.unlink(missing_ok=True)
    return _notes_as_problems(all_notes)
