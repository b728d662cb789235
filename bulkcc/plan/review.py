"""From a plan to the plain data of its review workbook (`bulkcc.workbook.review` writes it).

Each call center to change becomes one row, each field any row changes one
column, each cell `old → new` with --diff (the live value read when the plan
was made) or the value sent without. A call center's office is the export's
`info.office_id` cell when the input has one, else the live `office_id` read
with --diff, else "unknown"; its name is the live one with --diff, else the
row's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any

from bulkcc.fields import ROUTING_PREFIX
from bulkcc.plan.diff import shown
from bulkcc.plan.operators import OperatorPlan, OperatorRequest
from bulkcc.plan.payload import field_order, values_from_callcenter
from bulkcc.plan.planfile import SavedPlan, left_out_rows
from bulkcc.plan.plans import Plan
from bulkcc.values import is_blank
from bulkcc.workbook.layout import CONTEXT_PREFIX
from bulkcc.workbook.review import OperatorReviewRow, Review, ReviewRow

UNKNOWN_OFFICE = "unknown"
OFFICE_COLUMN = CONTEXT_PREFIX + "office_id"


def _office(plan: Plan, row: int, live: Mapping[int, Mapping[str, Any]]) -> str:
    raw = plan.validation.sheet.raw
    if OFFICE_COLUMN in raw.columns and row in raw.index and not is_blank(raw.at[row, OFFICE_COLUMN]):
        value = raw.at[row, OFFICE_COLUMN]
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()
    office = live.get(row, {}).get("office_id")
    return UNKNOWN_OFFICE if office is None else str(office)


def _name(plan: Plan, row: int, live: Mapping[int, Mapping[str, Any]]) -> str:
    name = live.get(row, {}).get("name") or plan.values.get(row, {}).get("name")
    return "" if name is None else str(name).strip()


def _cells(plan: Plan, row: int, body: Mapping[str, Any]) -> dict[str, tuple[str | None, str]]:
    """Per changed field, (old, new) as its cell shows them; old None when live state was not read."""
    if plan.diffed:
        return {c.column: (shown(c.column, c.before), shown(c.column, c.after)) for c in plan.changes.get(row, [])}
    return {path: (None, shown(path, value)) for path, value in values_from_callcenter(body).items() if path != "id"}


def _notes(plan: Plan) -> list[str]:
    if plan.diffed:
        notes = ["Each cell of the Changes sheet reads old → new: the live value read when the plan was made, "
                 "then the value the plan sends. (not set) means the call center has no value there.",
                 "bulkcc apply reads every call center again before sending, and does not send a row whose "
                 "live values moved since the plan was made: it reports that row as stale."]
        if any(c.column.startswith(ROUTING_PREFIX) for changes in plan.changes.values() for c in changes):
            notes.append("routing_options is sent whole (the API takes it only whole): the routing settings "
                         "that do not change are sent as they were live.")
    else:
        notes = ["Each cell of the Changes sheet is the value the plan sends. Live values were not read: make "
                 "the plan with --diff to see old → new, and to have apply refuse rows changed since."]
    notes.append("Only the call centers and fields on the Changes sheet are changed; every other setting "
                 "stays as it is.")
    if plan.creates:
        notes.append("The Creates sheet lists the call centers the plan creates (POST), apart from the changes: "
                     "apply sends them first, each exactly once, and refuses a row whose name already exists "
                     "in its office. Their new ids are written to the results workbook.")
    return notes


def _user(request: OperatorRequest) -> str:
    """The user as an approver reads it: its id, and beside it its email when known (looked up, or live)."""
    return f"{request.user_id} ({request.user_email})" if request.user_email else str(request.user_id)


def _center(request: OperatorRequest) -> str:
    """The call center: its name, and beside it its id when both are known."""
    center = request.center
    return f"{center.label} ({center.id})" if center.name and center.id is not None else center.label


def _operator_rows(plan: OperatorPlan) -> list[OperatorReviewRow]:
    """Each operator change in words and as its request, then the rows that send nothing, and why."""
    rows = [OperatorReviewRow(r.row, _center(r), _user(r), r.describe(), f"{r.method} {r.path}")
            for r in plan.requests]
    users: dict[int | None, tuple[str, str | None]] = {r.row: (_center(r), _user(r)) for r in plan.requests}
    for title, reasons in (("unchanged", plan.unchanged), ("invalid", plan.invalid), ("blocked", plan.blocked),
                           ("unresolved", plan.unresolved), ("unreadable", plan.unreadable)):
        for row, why in sorted(reasons.items()):
            center, user = users.get(row, ("", None))
            rows.append(OperatorReviewRow(row, center, user, f"{title}: {why}", sent=False,
                                          unchanged=title == "unchanged"))
    return rows


def build_review(plan: Plan, *, target: str, input_name: str, input_sha256: str, saved: SavedPlan | None = None,
                 live: Mapping[int, Mapping[str, Any]] | None = None, operators: OperatorPlan | None = None
                 ) -> Review:
    """The review of `plan`; `live` are the call centers read for it (with --diff), by Excel row;
    `operators` the operators sheet's part, shown apart."""
    live = live or {}
    changes = [ReviewRow(r.row, r.id, _name(plan, r.row, live), _office(plan, r.row, live), _cells(plan, r.row, r.body))
               for r in sorted(plan.requests, key=lambda r: r.row)]
    columns = sorted({c for item in changes for c in item.cells}, key=field_order)
    others = [(r, "live state already matches the row") for r in plan.unchanged]
    others += [(r, "nothing to change: the row holds only an id") for r in plan.skipped]
    unchanged = [ReviewRow(r.row, r.id, _name(plan, r.row, live), _office(plan, r.row, live), why=why)
                 for r, why in sorted(others, key=lambda item: item[0].row)]
    left_out = [ReviewRow(r.row, r.id, _name(plan, r.row, live), _office(plan, r.row, live),
                          why=f"{r.reason}: {r.error}") for r in left_out_rows(plan)]

    creates = [ReviewRow(c.row, None, c.name, f"{c.office_id} ({c.office_name})" if c.office_name else str(c.office_id),
                         {path: (None, shown(path, value)) for path, value in values_from_callcenter(c.body).items()})
               for c in plan.creates]
    offices: dict[str, list[int]] = {}
    # A create's office counts under its id, as the other rows' do (its sheet shows the name beside it).
    keyed = [[str(c.office_id) for c in plan.creates], *([item.office for item in group]
                                                          for group in (changes, unchanged, left_out))]
    for position, group_offices in enumerate(keyed):
        for office in group_offices:
            offices.setdefault(office, [0, 0, 0, 0])[position] += 1
    office_counts = [(office, counts[0], counts[1], counts[2], counts[3]) for office, counts in
                     sorted(offices.items(), key=lambda item: (item[0] == UNKNOWN_OFFICE, item[0]))]

    made = saved.created.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if saved else "(not saved)"
    facts: list[tuple[str, Any]] = [
        ("Plan file", saved.path.name if saved and saved.path else
         "none written: run bulkcc plan with --out PLAN.json to save the plan this review shows"),
        ("Plan SHA-256", saved.checksum if saved else "none (no plan file)"),
        ("Made", made),
        ("Target", target),
        ("Input file", input_name),
        ("Input SHA-256", input_sha256),
        ("Compared with live state", "yes (--diff)" if plan.diffed else "no"),
        ("Call centers to change", len(changes)),
        ("Unchanged", len(unchanged)),
        ("Left out of the plan", len(left_out)),
    ]
    if operators is not None:
        facts.append(("Operator changes", operators.summary_text()))
    if saved:
        facts.append(("bulkcc version", saved.bulkcc_version))
    if creates:
        facts.insert(facts.index(("Call centers to change", len(changes))), ("Call centers to create", len(creates)))
    return Review(checksum=saved.checksum if saved else None, facts=facts, columns=columns, changes=changes,
                  unchanged=unchanged, left_out=left_out, field_counts=list(plan.field_counts().items()),
                  office_counts=office_counts, notes=_notes(plan), creates=creates,
                  create_columns=sorted({col for item in creates for col in item.cells}, key=field_order),
                  operators=_operator_rows(operators) if operators is not None else None)
