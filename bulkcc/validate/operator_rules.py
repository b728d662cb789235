"""The rules between the cells of the operators sheet, each reported on the cell to fix.

Like `rules` for the callcenters sheet, they run over the parsed frame (index:
the operators sheet's Excel rows; blank or bad = NA) after the per-cell checks,
and return Problem records. Some look at the callcenters sheet too: a
`call_center_name` names a row of it by its `name` cell (names compared as a
person reads them, `bulkcc.names`), or else a live call center, which only the
run can look up (`bulkcc.plan.lookups`); two rows naming the same center (by id,
or by a name that resolves to a row with that id) and the same user (by id, or
by email whatever its case) are the same operator twice.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bulkcc.errors import Problem
from bulkcc.names import name_key
from bulkcc.operator_fields import ADD_SKILL_MIN, SKILL_MAX, email_key
from bulkcc.values import counted, native, plural, printable

CENTER_ID, CENTER_NAME, USER, EMAIL = "call_center_id", "call_center_name", "user_id", "user_email"
# An email as a person types one: something, one @, a domain; no blanks (the lookup compares it whole).
EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+")
# The cells of an add or a change: a removal takes only the user.
NOT_FOR_REMOVAL = ("role", "skill_level", "license_type", "keep_paid_numbers")
SUGGEST_AMONG = 5000  # names difflib compares an unknown one with (it is quadratic in the worst case)
SHOWN_ROWS = 10


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame:
        return frame[name]
    return pd.Series(pd.NA, index=frame.index, dtype=object)


def _true(column: pd.Series) -> pd.Series:
    """True where the cell is True; blank (NA) is not. (`fillna(False)` on an object column warns of a
    downcast on pandas 2.x.)"""
    return column.map(lambda v: v is True or v is np.True_).astype(bool)


def _rows_text(rows: list[int]) -> str:
    shown = ", ".join(map(str, rows[:SHOWN_ROWS]))
    return shown + (f" and {len(rows) - SHOWN_ROWS:,} more" if len(rows) > SHOWN_ROWS else "")


def _problem(row: object, column: str, value: object, message: str) -> Problem:
    return Problem(int(row), column, native(value), message)  # type: ignore[call-overload]


@dataclass
class Centers:
    """The callcenters sheet as call_center_name sees it: each name's rows (by `name_key`, the one
    comparison of names), each row's id, and each name as typed (for suggestions)."""

    rows_by_name: dict[str, list[int]] = field(default_factory=dict)
    ids: dict[int, int] = field(default_factory=dict)
    has_names: bool = False
    typed: dict[str, str] = field(default_factory=dict)  # name_key -> the first name typed so

    @classmethod
    def of(cls, callcenters: pd.DataFrame) -> Centers:
        """Each name's rows, by the name as a person reads it (`name_key`)."""
        centers = cls(has_names="name" in callcenters)
        for row, name in _col(callcenters, "name").dropna().items():
            key = name_key(name)
            centers.rows_by_name.setdefault(key, []).append(int(row))  # type: ignore[call-overload]
            centers.typed.setdefault(key, str(name))
        for row, center_id in _col(callcenters, "id").dropna().items():
            centers.ids[int(row)] = int(center_id)  # type: ignore[call-overload]
        return centers

    def rows_named(self, name: str) -> list[int]:
        """The rows whose name reads as `name`."""
        return self.rows_by_name.get(name_key(name), [])

    def suggestion(self, name: str) -> str | None:
        """The name of the sheet an unknown one most likely meant: a close one (one that reads the
        same is no unknown name: `name_key`)."""
        if len(self.typed) > SUGGEST_AMONG or len(name) > 100:
            return None
        close = difflib.get_close_matches(name, list(self.typed.values()), n=1, cutoff=0.75)
        return close[0] if close else None

    def describe(self, row: int) -> str:
        """A center of the sheet in words, for messages."""
        center_id = self.ids.get(row)
        return f"call center {center_id}" if center_id is not None else f"the call center of callcenters row {row}"


