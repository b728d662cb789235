"""Operator changes: from the operators sheet's rows (and, with --diff, live operators) to requests.

Pure, like `diff`: the run layer reads live operators and sends; this module (over the values of
`operator_changes`) decides what each row stands for, as a frozen `OperatorPlan` that `plan`, the
confirmation, the plan file and `apply` all show and send alike.

A row names its call center by id, or by the name of a `callcenters` row
(`CenterIndex`): that row's id, or, for a row that creates its center in this
run, the id the create returns (the request's center is then resolved when the
creates are done). Without --diff a row adds its operator
(`POST …/operators`, `OperatorRow.add_body()`) or, with remove TRUE, removes it
(`DELETE …/operators`). With --diff each named center's operators are compared:
the missing are added, skill levels that differ are changed
(`PATCH …/operators/{user}/skill`), those marked are removed, and the rest is
unchanged; `exact` (`--exact-operators`) also removes the live operators the
sheet does not list, for the centers it names.

A role cannot be changed: no endpoint of the API takes one for an existing
operator. Removing and adding the operator again would be two requests that
are not atomic (a failed add, a license error, leaves the center without that
agent) and would drop its skill level, so a row whose role differs from live
is `blocked`: never sent, failed with the reason and what to do instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from bulkcc.operator_fields import ADD_SKILL_MIN, SKILL_MAX, OperatorRow
from bulkcc.plan.operator_changes import (
    ADD,
    CENTERS_PATH,
    METHODS,
    REMOVE,
    SKILL,
    CenterIndex,
    CenterLive,
    CenterRef,
    LiveOperator,
    OperatorPlan,
    OperatorRequest,
    operators_path,
    skill_path,
)

__all__ = ["ADD", "CENTERS_PATH", "METHODS", "REMOVE", "SKILL", "CenterIndex", "CenterLive", "CenterRef",
           "LiveOperator", "OperatorPlan", "OperatorRequest", "centers_to_read", "moved_since", "operators_path",
           "plan_operators", "resolved_rows", "skill_path", "skills_to_read", "with_skills"]


# ---- planning ------------------------------------------------------------------


def _add_blocker(row: OperatorRow, label: str) -> str | None:
    if row.skill_level is not None and row.skill_level < ADD_SKILL_MIN:
        return (f"skill_level {row.skill_level}: adding user {row.user_id} to {label} takes a skill level of "
                f"{ADD_SKILL_MIN}-{SKILL_MAX} (0 only changes an existing operator's level, with --diff)")
    return None


def _role_blocker(row: OperatorRow, live: LiveOperator, label: str) -> str | None:
    if row.role is None or live.role == row.role:
        return None
    if live.role is None:
        return (f"the API did not say the role of user {row.user_id} in {label}, so the row's role {row.role} "
                "cannot be compared; nothing was sent (clear the role cell to keep the live one)")
    return (f"user {row.user_id} is {live.role} in {label}, the row says {row.role}: no API endpoint changes an "
            "operator's role, so the row is not sent. Change the role in Dialpad, or remove the operator "
            "(remove TRUE) in one run and add it with the new role in the next")


def _diff_row(row: OperatorRow, center: CenterRef, live: CenterLive | None, plan: _Builder) -> None:
    """One row against its center's live operators (None: a center created in this run, with none yet)."""
    current = live.operators.get(row.user_id) if live is not None else None
    label = center.label
    if row.remove:
        if current is None:
            plan.unchanged[row.excel_row] = f"user {row.user_id} is not an operator of {label}: nothing to remove"
        else:
            plan.add(OperatorRequest(REMOVE, center, row.user_id, {"user_id": row.user_id}, row.excel_row, current,
                                     True))
        return
    if current is None:
        blocker = _add_blocker(row, label)
        if blocker:
            plan.blocked[row.excel_row] = blocker
        else:
            plan.add(OperatorRequest(ADD, center, row.user_id, row.add_body(), row.excel_row, None, True))
        return
    blocker = _role_blocker(row, current, label)
    if blocker:
        plan.blocked[row.excel_row] = blocker
        return
    if row.skill_level is not None:
        if current.skill_level is None:
            plan.unreadable[row.excel_row] = f"the skill level of user {row.user_id} in {label} was not read"
            return
        if current.skill_level != row.skill_level:
            plan.add(OperatorRequest(SKILL, center, row.user_id, {"skill_level": row.skill_level},
                                     row.excel_row, current, True))
            return
    skill = f", skill {current.skill_level}" if current.skill_level is not None else ""
    # license_type and keep_paid_numbers are part of an add only: no endpoint changes them for an
    # operator who is there, so the row says they were not used rather than let them look applied.
    unused = [name for name, value in (("license_type", row.license_type), ("keep_paid_numbers",
                                                                           row.keep_paid_numbers)) if value is not None]
    note = f" ({' and '.join(unused)} only apply when adding an operator: not used)" if unused else ""
    plan.unchanged[row.excel_row] = (f"user {row.user_id} is already {current.role or 'an operator'} in "
                                     f"{label}{skill}{note}")


