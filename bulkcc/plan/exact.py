"""What of a live routing a PATCH cannot carry back, and why a --diff row may not send its routing.

The API takes `routing_options` only whole (both states, each replaced whole,
the DTMF menu as one list), so --diff sends a row's routing complete, its
blank cells filled from the live call center. That is only safe when the live
routing holds nothing the workbook's columns (which are exactly what a PATCH
can carry) cannot say: otherwise sending it whole would drop or change a live
setting nobody edited. `routing_losses` lists such entries, each tied to the
cell that replaces it (an unknown action value is replaced when the row fills
that action) or to no cell at all (a DTMF key `*`, a key given twice, a field
the PATCH has no place for). `routing_blockers` says, for one row, why its
routing cannot be sent: losses the row does not replace, and required cells
that neither the row nor the live call center fill. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bulkcc.fields import (
    DTMF_PARTS,
    FIELDS_BY_PATH,
    INT64_MAX,
    MENU_KEYS,
    ROUTING_PREFIX,
    ROUTING_STATES,
    Field,
    dtmf_path,
    routing_required_columns,
)
from bulkcc.plan.payload import wire_int

_SHOWN_MAX = 40


def shown_value(value: Any) -> str:
    """A live value in a message: repr'd as the API sends it (a list, not a tuple), and cut short if long."""
    text = repr(list(value) if isinstance(value, tuple) else value)
    return text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX - 3] + "..."


@dataclass(frozen=True)
class Loss:
    """A live routing entry that sending the routing whole would drop or change."""

    path: str  # where it is in the live call center, e.g. `routing_options.open.dtmf[2]`
    column: str | None  # the cell whose value replaces it, or None when no cell can
    value: Any
    why: str

    def text(self) -> str:
        return f"{self.path}: {self.why}"


def _carryable(field: Field, value: Any) -> str | None:
    """Why a live value of a routing column cannot be sent back as it is, or None if it can."""
    if field.kind == "enum":
        if isinstance(value, str) and value in field.choices:
            return None
        return f"{shown_value(value)} is not a value a PATCH takes ({field.allowed})"
    if field.kind == "bool":
        return None if isinstance(value, bool) else f"{shown_value(value)} is not TRUE or FALSE"
    number = wire_int(value)
    if number is None or abs(number) > INT64_MAX + (number < 0):
        return f"{shown_value(value)} is not a whole number a PATCH takes (64-bit)"
    return None


def _given(value: Any) -> bool:
    """A value that says something: not null, and not an object of nulls (protobuf reads both as unset)."""
    if isinstance(value, Mapping):
        return any(_given(v) for v in value.values())
    return value is not None


def _menu_losses(state: str, menu: Any) -> list[Loss]:
    base = f"{ROUTING_PREFIX}{state}.dtmf"
    if not isinstance(menu, list):
        return [Loss(base, None, menu, f"{shown_value(menu)} is not a list of DTMF keys")]
    losses: list[Loss] = []
    seen: set[str] = set()
    for index, item in enumerate(menu):
        path = f"{base}[{index}]"
        if item is None or (isinstance(item, Mapping) and not any(_given(v) for v in item.values())):
            continue  # null, or an entry of nulls: nothing is given, so sending none loses nothing
        if not isinstance(item, Mapping):
            losses.append(Loss(path, None, item, f"{shown_value(item)} is not a DTMF menu entry"))
            continue
        key = item.get("input")
        if not isinstance(key, str) or key not in MENU_KEYS:
            losses.append(Loss(path, None, key, f"DTMF key {shown_value(key)}: the workbook has columns for keys "
                                                "0-9 only, and a PATCH takes only those"))
            continue
        if key in seen:
            losses.append(Loss(path, None, key, f"DTMF key {key} is given twice in the menu"))
            continue
        seen.add(key)
        for name, value in item.items():
            if name not in ("input", "options") and value is not None:
                losses.append(Loss(f"{path}.{name}", None, value, "has no column, and a PATCH has no place for it"))
        options = item.get("options")
        action_column = dtmf_path(state, key, "action")
        if options is not None and not isinstance(options, Mapping):
            losses.append(Loss(f"{path}.options", action_column, options,
                               f"{shown_value(options)} is not a DTMF key's options"))
            continue
        options = options or {}
        for part, value in options.items():
            if value is None:
                continue
            if part not in DTMF_PARTS:
                losses.append(Loss(f"{path}.options.{part}", None, value,
                                   "has no column, and a PATCH has no place for it"))
            elif why := _carryable(FIELDS_BY_PATH[dtmf_path(state, key, part)], value):
                losses.append(Loss(f"{path}.options.{part}", dtmf_path(state, key, part), value, why))
        if options.get("action") is None:
            losses.append(Loss(path, action_column, dict(options),
                               f"DTMF key {key} has no action: a PATCH sends a key only with its action, "
                               "so the key would be dropped"))
    return losses


def routing_losses(callcenter: Mapping[str, Any]) -> list[Loss]:
    """Every entry of the live routing that the workbook's routing columns cannot carry back."""
    routing = callcenter.get("routing_options")
    if routing is None:
        return []
    if not isinstance(routing, Mapping):
        return [Loss("routing_options", None, routing, f"{shown_value(routing)} is not routing options")]
    losses = [Loss(f"routing_options.{name}", None, value, "has no column, and a PATCH has no place for it")
              for name, value in routing.items() if name not in ROUTING_STATES and value is not None]
    for state in ROUTING_STATES:
        options = routing.get(state)
        prefix = f"{ROUTING_PREFIX}{state}"
        if options is None:
            continue
        if not isinstance(options, Mapping):
            losses.append(Loss(prefix, None, options, f"{shown_value(options)} is not routing options"))
            continue
        for name, value in options.items():
            path = f"{prefix}.{name}"
            if value is None:
                continue
            if name == "dtmf":
                losses.extend(_menu_losses(state, value))
            elif path not in FIELDS_BY_PATH:
                losses.append(Loss(path, None, value, "has no column, and a PATCH has no place for it"))
            elif why := _carryable(FIELDS_BY_PATH[path], value):
                losses.append(Loss(path, path, value, why))
    return losses


def routing_blockers(live: Mapping[str, Any], row_routing: Mapping[str, Any],
                     completed: Mapping[str, Any]) -> list[str]:
    """Why a row that changes routing cannot send it whole ([] if it can).

    `row_routing` are the row's routing cells, `completed` the routing the row
    would send (its cells over the live ones).
    """
    reasons = []
    for loss in routing_losses(live):
        if loss.column is not None and loss.column in row_routing:
            continue  # the row's own value replaces the live one: nothing is lost unasked
        fix = f"fill {loss.column} with the value you want" if loss.column else "change it in Dialpad first"
        reasons.append(f"the live {loss.text()} ({fix})")
    for column in routing_required_columns():
        if column not in completed:
            reasons.append(f"{column} is needed to send the routing whole, and the live call center has none "
                           "(fill the cell)")
    return reasons


def blocked_message(reasons: list[str]) -> str:
    """The one message of a row whose routing cannot be sent: what stops it and what the admin can do."""
    return ("not sent: its routing cannot be sent whole without losing or changing live settings (the API "
            "takes routing_options only complete, so --diff completes it from the live call center): "
            + "; ".join(reasons) + ". To send only the row's other changes, clear its routing cells: "
            "a blank cell leaves the live routing as it is")