def _exactly_one(raw: pd.DataFrame, by_id: str, by_name: str, neither: str, both: str) -> Iterator[Problem]:
    """Exactly one of two columns (as typed: a bad cell is still filled): `neither` is said on the id cell,
    `both` on the name cell."""
    has_id, has_name = _col(raw, by_id).notna(), _col(raw, by_name).notna()
    for row in raw.index[~has_id & ~has_name]:
        yield _problem(row, by_id, None, neither)
    for row in raw.index[has_id & has_name]:
        yield _problem(row, by_name, raw.at[row, by_name], both)


def one_center(raw: pd.DataFrame) -> Iterator[Problem]:
    """Exactly one of call_center_id and call_center_name."""
    return _exactly_one(raw, CENTER_ID, CENTER_NAME,
                        "the row names no call center: fill in call_center_id (a center that exists) or "
                        "call_center_name (the name of a row of the callcenters sheet, e.g. one created in this "
                        "run, or of a live call center)",
                        "call_center_id and call_center_name are both filled: a row gives one of them; clear "
                        "call_center_name to use the id, or call_center_id to use the name")


def one_user(raw: pd.DataFrame) -> Iterator[Problem]:
    """Exactly one of user_id and user_email, and an email that looks like one (`emails_look_like_emails`)."""
    return _exactly_one(raw, USER, EMAIL,
                        "the row names no user: fill in user_id, or user_email (looked up when planned with a key "
                        "or applied)",
                        "user_id and user_email are both filled: a row gives one of them; clear user_email to use "
                        "the id, or user_id to look the user up by email")


def emails_look_like_emails(typed: pd.DataFrame) -> Iterator[Problem]:
    for row, email in _col(typed, EMAIL).dropna().items():
        if not EMAIL_SHAPE.fullmatch(str(email)):
            yield _problem(row, EMAIL, email, f"{printable(str(email), 60, quote=True)} is not an email address "
                                              "(name@domain, no blanks): type the user's email, or use user_id")


def resolve_names(typed: pd.DataFrame, raw: pd.DataFrame, centers: Centers,
                  resolved: dict[int, int], live: dict[int, str] | None = None) -> Iterator[Problem]:
    """A call_center_name names at most one row of the callcenters sheet by its name cell (names as a
    person reads them, `name_key`).

    Fills `resolved` (operators row -> callcenters row) for each name that does, and `live` (operators
    row -> the name) for each that names none: a live call center's, looked up when the run reads them.
    """
    names = _col(typed, CENTER_NAME)
    only_name = names.notna() & _col(raw, CENTER_ID).isna()
    for row, name in names[only_name].items():
        text = str(name)
        shown = printable(text, 60, quote=True)
        rows = centers.rows_named(text)
        if len(rows) == 1:
            resolved[int(row)] = rows[0]  # type: ignore[call-overload]
        elif rows:
            yield _problem(row, CENTER_NAME, name, (
                f"call_center_name {shown} names {len(rows)} rows of the callcenters sheet (rows "
                f"{_rows_text(rows)}): it must name one; make those names distinct, or use call_center_id"))
        elif live is not None:
            live[int(row)] = text  # type: ignore[call-overload]


def live_names_note(live: dict[int, str], centers: Centers) -> Iterator[Problem]:
    """One warning for the sheet: the names that no row of the callcenters sheet has are looked up live
    (so a typo of a sheet's name is seen offline: did you mean …)."""
    if not live:
        return
    rows = sorted(live)
    hints = []
    for row in rows[:SHOWN_ROWS]:
        hint = centers.suggestion(live[row])
        if hint is not None and name_key(hint) != name_key(live[row]):
            hints.append(f"row {row} {printable(live[row], 60, quote=True)}: did you mean the sheet's "
                         f"{printable(hint, 60, quote=True)}?")
    near = f" ({'; '.join(hints)})" if hints else ""
    yield Problem(None, CENTER_NAME, None, (
        f"call_center_name in {counted(len(rows), 'row')} ({plural(len(rows), 'row')} {_rows_text(rows)}) names no "
        f"row of the callcenters sheet: looked up among the live call centers when planned with a key or "
        f"applied{near}"))


