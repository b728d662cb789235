"""The field table: one declarative row per workbook column.

Everything else is generated from this table: the template's columns, drop-downs
and notes, the pandera schema, the PATCH body builder, the export flattening and
the column reference in the docs. A column's name is the dotted path of the API
field it sets, so adding a field of the spec is adding one line below.

The texts come from the PATCH reference (`callcenters-patch-reference.txt`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["id", "int", "bool", "text", "enum", "dtmf_key", "hours"]

ACTIONS = (
    "extension", "directory", "company_directory", "menu", "disabled", "message",
    "operator", "scripted_ivr", "voicemail", "department", "person", "bridge_target",
)
TARGET_TYPES = (
    "contact", "contactgroup", "room", "callrouter", "channel", "staffgroup",
    "callcenter", "department", "office", "unknown", "user", "coachinggroup",
)
OPERATOR_ROUTINGS = (
    "mostskilled", "longestidle", "roundrobin", "fixedorder", "random", "simultaneous",
)
DTMF_KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#")
MENU_KEYS = tuple(str(k) for k in range(10))  # the keys of a DTMF menu: 0-9
ROUTING_STATES = ("open", "closed")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
INT64_MAX = 2**63 - 1
ROUTING_PREFIX = "routing_options."
DTMF_PARTS = ("action", "action_target_type", "action_target_id")  # the options of one menu key


def dtmf_path(state: str, key: str, part: str) -> str:
    """The column of one part of one DTMF menu key: `routing_options.open.dtmf.1.action`."""
    return f"{ROUTING_PREFIX}{state}.dtmf.{key}.{part}"


def split_dtmf_path(path: str) -> tuple[str, str, str] | None:
    """(state, key, part) of a DTMF menu column, or None for any other column."""
    parts = path.split(".")
    if len(parts) == 5 and parts[0] + "." == ROUTING_PREFIX and parts[2] == "dtmf":
        return parts[1], parts[3], parts[4]
    return None

# Python's type for each kind, once parsed from a cell (for docs and the schema).
KIND_LABEL = {
    "id": "positive whole number",
    "int": "whole number",
    "bool": "TRUE/FALSE",
    "text": "text",
    "enum": "one of a list",
    "dtmf_key": "phone key 0-9, * or #",
    "hours": "time ranges, e.g. 08:00-12:00, 14:00-18:00 (or closed)",
}


@dataclass(frozen=True)
class Field:
    """One column of the workbook, named by the API path it sets."""

    path: str
    kind: Kind
    help: str
    group: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    single_line: bool = False
    default: str = ""
    required: bool = False
    # A column only a create sends (POST): never in a PATCH body, never read from a live call center.
    create_only: bool = False
    # An id column whose thing a row may name instead (the column, and the thing in words): a name typed in
    # the id column is told where it goes.
    named_by: tuple[str, str] | None = None

    @property
    def is_dtmf_menu(self) -> bool:
        """True for the per-key columns of a DTMF menu (`routing_options.S.dtmf.K.*`)."""
        return split_dtmf_path(self.path) is not None

    @property
    def is_routing(self) -> bool:
        """A cell of `routing_options`, which the API takes only whole."""
        return self.path.startswith(ROUTING_PREFIX)

    @property
    def is_identifier(self) -> bool:
        """An id column. Dialpad ids run to 16 digits and Excel keeps 15 significant
        digits of a number, so these are written and formatted as text."""
        return self.kind == "id" or self.path.endswith("action_target_id")

    @property
    def range_text(self) -> str:
        """The numeric range in words ("10–45", "1 or more"), or "" for unranged columns.

        No column states the int64 limit as its maximum: every whole number is
        checked against it when parsed, so it is not a rule an admin needs to read.
        """
        if self.minimum is None:
            return ""
        if self.maximum is None:
            return f"{self.minimum} or more"
        return f"{self.minimum}–{self.maximum}"

    @property
    def allowed(self) -> str:
        """The allowed values in words, for messages, the template and the docs."""
        if self.choices:
            return ", ".join(self.choices)
        if self.kind == "bool":
            return "TRUE or FALSE (or yes/no, y/n, 1/0)"
        if self.range_text:
            return self.range_text
        if self.max_length:
            return f"up to {self.max_length} characters" + (", one line" if self.single_line else "")
        return KIND_LABEL[self.kind]


def _f(path: str, kind: Kind, group: str, help: str, **kw: Any) -> Field:
    return Field(path=path, kind=kind, group=group, help=help, **kw)


_TARGET_ID = "The ID of the target ({what}); give it together with action_target_type."


def _routing_fields(state: str) -> list[Field]:
    """The columns of `routing_options.<state>`, its DTMF menu spread over keys 0-9."""
    p = f"{ROUTING_PREFIX}{state}"
    when = "during open hours" if state == "open" else "during off hours"
    group = f"routing {state}"
    rows = [
        _f(f"{p}.action", "enum", group, f"The action taken {when} if no operators are available. "
           "Required (with try_dial_operators, for both states) when any routing_options cell is filled; "
           "with --diff a blank one keeps the live value.",
           choices=ACTIONS),
        _f(f"{p}.try_dial_operators", "bool", group, f"Whether operators are dialed on inbound calls {when}. "
           "Required (with action, for both states) when any routing_options cell is filled; "
           "with --diff a blank one keeps the live value."),
        _f(f"{p}.operator_routing", "enum", group, "The routing strategy used when dialing operators.",
           choices=OPERATOR_ROUTINGS),
        _f(f"{p}.action_target_type", "enum", group,
           "The type of the target inbound calls are routed to; give it together with action_target_id.",
           choices=TARGET_TYPES),
        _f(f"{p}.action_target_id", "int", group, _TARGET_ID.format(what="inbound calls are routed to"),
           minimum=1),
    ]
    for key in MENU_KEYS:
        menu = f"dtmf {state}"
        rows += [
            _f(dtmf_path(state, key, "action"), "enum", menu,
               f"DTMF menu {when}: the action when the caller presses {key}. "
               "The menu is sent whole: fill every key you want to keep (with --diff, blank keys keep their "
               "live setting).", choices=ACTIONS),
            _f(dtmf_path(state, key, "action_target_type"), "enum", menu,
               f"DTMF key {key}: the type of the target dialed; needs the key's action and action_target_id.",
               choices=TARGET_TYPES),
            _f(dtmf_path(state, key, "action_target_id"), "int", menu,
               f"DTMF key {key}: " + _TARGET_ID.format(what="dialed"), minimum=1),
        ]
    return rows


_HOURS_HELP = {
    "monday": 'The Monday hours of operation, used when hours_on is TRUE. "08:00-12:00, 14:00-18:00" '
              "means open from 8AM to noon and from 2PM to 6PM; closed means not open that day.",
    "saturday": "The Saturday hours of operation, e.g. 08:00-18:00, or closed.",
    "sunday": "The Sunday hours of operation, e.g. 08:00-18:00, or closed.",
}

FIELDS: tuple[Field, ...] = tuple([
    _f("id", "id", "call center", "The call center's id (unique in the sheet): the row changes this call "
       "center. Leave it blank and fill office_id or office_name (and name) to create a new call center "
       "instead.", minimum=1),
    _f("name", "text", "call center", "The name of the call center. One line, max 100 characters.",
       max_length=100, single_line=True),
    _f("office_id", "id", "call center", "Used only to create a call center: with id blank, the row creates a "
       "new call center (named by name, required) in this office. With id filled it is not sent: a call "
       "center cannot move office.", minimum=1, create_only=True, named_by=("office_name", "the office by its name")),
    _f("office_name", "text", "call center", "The office's name, instead of office_id, to create a call center "
       "(looked up among the company's offices when planned with a key or applied, compared as a person reads "
       "names: case, accents' forms and blanks aside; an unknown or ambiguous name is an invalid row). Give "
       "office_id or office_name, not both. With id filled it is not used.", max_length=100, single_line=True,
       create_only=True),
    _f("group_description", "text", "call center", "The description of the call center. Max 256 characters.",
       max_length=256),
    _f("hours_on", "bool", "call center", "Whether the call center keeps the hours below. FALSE means it "
       "always takes calls (24/7).", default="FALSE"),
    _f("ring_seconds", "int", "call center", "Seconds the group line rings before going to voicemail. "
       "Choose from 10 to 45 seconds.", minimum=10, maximum=45, default="30"),
    *(
        _f(f"{day}_hours", "hours", "hours",
           _HOURS_HELP.get(day, f"The {day.title()} hours of operation, e.g. 08:00-18:00, or closed."),
           default="closed" if day in ("saturday", "sunday") else "08:00-18:00")
        for day in DAYS
    ),
    _f("advanced_settings.auto_call_recording.call_recording_outbound", "bool", "advanced",
       "Whether outbound calls from this call center are recorded automatically.", default="FALSE"),
    _f("advanced_settings.auto_call_recording.call_recording_inbound", "bool", "advanced",
       "Whether inbound calls to this call center are recorded automatically.", default="FALSE"),
    _f("advanced_settings.auto_call_recording.allow_pause_recording", "bool", "advanced",
       "Allow agents to stop/restart a recording during a call.", default="FALSE"),
    _f("advanced_settings.max_wrap_up_seconds", "int", "advanced",
       "Post-call wrap-up time in seconds before agents receive their next call.",
       minimum=0, default="0"),
    _f("voice_intelligence.auto_start", "bool", "voice intelligence",
       "Auto start Vi for this call center.", default="TRUE"),
    _f("voice_intelligence.allow_pause", "bool", "voice intelligence",
       "Allow individual users to start and stop Vi during calls.", default="TRUE"),
    _f("alerts.cc_service_level_seconds", "int", "alerts",
       "Inbound calls should be answered within how many seconds.", minimum=1,
       default="60"),
    _f("alerts.cc_service_level", "int", "alerts",
       "Alert supervisors when the service level drops below this percentage (0-100).",
       minimum=0, maximum=100, default="95"),
    _f("hold_queue.max_hold_count", "int", "hold queue", "The hold queue's size when all operators are "
       "busy. Choose from 1 to 1000.", minimum=1, maximum=1000, default="50"),
    _f("hold_queue.max_hold_seconds", "int", "hold queue", "Maximum queue wait time in seconds. Choose "
       "from 30 to 18000 (3 hours).", minimum=30, maximum=18000, default="900"),
    _f("hold_queue.announce_position", "bool", "hold queue", "Whether callers hear their place in the "
       "queue. Not allowed when max_hold_seconds is under 120.", default="TRUE"),
    _f("hold_queue.announcement_interval_seconds", "int", "hold queue",
       "Hold announcement interval in seconds.", minimum=1, default="120"),
    _f("hold_queue.allow_queue_callback", "bool", "hold queue",
       "Whether callers may request a callback.", default="FALSE"),
    _f("hold_queue.queue_callback_threshold", "int", "hold queue", "Callers may request a callback when "
       "the queue has more than this number of calls.", minimum=1, default="5"),
    _f("hold_queue.queue_callback_dtmf", "dtmf_key", "hold queue", "The key callers press to request a "
       "callback: 0-9, * or #. Must differ from queue_escape_dtmf.", choices=DTMF_KEYS, default="9"),
    _f("hold_queue.queue_escape_dtmf", "dtmf_key", "hold queue", "The key callers press to leave the "
       "queue for voicemail: 0-9, * or #.", choices=DTMF_KEYS, default="*"),
    _f("hold_queue.unattended_queue", "bool", "hold queue", "Whether callers are placed in the hold "
       "queue when no agents are available.", default="FALSE"),
    _f("hold_queue.stay_in_queue_after_closing", "bool", "hold queue", "Whether calls stay in the queue "
       "after the call center has closed.", default="FALSE"),
    *_routing_fields("open"),
    *_routing_fields("closed"),
])

FIELDS_BY_PATH: dict[str, Field] = {f.path: f for f in FIELDS}
COLUMNS: tuple[str, ...] = tuple(FIELDS_BY_PATH)
# The columns only a create uses (office_id, office_name): left out of PATCH bodies, exports and --diff.
CREATE_ONLY: frozenset[str] = frozenset(f.path for f in FIELDS if f.create_only)


def routing_required_columns() -> tuple[str, ...]:
    """The four cells the API needs whenever routing_options is sent at all."""
    return tuple(
        f"{ROUTING_PREFIX}{s}.{leaf}" for s in ROUTING_STATES for leaf in ("action", "try_dial_operators")
    )


def target_pairs() -> list[tuple[str, str, str]]:
    """(action, action_target_type, action_target_id) column triples that belong together."""
    triples = []
    for state in ROUTING_STATES:
        prefix = f"{ROUTING_PREFIX}{state}"
        triples.append((f"{prefix}.action", f"{prefix}.action_target_type", f"{prefix}.action_target_id"))
        for key in MENU_KEYS:
            action, kind, target = (dtmf_path(state, key, part) for part in DTMF_PARTS)
            triples.append((action, kind, target))
    return triples


def suggest_column(name: str, columns: tuple[str, ...] = COLUMNS) -> str | None:
    """The valid column (of `columns`: a sheet's field table) an unknown header most likely meant, or None."""
    cleaned = name.strip().lower().replace(" ", "_").replace("/", ".")
    if cleaned in columns:
        return cleaned
    leaf_matches = [c for c in columns if c.endswith("." + cleaned)]
    if len(leaf_matches) == 1:
        return leaf_matches[0]
    close = difflib.get_close_matches(cleaned, columns, n=1, cutoff=0.6)
    return close[0] if close else None


def suggest_choice(value: str, choices: tuple[str, ...]) -> str | None:
    """The allowed value a mistyped one most likely meant, or None."""
    close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.6)
    return close[0] if close else None
