"""--diff: compare each row with its live call center; send only what differs.

`diff_plan` is the one diff of bulkcc, used by `plan --diff` and `apply --diff`
alike: given a plan and the live call centers read for it (by row), it returns
a new plan whose requests carry only the changed fields, with the unchanged
rows set aside, each change as (column, live, new), and the live value of every
field a body sets, for the rollback. Reading the live state is the run layer's
job (`bulkcc.run.live`); this module is pure.

`routing_options` is the exception to "only what differs": the API takes it only
whole (both states, each with action and try_dial_operators, the DTMF menu as a
whole list), so when any routing cell changes, the routing is sent complete, its
blank parts filled from the live state: a blank cell leaves a setting as it is,
with --diff as everywhere, and the admin never retypes what stays the same. (To
drop a DTMF key, set its action to `disabled`.) A row whose live routing holds
something the columns cannot carry back (a DTMF key `*`, an action value the
PATCH does not take, ...; see `bulkcc.plan.exact`) would lose it, so such a row
is `blocked`: never sent, with the reason and the fix. Text compares without the
leading and trailing blanks a cell cannot keep (the reader strips them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bulkcc.fields import FIELDS_BY_PATH, ROUTING_PREFIX
from bulkcc.plan.exact import blocked_message, routing_blockers, routing_losses
from bulkcc.plan.payload import (
    NOT_PATCHED,
    PlannedRequest,
    body_from_values,
    cell_value,
    values_from_callcenter,
    wire_int,
)
from bulkcc.plan.plans import Change, Plan


@dataclass
class RowDiff:
    """What a row would change on its live call center."""

    request: PlannedRequest  # the body holds only what differs (routing whole)
    changes: list[Change] = field(default_factory=list)
    prior: dict[str, Any] = field(default_factory=dict)  # column -> live value, to put back on rollback
    blocked: str | None = None  # why the row must not be sent (its routing would lose live settings)

    @property
    def unchanged(self) -> bool:
        return not self.changes

    def changes_text(self) -> str:
        return "; ".join(f"{c.column}: {shown(c.column, c.before)} → {shown(c.column, c.after)}"
                         for c in self.changes)


def shown(path: str, value: Any) -> str:
    """A value as the changes text shows it: as its cell would hold it."""
    if value is None:
        return "(not set)"
    rendered = cell_value(FIELDS_BY_PATH[path], value)
    if isinstance(rendered, bool):
        return "TRUE" if rendered else "FALSE"
    return str(rendered)


def same_value(live: Any, new: Any) -> bool:
    """Equal as the sheet can tell: a cell cannot keep text's leading or trailing blanks.

    Export's round trip uses this very test, so what it writes is what --diff sees as unchanged.
    """
    if isinstance(live, str) and isinstance(new, str):
        return live.strip() == new
    return bool(live == new)


def diff_row(request: PlannedRequest, row: Mapping[str, Any], live: Mapping[str, Any]) -> RowDiff:
    """Compare a row's values (parsed cells) with its live call center (as the API returns it)."""
    live_values = values_from_callcenter(live)
    changes = [Change(path, live_values.get(path), new) for path, new in row.items()
               if path not in NOT_PATCHED and not same_value(live_values.get(path), new)]
    moved = _office_moved(row, live)
    if moved is not None:
        return RowDiff(PlannedRequest(request.row, request.id, {}), changes, blocked=moved)
    live_routing = {p: v for p, v in live_values.items() if p.startswith(ROUTING_PREFIX)}
    row_routing = {p: v for p, v in row.items() if p.startswith(ROUTING_PREFIX)}
    changed = {change.column for change in changes}
    to_send = {path: row[path] for path in changed if not path.startswith(ROUTING_PREFIX)}
    prior = {path: live_values.get(path) for path in changed if not path.startswith(ROUTING_PREFIX)}
    if any(path.startswith(ROUTING_PREFIX) for path in changed):
        completed = {**live_routing, **row_routing}
        reasons = routing_blockers(live, row_routing, completed)
        if reasons:
            return RowDiff(PlannedRequest(request.row, request.id, {}), changes, blocked=blocked_message(reasons))
        to_send.update(completed)
        prior.update(live_routing)  # the rollback must restore routing whole too
    body = body_from_values(to_send)
    return RowDiff(PlannedRequest(request.row, request.id, body), changes, prior)