@dataclass
class _Builder:
    requests: list[OperatorRequest] = field(default_factory=list)
    unchanged: dict[int, str] = field(default_factory=dict)
    blocked: dict[int, str] = field(default_factory=dict)
    unresolved: dict[int, str] = field(default_factory=dict)
    unreadable: dict[int, str] = field(default_factory=dict)
    exact_held: dict[int, str] = field(default_factory=dict)

    def add(self, request: OperatorRequest) -> None:
        self.requests.append(request)


def resolved_rows(rows: Sequence[OperatorRow], index: CenterIndex) -> tuple[list[tuple[OperatorRow, CenterRef]],
                                                                            dict[int, str], dict[int, str]]:
    """Each row with its center, in sheet order; the rows whose center is unknown, and the rows that
    repeat an earlier row's (center, user) (sent once only: which one would win is a guess)."""
    resolved: list[tuple[OperatorRow, CenterRef]] = []
    unresolved: dict[int, str] = {}
    repeated: dict[int, str] = {}
    seen: dict[tuple[tuple[str, int], int], int] = {}
    for row in sorted(rows, key=lambda r: r.excel_row):
        center = index.resolve(row)
        if isinstance(center, str):
            unresolved[row.excel_row] = center
            continue
        key = (center.key(), row.user_id)
        if key in seen:
            repeated[row.excel_row] = (f"user {row.user_id} of {center.label} is on row {seen[key]} already: "
                                       "one row per operator and call center (delete one of them)")
            continue
        seen[key] = row.excel_row
        resolved.append((row, center))
    return resolved, unresolved, repeated


def plan_operators(rows: Sequence[OperatorRow], index: CenterIndex, *,
                   live: Mapping[int, CenterLive] | None = None, unreadable: Mapping[int, str] | None = None,
                   exact: bool = False, held: Mapping[int | None, str] | None = None) -> OperatorPlan:
    """The plan of the valid operator rows. `live` (by center id) makes it a --diff plan: a center in
    neither `live` nor `unreadable` (by center id: why it could not be read) was not read, so its rows
    are unreadable too; a center created in this run has no operators yet. `held`: the centers (None:
    every center) whose unlisted operators `exact` may not remove, and why (an invalid row names them)."""
    resolved, unresolved, repeated = resolved_rows(rows, index)
    plan = _Builder(unresolved=unresolved, blocked=dict(repeated))
    if live is None:
        for row, center in resolved:
            if row.remove:
                plan.add(OperatorRequest(REMOVE, center, row.user_id, {"user_id": row.user_id}, row.excel_row))
            elif blocker := _add_blocker(row, center.label):
                plan.blocked[row.excel_row] = blocker
            else:
                plan.add(OperatorRequest(ADD, center, row.user_id, row.add_body(), row.excel_row))
        return _finish(plan, diffed=False, exact=False, rooms={}, rows=rows)
    unreadable = unreadable or {}
    for row, center in resolved:
        if center.id is not None and center.id not in live:
            why = unreadable.get(center.id, "not read: the run stopped first")
            plan.unreadable[row.excel_row] = f"reading the operators of {center.label}: {why}"
            continue
        _diff_row(row, center, live.get(center.id) if center.id is not None else None, plan)
    rooms: dict[int, int] = {}
    if exact:
        rooms = _exact_removals(resolved, live, plan, dict(held or {}))
    return _finish(plan, diffed=True, exact=exact, rooms=rooms, rows=rows)


