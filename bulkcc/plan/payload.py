"""Rows to PATCH bodies, and call centers back to rows.

A row's non-blank cells become the nested JSON body of
`PATCH /api/v2/callcenters/{id}`: each column name is the dotted path of its
field, and the per-key DTMF columns fold into `routing_options.S.dtmf`, a list of
`{"input": K, "options": {...}}` in key order. `values_from_callcenter` is the
inverse, used by export and --diff: a call center as the API returns it (int64
as JSON strings) becomes the same column -> value mapping a parsed row has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bulkcc.fields import (
    DTMF_PARTS,
    FIELDS,
    FIELDS_BY_PATH,
    MENU_KEYS,
    ROUTING_STATES,
    Field,
    dtmf_path,
    split_dtmf_path,
)
from bulkcc.values import is_missing, native

if TYPE_CHECKING:
    import pandas as pd


def row_values(typed: pd.DataFrame) -> dict[int, dict[str, Any]]:
    """For every row (Excel row number), its non-blank parsed cells, as plain Python values."""
    rows: dict[int, dict[str, Any]] = {int(r): {} for r in typed.index}
    for name in typed.columns:
        column = typed[name]
        for row, value in zip(typed.index, column.astype(object).tolist(), strict=True):
            if not is_missing(value):
                rows[int(row)][str(name)] = native(value)
    return rows


def _set_path(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = body
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def body_from_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The PATCH body a row's values stand for; `id` and blank cells are left out."""
    body: dict[str, Any] = {}
    menus: dict[str, dict[str, dict[str, Any]]] = {}
    for path, value in values.items():
        if value is None or path == "id":
            continue
        dtmf = split_dtmf_path(path)
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

def _get_path(obj: Mapping[str, Any], path: str) -> Any:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _from_wire(field: Field, value: Any) -> Any:
    if value is None:
        return None
    if field.kind in ("id", "int"):
        return int(value)  # the API returns int64 fields as JSON strings
    if field.kind == "hours":
        return tuple(value)
    return value


def values_from_callcenter(callcenter: Mapping[str, Any]) -> dict[str, Any]:
    """A call center (wire or plain form) as column -> parsed value, DTMF menus spread per key."""
    values: dict[str, Any] = {}
    for field in FIELDS:
        if field.is_dtmf_menu:
            continue
        value = _from_wire(field, _get_path(callcenter, field.path))
        if value is not None:
            values[field.path] = value
    for state in ROUTING_STATES:
        for item in _get_path(callcenter, f"routing_options.{state}.dtmf") or []:
            key = str(item.get("input"))
            if key not in MENU_KEYS:
                continue
            for part, value in (item.get("options") or {}).items():
                path = dtmf_path(state, key, part)
                if path in FIELDS_BY_PATH and value is not None:
                    values[path] = _from_wire(FIELDS_BY_PATH[path], value)
    return values


def cell_value(field: Field, value: Any) -> Any:
    """How a parsed value is written into a workbook cell (hours as text)."""
    if value is None:
        return None
    if field.kind == "hours":
        times = list(value)
        if not times:
            return "closed"
        return ", ".join(f"{a}-{b}" for a, b in zip(times[::2], times[1::2], strict=False))
    return value
