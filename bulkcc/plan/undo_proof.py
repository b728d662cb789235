"""What proves a rollback workbook's rows: the same records, written by its run to its journal.

A rollback workbook is a file anyone can edit: a row added to its `agents` sheet would remove an
operator the run never touched, or add someone as an admin; values changed on its `callcenters`
and `set_by_run` sheets would PATCH what the run never set. So, before each save of the workbook,
the run appends its records to its journal, fsynced first (`undo_entry`): per call center the
values before and the values the run set (`FieldUndo`), per agent its state before and as the run
left it (`AgentUndo`). Applying the rollback sends a row only if its run's journal holds that very
record (values compared as --diff compares them); a row edited, added or copied by hand is not
sent, and says why. A row removed keeps that change, as the workbook says. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bulkcc.plan.diff import same_value
from bulkcc.plan.undo import AgentState, AgentUndo, FieldUndo

UNDO = "undo"  # the journal entry's key


def undo_entry(fields: Iterable[FieldUndo], agents: Iterable[AgentUndo]) -> dict[str, Any]:
    """The journal entry that proves a rollback workbook of these records."""
    return {UNDO: {
        "fields": [{"id": f.call_center_id, "before": _plain(f.before), "left": _plain(f.left)} for f in fields],
        "agents": [{"call_center_id": a.call_center_id, "user_id": a.user_id, "before": _state(a.before),
                    "left": _state(a.left)} for a in agents if a.problem is None]}}


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    return {path: list(value) if isinstance(value, tuple) else value for path, value in values.items()
            if value is not None}


def _state(state: AgentState | None) -> dict[str, Any] | None:
    return None if state is None else {"role": state.role, "skill_level": state.skill_level}


def _values(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ValueError("not a record of values")
    return {str(path): tuple(value) if isinstance(value, list) else value for path, value in raw.items()}


def _agent_state(raw: Any) -> AgentState | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ValueError("not an agent's state")
    return AgentState(raw.get("role"), raw.get("skill_level"))


@dataclass
class UndoRecords:
    """Every record a run's journal holds (each save of its rollback added one set)."""

    fields: dict[int, list[tuple[dict[str, Any], dict[str, Any]]]] = field(default_factory=dict)
    agents: dict[tuple[int, int], list[tuple[AgentState | None, AgentState | None]]] = field(default_factory=dict)

    def add(self, entry: Any) -> None:
        """One journal entry's records; what does not read proves nothing."""
        if not isinstance(entry, Mapping):
            return
        for item in entry.get("fields") or ():
            try:
                self.fields.setdefault(int(item["id"]), []).append((_values(item["before"]), _values(item["left"])))
            except (KeyError, TypeError, ValueError):
                continue
        for item in entry.get("agents") or ():
            try:
                key = int(item["call_center_id"]), int(item["user_id"])
                self.agents.setdefault(key, []).append((_agent_state(item["before"]), _agent_state(item["left"])))
            except (KeyError, TypeError, ValueError):
                continue

    def proves_fields(self, call_center_id: int, restore: Mapping[str, Any], left: Mapping[str, Any]) -> bool:
        """Whether the run recorded putting back `restore` over `left` on this call center."""
        return any(_same_values(before, restore) and _same_values(set_to, left)
                   for before, set_to in self.fields.get(call_center_id, ()))

    def proves_agent(self, undo: AgentUndo) -> bool:
        return any(_same_state(before, undo.before) and _same_state(left, undo.left)
                   for before, left in self.agents.get(undo.key, ()))


def _same_values(recorded: Mapping[str, Any], cells: Mapping[str, Any]) -> bool:
    shown = {path: value for path, value in cells.items() if value is not None}
    return set(shown) == set(recorded) and all(same_value(recorded[path], shown[path]) for path in shown)


def _same_state(recorded: AgentState | None, cells: AgentState | None) -> bool:
    if recorded is None or cells is None:
        return recorded is None and cells is None
    role = (recorded.role.strip() or None) if isinstance(recorded.role, str) else recorded.role
    return role == cells.role and recorded.skill_level == cells.skill_level
