"""Creates: a row with a blank id and a filled office_id stands for `POST /api/v2/callcenters`.

A create's body is the row's PATCH body (every filled cell, built by the same
`payload.body_from_values`) plus `name` and `office_id`, the two keys the spec's
`CreateCallCenterMessage` requires. The builder never sends a key that message
lacks: `create_body` checks the top-level keys against `CREATE_KEYS` (a test
checks those, and every nested key a full row can set, against the official
OpenAPI file).

A create is not idempotent, so it is known by its *key*: the office and the name
as a person reads it (`bulkcc.names.name_key`: Unicode-normalised, case-folded,
blanks as one, invisible characters dropped), since two names that look alike
are two call centers nobody can tell apart. Two rows of one key are a validation
error (`validate.rules.distinct_new_names`); a key already live is the run's
check (`bulkcc.run.creates`). What is sent is the name as typed (`sent_name`).
Pure: nothing here reads or sends.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from bulkcc.names import name_key, sent_name
from bulkcc.plan.payload import body_from_values

CREATE_PATH = "/api/v2/callcenters"
# The keys of CreateCallCenterMessage (dialpad-callcenters-openapi.json): UpdateCallCenterMessage's and office_id.
CREATE_KEYS = frozenset({
    "advanced_settings", "alerts", "friday_hours", "group_description", "hold_queue", "hours_on", "monday_hours",
    "name", "office_id", "ring_seconds", "routing_options", "saturday_hours", "sunday_hours", "thursday_hours",
    "tuesday_hours", "voice_intelligence", "wednesday_hours",
})
REQUIRED_KEYS = ("name", "office_id")

Key = tuple[int, str]  # (office_id, name as compared: `name_key`)


def is_create(values: Mapping[str, Any]) -> bool:
    """A row's parsed cells stand for a create: no id, an office_id."""
    return values.get("id") is None and values.get("office_id") is not None


class CreateBodyError(ValueError):
    """A create body with a key CreateCallCenterMessage lacks: a bug of bulkcc's, never sent."""


def create_body(values: Mapping[str, Any]) -> dict[str, Any]:
    """The POST body of a create row: name and office_id first, then every other filled cell."""
    rest = body_from_values(values)
    body = {"name": sent_name(values["name"]), "office_id": int(values["office_id"]),
            **{k: v for k, v in rest.items() if k != "name"}}
    unknown = sorted(set(body) - CREATE_KEYS)
    if unknown:
        raise CreateBodyError(f"internal: a create body would carry {', '.join(unknown)}, which "
                              "CreateCallCenterMessage does not have")
    return body


@dataclass(frozen=True)
class PlannedCreate:
    """The create one valid row stands for. `maybe_made`: an earlier run sent it and never learned whether
    it made the call center (a `maybe_created` row of a results workbook fed back): the run looks for it
    before sending anything, and sends it again only with --resend-maybe-created. A saved plan keeps it."""

    row: int
    office_id: int
    name: str
    body: dict[str, Any]
    office_name: str | None = None  # the office as the row named it (looked up as office_id), for the words
    maybe_made: bool = False

    method: ClassVar[str] = "POST"
    kind: ClassVar[str] = "create"
    id: ClassVar[None] = None  # a create has no id until the API gives it one

    @property
    def path(self) -> str:
        return CREATE_PATH

    @property
    def key(self) -> Key:
        return self.office_id, name_key(self.name)

    def describe(self) -> str:
        """`POST /api/v2/callcenters create "Support Berlin" in office 124` (`… 124 (Berlin)` by its name)."""
        office = f" ({_quoted(self.office_name)})" if self.office_name else ""
        maybe = " (maybe_created by an earlier run: looked for first)" if self.maybe_made else ""
        return f"{self.method} {self.path} create {_quoted(self.name)} in office {self.office_id}{office}{maybe}"

    def to_dict(self) -> dict[str, Any]:
        maybe = {"maybe_created": True} if self.maybe_made else {}  # absent otherwise: older plans' bytes
        return {"row": self.row, "id": None, "kind": self.kind, "method": self.method, "path": self.path,
                "body": self.body, **({"office_name": self.office_name} if self.office_name else {}), **maybe}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '\\"') + '"'


def plan_creates(values_by_row: Mapping[int, Mapping[str, Any]], rows: Iterable[int],
                 maybe_made: Collection[int] = ()) -> list[PlannedCreate]:
    """The create of each of `rows` (valid create rows), in sheet order; `maybe_made`: the rows whose
    create an earlier run may have made (see `PlannedCreate`)."""
    out = []
    for row in rows:
        values = values_by_row[row]
        body = create_body(values)
        office_name = values.get("office_name")
        out.append(PlannedCreate(row, body["office_id"], body["name"], body,
                                 None if office_name is None else str(office_name), maybe_made=row in maybe_made))
    return out
