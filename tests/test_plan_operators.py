"""Operator planning (`bulkcc.plan.operators`): pure, from OperatorRows and live operators to requests."""

from __future__ import annotations

from bulkcc.operator_fields import OperatorRow
from bulkcc.plan.operators import (
    ADD,
    REMOVE,
    SKILL,
    CenterIndex,
    CenterLive,
    LiveOperator,
    plan_operators,
    skills_to_read,
)

INDEX = CenterIndex.of({2: {"id": 1001, "name": "Support Berlin"}, 3: {"name": "Sales Wien", "office_id": 9},
                        4: {"id": 1003, "name": "Twice"}, 5: {"id": 1004, "name": "Twice"}},
                       invalid_names={"Broken": 6})


def _live(center: int, *operators: LiveOperator, rooms: int = 0) -> dict[int, CenterLive]:
    return {center: CenterLive(center, {op.user_id: op for op in operators}, rooms)}


def test_without_diff_a_row_adds_or_removes_and_says_so_in_words() -> None:
    plan = plan_operators([OperatorRow(2, 42, call_center_name="Support Berlin", role="supervisor", skill_level=80),
                           OperatorRow(3, 43, call_center_id=1002, remove=True),
                           OperatorRow(4, 44, call_center_id=1002)], INDEX)
    add, remove, plain = plan.requests
    assert (add.method, add.path, dict(add.body)) == (
        "POST", "/api/v2/callcenters/1001/operators", {"user_id": 42, "role": "supervisor", "skill_level": 80})
    assert add.describe() == "add user 42 to 'Support Berlin' as supervisor, skill 80"
    assert (remove.method, remove.path, dict(remove.body)) == ("DELETE", "/api/v2/callcenters/1002/operators",
                                                               {"user_id": 43})
    assert remove.describe() == "remove user 43 from call center 1002"
    assert plain.describe() == "add user 44 to call center 1002 as operator"  # the API's default role
    assert not plan.diffed and plan.summary_text() == "2 adds, 0 skill level changes, 1 removal"


def test_a_name_resolves_to_its_row_a_create_waits_for_its_id_and_others_say_why() -> None:
    plan = plan_operators([OperatorRow(2, 1, call_center_name="Sales Wien"),
                           OperatorRow(3, 1, call_center_name="Twice"),
                           OperatorRow(4, 1, call_center_name="Broken"),
                           OperatorRow(5, 1, call_center_name="Nowhere")], INDEX)
    (pending,) = plan.requests
    assert pending.center.id is None and pending.center.create_row == 3
    assert pending.path == "/api/v2/callcenters/{id of 'Sales Wien' (created in this run)}/operators"
    assert pending.for_center(77).path == "/api/v2/callcenters/77/operators"
    assert "names 2 rows of the callcenters sheet (rows 4, 5)" in plan.unresolved[3]
    assert "names row 6 of the callcenters sheet, which is invalid" in plan.unresolved[4]
    assert "names no row of the callcenters sheet" in plan.unresolved[5]


def test_the_same_operator_twice_is_sent_once_whatever_names_the_center() -> None:
    plan = plan_operators([OperatorRow(2, 42, call_center_id=1001),
                           OperatorRow(3, 42, call_center_name="Support Berlin", role="admin")], INDEX)
    assert [r.row for r in plan.requests] == [2]
    assert "is on row 2 already" in plan.blocked[3]


def test_adding_takes_a_skill_level_of_one_at_least() -> None:
    plan = plan_operators([OperatorRow(2, 42, call_center_id=1001, skill_level=0)], INDEX, live=_live(1001))
    assert plan.requests == () and "takes a skill level of 1-100" in plan.blocked[2]
    changed = plan_operators([OperatorRow(2, 42, call_center_id=1001, skill_level=0)], INDEX,
                             live=_live(1001, LiveOperator(42, "operator", 30)))
    assert [(r.kind, dict(r.body)) for r in changed.requests] == [(SKILL, {"skill_level": 0})]


