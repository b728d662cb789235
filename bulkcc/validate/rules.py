"""The rules between fields of one row, each reported on the cell to fix.

They run vectorised over the parsed frame (index: Excel rows; blank = NA), after
the per-cell checks, and return Problem records like those.

With --diff (`diff=True`) the routing a row sends is completed from the live
call center, so a row may fill only the routing cells it changes: the rule that
routing comes whole is then checked on the completed routing, when the live
state is known (`bulkcc.plan.exact.routing_blockers`), not on the sheet. A row
that creates a call center (blank id, office_id filled) has no live center to
complete it from, so it keeps that rule in both modes.

The rules of rows as a whole live here too: ids are unique, a row names its call
center (id) or creates one (office_id or office_name, and name), and no two creates give one
office two call centers of the same name (names compared exactly, after the
leading and trailing blanks a cell cannot keep).
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from bulkcc.errors import Problem
from bulkcc.fields import COLUMNS, ROUTING_PREFIX, routing_required_columns, split_dtmf_path, target_pairs
from bulkcc.names import how_alike, name_key
from bulkcc.values import is_blank, native, printable


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame:
        return frame[name]
    return pd.Series(pd.NA, index=frame.index, dtype=object)


def _filled(frame: pd.DataFrame, name: str) -> pd.Series:
    return _col(frame, name).notna()


def _problems(mask: pd.Series, frame: pd.DataFrame, column: str, message: str) -> Iterator[Problem]:
    rows = mask.index[mask.fillna(False).to_numpy(dtype=bool)]
    if len(rows) == 0:  # the usual case: no Series is built for a column the sheet may not have
        return
    values = _col(frame, column)
    for row in rows:
        yield Problem(int(row), column, native(values.at[row]), message)


def routing_complete(frame: pd.DataFrame) -> Iterator[Problem]:
    """The API takes routing_options only whole: both states, each with action and try_dial_operators."""
    routing_cols = [c for c in COLUMNS if c.startswith(ROUTING_PREFIX) and c in frame]
    if not routing_cols:
        return
    any_routing = frame[routing_cols].notna().any(axis=1)
    for required in routing_required_columns():
        yield from _problems(
            any_routing & ~_filled(frame, required), frame, required,
            f"{required} is required when any routing_options cell is filled: the API needs "
            "routing_options.open and .closed together, each with action and try_dial_operators "
            "(or use --diff: it fills the routing cells left blank from the live call center)",
        )


def targets_paired(frame: pd.DataFrame) -> Iterator[Problem]:
    """action_target_type and action_target_id come together, and a DTMF key's target needs its action."""
    # 22 triples of a dozen frame operations each cost 25 ms per sheet, however small: a triple none of
    # whose target cells is filled in any row (nearly all, in most sheets) can break nothing, so it is skipped.
    filled_anywhere = frame.notna().any()
    for action, kind, target in target_pairs():
        if not (filled_anywhere.get(kind, False) or filled_anywhere.get(target, False)):
            continue
        has_kind, has_target = _filled(frame, kind), _filled(frame, target)
        yield from _problems(has_kind & ~has_target, frame, target,
                             f"{target} is missing: action_target_type and action_target_id come together")
        yield from _problems(has_target & ~has_kind, frame, kind,
                             f"{kind} is missing: action_target_type and action_target_id come together")
        if split_dtmf_path(action) is not None:
            yield from _problems((has_kind | has_target) & ~_filled(frame, action), frame, action,
                                 f"{action} is missing: a DTMF key's target needs that key's action")


def announce_needs_long_hold(frame: pd.DataFrame) -> Iterator[Problem]:
    announce = _col(frame, "hold_queue.announce_position")
    max_hold = _col(frame, "hold_queue.max_hold_seconds")
    bad = (announce == True) & (max_hold < 120)  # noqa: E712 (nullable boolean)
    yield from _problems(bad, frame, "hold_queue.announce_position",
                         "announce_position TRUE is not allowed with max_hold_seconds under 120; "
                         "set it to FALSE or raise max_hold_seconds to 120 or more")


def distinct_queue_keys(frame: pd.DataFrame) -> Iterator[Problem]:
    escape = _col(frame, "hold_queue.queue_escape_dtmf")
    callback = _col(frame, "hold_queue.queue_callback_dtmf")
    same = escape.notna() & callback.notna() & (escape.astype(object) == callback.astype(object))
    yield from _problems(same, frame, "hold_queue.queue_callback_dtmf",
                         "queue_callback_dtmf and queue_escape_dtmf may not be the same key; pick another key")


def _also(rows: list[int], row: int) -> str:
    others = [r for r in rows if r != row]
    return ", ".join(map(str, others[:10])) + (f" and {len(others) - 10:,} more" if len(others) > 10 else "")