def one_row_per_operator(typed: pd.DataFrame, centers: Centers, resolved: dict[int, int]) -> Iterator[Problem]:
    """The same (call center, user) twice is an error on every row of it."""
    center_ids = _col(typed, CENTER_ID)
    groups: dict[tuple[str, object, object], list[int]] = {}
    words: dict[tuple[str, object, object], str] = {}
    users = [(row, user, USER) for row, user in _col(typed, USER).dropna().items()]
    # An email is one user whatever its case: the lookup compares it so.
    users += [(row, email_key(email), EMAIL) for row, email in _col(typed, EMAIL).dropna().items()]
    columns: dict[int, str] = {}
    for row, user, column in users:
        row = int(row)  # type: ignore[call-overload]
        user = int(user) if column == USER else user
        center_id = native(center_ids.at[row])
        if center_id is not None:
            key: tuple[str, object, object] = ("id", int(center_id), user)
            words[key] = f"call center {int(center_id)}"
        elif row in resolved:
            sheet_row = resolved[row]
            by_id = centers.ids.get(sheet_row)
            # A name resolving to a row with an id is that center, as an id cell would name it.
            key = ("id", by_id, user) if by_id is not None else ("row", sheet_row, user)
            words.setdefault(key, centers.describe(sheet_row))
        else:
            continue
        groups.setdefault(key, []).append(row)
        columns[row] = column
    for key, rows in groups.items():
        if len(rows) < 2:
            continue
        for row in rows:
            others = [r for r in rows if r != row]
            yield _problem(row, columns[row], key[2], (
                f"user {key[2]} is listed more than once for {words[key]} (also in row {_rows_text(others)}): "
                "one row per operator of a call center; keep one of these rows"))


def removal_ignores_the_rest(typed: pd.DataFrame, raw: pd.DataFrame) -> Iterator[Problem]:
    """remove TRUE with role, skill_level, license_type or keep_paid_numbers filled: a warning, not an error.

    A removal takes only the user, but an exported row marked for removal still holds the agent's
    role and skill level; making the admin clear them first would only be busywork. The row says
    what is not used, so nobody reads a role there as something that will be set.
    """
    removing = _true(_col(typed, "remove"))
    rows: set[int] = set()
    columns = []
    for column in NOT_FOR_REMOVAL:
        filled = [int(r) for r in raw.index[_col(raw, column).notna() & removing]]
        if filled:
            rows.update(filled)
            columns.append(column)
    if rows:  # one line for the sheet: removing a hundred exported agents is not a hundred warnings
        yield Problem(None, "remove", None, (
            f"remove is TRUE in {counted(len(rows), 'row')} that also {'fills' if len(rows) == 1 else 'fill'} "
            f"{', '.join(columns)} ({plural(len(rows), 'row')} {_rows_text(sorted(rows))}): "
            f"{'that operator is' if len(rows) == 1 else 'those operators are'} removed, and "
            "those cells are not used (a removal takes only the user)"))


def skill_zero_only_with_diff(typed: pd.DataFrame, *, diff: bool) -> Iterator[Problem]:
    """skill_level 0 only changes an existing operator's level (--diff); adding takes 1-100."""
    if diff:
        return
    skill = _col(typed, "skill_level")
    for row in typed.index[_true(skill == 0)]:
        yield _problem(row, "skill_level", 0, (
            f"skill_level 0 is allowed only when changing an existing operator's level (with --diff); adding "
            f"an operator takes {ADD_SKILL_MIN}-{SKILL_MAX}: type {ADD_SKILL_MIN} to {SKILL_MAX}, or run with "
            "--diff to change the level of an operator the call center has"))


@dataclass
class NameRules:
    """What the rules found of the names: each call_center_name resolved on the sheet (operators row ->
    callcenters row), each left to the live call centers (operators row -> name), and the warning that says
    which those are."""

    resolved: dict[int, int] = field(default_factory=dict)
    live: dict[int, str] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)


def check_operator_rules(typed: pd.DataFrame, raw: pd.DataFrame, callcenters: pd.DataFrame, *,
                         diff: bool = False) -> tuple[list[Problem], NameRules]:
    """Every broken rule of the operators sheet, and what became of its call center names."""
    centers = Centers.of(callcenters)
    names = NameRules()
    problems = [*one_center(raw), *one_user(raw), *emails_look_like_emails(typed),
                *resolve_names(typed, raw, centers, names.resolved, names.live)]
    problems += [*one_row_per_operator(typed, centers, names.resolved), *skill_zero_only_with_diff(typed, diff=diff)]
    names.warnings = list(live_names_note(names.live, centers))
    return problems, names
