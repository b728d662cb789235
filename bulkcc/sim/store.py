"""The simulator's state: fake call centers, the rules a PATCH must keep, and the merge.

Call centers are kept in *internal* form: plain dicts shaped like the API's
`CallCenterProto`, with Python ints where the wire carries int64 strings
(`apispec.to_wire` converts on the way out).

This module deliberately does not import bulkcc's own field table: the
simulator is the stand-in for Dialpad, so it reads its rules from the OpenAPI
file and the PATCH reference, and a mistake in the client's table shows up as a
refused request instead of being shared by both sides.
"""

from __future__ import annotations

import copy
import json
import random
import re
from pathlib import Path
from typing import Any

from bulkcc.sim import apispec

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HOURS_FIELDS = tuple(f"{day}_hours" for day in DAYS)
QUEUE_KEYS = frozenset("0123456789*#")  # hold_queue.queue_escape_dtmf / queue_callback_dtmf
MENU_KEYS = frozenset("0123456789")  # routing_options.<state>.dtmf[].input: "(0-9)"
ROUTING_STATES = ("open", "closed")

# Ranges the PATCH reference states in words but the OpenAPI schema cannot express.
RANGES: dict[tuple[str, ...], tuple[int, int]] = {
    ("ring_seconds",): (10, 45),
    ("hold_queue", "max_hold_seconds"): (30, 18000),
    ("hold_queue", "max_hold_count"): (1, 1000),
    ("alerts", "cc_service_level"): (0, 100),
}
NAME_MAX, DESCRIPTION_MAX = 100, 256
# "This option is not available when a maximum queue wait time of less than 2 minutes is selected."
ANNOUNCE_MIN_HOLD_SECONDS = 120
# The defaults the reference gives, for a stored call center that lacks the field.
ANNOUNCE_DEFAULT, MAX_HOLD_DEFAULT = True, 900
_HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")

# Where each rule above comes from: words of the field's description in the
# OpenAPI file (the same text as the PATCH reference). test_simulator checks the
# words are still there, so a changed spec shows up as a failing test here.
RULE_SOURCES: dict[str, str] = {
    "ring_seconds": "Choose from 10 seconds to 45 seconds",
    "hold_queue.max_hold_seconds": "Choose from 30s to 18000s",
    "hold_queue.max_hold_count": "Choose from 1-1000",
    "alerts.cc_service_level": "drops below how many percent",
    "name": "[single-line only]\n\nThe name of the call center. Max 100 characters.",
    "group_description": "Max 256 characters",
    "monday_hours": "open from 8AM to Noon, and from 2PM to 6PM",
    "hold_queue.queue_escape_dtmf": "[0,1,2,3,4,5,6,7,8,9,*,#]",
    "hold_queue.queue_callback_dtmf": "[0,1,2,3,4,5,6,7,8,9,*,#]",
    "routing_options.open.dtmf[].input": "(0-9)",
    "hold_queue.announce_position": "not available when a maximum queue wait time of less than 2 minutes",
}

# `routing_options.open` / `.closed` are replaced whole by a PATCH, not merged key
# by key: the API insists each comes complete (action and try_dial_operators are
# required), which says the state object is the unit of change. Modelling the
# stricter reading means a client that leaves out operator_routing or the DTMF
# menu sees them vanish here, instead of relying on a merge Dialpad may not do.
REPLACED_WHOLE = frozenset(f"routing_options.{state}" for state in ROUTING_STATES)


