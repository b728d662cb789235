"""The rollback workbook: written from a run's `FieldUndo`s and `AgentUndo`s, read back strictly.

Written (`rollback_workbook`): the `callcenters` sheet holds the values to put back (an input sheet
like any other, validated as one when the rollback is applied), `set_by_run` the values the run set,
`agents` each agent's state before the run and as the run left it, `created` the call centers the
run created, and `rollback` what the workbook is (see `bulkcc.workbook.rollback_book`).

Read (`read_rollback_book`): the values the run set are parsed by the field table's own parsers, as
the callcenters sheet's are, so they compare with live values exactly as --diff compares; a row of
either sheet that does not read is no record (its fields or its agent are then left alone, saying
why), never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from bulkcc.errors import InputError
from bulkcc.operator_fields import SKILL_MAX, SKILL_MIN
from bulkcc.plan.diff import rollback_rows
from bulkcc.plan.payload import row_values
from bulkcc.plan.undo import AgentState, AgentUndo, FieldUndo
from bulkcc.validate.cells import CellError, parse_bool, parse_identifier, parse_int
from bulkcc.validate.frame import parse_frame
from bulkcc.values import is_blank, printable
from bulkcc.workbook.created import add_created_sheet
from bulkcc.workbook.layout import DATA_SHEET
from bulkcc.workbook.rollback_book import (
    AGENTS_SHEET,
    PUT_BACK_NOTE,
    SET_NOTE,
    SET_SHEET,
    add_about_sheet,
    add_agents_sheet,
    add_values_sheet,
    has_sheet,
    read_about,
    read_agent_cells,
    read_set_rows,
)


def rollback_workbook(about: Sequence[tuple[str, str]], fields: Iterable[FieldUndo], agents: Iterable[AgentUndo],
                      created: Sequence[Mapping[str, Any]]) -> Workbook:
    """The rollback workbook of these records (see the module's docstring)."""
    fields = sorted(fields, key=lambda f: f.call_center_id)
    workbook = Workbook(write_only=True)  # streamed: a rollback of many rows is written before the first change
    add_about_sheet(workbook, about)
    add_values_sheet(workbook, DATA_SHEET, rollback_rows((f.call_center_id, f.before) for f in fields),
                     PUT_BACK_NOTE)
    add_values_sheet(workbook, SET_SHEET, rollback_rows((f.call_center_id, f.left) for f in fields), SET_NOTE)
    agent_list = sorted(agents, key=lambda a: a.key)
    if agent_list:
        add_agents_sheet(workbook, [agent_cells(a) for a in agent_list])
    if created:
        add_created_sheet(workbook, created)
    return workbook


def agent_cells(undo: AgentUndo) -> dict[str, Any]:
    """One row of the agents sheet."""
    cells: dict[str, Any] = {"call_center_id": undo.call_center_id, "call_center_name": undo.center_name,
                             "user_id": undo.user_id, "user_email": undo.user_email,
                             "was_operator": undo.before is not None, "run_left_operator": undo.left is not None,
                             "undo": undo.describe()}
    for prefix, state in (("", undo.before), ("run_left_", undo.left)):
        if state is not None:
            cells[prefix + "role"] = state.role
            cells[prefix + "skill_level"] = state.skill_level
    return cells


@dataclass(frozen=True)
class RollbackBook:
    """A rollback workbook's record, as read: what it is, what the run set, its agents."""

    path: Path
    about: Mapping[str, str]
    left: Mapping[int, Mapping[str, Any]]  # call center id -> the values the run set (a row that reads)
    agents: tuple[AgentUndo, ...]

    @property
    def run_id(self) -> str:
        return self.about.get("run", "")


def read_field_undos(path: str | Path, book: RollbackBook) -> dict[int, FieldUndo]:
    """The callcenters sheet's rows (the values to put back) with what the run set, by call center id:
    the records a resumed run keeps (a row that does not read is not kept)."""
    from bulkcc.workbook.reader import read_sheet

    sheet = read_sheet(path)
    typed, problems = parse_frame(sheet.frame)
    bad = {p.row for p in [*sheet.header_problems, *problems]}
    out = {}
    for row, values in row_values(typed).items():
        cc_id = values.pop("id", None)
        if row not in bad and cc_id is not None:
            out[int(cc_id)] = FieldUndo(int(cc_id), values, dict(book.left.get(int(cc_id), {})))
    return out


def read_rollback_book(path: str | Path) -> RollbackBook:
    """The record of a rollback workbook; InputError when it is not one bulkcc wrote."""
    path = Path(path)
    about = read_about(path)
    if not has_sheet(path, DATA_SHEET):  # every rollback has it, empty or not: this one was edited
        raise InputError(f"{printable(path.name)} is a rollback workbook without its {DATA_SHEET} sheet (deleted or "
                         "renamed?), where the values to put back are: apply the rollback workbook as bulkcc wrote it, "
                         f"or put the {DATA_SHEET} sheet back (nothing was sent)")
    return RollbackBook(path, about, _read_left(path), tuple(read_agents(path)))


def _read_left(path: Path) -> dict[int, dict[str, Any]]:
    from bulkcc.workbook.reader import _build_sheet

    read = read_set_rows(path)
    if read is None:
        return {}
    name, cells, scan, hidden = read
    if not len(cells):
        return {}
    sheet = _build_sheet(path, name, cells, scan=scan, sheet_hidden=hidden)
    typed, problems = parse_frame(sheet.frame)
    bad = {p.row for p in [*sheet.header_problems, *problems] if p.row is not None}
    if any(p.row in (None, 1) for p in sheet.header_problems):
        return {}  # a header that does not read: no row is a record
    out: dict[int, dict[str, Any]] = {}
    twice: set[int] = set()
    for row, values in row_values(typed).items():
        cc_id = values.pop("id", None)
        if row in bad or cc_id is None:
            continue
        if int(cc_id) in out:
            twice.add(int(cc_id))  # which of the two rows is the record is a guess: neither is believed
        out[int(cc_id)] = values
    return {cc_id: values for cc_id, values in out.items() if cc_id not in twice}


def read_agents(path: str | Path) -> list[AgentUndo]:
    """The agents sheet's rows; a row that does not read carries its `problem` (it is never sent)."""
    out = []
    seen: set[tuple[int, int]] = set()
    for row, cells in read_agent_cells(path):
        try:
            undo = _agent(row, cells)
        except CellError as exc:
            center, user = _id_or_zero(cells.get("call_center_id")), _id_or_zero(cells.get("user_id"))
            undo = AgentUndo(center, user, None, None, row, f"row {row} of the {AGENTS_SHEET} sheet does not read "
                                                            f"({exc}): nothing was sent for it")
        if undo.problem is None and undo.key in seen:
            undo = AgentUndo(undo.call_center_id, undo.user_id, None, None, row,
                             f"user {undo.user_id} of call center {undo.call_center_id} is on an earlier row of the "
                             f"{AGENTS_SHEET} sheet already: nothing was sent for this one")
        seen.add(undo.key)
        out.append(undo)
    return out


def _agent(row: int, cells: Mapping[str, Any]) -> AgentUndo:
    def cell(name: str, parse: Any) -> Any:
        value = cells.get(name)
        if is_blank(value):
            return None
        try:
            return parse(value)
        except CellError as exc:
            raise CellError(f"{name}: {exc}") from None

    center, user = cell("call_center_id", parse_identifier), cell("user_id", parse_identifier)
    if center is None or user is None or center < 1 or user < 1:
        raise CellError("call_center_id and user_id must both be ids")
    states = []
    for flag, prefix in (("was_operator", ""), ("run_left_operator", "run_left_")):
        present = cell(flag, parse_bool)
        if present is None:
            raise CellError(f"{flag} must be TRUE or FALSE")
        role = cell(prefix + "role", lambda v: str(v).strip() or None)
        level = cell(prefix + "skill_level", parse_int)
        if level is not None and not SKILL_MIN <= level <= SKILL_MAX:
            raise CellError(f"{prefix}skill_level {level} is not a level of {SKILL_MIN}-{SKILL_MAX}")
        states.append(AgentState(role, level) if present else None)
    name, email = (None if is_blank(cells.get(c)) else str(cells.get(c)) for c in ("call_center_name", "user_email"))
    return AgentUndo(center, user, states[0], states[1], row, center_name=name, user_email=email)


def _id_or_zero(value: Any) -> int:
    try:
        return 0 if is_blank(value) else max(parse_identifier(value), 0)
    except CellError:
        return 0

