"""The rollback as a value (`bulkcc.plan.undo`): pure, from what a run set and what is live to what to do."""

from __future__ import annotations

from bulkcc.plan.operators import ADD, REMOVE, SKILL, CenterLive, CenterRef, LiveOperator, OperatorRequest
from bulkcc.plan.undo import AgentState, AgentUndo, agent_undo, field_undo, undo_agent, undo_fields

ROUTING = {"routing_options": {"open": {"action": "voicemail", "try_dial_operators": True},
                               "closed": {"action": "voicemail", "try_dial_operators": False}}}
OTHER_ROUTING = {"routing_options": {"open": {"action": "operator", "try_dial_operators": True},
                                     "closed": {"action": "voicemail", "try_dial_operators": False}}}


def _live(*operators: LiveOperator) -> CenterLive:
    return CenterLive(7, {op.user_id: op for op in operators})


def test_a_run_records_only_the_fields_it_changes_and_routing_whole() -> None:
    before = {"ring_seconds": 20, "name": "Support", **{f"routing_options.open.{k}": v for k, v in
                                                        (("action", "voicemail"), ("try_dial_operators", True))},
              "routing_options.closed.action": "voicemail", "routing_options.closed.try_dial_operators": False}
    undo = field_undo(7, before, {"ring_seconds": 30, "name": "Support", **OTHER_ROUTING})
    assert undo is not None
    assert undo.before["ring_seconds"] == 20 and undo.left["ring_seconds"] == 30
    assert "name" not in undo.before  # set to what it was: nothing to put back
    assert undo.before["routing_options.open.action"] == "voicemail"
    assert undo.left["routing_options.open.action"] == "operator"
    assert undo.left["routing_options.closed.action"] == "voicemail"  # routing is put back whole
    assert field_undo(7, before, {"ring_seconds": 20, **ROUTING}) is None  # the body changes nothing


def test_each_field_is_put_back_only_while_it_is_as_the_run_left_it() -> None:
    restore = {"ring_seconds": 20, "hold_queue.max_hold_seconds": 300, "monday_hours": ("08:00", "12:00")}
    left = {"ring_seconds": 30, "hold_queue.max_hold_seconds": 600, "monday_hours": ("09:00", "17:00")}
    live = {"id": "7", "ring_seconds": "30", "hold_queue": {"max_hold_seconds": 450},
            "monday_hours": ["08:00", "12:00"]}
    verdict = undo_fields(restore, left, live)
    assert verdict.put_back == {"ring_seconds": 20}
    assert verdict.already == ["monday_hours"]
    assert verdict.stale == ["hold_queue.max_hold_seconds: the run set 600, live is now 450"]
    assert verdict.body == {"ring_seconds": 20}
    # Applied again, once put back: nothing left to do.
    again = undo_fields(restore, left, {**live, "ring_seconds": "20"})
    assert not again.put_back and again.stale == verdict.stale
    # No record of what the run set (a row that does not read): left alone, saying why.
    blind = undo_fields({"ring_seconds": 20}, None, live)
    assert not blind.put_back and "no record" in blind.stale[0]


def test_routing_is_one_field_and_a_field_unset_before_cannot_be_put_back() -> None:
    flat = {f"routing_options.{s}.{k}": v for s, state in ROUTING["routing_options"].items() for k, v in state.items()}
    other = {f"routing_options.{s}.{k}": v for s, state in OTHER_ROUTING["routing_options"].items()
             for k, v in state.items()}
    assert undo_fields(flat, other, {"id": "7", **OTHER_ROUTING}).put_back == flat
    assert undo_fields(flat, other, {"id": "7", **ROUTING}).already == ["routing_options"]
    moved = {"routing_options": {**OTHER_ROUTING["routing_options"],
                                 "closed": {"action": "message", "try_dial_operators": False}}}
    stale = undo_fields(flat, other, {"id": "7", **moved})
    assert not stale.put_back and stale.stale[0].startswith("routing_options: changed since the run")
    unset = undo_fields({}, {"ring_seconds": 30}, {"id": "7", "ring_seconds": 30})
    assert not unset.put_back and unset.cannot and "cannot unset" in unset.note()


