"""Rows to PATCH bodies, and call centers back to rows.

A row's non-blank cells become the nested JSON body of
`PATCH /api/v2/callcenters/{id}`: each column name is the dotted path of its
field, and the per-key DTMF columns fold into `routing_options.S.dtmf`, a list of
`{"input": K, "options": {...}}` in key order. `values_from_callcenter` is the
inverse, used by export and --diff: a call center as the API returns it (int64
as JSON strings) becomes the same column -> value mapping a parsed row has.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bulkcc.fields import (
    CREATE_ONLY,
    DTMF_PARTS,
    FIELDS,
    FIELDS_BY_PATH,
    MENU_KEYS,
    ROUTING_STATES,
    Field,
    dtmf_path,
    split_dtmf_path,
)
from bulkcc.values import native

if TYPE_CHECKING:
    import pandas as pd


_PLAIN = frozenset({int, bool, float, str, tuple})  # what a parsed cell is once unwrapped


def row_values(typed: pd.DataFrame) -> dict[int, dict[str, Any]]:
    """For every row (Excel row number), its non-blank parsed cells, as plain Python values."""
    index = [int(r) for r in typed.index]
    rows: dict[int, dict[str, Any]] = {r: {} for r in index}
    for name in typed.columns:
        column = typed[name]
        positions = column.notna().to_numpy().nonzero()[0]  # most cells are blank: visit only the filled
        values = column.to_numpy(dtype=object)[positions].tolist()
        if not set(map(type, values)) <= _PLAIN:  # numpy scalars or NA: unwrap each (typed columns rarely need it)
            values = [native(v) for v in values]
        key = str(name)
        for position, value in zip(positions.tolist(), values, strict=True):
            if value is not None:
                rows[index[position]][key] = value
    return rows


@functools.cache
def _parts(path: str) -> tuple[tuple[str, ...], str]:
    """(parents, leaf) of a dotted path, split once per column rather than once per cell."""
    *parents, leaf = path.split(".")
    return tuple(parents), leaf


_split_dtmf = functools.cache(split_dtmf_path)


def _set_path(body: dict[str, Any], path: str, value: Any) -> None:
    parents, leaf = _parts(path)
    node = body
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


# Bodies are built in the field table's order, whatever order the values come in
# (a sheet's columns, or a set of changed fields): the same row is the same bytes.
_FIELD_ORDER = {path: position for position, path in enumerate(FIELDS_BY_PATH)}


def field_order(path: str) -> int:
    """A column's place in the field table (unknown names last)."""
    return _FIELD_ORDER.get(path, len(_FIELD_ORDER))


# Never in a PATCH body: the id is in the path, and a call center cannot move office.
NOT_PATCHED = frozenset({"id"}) | CREATE_ONLY


def body_from_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The PATCH body a row's values stand for; `id`, `office_id` and blank cells are left out."""
    body: dict[str, Any] = {}
    menus: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted(values, key=field_order):
        value = values[path]
        if value is None or path in NOT_PATCHED:
            continue
        dtmf = _split_dtmf(path)
        if dtmf is not None:
            state, key, part = dtmf
            menus.setdefault(f"routing_options.{state}", {}).setdefault(key, {})[part] = value
            continue
        _set_path(body, path, list(value) if isinstance(value, tuple) else value)
    for state_path, keys in menus.items():
        menu = [
            {"input": key, "options": {part: keys[key][part] for part in DTMF_PARTS if part in keys[key]}}
            for key in sorted(keys, key=int)
            if "action" in keys[key]  # a target without its action is a validation error, never sent
        ]
        if menu:
            _set_path(body, f"{state_path}.dtmf", menu)
    return body


@dataclass(frozen=True)
class PlannedRequest:
    """The request one valid row stands for."""

    row: int
    id: int
    body: dict[str, Any]

    method = "PATCH"

    @property
    def path(self) -> str:
        return f"/api/v2/callcenters/{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "id": self.id, "method": self.method, "path": self.path, "body": self.body}