def _exact_removals(resolved: Sequence[tuple[OperatorRow, CenterRef]], live: Mapping[int, CenterLive],
                    plan: _Builder, held: dict[int | None, str]) -> dict[int, int]:
    """--exact-operators: remove each live operator of a named center that no row lists (rooms stay).

    A row of the sheet that is invalid, or names no center bulkcc can find, may list anyone: the center
    it names (every center, when which one is not known) gets no such removal in this run, and the plan
    says why (`held`)."""
    if plan.unresolved:
        first = min(plan.unresolved)
        held.setdefault(None, f"operators row {first} names a call center that is not known "
                              f"({plan.unresolved[first]}), so whom it lists is not known")
    listed: dict[int, set[int]] = {}
    centers: dict[int, CenterRef] = {}
    for row, center in resolved:
        if center.id is not None and center.id in live:
            listed.setdefault(center.id, set()).add(row.user_id)
            centers.setdefault(center.id, center)
    rooms = {}
    for center_id in sorted(listed):
        center_live = live[center_id]
        unlisted = sorted(set(center_live.operators) - listed[center_id])
        why = held.get(center_id, held.get(None))
        if why is not None:
            if unlisted:
                plan.exact_held[center_id] = (
                    f"{len(unlisted)} operator{'' if len(unlisted) == 1 else 's'} of {centers[center_id].label} "
                    f"that the sheet does not list {'is' if len(unlisted) == 1 else 'are'} not removed in this run: "
                    f"{why}. Fix that row, then run again")
            continue
        for user_id in unlisted:
            plan.add(OperatorRequest(REMOVE, centers[center_id], user_id, {"user_id": user_id}, None,
                                     center_live.operators[user_id], True))
        if center_live.rooms:
            rooms[center_id] = center_live.rooms
    return rooms


def _finish(plan: _Builder, *, diffed: bool, exact: bool, rooms: dict[int, int],
            rows: Sequence[OperatorRow] = ()) -> OperatorPlan:
    """The plan, each change showing the user's email beside its id: the row's (looked up), else the live
    operator's."""
    emails = {r.excel_row: r.user_email for r in rows if r.user_email}
    requests = [replace(r, user_email=emails.get(r.row) if r.row is not None and r.row in emails else
                        r.before.email if r.before is not None else None) for r in plan.requests]
    return OperatorPlan(requests=tuple(requests), unchanged=plan.unchanged, blocked=plan.blocked,
                        unresolved=plan.unresolved, unreadable=plan.unreadable, diffed=diffed, exact=exact,
                        rooms=rooms, exact_held=plan.exact_held)


def centers_to_read(rows: Sequence[OperatorRow], index: CenterIndex) -> list[int]:
    """The existing centers whose operators --diff reads (one GET each), in id order."""
    resolved, _, _ = resolved_rows(rows, index)
    return sorted({center.id for _, center in resolved if center.id is not None})


def skills_to_read(rows: Sequence[OperatorRow], index: CenterIndex, live: Mapping[int, CenterLive],
                   exact: bool = False) -> list[tuple[int, int]]:
    """The (center, user) skill levels --diff reads: where a row sets one for an existing operator, and
    for every operator it removes (the rollback re-adds it with its level)."""
    resolved, _, _ = resolved_rows(rows, index)
    pairs: list[tuple[int, int]] = []
    listed: dict[int, set[int]] = {}
    for row, center in resolved:
        if center.id is None or center.id not in live:
            continue
        listed.setdefault(center.id, set()).add(row.user_id)
        if row.user_id in live[center.id].operators and (row.remove or row.skill_level is not None):
            pairs.append((center.id, row.user_id))
    if exact:
        for center_id, users in sorted(listed.items()):
            pairs += [(center_id, u) for u in sorted(set(live[center_id].operators) - users)]
    return list(dict.fromkeys(pairs))


def with_skills(live: Mapping[int, CenterLive], skills: Mapping[tuple[int, int], int]) -> dict[int, CenterLive]:
    """The live operators with the skill levels read filled in."""
    out = {}
    for center_id, center in live.items():
        operators = {u: replace(op, skill_level=skills.get((center_id, u), op.skill_level))
                     for u, op in center.operators.items()}
        out[center_id] = replace(center, operators=operators)
    return out


def moved_since(request: OperatorRequest, live: CenterLive) -> str | None:
    """Why a saved --diff plan's change no longer fits its center's live operators (the stale guard), or None."""
    current = live.operators.get(request.user_id)
    before, user, label = request.before, request.user_id, request.center.label
    if before is None:
        return f"user {user} is an operator of {label} now" if current is not None else None
    if current is None:
        return f"user {user} is no longer an operator of {label}"
    if current.role != before.role:
        return f"the role of user {user} in {label} is {current.role or 'unknown'} now, not {before.role}"
    if before.skill_level is not None and current.skill_level != before.skill_level:
        return f"the skill level of user {user} in {label} is {current.skill_level} now, not {before.skill_level}"
    return None
