"""The packaged OpenAPI as JSON Schema: PATCH body validation and int64 wire form."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bulkcc.sim import apispec

READ_ONLY = (
    "id", "office_id", "state", "country", "availability_status", "first_action",
    "no_operators_action", "phone_numbers", "timezone",
)


def _example(path: str, method: str) -> dict[str, Any]:
    content = apispec.openapi()["paths"][path][method]["responses"]["200"]["content"]["application/json"]
    return copy.deepcopy(content["examples"]["json_example"]["value"])


def _as_update_body(callcenter: dict[str, Any]) -> dict[str, Any]:
    """A CallCenterProto example turned into what a PATCH would send."""
    body = apispec.from_wire(callcenter)
    for field in READ_ONLY:
        body.pop(field, None)
    return body


def _routing(**open_fields: Any) -> dict[str, Any]:
    return {"routing_options": {
        "open": {"action": "voicemail", "try_dial_operators": True, **open_fields},
        "closed": {"action": "voicemail", "try_dial_operators": False},
    }}


@pytest.mark.parametrize("path, method", [
    ("/api/v2/callcenters/{id}", "patch"),
    ("/api/v2/callcenters/{id}", "get"),
    ("/api/v2/callcenters", "post"),
])
def test_openapi_examples_are_valid_update_bodies(path: str, method: str) -> None:
    body = _as_update_body(_example(path, method))
    assert isinstance(body["ring_seconds"], int)
    assert apispec.update_body_errors(body) == []


def test_list_example_items_are_valid_update_bodies() -> None:
    for item in _example("/api/v2/callcenters", "get")["items"]:
        assert apispec.update_body_errors(_as_update_body(item)) == []


def test_routing_options_need_both_states() -> None:
    body = {"routing_options": {"open": {"action": "voicemail", "try_dial_operators": True}}}
    assert apispec.update_body_errors(body) == ["routing_options: 'closed' is a required property"]


def test_routing_state_needs_action_and_try_dial_operators() -> None:
    body = {"routing_options": {"open": {"operator_routing": "random"}, "closed": {"action": "voicemail"}}}
    assert apispec.update_body_errors(body) == [
        "routing_options.closed: 'try_dial_operators' is a required property",
        "routing_options.open: 'action' is a required property",
        "routing_options.open: 'try_dial_operators' is a required property",
    ]


def test_required_fields_cannot_be_null_but_optional_ones_can() -> None:
    body = _routing(operator_routing=None, dtmf=None)
    body["routing_options"]["closed"]["action"] = None
    assert apispec.update_body_errors(body) == ["routing_options.closed.action: None is not of type 'string'"]
    assert apispec.update_body_errors({"name": None, "hold_queue": None, "routing_options": None}) == []


def test_unknown_action_names_its_path_and_the_choices() -> None:
    [message] = apispec.update_body_errors(_routing(action="voicemale"))
    assert message.startswith("routing_options.open.action: 'voicemale' is not one of ['bridge_target',")
    assert "None" not in message


def test_error_path_inside_a_dtmf_menu() -> None:
    body = _routing(dtmf=[{"input": "1", "options": {"action": "directory"}},
                          {"input": "2", "options": {"action": "person", "action_target_id": "7"}}])
    assert apispec.update_body_errors(body) == [
        "routing_options.open.dtmf[1].options.action_target_id: '7' is not of type 'integer', 'null'",
    ]


@pytest.mark.parametrize("value", ["25", 25.0, True, 2**63])
def test_int64_fields_want_json_integers(value: Any) -> None:
    [message] = apispec.update_body_errors({"ring_seconds": value})
    assert message.startswith("ring_seconds: ")


def test_unknown_and_read_only_fields_are_refused() -> None:
    errors = apispec.update_body_errors({"id": 5, "hold_queue": {"max_hold": 3}})
    assert errors == [
        "body: Additional properties are not allowed ('id' was unexpected)",
        "hold_queue: Additional properties are not allowed ('max_hold' was unexpected)",
    ]


def test_a_body_must_be_an_object() -> None:
    assert apispec.update_body_errors([1]) == ["body: [1] is not of type 'object'"]
    assert apispec.update_body_errors({}) == []


def test_int64_paths() -> None:
    paths = apispec.int64_paths(apispec.CALL_CENTER)
    assert {"id", "office_id", "ring_seconds", "advanced_settings.max_wrap_up_seconds",
            "alerts.cc_service_level", "hold_queue.max_hold_seconds",
            "routing_options.open.action_target_id",
            "routing_options.closed.dtmf[].options.action_target_id"} <= paths
    assert "name" not in paths and "hours_on" not in paths
    assert "id" not in apispec.int64_paths(apispec.UPDATE_MESSAGE)
    assert "items[].ring_seconds" in apispec.int64_paths("schemas.group.CallCenterCollection")


def test_to_wire_and_back() -> None:
    example = _example("/api/v2/callcenters/{id}", "patch")
    internal = apispec.from_wire(example)
    assert internal["id"] == 1000 and internal["hold_queue"]["max_hold_seconds"] == 930
    assert internal["routing_options"]["open"]["dtmf"][0]["options"]["action_target_id"] == 2
    assert internal["hold_queue"]["queue_escape_dtmf"] == "*"  # a string field stays a string
    assert apispec.to_wire(internal) == example


def test_to_wire_leaves_booleans_nulls_and_unknown_fields_alone() -> None:
    wire = apispec.to_wire({"ring_seconds": None, "hours_on": True, "extra": 5, "alerts": {"cc_service_level": 90}})
    assert wire == {"ring_seconds": None, "hours_on": True, "extra": 5, "alerts": {"cc_service_level": "90"}}


def test_the_spec_is_loaded_once() -> None:
    assert apispec.openapi() is apispec.openapi()


@pytest.mark.parametrize("document", apispec._DOCUMENTS)
def test_the_packaged_spec_is_the_shared_one(document: str) -> None:
    """bulkcc ships copies of Dialpad's OpenAPI files (the simulator needs them installed); they must not drift."""
    from conftest import PACKAGED_SPEC_DIR, SPEC_DIR

    shared = SPEC_DIR / document
    if not shared.is_file():
        pytest.skip(f"no shared spec at {shared} (CI has it beside the repo)")
    assert (PACKAGED_SPEC_DIR / document).read_bytes() == shared.read_bytes(), (
        f"bulkcc/data/ holds an old copy of the OpenAPI: copy ../shared/spec/{document} over it")
