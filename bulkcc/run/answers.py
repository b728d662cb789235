"""What a call center in an answer must be before it is believed.

The client already refuses a 2xx that is not a JSON object (`bulkcc.send.client`).
Here the object itself is checked, for apply (the answer to a PATCH), export
and the --diff reads alike: it must be the call center asked for (its `id`,
which the live API sends as a JSON string), and its fields must read as the
workbook's columns. The official schema makes every field nullable, `id`
included, and a server may send worse: each check says what is wrong, in
words, and never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bulkcc.fields import FIELDS_BY_PATH, KIND_LABEL
from bulkcc.plan.payload import read_callcenter
from bulkcc.values import printable

MAX_ID = 2**63 - 1  # ids are int64


def answer_id(value: Any) -> int | None:
    """A call center id as the API sends it (a JSON string of digits, or a number), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 0 < value <= MAX_ID:
        return value
    return None


def shown(value: Any) -> str:
    """A value from an answer, short and printable, for a message."""
    return printable(repr(value), limit=60)


def kind_of(value: Any) -> str:
    """What a JSON value is, in words."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def id_problem(data: Mapping[str, Any]) -> str | None:
    """Why the object has no usable id (missing, null, not an id), or None."""
    if "id" not in data:
        return "it has no id"
    if data["id"] is None:
        return "its id is null"
    if answer_id(data["id"]) is None:
        return f"its id {shown(data['id'])} is not a call center id"
    return None


def other_callcenter(data: Mapping[str, Any], asked: int) -> str | None:
    """Why the answer is not call center `asked` (naming both ids), or None when it is."""
    problem = id_problem(data)
    if problem is not None:
        return f"the answer is not call center {asked}: {problem}"
    got = answer_id(data["id"])
    if got != asked:
        return f"the answer is call center {got}, not {asked}, the one asked for"
    return None


def fields_problem(data: Mapping[str, Any]) -> str | None:
    """Why the call center's fields do not read as the workbook's columns, or None.

    A field of the wrong type (`ring_seconds: "thirty"`) is outside the schema: the
    answer is not believed. A value of the right type that no cell holds exactly
    (an odd hours list, a DTMF key `*`) is not a problem here: export leaves its
    cell blank with a note, and --diff leaves it alone (`bulkcc.run.export_cells`).
    """
    try:
        unreadable = read_callcenter(data).unreadable
    except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
        return f"its fields cannot be read ({printable(str(exc), limit=120)})"
    if unreadable:
        column, raw = next(iter(unreadable.items()))
        more = f" and {len(unreadable) - 1} more" if len(unreadable) > 1 else ""
        kind = KIND_LABEL[FIELDS_BY_PATH[column].kind]
        return f"its fields cannot be read ({column}: {shown(raw)} is not a {kind}{more})"
    return None


def callcenter_problem(data: Mapping[str, Any], asked: int) -> str | None:
    """Everything a read (GET) answer must be: the call center asked for, readable."""
    return other_callcenter(data, asked) or fields_problem(data)