def unique_ids(frame: pd.DataFrame) -> Iterator[Problem]:
    """One row per call center: an id given twice is reported on each of its rows."""
    ids = _col(frame, "id").dropna()
    repeated = ids[ids.duplicated(keep=False)]  # at C speed: a groupby over 100,000 distinct ids took 2 s
    for value, group in repeated.groupby(repeated):
        rows = [int(r) for r in group.index]
        if len(rows) > 1:
            for row in rows:
                yield Problem(row, "id", native(value), f"id {value} appears more than once (also in row "
                                                        f"{_also(rows, row)}); keep one row per call center")


def creates(frame: pd.DataFrame) -> pd.Series:
    """The rows that create a call center: id blank, office_id or office_name filled."""
    return ~_filled(frame, "id") & (_filled(frame, "office_id") | _filled(frame, "office_name"))


def id_or_office(frame: pd.DataFrame, raw: pd.DataFrame | None = None) -> Iterator[Problem]:
    """A row needs an id, or an office (office_id or office_name) to create a call center. With `raw` (the
    cells as typed), a row whose id or office is typed but unreadable is left to that cell's own problem:
    it is not blank."""
    blank = ~_filled(frame, "id") & ~_filled(frame, "office_id") & ~_filled(frame, "office_name")
    if raw is not None:
        for column in ("id", "office_id", "office_name"):
            if column in raw:
                blank &= raw[column].reindex(frame.index).map(is_blank).astype(bool)
    yield from _problems(blank, frame, "id", "id is required: fill in the call center's id, or fill office_id or "
                                             "office_name (and name) to create a call center")


def one_office(frame: pd.DataFrame) -> Iterator[Problem]:
    """A create names its office once: by id or by name."""
    yield from _problems(~_filled(frame, "id") & _filled(frame, "office_id") & _filled(frame, "office_name"),
                         frame, "office_name", "office_id and office_name are both filled: a create gives one of "
                                               "them; clear office_name to use the id, or office_id to look the "
                                               "office up by name")


def create_needs_name(frame: pd.DataFrame) -> Iterator[Problem]:
    yield from _problems(creates(frame) & ~_filled(frame, "name"), frame, "name",
                         "name is required to create a call center (the API needs name and office_id): fill it "
                         "in, or fill id to change an existing call center instead")


def distinct_new_names(frame: pd.DataFrame) -> Iterator[Problem]:
    """Two creates whose names read as one (`name_key`: case, blanks, invisible characters and Unicode
    forms aside) in the same office would make two call centers nobody can tell apart."""
    new = frame[creates(frame) & _filled(frame, "name")]
    if new.empty:
        return
    keys: dict[tuple[object, str], list[tuple[int, str]]] = {}
    shown: dict[object, str] = {}
    offices, office_names = _col(new, "office_id"), _col(new, "office_name")
    for row, name in zip(new.index, new["name"], strict=True):
        office = native(offices.at[row])
        # By id, or (looked up later) by its name as a person reads it: the same office either way.
        key: object = int(office) if office is not None else ("name", name_key(office_names.at[row]))
        shown.setdefault(key, str(office) if office is not None else printable(str(office_names.at[row]), 60,
                                                                               quote=True))
        keys.setdefault((key, name_key(name)), []).append((int(row), str(name)))
    for (key, _), named in keys.items():
        if len(named) < 2:
            continue
        office = shown[key]
        for row, name in named:
            others = [(r, n) for r, n in named if r != row]
            other_row, other_name = others[0]
            alike = "the same name as" if other_name == name else "a name that reads as"
            how = "" if other_name == name else f" ({how_alike(name, other_name)})"
            more = f" (and {len(others) - 1} more rows)" if len(others) > 1 else ""
            yield Problem(row, "name", name, (
                f"office {office} would get two call centers named alike: {printable(name, 60, quote=True)} is "
                f"{alike} row {other_row}'s {printable(other_name, 60, quote=True)}{how}{more}. Names are compared "
                "as a person reads them (case, blanks, invisible characters and Unicode forms aside): give each new "
                "call center its own name in its office, or remove the extra row"))


RULES = (unique_ids, id_or_office, one_office, create_needs_name, distinct_new_names, routing_complete, targets_paired,
         announce_needs_long_hold, distinct_queue_keys)
# Rules the live state settles with --diff: they are checked once the row is completed from it.
LIVE_COMPLETED = (routing_complete,)


def check_rules(frame: pd.DataFrame, *, diff: bool = False, raw: pd.DataFrame | None = None) -> list[Problem]:
    """Every broken rule between fields, over all rows (with `diff`, those a --diff row may leave to live);
    `raw`, the cells as typed, tells an unreadable cell from a blank one."""
    rules = [rule for rule in RULES if not (diff and rule in LIVE_COMPLETED)]
    problems = [problem for rule in rules
                for problem in (id_or_office(frame, raw) if rule is id_or_office else rule(frame))]
    if diff and ("office_id" in frame or "office_name" in frame):
        # A create has no live call center to complete its routing from: routing comes whole.
        new = frame[creates(frame)]
        problems += [problem for rule in LIVE_COMPLETED for problem in rule(new)]
    return problems