def plan_requests(values_by_row: Mapping[int, Mapping[str, Any]], rows: Iterable[int]) -> list[PlannedRequest]:
    """The request of each of `rows` (valid rows); an empty body means nothing to send."""
    return [PlannedRequest(row, values_by_row[row]["id"], body_from_values(values_by_row[row])) for row in rows]


# ---- the inverse: a call center as the API returns it -> column values ----

_INT_TEXT = re.compile(r"^[+-]?[0-9]{1,25}$")  # int64 strings; never int() of 5000 digits


def _get_path(obj: Mapping[str, Any], path: str) -> Any:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


class _Unreadable:
    """A live value that is not of its column's type (e.g. "abc" where a number belongs)."""


UNREADABLE = _Unreadable()


def wire_int(value: Any) -> int | None:
    """An int64 field as the API sends it (a JSON string, or a number) as an int; None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.match(value):
        return int(value)
    return None


def _from_wire(field: Field, value: Any) -> Any:
    """The parsed value of a live field, UNREADABLE if it is not of the column's type."""
    if field.kind in ("id", "int"):
        number = wire_int(value)
        return UNREADABLE if number is None else number
    if field.kind == "bool":
        return value if isinstance(value, bool) else UNREADABLE
    if field.kind == "hours":
        if isinstance(value, list | tuple) and all(isinstance(t, str) for t in value):
            return tuple(value)
        return UNREADABLE
    return value if isinstance(value, str) else UNREADABLE


@dataclass
class LiveValues:
    """A call center read into columns: the values a cell can stand for, and the live values that
    are not of their column's type (export leaves those cells blank and says why)."""

    values: dict[str, Any]
    unreadable: dict[str, Any]


def read_callcenter(callcenter: Mapping[str, Any]) -> LiveValues:
    """A call center (wire or plain form) as column -> parsed value, DTMF menus spread per key.

    Entries no column holds (a DTMF key `*`, a key given twice, fields the
    workbook has no column for) are left out here; `bulkcc.plan.exact` lists them.
    """
    read = LiveValues({}, {})

    def put(field: Field, raw: Any) -> None:
        if raw is None:
            return  # null is "not set"
        value = _from_wire(field, raw)
        if value is UNREADABLE:
            read.unreadable[field.path] = raw
        else:
            read.values[field.path] = value

    for field in FIELDS:
        # office_id is a create's column: a live center's office is context (export's info.office_id).
        if not field.is_dtmf_menu and not field.create_only:
            put(field, _get_path(callcenter, field.path))
    for state in ROUTING_STATES:
        menu = _get_path(callcenter, f"routing_options.{state}.dtmf")
        seen: set[str] = set()
        for item in menu if isinstance(menu, list) else []:
            if not isinstance(item, Mapping) or item.get("input") not in MENU_KEYS or item["input"] in seen:
                continue
            seen.add(item["input"])
            options = item.get("options")
            for part, value in (options.items() if isinstance(options, Mapping) else ()):
                path = dtmf_path(state, item["input"], part)
                if path in FIELDS_BY_PATH:
                    put(FIELDS_BY_PATH[path], value)
    return read


def values_from_callcenter(callcenter: Mapping[str, Any]) -> dict[str, Any]:
    """A call center (wire or plain form) as column -> parsed value, DTMF menus spread per key."""
    return read_callcenter(callcenter).values


def hours_text(times: Sequence[str]) -> str:
    """Hours as a cell shows them: `08:00-12:00, 14:00-18:00`, or `closed`.

    A list of odd length (an opening with no closing, which only the API can
    hold) keeps its last time on its own, so nothing is silently dropped; such
    text is not valid in a cell, and export leaves that cell blank.
    """
    if not times:
        return "closed"
    pairs = [f"{a}-{b}" for a, b in zip(times[::2], times[1::2], strict=False)]
    return ", ".join(pairs + ([times[-1]] if len(times) % 2 else []))


def cell_value(field: Field, value: Any) -> Any:
    """How a parsed value is written into a workbook cell (hours as text)."""
    if value is None:
        return None
    if field.kind == "hours":
        return hours_text(list(value))
    return value
