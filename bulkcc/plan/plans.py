"""Plans: the exact request each valid row stands for, as a value.

`make_plan` is what `bulkcc plan` shows and what `bulkcc apply` sends: invalid
rows are never planned, and a valid row with nothing to change is set aside as
skipped rather than sent as an empty PATCH. A row with a blank id and an
office_id is a create (`creates`, POST), kept apart from the updates: it is
sent first, and never diffed. A `Plan` is never changed in place:
narrowing it to some rows (`only`, `without`) or diffing it against live state
(`bulkcc.plan.diff.diff_plan`) returns a new plan, so what was shown is what
is sent.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bulkcc.plan.creates import PlannedCreate, is_create, plan_creates
from bulkcc.plan.payload import PlannedRequest, plan_requests, row_values
from bulkcc.status import Status
from bulkcc.validate.validation import Validation
from bulkcc.workbook.xlsx import write_atomic_text


@dataclass(frozen=True)
class Change:
    """One field a --diff row changes: its live value and the row's."""

    column: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Plan:
    validation: Validation
    requests: list[PlannedRequest]  # rows with something to send, in sheet order
    skipped: list[PlannedRequest] = field(default_factory=list)  # valid rows with nothing to change
    values: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)  # parsed cells, by Excel row
    # --diff only: rows whose live state already matches, what each changed row changes,
    # the live value of every field a row's body sets (to roll back), the rows whose
    # live state could not be read, and the rows never sent because their routing
    # would lose live settings (each with why).
    diffed: bool = False
    unchanged: list[PlannedRequest] = field(default_factory=list)
    changes: Mapping[int, list[Change]] = field(default_factory=dict)
    prior: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    unreadable: Mapping[int, str] = field(default_factory=dict)
    blocked: Mapping[int, str] = field(default_factory=dict)
    creates: list[PlannedCreate] = field(default_factory=list)  # rows that create a call center (POST)
    # A rollback workbook's created sheet (`workbook.created.CreatedRow`s): deleted only with --allow-delete.
    deletes: tuple[Any, ...] = ()
    # The names the sheet's rows gave and the ids they were looked up as (`plan.lookups.Resolution`), if any.
    lookups: Any = None
    # A rollback's: its agents (`plan.undo.AgentUndo`s), and per row what its request leaves alone (the
    # status the row takes once its request is updated, and why: fields changed since the run).
    agents: tuple[Any, ...] = ()
    notes: Mapping[int, tuple[str, str]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.validation.sheet.rows)

    def summary(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "requests": len(self.requests),
            "skipped": len(self.skipped),
            "invalid": len(self.validation.invalid_rows),
        }

    def field_counts(self) -> dict[str, int]:
        """Per field (in the field table's order), how many call centers the plan changes it on.

        With --diff these are the fields that differ from live; without, every field a body sets.
        """
        from bulkcc.plan.payload import field_order, values_from_callcenter

        counts: dict[str, int] = {}
        for request in self.requests:
            if self.diffed:
                columns = [c.column for c in self.changes.get(request.row, [])]
            else:
                columns = list(values_from_callcenter(request.body))
            for column in set(columns):
                counts[column] = counts.get(column, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: field_order(item[0])))

    def change_lines(self, row: int) -> list[str]:
        """Each change of a --diff row as `field: old → new`."""
        from bulkcc.plan.diff import shown  # the rendering of values lives with the diff

        return [f"{c.column}: {shown(c.column, c.before)} → {shown(c.column, c.after)}"
                for c in self.changes.get(row, [])]

    def changes_text(self, row: int) -> str | None:
        """The Results sheet's `changes` cell of a row (None without --diff)."""
        return "; ".join(self.change_lines(row)) if self.diffed else None

    def only(self, rows: Collection[int]) -> Plan:
        """The same plan narrowed to `rows` (e.g. those --only-failed selects)."""
        return replace(self, requests=[r for r in self.requests if r.row in rows],
                       skipped=[r for r in self.skipped if r.row in rows],
                       unchanged=[r for r in self.unchanged if r.row in rows],
                       creates=[c for c in self.creates if c.row in rows])

    def without(self, rows: Collection[int]) -> Plan:
        """The same plan less the requests (and creates) of `rows` (e.g. those an earlier run already sent)."""
        return replace(self, requests=[r for r in self.requests if r.row not in rows],
                       creates=[c for c in self.creates if c.row not in rows])


def make_plan(validation: Validation) -> Plan:
    """The plan of the valid rows; a create whose office is named by office_name is planned only once the
    office is looked up (`bulkcc.plan.lookups` fills its office_id in)."""
    values = row_values(validation.typed)
    waiting = validation.lookups
    rows = [row for row in validation.valid_rows if row not in waiting]
    new = [row for row in rows if is_create(values[row])]
    planned = plan_requests(values, [row for row in rows if not is_create(values[row])])
    return Plan(
        validation=validation,
        requests=[p for p in planned if p.body],
        skipped=[p for p in planned if not p.body],
        values=values,
        creates=plan_creates(values, new, maybe_made=fed_back_maybe_created(validation)),
    )


def fed_back_maybe_created(validation: Validation) -> set[int]:
    """Rows of a results workbook fed back whose create's outcome an earlier run did not learn
    (status `maybe_created`): their creates are looked for before anything is sent, however they are sent
    (this run, or a plan saved from it)."""
    meta = validation.sheet.meta
    if meta is None or "status" not in getattr(meta, "columns", ()):
        return set()
    return {int(row) for row, status in zip(meta.index, meta["status"], strict=True)
            if Status.of(status) == Status.MAYBE_CREATED}


def plan_jsonl(requests: Sequence[PlannedRequest | PlannedCreate]) -> str:
    return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in requests)


def write_plan_jsonl(requests: Sequence[PlannedRequest | PlannedCreate], path: str | Path) -> Path:
    """JSON Lines, one request per line: {"row", "id", "method", "path", "body"} (a create also has
    "kind": "create", and its id is null)."""
    return write_atomic_text(path, plan_jsonl(requests))