def _office_moved(row: Mapping[str, Any], live: Mapping[str, Any]) -> str | None:
    """A row with an id and an office_id other than its call center's: the office cannot change by PATCH."""
    office, live_office = row.get("office_id"), wire_int(live.get("office_id"))
    if office is None or live_office is None or office == live_office:
        return None
    return (f"office_id {office} is not this call center's office ({live_office}): a call center cannot move "
            "office, and office_id is sent only to create one. Blank the cell (or set it to "
            f"{live_office}) to change this call center, or blank the id to create a new one in office {office}")


def diff_plan(plan: Plan, live: Mapping[int, Mapping[str, Any]], unreadable: Mapping[int, str]) -> Plan:
    """The plan against live state: `live` and `unreadable` are by Excel row.

    A request whose live state is in neither mapping (the run stopped before it
    was read) is dropped from the requests: it is not sent, and reported as such.
    A row whose routing cannot be sent whole without loss is in `blocked`, not sent.
    """
    to_send, unchanged = [], []
    changes: dict[int, list[Change]] = {}
    prior: dict[int, dict[str, Any]] = {}
    blocked: dict[int, str] = {}
    for request in plan.requests:
        if request.row not in live:
            continue
        diff = diff_row(request, plan.values[request.row], live[request.row])
        if diff.unchanged and diff.blocked is None:
            unchanged.append(request)
            continue
        changes[request.row] = diff.changes
        if diff.blocked is not None:
            blocked[request.row] = diff.blocked
            continue
        to_send.append(diff.request)
        prior[request.row] = diff.prior
    return replace(plan, requests=to_send, unchanged=unchanged, changes=changes, prior=prior,
                   unreadable=dict(unreadable), blocked=blocked, diffed=True)


def with_priors(plan: Plan, live: Mapping[int, Mapping[str, Any]], unreadable: Mapping[int, str]) -> Plan:
    """A plan sent without --diff, with the live values before (`prior`, by row) for its rollback: its
    requests stay whole. A request whose live state was not read is dropped (`unreadable`, or the run
    stopped first); one whose body sends routing over a live routing no cell can carry back is
    `blocked`: its rollback could not put that routing back as it was."""
    to_send, prior, blocked = [], {}, {}
    for request in plan.requests:
        if request.row not in live:
            continue
        losses = routing_losses(live[request.row]) if ROUTING_PREFIX.rstrip(".") in request.body else []
        if losses:
            blocked[request.row] = (
                "not sent: its routing would replace a live routing that no cell can carry back ("
                + "; ".join(loss.text() for loss in losses) + "), so its rollback could not put it back as it "
                "was. Change that routing in Dialpad first, or pass --no-rollback to send it anyway")
            continue
        to_send.append(request)
        prior[request.row] = values_from_callcenter(live[request.row])
    return replace(plan, requests=to_send, prior=prior, unreadable=dict(unreadable), blocked=blocked)


def rollback_rows(priors: Iterable[tuple[int, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Rows of an input workbook that put fields back as they were: one per (id, prior values)."""
    rows = []
    for cc_id, prior in priors:
        row: dict[str, Any] = {"id": cc_id}
        for path, value in prior.items():
            if value is not None:
                row[path] = cell_value(FIELDS_BY_PATH[path], value)
        rows.append(row)
    return rows


def plan_rollback(plan: Plan) -> list[dict[str, Any]]:
    """The rollback rows of a --diff plan: every field it changes, as it was, in sheet order."""
    return rollback_rows((r.id, plan.prior.get(r.row, {})) for r in sorted(plan.requests, key=lambda r: r.row))


def read_rollback(path: str | Path) -> list[dict[str, Any]]:
    """The rows of an existing rollback workbook, as cells (to merge on --resume)."""
    from bulkcc.workbook.reader import read_sheet

    frame = read_sheet(path).frame
    return [{str(c): v for c, v in zip(frame.columns, values, strict=True) if v is not None}
            for values in frame.itertuples(index=False, name=None)]


def merge_rollback(earlier: Sequence[Mapping[str, Any]], later: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One rollback of two runs: per call center and field, the value seen first (the true prior) wins."""
    merged: dict[int, dict[str, Any]] = {}
    for row in [*earlier, *later]:
        key = int(str(row["id"]).split(".")[0])  # ids are text; an old file may hold 1001.0
        merged[key] = {**row, **merged.get(key, {})}
    return list(merged.values())
