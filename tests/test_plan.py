"""Plans: the exact PATCH body each valid row stands for, checked against the official schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bulkcc.fields import COLUMNS
from bulkcc.plan.plans import make_plan, plan_jsonl, write_plan_jsonl
from bulkcc.validate.validation import validate_file, validate_sheet
from bulkcc.workbook.reader import _build_sheet, read_sheet

R = "routing_options"
ROUTING = {
    f"{R}.open.action": "voicemail", f"{R}.open.try_dial_operators": True,
    f"{R}.closed.action": "voicemail", f"{R}.closed.try_dial_operators": False,
}


def plan_of(*rows: dict[str, Any]):
    header = ["id"] + sorted({c for r in rows for c in r} - {"id"}, key=COLUMNS.index)
    table = [header] + [[r.get(c) for c in header] for r in rows]
    return make_plan(validate_sheet(_build_sheet(Path("input.xlsx"), "callcenters", table)))


def body_of(row: dict[str, Any]) -> dict[str, Any]:
    plan = plan_of(row)
    assert plan.validation.problems == [], plan.validation.problems
    assert len(plan.requests) == 1
    return plan.requests[0].body


# ---- bodies ---------------------------------------------------------------------


def test_scalars_nest_by_their_path() -> None:
    assert body_of({
        "id": 1001, "name": "  Support – EMEA ", "ring_seconds": 25.0, "hours_on": "yes",
        "advanced_settings.auto_call_recording.call_recording_inbound": True,
        "advanced_settings.max_wrap_up_seconds": 0,
        "voice_intelligence.allow_pause": "no",
        "alerts.cc_service_level": "95",
        "hold_queue.max_hold_seconds": 900, "hold_queue.queue_callback_dtmf": 9.0,
        "hold_queue.queue_escape_dtmf": "*",
    }) == {
        "name": "Support – EMEA",
        "hours_on": True,
        "ring_seconds": 25,
        "advanced_settings": {"auto_call_recording": {"call_recording_inbound": True}, "max_wrap_up_seconds": 0},
        "voice_intelligence": {"allow_pause": False},
        "alerts": {"cc_service_level": 95},
        "hold_queue": {"max_hold_seconds": 900, "queue_callback_dtmf": "9", "queue_escape_dtmf": "*"},
    }


def test_values_have_the_api_types() -> None:
    body = body_of({"id": 1, "ring_seconds": 30.0, "hours_on": 1, "hold_queue.queue_escape_dtmf": 0.0})
    assert type(body["ring_seconds"]) is int and body["hours_on"] is True
    assert body["hold_queue"]["queue_escape_dtmf"] == "0"


def test_hours_become_lists_and_closed_an_empty_list() -> None:
    assert body_of({
        "id": 1001, "hours_on": True, "monday_hours": "08:00-12:00, 14:00-18:00", "tuesday_hours": "8:00 - 17:30",
        "saturday_hours": "closed", "sunday_hours": "CLOSED",
    }) == {
        "hours_on": True,
        "monday_hours": ["08:00", "12:00", "14:00", "18:00"],
        "tuesday_hours": ["08:00", "17:30"],
        "saturday_hours": [],
        "sunday_hours": [],
    }


def test_dtmf_menu_folds_sorted_with_blank_parts_left_out() -> None:
    body = body_of({
        "id": 1001, **ROUTING,
        f"{R}.open.operator_routing": "longestidle",
        f"{R}.open.action": "bridge_target",
        f"{R}.open.action_target_type": "callcenter", f"{R}.open.action_target_id": 5_100_000_000_000_001,
        f"{R}.open.dtmf.9.action": "voicemail",
        f"{R}.open.dtmf.2.action": "person", f"{R}.open.dtmf.2.action_target_type": "user",
        f"{R}.open.dtmf.2.action_target_id": 42.0,
        f"{R}.open.dtmf.0.action": "operator",
        f"{R}.closed.action": "menu",
        f"{R}.closed.dtmf.1.action": "message",
    })
    assert body == {"routing_options": {
        "open": {
            "action": "bridge_target", "try_dial_operators": True, "operator_routing": "longestidle",
            "action_target_type": "callcenter", "action_target_id": 5_100_000_000_000_001,
            "dtmf": [
                {"input": "0", "options": {"action": "operator"}},
                {"input": "2", "options": {"action": "person", "action_target_type": "user",
                                           "action_target_id": 42}},
                {"input": "9", "options": {"action": "voicemail"}},
            ],
        },
        "closed": {
            "action": "menu", "try_dial_operators": False,
            "dtmf": [{"input": "1", "options": {"action": "message"}}],
        },
    }}
    # The key order of the options follows the API's (action, type, id), whatever the column order.
    assert list(body["routing_options"]["open"]["dtmf"][1]["options"]) == [
        "action", "action_target_type", "action_target_id"]


def test_a_row_with_only_an_id_is_skipped_not_sent() -> None:
    plan = plan_of({"id": 1001, "ring_seconds": 20}, {"id": 1002}, {"id": 1003, "name": "   "})
    assert [(r.row, r.id) for r in plan.requests] == [(2, 1001)]
    assert [(r.row, r.id, r.body) for r in plan.skipped] == [(3, 1002, {}), (4, 1003, {})]
    assert plan.summary() == {"rows": 3, "requests": 1, "skipped": 2, "invalid": 0}


def test_invalid_rows_are_never_planned() -> None:
    plan = plan_of({"id": 1, "ring_seconds": 20}, {"id": 2, "ring_seconds": 60}, {"id": 3, "name": "ok"},
                   {"id": 3, "name": "again"}, {"ring_seconds": 30})
    assert [r.row for r in plan.requests] == [2]
    assert plan.skipped == []
    assert plan.summary() == {"rows": 5, "requests": 1, "skipped": 0, "invalid": 4}


def test_a_header_problem_plans_nothing() -> None:
    plan = plan_of({"id": 1, "ring_seconds": 20})
    assert len(plan.requests) == 1
    table = [["id", "ring_seconds", "max_hold_secs"], [1, 20, 300]]
    plan = make_plan(validate_sheet(_build_sheet(Path("x.xlsx"), "callcenters", table)))
    assert plan.requests == [] and plan.skipped == []


def test_planned_request_shape() -> None:
    request = plan_of({"id": 1001.0, "ring_seconds": 20}).requests[0]
    assert request.to_dict() == {"row": 2, "id": 1001, "method": "PATCH", "path": "/api/v2/callcenters/1001",
                                 "body": {"ring_seconds": 20}}
    assert type(request.id) is int


def test_plan_json_lines(tmp_path: Path) -> None:
    plan = plan_of({"id": 1001, "name": "Ventas México"}, {"id": 1002, "monday_hours": "closed"})
    path = write_plan_jsonl(plan.requests, tmp_path / "out" / "plan.jsonl")
    text = path.read_text("utf-8")
    assert text == plan_jsonl(plan.requests)
    assert "Ventas México" in text  # not \u-escaped
    lines = text.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"row": 2, "id": 1001, "method": "PATCH", "path": "/api/v2/callcenters/1001",
         "body": {"name": "Ventas México"}},
        {"row": 3, "id": 1002, "method": "PATCH", "path": "/api/v2/callcenters/1002", "body": {"monday_hours": []}},
    ]
    assert text.endswith("\n") and len(lines) == 2


# ---- the official schema --------------------------------------------------------


def test_the_schema_validator_catches_bad_bodies(update_body_validator) -> None:
    bad_bodies = [
        {"ring_seconds": 25.0},  # a float leaked through
        {"ring_seconds": "25"},
        {"hours_on": "TRUE"},
        {"id": 1001},  # not a field of the body
        {"routing_options": {"open": {"action": "voicemail", "try_dial_operators": True}}},  # closed missing
        {"routing_options": {"open": {"action": "voicemial", "try_dial_operators": True},
                             "closed": {"action": "voicemail", "try_dial_operators": False}}},
        {"hold_queue": {"max_hold_seconds": 2**63}},
        {"monday_hours": [8, 12]},
    ]
    for body in bad_bodies:
        assert not update_body_validator.is_valid(body), body
    assert update_body_validator.is_valid({"ring_seconds": 25, "monday_hours": [], "name": None})


def test_every_sample_body_conforms_to_the_official_schema(samples_dir: Path, update_body_validator) -> None:
    plan = make_plan(validate_file(samples_dir / "callcenters.xlsx"))
    assert len(plan.requests) == 20 and plan.skipped == []
    for request in plan.requests:
        assert update_body_validator.errors(request.body) == [], request.row
    # The sample exercises every part of a body: nested objects, hours, both routing states, DTMF menus.
    keys = set().union(*(r.body for r in plan.requests))
    assert {"name", "ring_seconds", "hours_on", "monday_hours", "hold_queue", "routing_options",
            "advanced_settings", "voice_intelligence", "alerts", "group_description"} <= keys
    menus = [r.body["routing_options"][s]["dtmf"] for r in plan.requests if "routing_options" in r.body
             for s in ("open", "closed")]
    assert menus and all(m == sorted(m, key=lambda item: item["input"]) for m in menus)


def test_csv_sample_plans_the_same_bodies_as_the_workbook(samples_dir: Path) -> None:
    from_csv = make_plan(validate_file(samples_dir / "callcenters.csv")).requests
    from_xlsx = make_plan(validate_file(samples_dir / "callcenters.xlsx")).requests
    assert [r.to_dict() for r in from_csv] == [r.to_dict() for r in from_xlsx[:len(from_csv)]]


@pytest.mark.parametrize("row", [
    {"id": 1, "ring_seconds": 10},
    {"id": 1, **ROUTING, f"{R}.closed.dtmf.0.action": "voicemail"},
    {"id": 1, "hold_queue.max_hold_seconds": 120, "hold_queue.announce_position": True},
    {"id": 1, "sunday_hours": "closed", "hours_on": False},
])
def test_representative_bodies_conform(row: dict[str, Any], update_body_validator) -> None:
    assert update_body_validator.errors(body_of(row)) == []


# ---- live call centers read back into columns, and what a PATCH cannot carry -----


def test_reading_a_live_call_center_never_fails_on_values_of_the_wrong_type() -> None:
    from bulkcc.plan.payload import read_callcenter

    live = {"id": "1001", "ring_seconds": "abc", "name": 5, "hours_on": "yes", "monday_hours": "08:00-18:00",
            "hold_queue": None, "alerts": {"cc_service_level": "0095"}, "advanced_settings": "nope",
            "routing_options": {"open": {"action": "voicemail", "try_dial_operators": True,
                                         "dtmf": [7, {"input": "*"}, {"input": "1", "options": "x"},
                                                  {"input": "2", "options": {"action": "operator",
                                                                             "action_target_id": "9" * 5000}}]},
                                "closed": "nope"}}
    read = read_callcenter(live)
    assert read.values == {"id": 1001, "alerts.cc_service_level": 95, f"{R}.open.action": "voicemail",
                           f"{R}.open.try_dial_operators": True, f"{R}.open.dtmf.2.action": "operator"}
    assert read.unreadable == {"ring_seconds": "abc", "name": 5, "hours_on": "yes", "monday_hours": "08:00-18:00",
                               f"{R}.open.dtmf.2.action_target_id": "9" * 5000}


def test_an_odd_hours_list_keeps_its_last_time_in_a_cell() -> None:
    from bulkcc.fields import FIELDS_BY_PATH
    from bulkcc.plan.diff import shown
    from bulkcc.plan.payload import cell_value

    monday = FIELDS_BY_PATH["monday_hours"]
    assert cell_value(monday, ("08:00", "12:00", "14:00")) == "08:00-12:00, 14:00"  # not silently 08:00-12:00
    assert shown("monday_hours", ("08:00", "12:00", "14:00")) == "08:00-12:00, 14:00"
    assert cell_value(monday, ()) == "closed"


def test_routing_losses_name_each_entry_and_the_cell_that_replaces_it() -> None:
    from bulkcc.plan.exact import routing_losses

    live = {"routing_options": {
        "open": {"action": "holiday_message", "try_dial_operators": True, "greeting": "hi", "operator_routing": None,
                 "dtmf": [{"input": "1", "options": {"action": "operator"}}, {"input": "*", "options": {}},
                          {"input": "#"}, {"input": "1", "options": {"action": "directory"}}, {}, None,
                          {"input": "3", "options": {"action_target_type": "user", "action_target_id": "7"}},
                          {"input": "4", "options": {"action": "person", "ring": 3}}]},
        "closed": {"action": "voicemail", "try_dial_operators": "yes", "action_target_id": "9" * 30},
        "holiday": {"action": "message"}}}
    found = {(loss.path, loss.column) for loss in routing_losses(live)}
    assert found == {
        ("routing_options.holiday", None),
        (f"{R}.open.action", f"{R}.open.action"),  # replaced when the row fills it
        (f"{R}.open.greeting", None),
        (f"{R}.open.dtmf[1]", None), (f"{R}.open.dtmf[2]", None),  # keys * and #
        (f"{R}.open.dtmf[3]", None),  # key 1 given twice
        (f"{R}.open.dtmf[6]", f"{R}.open.dtmf.3.action"),  # a key with no action
        (f"{R}.open.dtmf[7].options.ring", None),
        (f"{R}.closed.try_dial_operators", f"{R}.closed.try_dial_operators"),
        (f"{R}.closed.action_target_id", f"{R}.closed.action_target_id"),  # over 64 bits
    }
    assert routing_losses({"routing_options": None}) == [] and routing_losses({}) == []


def test_a_routing_change_is_blocked_by_what_it_would_lose_and_by_what_is_missing() -> None:
    from bulkcc.plan.diff import diff_row
    from bulkcc.plan.payload import PlannedRequest, body_from_values

    live = {"routing_options": {
        "open": {"action": "holiday_message", "try_dial_operators": True,
                 "dtmf": [{"input": "*", "options": {"action": "operator"}}]}}}
    row = {"id": 1001, f"{R}.open.operator_routing": "random"}
    diff = diff_row(PlannedRequest(2, 1001, body_from_values(row)), row, live)
    assert diff.request.body == {} and diff.prior == {}
    assert diff.blocked is not None and diff.blocked.startswith("not sent: its routing cannot be sent whole")
    for part in ("routing_options.open.dtmf[0]: DTMF key '*'", "(change it in Dialpad first)",
                 "routing_options.open.action: 'holiday_message'", f"(fill {R}.open.action with the value you want)",
                 f"{R}.closed.action is needed to send the routing whole",
                 f"{R}.closed.try_dial_operators is needed", "clear its routing cells"):
        assert part in diff.blocked, part

    unchanged_routing = {"id": 1001, "ring_seconds": 30}  # no routing change: the live routing is not touched
    diff = diff_row(PlannedRequest(2, 1001, body_from_values(unchanged_routing)), unchanged_routing, live)
    assert diff.blocked is None and diff.request.body == {"ring_seconds": 30}


# ---- creates (issue 11) ----------------------------------------------------------------

def test_create_bodies_carry_only_keys_of_create_call_center_message(samples_dir: Path, spec_dir: Path) -> None:
    from conftest import openapi_to_json_schema
    from jsonschema import Draft202012Validator

    from bulkcc.plan.creates import CREATE_KEYS, REQUIRED_KEYS

    components = json.loads((spec_dir / "dialpad-callcenters-openapi.json").read_text("utf-8"))["components"]["schemas"]
    message = components["schemas.group.CreateCallCenterMessage"]
    assert CREATE_KEYS == set(message["properties"]) and set(REQUIRED_KEYS) == set(message["required"])
    validator = Draft202012Validator(openapi_to_json_schema(message, components))  # strict: no unknown key
    sheet = read_sheet(samples_dir / "callcenters.xlsx")
    sheet.frame["office_id"] = "124"
    sheet.frame["id"] = None  # every sample row, as a create: every kind of cell
    sheet.frame["name"] = [f"New {row}" for row in sheet.frame.index]
    plan = make_plan(validate_sheet(sheet))
    assert len(plan.creates) == 20 and plan.requests == []
    for create in plan.creates:
        assert [e.message for e in validator.iter_errors(create.body)] == [], create.row
        assert create.body["office_id"] == 124 and create.to_dict()["method"] == "POST"
    assert {"routing_options", "hold_queue", "advanced_settings"} <= set().union(*(c.body for c in plan.creates))


def test_a_row_with_an_id_never_sends_office_id() -> None:
    from bulkcc.plan.payload import body_from_values

    assert body_from_values({"id": 1, "office_id": 124, "ring_seconds": 20}) == {"ring_seconds": 20}


def test_plan_shows_creates_apart_from_updates(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bulkcc.cli import main

    book = tmp_path / "c.csv"
    book.write_text("id,name,office_id,ring_seconds\n,Support Berlin,124,20\n1001,,,25\n")
    result = CliRunner().invoke(main, ["plan", str(book), "--json", str(tmp_path / "p.jsonl")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:4] == ['row 2: POST /api/v2/callcenters create "Support Berlin" in office 124',
                         '  {"name": "Support Berlin", "office_id": 124, "ring_seconds": 20}', "updates:",
                         "row 3: PATCH /api/v2/callcenters/1001"]
    assert "1 call center to create (POST), 1 request planned" in result.stdout
    first = json.loads((tmp_path / "p.jsonl").read_text().splitlines()[0])
    assert first == {"row": 2, "id": None, "kind": "create", "method": "POST", "path": "/api/v2/callcenters",
                     "body": {"name": "Support Berlin", "office_id": 124, "ring_seconds": 20}}