def _get(body: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = body
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _hours_error(value: list[Any]) -> str | None:
    if len(value) % 2:
        return "needs an even number of times (opening, closing pairs)"
    if not all(isinstance(t, str) and _HHMM.match(t) for t in value):
        return 'times must be "HH:MM" strings (00:00 to 23:59)'
    if any(a >= b for a, b in zip(value, value[1:], strict=False)):
        return "times must be in ascending order"
    return None


def reference_errors(body: dict[str, Any]) -> list[str]:
    """The PATCH reference's rules that the OpenAPI schema leaves out.

    `body` must already pass `apispec.update_body_errors`. null values mean "not
    given" and are not checked.
    """
    errors = []
    for path, (low, high) in RANGES.items():
        value = _get(body, path)
        if value is not None and not low <= value <= high:
            errors.append(f"{'.'.join(path)}: {value} is outside {low} to {high}")
    name = body.get("name")
    if name is not None:
        if len(name) > NAME_MAX:
            errors.append(f"name: longer than {NAME_MAX} characters")
        if "\n" in name or "\r" in name:
            errors.append("name: must be a single line")
    description = body.get("group_description")
    if description is not None and len(description) > DESCRIPTION_MAX:
        errors.append(f"group_description: longer than {DESCRIPTION_MAX} characters")
    for field in HOURS_FIELDS:
        value = body.get(field)
        if value is not None and (problem := _hours_error(value)):
            errors.append(f"{field}: {problem}")
    for key_field in ("queue_escape_dtmf", "queue_callback_dtmf"):
        value = _get(body, ("hold_queue", key_field))
        if value is not None and value not in QUEUE_KEYS:
            errors.append(f"hold_queue.{key_field}: {value!r} is not one of 0-9, * or #")
    for state in ROUTING_STATES:
        for i, item in enumerate(_get(body, ("routing_options", state, "dtmf")) or []):
            key = (item or {}).get("input")
            if key is not None and key not in MENU_KEYS:
                errors.append(f"routing_options.{state}.dtmf[{i}].input: {key!r} is not a key 0-9")
    return errors


def merged_errors(body: dict[str, Any], merged: dict[str, Any]) -> list[str]:
    """The reference's rules between fields, on the call center as `body` would leave it.

    A PATCH may set one of the fields and leave the other as stored, so these
    are checked on the merge, and only when `body` sets one of them (a stored
    call center that already breaks a rule can still be renamed).
    """
    errors = []
    queue = body.get("hold_queue") or {}
    if queue.get("announce_position") is not None or queue.get("max_hold_seconds") is not None:
        merged_queue = merged.get("hold_queue") or {}
        announce = merged_queue.get("announce_position", ANNOUNCE_DEFAULT)
        max_hold = merged_queue.get("max_hold_seconds", MAX_HOLD_DEFAULT)
        if announce is True and max_hold < ANNOUNCE_MIN_HOLD_SECONDS:
            errors.append(
                f"hold_queue.announce_position: true is not available with max_hold_seconds {max_hold} "
                f"(a maximum queue wait under {ANNOUNCE_MIN_HOLD_SECONDS} s); set announce_position false "
                f"or max_hold_seconds to {ANNOUNCE_MIN_HOLD_SECONDS} or more")
    return errors


def apply_patch(
    stored: dict[str, Any], body: dict[str, Any], ignored_fields: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The call center `stored` after a (valid) PATCH `body`; `stored` is left as is.

    Nested objects merge key by key; lists (hours, `dtmf`) and the routing state
    objects (see REPLACED_WHOLE) are replaced whole; null means "not given".
    Paths in `ignored_fields` are accepted but not stored.
    """
    result = copy.deepcopy(stored)
    _merge(result, body, "", ignored_fields)
    return result


def _merge(target: dict[str, Any], patch: dict[str, Any], prefix: str, ignored: frozenset[str]) -> None:
    for key, value in patch.items():
        path = prefix + key
        if value is None or path in ignored:
            continue
        if path in REPLACED_WHOLE:
            old = target.get(key) or {}
            new: dict[str, Any] = {}
            _merge(new, value, path + ".", ignored)
            # A field the simulator ignores keeps its stored value even here.
            new.update({k: v for k, v in old.items() if f"{path}.{k}" in ignored})
            target[key] = new
        elif isinstance(value, dict):
            if not isinstance(target.get(key), dict):
                target[key] = {}
            _merge(target[key], value, path + ".", ignored)
        else:
            target[key] = copy.deepcopy(value)


# ---------------------------------------------------------------- fake data

_TEAMS = ("Support", "Sales", "Billing", "Onboarding", "Renewals", "Tech Help", "Returns", "VIP Care")
_REGIONS = {  # region: (timezone, country, office id)
    "EMEA": ("Europe/London", "gb", 5_100_000_000_000_001),
    "DACH": ("Europe/Berlin", "de", 5_100_000_000_000_002),
    "US West": ("US/Pacific", "us", 5_100_000_000_000_003),
    "US East": ("US/Eastern", "us", 5_100_000_000_000_004),
    "APAC": ("Australia/Sydney", "au", 5_100_000_000_000_005),
}
# Every office the simulator knows from the start: office id: (timezone, country); and its name.
OFFICES: dict[int, tuple[str, str]] = {office: (tz, country) for tz, country, office in _REGIONS.values()}
OFFICE_NAMES: dict[int, str] = {office: region for region, (_, _, office) in _REGIONS.items()}
_ROUTINGS = ("mostskilled", "longestidle", "roundrobin", "fixedorder", "random", "simultaneous")
USER_ID_BASE = 6_200_000_000_000_000


def _weekday_hours(rng: random.Random) -> list[str]:
    return rng.choice([["08:00", "18:00"], ["09:00", "17:00"], ["08:00", "12:00", "13:00", "18:00"]])


def _dtmf_menu(rng: random.Random) -> list[dict[str, Any]]:
    menu = [{"input": "0", "options": {"action": "operator"}}, {"input": "1", "options": {"action": "directory"}}]
    if rng.random() < 0.5:
        menu.append({"input": "2", "options": {
            "action": "person", "action_target_type": "user",
            "action_target_id": USER_ID_BASE + rng.randrange(1, 10_000)}})
    return menu


def _routing_state(state: str, rng: random.Random) -> dict[str, Any]:
    routing: dict[str, Any] = {
        "action": rng.choice(["voicemail", "menu", "person"] if state == "open" else ["voicemail", "message"]),
        "try_dial_operators": state == "open",
        "operator_routing": rng.choice(_ROUTINGS),
        "dtmf": _dtmf_menu(rng),
    }
    if routing["action"] == "person":  # a target is given as a type and id pair, never half
        routing["action_target_type"] = "user"
        routing["action_target_id"] = USER_ID_BASE + rng.randrange(1, 10_000)
    return routing


def make_callcenter(cc_id: int, rng: random.Random) -> dict[str, Any]:
    """A realistic call center in internal form, valid per the PATCH reference.

    Every field a PATCH can set is present, plus the read-only ones the API
    answers with (office_id, timezone, phone_numbers, state, ...).
    """
    region = rng.choice(list(_REGIONS))
    timezone, country, office_id = _REGIONS[region]
    max_hold_seconds = rng.choice([60, 300, 900, 1800, 3600])
    escape_key, callback_key = rng.sample(sorted(QUEUE_KEYS), 2)
    hours_on = rng.random() < 0.7
    routing = {state: _routing_state(state, rng) for state in ROUTING_STATES}
    return {
        "id": cc_id,
        "name": f"{rng.choice(_TEAMS)} {region} {cc_id % 1000}",
        "group_description": f"Inbound {region} queue, managed by the contact center team.",
        "hours_on": hours_on,
        "ring_seconds": rng.randrange(10, 46, 5),
        **{f"{day}_hours": _weekday_hours(rng) for day in DAYS[:5]},
        "saturday_hours": [],
        "sunday_hours": [],
        "advanced_settings": {
            "auto_call_recording": {
                "call_recording_inbound": rng.random() < 0.5,
                "call_recording_outbound": rng.random() < 0.5,
                "allow_pause_recording": rng.random() < 0.3,
            },
            "max_wrap_up_seconds": rng.choice([0, 0, 15, 30, 60]),
        },
        "voice_intelligence": {"auto_start": rng.random() < 0.8, "allow_pause": rng.random() < 0.8},
        "alerts": {"cc_service_level": rng.choice([80, 90, 95]), "cc_service_level_seconds": rng.choice([30, 60])},
        "hold_queue": {
            "max_hold_count": rng.choice([10, 50, 100]),
            "max_hold_seconds": max_hold_seconds,
            # The reference: position announcements need a wait of 2 minutes or more.
            "announce_position": max_hold_seconds >= 120 and rng.random() < 0.7,
            "announcement_interval_seconds": rng.choice([60, 120, 180]),
            "allow_queue_callback": rng.random() < 0.4,
            "queue_callback_threshold": rng.choice([3, 5, 10]),
            "queue_callback_dtmf": callback_key,
            "queue_escape_dtmf": escape_key,
            "unattended_queue": rng.random() < 0.3,
            "stay_in_queue_after_closing": rng.random() < 0.3,
        },
        "routing_options": routing,
        # Read-only fields: the API answers them, a PATCH cannot set them.
        "office_id": office_id,
        "timezone": timezone,
        "country": country,
        "phone_numbers": [f"+1415555{cc_id % 10_000:04d}"],
        "state": "active",
        "availability_status": "open",
        "first_action": "menu" if routing["open"]["action"] == "menu" else "operators",
        "no_operators_action": routing["open"]["action"],
    }


def new_callcenter(cc_id: int, body: dict[str, Any], office: tuple[str, str]) -> dict[str, Any]:
    """The call center `POST /api/v2/callcenters` makes of a (valid) `body`, in internal form.

    What the body leaves out takes the defaults the reference gives (or, where
    it gives none, those of the spec's example answer); `office` is the
    office's (timezone, country).
    """
    timezone, country = office
    routing = {state: {"action": "voicemail", "try_dial_operators": state == "open",
                       "operator_routing": "longestidle", "dtmf": []} for state in ROUTING_STATES}
    defaults: dict[str, Any] = {
        "id": cc_id, "hours_on": False, "ring_seconds": 30,
        **{f"{day}_hours": ["08:00", "18:00"] for day in DAYS[:5]}, "saturday_hours": [], "sunday_hours": [],
        "advanced_settings": {"auto_call_recording": {"call_recording_inbound": False,
                                                      "call_recording_outbound": False,
                                                      "allow_pause_recording": False},
                              "max_wrap_up_seconds": 0},
        "voice_intelligence": {"auto_start": True, "allow_pause": True},
        "alerts": {"cc_service_level": 95, "cc_service_level_seconds": 60},
        "hold_queue": {"max_hold_count": 50, "max_hold_seconds": MAX_HOLD_DEFAULT,
                       "announce_position": ANNOUNCE_DEFAULT, "announcement_interval_seconds": 120,
                       "allow_queue_callback": False, "queue_callback_threshold": 5, "queue_callback_dtmf": "9",
                       "queue_escape_dtmf": "*", "unattended_queue": False, "stay_in_queue_after_closing": False},
        "routing_options": routing,
    }
    callcenter = apply_patch(defaults, {k: v for k, v in body.items() if k != "office_id"})
    open_action = callcenter["routing_options"]["open"].get("action")
    callcenter.update({  # read-only fields, as the API answers them
        "office_id": body["office_id"], "timezone": timezone, "country": country, "phone_numbers": [],
        "state": "active", "availability_status": "open",
        "first_action": "menu" if open_action == "menu" else "operators", "no_operators_action": open_action,
    })
    return callcenter


def seed_store(ids: Any, rng: random.Random) -> dict[int, dict[str, Any]]:
    """A store of `make_callcenter` call centers, one per id in `ids`.

    Each call center depends only on its id and one draw of `rng`, so two
    simulators seeded alike serve the same call center for an id whatever other
    ids they hold (export, then `plan --diff`, each with --simulator, agree).
    """
    seed = rng.getrandbits(32)
    return {int(cc_id): make_callcenter(int(cc_id), random.Random(f"{seed}:{int(cc_id)}")) for cc_id in ids}


def load_seed_file(path: str | Path) -> dict[int, dict[str, Any]]:
    """Call centers from a JSON file: a list of them, or `{"items": [...]}`.

    Wire form (int64 as strings) and internal form (ints) are both accepted.
    Raises ValueError for a file that does not hold call centers with unique ids.
    """
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read seed file {path}: {exc}") from exc
    items = data.get("items") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of call centers or {{\"items\": [...]}}")
    store: dict[int, dict[str, Any]] = {}
    for index, item in enumerate(items):
        callcenter = apispec.from_wire(item)
        cc_id = callcenter.get("id") if isinstance(callcenter, dict) else None
        if not isinstance(cc_id, int) or isinstance(cc_id, bool) or cc_id <= 0:
            raise ValueError(f"{path}: item {index} has no positive integer id")
        if cc_id in store:
            raise ValueError(f"{path}: id {cc_id} appears more than once")
        store[cc_id] = callcenter
    return store