def test_an_agent_is_put_back_by_the_endpoint_that_does_exactly_that() -> None:
    sup = AgentState("supervisor", 70)
    # Removed by the run: added again with its role and level.
    (add,) = undo_agent(AgentUndo(7, 1, sup, None), _live()).steps
    assert (add.kind, dict(add.body)) == (ADD, {"user_id": 1, "role": "supervisor", "skill_level": 70})
    # A level of 0: added at 1, then set to 0 through the skill endpoint.
    add, zero = undo_agent(AgentUndo(7, 1, AgentState("operator", 0), None), _live()).steps
    assert (add.body["skill_level"], zero.kind, dict(zero.body)) == (1, SKILL, {"skill_level": 0})
    # Stopped half way (added at 1): only the level is set.
    (zero,) = undo_agent(AgentUndo(7, 1, AgentState("operator", 0), None),
                         _live(LiveOperator(1, "operator", 1))).steps
    assert (zero.kind, dict(zero.body)) == (SKILL, {"skill_level": 0})
    # Re-skilled: the skill endpoint, never an add (an API that takes an add as an update resets the role).
    (skill,) = undo_agent(AgentUndo(7, 1, sup, AgentState("supervisor", 30)),
                          _live(LiveOperator(1, "supervisor", 30))).steps
    assert (skill.kind, dict(skill.body)) == (SKILL, {"skill_level": 70})
    # Its role changed by the run (an add taken as an update): an add with the role before puts it back.
    (role,) = undo_agent(AgentUndo(7, 1, sup, AgentState("operator", 100)),
                         _live(LiveOperator(1, "operator", 100))).steps
    assert (role.kind, role.body["role"]) == (ADD, "supervisor")
    # Added by the run: removed.
    (remove,) = undo_agent(AgentUndo(7, 1, None, AgentState("operator", 100)),
                           _live(LiveOperator(1, "operator", 100))).steps
    assert remove.kind == REMOVE


def test_an_agent_moved_since_is_stale_as_before_unchanged_and_a_role_the_api_refuses_fails() -> None:
    undo = AgentUndo(7, 1, AgentState("supervisor", 70), AgentState("supervisor", 30))
    assert undo_agent(undo, _live(LiveOperator(1, "supervisor", 70))).unchanged
    stale = undo_agent(undo, _live(LiveOperator(1, "supervisor", 45))).stale
    assert stale == ("user 1 of call center 7 is supervisor, skill 45 now, not supervisor, skill 30 as the run left "
                     "it: changed since the run, so it is left as it is")
    assert undo_agent(undo, _live()).stale  # removed since: not put back behind the admin's back
    lead = undo_agent(AgentUndo(7, 1, AgentState("lead", 50), None), _live()).failed
    assert lead is not None and "'lead' is not one the API takes" in lead


def test_what_a_change_leaves_follows_its_answer() -> None:
    center = CenterRef(7)
    add = OperatorRequest(ADD, center, 1, {"user_id": 1, "skill_level": 40})
    before = AgentState("supervisor", 70)
    # An API that takes the add as an update: the defaults (operator) replace the role.
    assert agent_undo(add, before, "added") == AgentUndo(7, 1, before, AgentState("operator", 40))
    # One that refuses it: read back, only the level was set.
    assert agent_undo(add, before, "updated") == AgentUndo(7, 1, before, AgentState("supervisor", 40))
    assert agent_undo(add, before, "unchanged") is None
    assert agent_undo(OperatorRequest(REMOVE, center, 1, {"user_id": 1}), before) == AgentUndo(7, 1, before, None)
    assert agent_undo(OperatorRequest(ADD, CenterRef(None, "New", 3), 1, {"user_id": 1}), None) is None


def test_what_the_run_left_is_what_the_answer_shows_unless_it_shows_the_value_before() -> None:
    from bulkcc.plan.payload import values_from_callcenter

    before = {"ring_seconds": 20, "name": "Support", "routing_options.open.action": "operator",
              "routing_options.open.operator_routing": "fixedorder"}
    undo = field_undo(7, before, {"ring_seconds": 17, "name": "Help", **ROUTING})
    assert undo is not None
    # Stored in the server's own form (17 in steps of 5), its routing default filled in; the name not taken.
    answer = {"id": "7", "ring_seconds": "15", "name": "Support", "routing_options": {
        state: {**options, "operator_routing": "longestidle"} for state, options in ROUTING["routing_options"].items()}}
    answered = undo.answered(values_from_callcenter(answer))
    assert answered.left["ring_seconds"] == 15
    assert answered.left["name"] == "Help"  # shown as before: the guard finds whether it was taken
    assert answered.left["routing_options.closed.operator_routing"] == "longestidle"
    assert answered.before == undo.before
    assert undo_fields(before, answered.left, answer).put_back["ring_seconds"] == 20


def test_a_later_runs_record_keeps_the_first_value_before_only_where_it_found_what_the_first_set() -> None:
    first = field_undo(7, {"ring_seconds": 20, "name": "Support"}, {"ring_seconds": 30, "name": "Help"})
    # The later run found ring_seconds as the first set it, but the name as someone changed it since.
    later = field_undo(7, {"ring_seconds": 30, "name": "Desk"}, {"ring_seconds": 40, "name": "Front"})
    assert first is not None and later is not None
    merged = first.merged(later)
    assert merged.before == {"ring_seconds": 20, "name": "Desk"} and merged.left == {"ring_seconds": 40,
                                                                                      "name": "Front"}
    agent = AgentUndo(7, 42, AgentState("supervisor", 70), AgentState("operator", 30))
    assert agent.merged(AgentUndo(7, 42, AgentState(None, 30), None)).before == AgentState("supervisor", 70)
    moved = AgentUndo(7, 42, AgentState("admin", 10), None)
    assert agent.merged(moved) == moved  # changed in between: the later value before is the one to put back