def test_diff_sends_only_what_differs() -> None:
    live = _live(1001, LiveOperator(1, "operator", 50), LiveOperator(2, "supervisor", 70),
                 LiveOperator(3, "operator", 90), LiveOperator(9, "operator", 10))
    rows = [OperatorRow(2, 1, call_center_id=1001, skill_level=80),  # skill differs: PATCH
            OperatorRow(3, 2, call_center_id=1001, role="supervisor", skill_level=70),  # same: nothing
            OperatorRow(4, 3, call_center_id=1001),  # blank role and skill keep the live ones
            OperatorRow(5, 4, call_center_id=1001, role="admin"),  # missing: added
            OperatorRow(6, 9, call_center_id=1001, remove=True),  # marked: removed
            OperatorRow(7, 5, call_center_id=1001, remove=True)]  # absent + remove: nothing
    plan = plan_operators(rows, INDEX, live=live)
    assert [(r.row, r.kind, dict(r.body)) for r in plan.requests] == [
        (2, SKILL, {"skill_level": 80}), (5, ADD, {"user_id": 4, "role": "admin"}), (6, REMOVE, {"user_id": 9})]
    assert plan.requests[0].describe() == "set the skill level of user 1 in 'Support Berlin': 50 → 80"
    assert plan.requests[2].describe() == "remove user 9 from 'Support Berlin' (was operator, skill 10)"
    assert sorted(plan.unchanged) == [3, 4, 7]
    assert plan.unchanged[7] == "user 5 is not an operator of 'Support Berlin': nothing to remove"
    assert plan.unchanged[3] == "user 2 is already supervisor in 'Support Berlin', skill 70"


def test_license_cells_of_an_operator_who_is_there_are_said_to_be_unused() -> None:
    rows = [OperatorRow(2, 1, call_center_id=1001, license_type="lite_support_agents", keep_paid_numbers=False)]
    plan = plan_operators(rows, INDEX, live=_live(1001, LiveOperator(1, "operator", 50)))
    assert plan.requests == ()
    assert plan.unchanged[2] == ("user 1 is already operator in 'Support Berlin', skill 50 (license_type and "
                                 "keep_paid_numbers only apply when adding an operator: not used)")


def test_a_role_that_differs_is_never_sent_and_says_what_to_do() -> None:
    plan = plan_operators([OperatorRow(2, 1, call_center_id=1001, role="admin", skill_level=60)], INDEX,
                          live=_live(1001, LiveOperator(1, "operator", 50)))
    assert plan.requests == ()
    why = plan.blocked[2]
    assert why.startswith("user 1 is operator in 'Support Berlin', the row says admin: no API endpoint changes "
                          "an operator's role, so the row is not sent")
    assert "remove the operator (remove TRUE) in one run and add it with the new role in the next" in why


def test_exact_operators_removes_the_unlisted_of_named_centers_only() -> None:
    live = {**_live(1001, LiveOperator(1, "operator", 50), LiveOperator(2, "admin", 60), rooms=2),
            **_live(1002, LiveOperator(7, "operator", 50))}
    rows = [OperatorRow(2, 1, call_center_id=1001)]
    assert [r.row for r in plan_operators(rows, INDEX, live=live).requests] == []  # never by default
    plan = plan_operators(rows, INDEX, live=live, exact=True)
    (removal,) = plan.requests
    assert (removal.row, removal.kind, removal.center.id, removal.user_id) == (None, REMOVE, 1001, 2)
    assert removal.describe() == ("remove user 2 from 'Support Berlin' (not on the sheet: --exact-operators) "
                                  "(was admin, skill 60)")
    assert plan.exact_removals == [removal] and plan.rooms == {1001: 2}
    assert "1 removal of operators the sheet does not list (--exact-operators)" in plan.summary_text()
    # A row marked remove still lists its user: the removal is the row's own, not a second one.
    marked = plan_operators([OperatorRow(2, 1, call_center_id=1001), OperatorRow(3, 2, call_center_id=1001,
                                                                                  remove=True)],
                            INDEX, live=live, exact=True)
    assert [(r.row, r.user_id) for r in marked.requests] == [(3, 2)]


def test_a_center_not_read_sends_nothing_for_its_rows() -> None:
    rows = [OperatorRow(2, 1, call_center_id=1001), OperatorRow(3, 1, call_center_id=1002)]
    plan = plan_operators(rows, INDEX, live=_live(1001), unreadable={1002: "HTTP 500: boom"})
    assert [r.row for r in plan.requests] == [2]
    assert plan.unreadable == {3: "reading the operators of call center 1002: HTTP 500: boom"}


def test_skill_levels_are_read_only_where_compared_or_to_be_restored() -> None:
    live = _live(1001, LiveOperator(1, "operator"), LiveOperator(2, "operator"), LiveOperator(3, "operator"),
                 LiveOperator(4, "operator"))
    rows = [OperatorRow(2, 1, call_center_id=1001, skill_level=50),  # compared
            OperatorRow(3, 2, call_center_id=1001),  # blank: kept, not read
            OperatorRow(4, 3, call_center_id=1001, remove=True),  # removed: its level is restored on rollback
            OperatorRow(5, 8, call_center_id=1001, skill_level=50)]  # not an operator: added, nothing to read
    assert skills_to_read(rows, INDEX, live) == [(1001, 1), (1001, 3)]
    assert skills_to_read(rows, INDEX, live, exact=True) == [(1001, 1), (1001, 3), (1001, 4)]


