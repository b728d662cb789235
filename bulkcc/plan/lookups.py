"""Names people use, turned into the ids the API takes: what a sheet needs looked up, and the sheet once looked up.

An admin names an office by `office_name` (to create a call center), a user by
`user_email` and a call center by `call_center_name` (a row of the callcenters
sheet, or a live one). Validation cannot know the ids (`Validation.lookups`,
`OperatorsValidation.lookups` hold the rows that wait); the run reads the
company's users, offices and call centers (`bulkcc.run.resolve`) into a
`Directory`, and `resolve` here turns the validated sheet into the same sheet
with the ids filled in beside the names, as if they had been typed, plus a
problem on each row whose name cannot be trusted. Pure: nothing here reads or
sends.

Never guessed:
- an email is compared whole, outer blanks trimmed and case ignored, nothing
  looser (`email_key`); office and call center names as a person reads them
  (`bulkcc.names.name_key`);
- a name that gives no one thing is an invalid row, naming the value and the
  closest names there are (difflib): no user, two users, a user or office that
  is suspended, deleted or cancelled, two offices or two live call centers of
  one name, a call center name of only deleted, cancelled or suspended centers
  (such a center is no live one: it never makes a name ambiguous either);
- a `call_center_name` that is both a row of the sheet and a live call center
  other than that row's (another office's center of the name a row creates, or a
  live center of the name an update row gives another) could mean either: it is
  ambiguous too. A name of the sheet that is live as that very center is fine.

The usual rules of invalid rows then apply (nothing is sent without
--skip-invalid). What each name gave is kept (`Resolution.found`) so that the
plan, the confirmation, the plan file and the workbooks show the id beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from bulkcc.errors import Problem
from bulkcc.names import name_key
from bulkcc.operator_fields import OPERATORS_SHEET, email_key
from bulkcc.plan.directory import Center, Directory, Office, SheetCenters, User, center_of, office_of, user_of
from bulkcc.validate import Validation
from bulkcc.validate.operators import OperatorsValidation, operator_rows
from bulkcc.validate.rules import distinct_new_names
from bulkcc.values import counted, native, printable
from bulkcc.workbook.layout import CONTEXT_PREFIX as CONTEXT
from bulkcc.workbook.reader import Sheet

__all__ = ["Center", "Directory", "Found", "Office", "Resolution", "User", "Wanted", "resolve", "wanted"]


@dataclass(frozen=True)
class Wanted:
    """What a validated sheet needs looked up."""

    emails: Mapping[str, str] = field(default_factory=dict)  # email_key -> the email as first typed
    offices: bool = False  # an office_name to look up: the offices are listed once
    centers: bool = False  # a call_center_name: the live call centers are listed once

    def __bool__(self) -> bool:
        return bool(self.emails) or self.offices or self.centers


def wanted(validation: Validation) -> Wanted:
    """The look-ups `validation` waits for: its emails, and whether offices and live centers are needed.
    Every call_center_name counts, a name of the sheet too: only the live listing shows it names no other."""
    emails: dict[str, str] = {}
    centers = False
    operators = validation.operators
    if operators is not None:
        for names in operators.lookups.values():
            if "user_email" in names:
                emails.setdefault(email_key(names["user_email"]), names["user_email"].strip())
        centers = bool(_named_centers(operators))
    return Wanted(emails, bool(validation.lookups), centers)


def _named_centers(operators: OperatorsValidation) -> dict[int, str]:
    """The valid rows that name their call center by name (and not by id), with the name."""
    typed = operators.typed
    if "call_center_name" not in typed:
        return {}
    names, ids = typed["call_center_name"], typed["call_center_id"] if "call_center_id" in typed else None
    bad = operators.invalid_rows
    return {int(row): str(name) for row, name in names.dropna().items()  # type: ignore[call-overload]
            if row not in bad and (ids is None or native(ids.at[row]) is None)}


@dataclass(frozen=True)
class Found:
    """One name of a row and what it gave: an id, or (a center created in this run) a callcenters row."""

    sheet: str  # "callcenters" or "operators"
    row: int
    column: str  # office_name, user_email or call_center_name
    name: str
    id: int | None
    create_row: int | None = None
    label: str | None = None  # the user's name, the office's, for the words

    def words(self) -> str:
        """`user_email 'anna@example.com' → user 62… (Anna Berg)`."""
        what = {"office_name": "office", "user_email": "user", "call_center_name": "call center"}[self.column]
        target = f"{what} {self.id}" if self.id is not None else f"the call center created by callcenters row " \
                                                                  f"{self.create_row}"
        label = f" ({printable(self.label, 60)})" if self.label and self.column != "call_center_name" else ""
        return f"{self.column} {printable(self.name, 60, quote=True)} → {target}{label}"


@dataclass
class Resolution:
    """The sheet once looked up: `validation` (ids filled in, a problem on each row no name of which could be
    trusted), what each name gave, and what it cost."""

    validation: Validation
    found: list[Found] = field(default_factory=list)
    requests: Mapping[str, int] = field(default_factory=dict)
    waiting: int = 0  # rows still waiting for a look-up (plan without a key)
    asked: Mapping[str, int] = field(default_factory=dict)  # distinct names looked up, by column

    def groups(self) -> list[tuple[Found, list[int]]]:
        """Each distinct name (per sheet and column) once, with the rows that give it, in sheet order."""
        groups: dict[tuple[str, str, str], tuple[Found, list[int]]] = {}
        for item in sorted(self.found, key=lambda f: (f.sheet != "callcenters", f.row, f.column)):
            key = email_key(item.name) if item.column == "user_email" else name_key(item.name)
            groups.setdefault((item.sheet, item.column, key), (item, []))[1].append(item.row)
        return list(groups.values())

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def summary(self) -> str:
        """`looked up 30 emails, 1 office name and 2 call center names in 6 requests (5 user pages, …)`."""
        kinds = {"user_email": "email", "office_name": "office name", "call_center_name": "call center name"}
        names = [counted(self.asked[column], kind) for column, kind in kinds.items() if self.asked.get(column)]
        spent = ", ".join(counted(n, what) for what, n in self.requests.items() if n)
        text = f"looked up {_joined(names) or 'no names'} in {counted(self.total_requests, 'request')}"
        return text + (f" ({spent})" if spent else "")


def _joined(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1] if parts else ""


# ---- the sheet once looked up ---------------------------------------------------------------------


def _with_column(frame: pd.DataFrame, column: str, dtype: str = "Int64") -> pd.DataFrame:
    if column not in frame:
        frame[column] = pd.Series(pd.NA, index=frame.index, dtype=dtype)
    return frame


def _problem(sheet: str | None, row: int, column: str, value: Any, message: str) -> Problem:
    return Problem(row, column, value, message, sheet)


def resolve(validation: Validation, directory: Directory, redact: Callable[[str], str] = str) -> Resolution:
    """`validation` with every name the directory answers turned into its id (see the module's docstring).
    The new problems' messages quote what a server said: `redact` takes the key out of them."""
    found: list[Found] = []
    callcenters, problems = _resolve_offices(validation, directory, found)
    problems = sorted((replace(p, message=redact(p.message)) for p in problems), key=lambda p: p.row or 0)
    sheet = _beside(validation.sheet, found, "callcenters", {"office_name": CONTEXT + "office_id"})
    resolved = replace(validation, sheet=sheet, typed=callcenters, problems=[*validation.problems, *problems])
    waiting = len(resolved.lookups)
    if validation.operators is not None:
        operators = _resolve_operators(validation.operators, SheetCenters.of(callcenters), directory, found,
                                       redact)
        operators.sheet = _beside(operators.sheet, found, OPERATORS_SHEET, {
            "user_email": CONTEXT + "user_id", "call_center_name": CONTEXT + "call_center_id"})
        resolved.operators = operators
        waiting += len(operators.lookups)
    return Resolution(resolved, found, dict(directory.requests), waiting, _asked(validation, directory))


def _asked(validation: Validation, directory: Directory) -> dict[str, int]:
    """The distinct names the directory was read for, by column."""
    asked = {"user_email": len(directory.users or {}) if directory.users is not None else 0}
    if directory.offices is not None:
        asked["office_name"] = len({name_key(n) for n in validation.lookups.values()})
    if directory.centers is not None and validation.operators is not None:
        asked["call_center_name"] = len({name_key(n) for n in _named_centers(validation.operators).values()})
    return asked


def _beside(sheet: Sheet, found: Sequence[Found], name: str, columns: Mapping[str, str]) -> Sheet:
    """The sheet whose own cells (what a results workbook carries) show, right after each name looked up,
    the id it gave, as a read-only `info.` column (ids as text: a number would lose digits)."""
    raw = sheet.raw
    for column, context in columns.items():
        ids = {f.row: str(f.id) for f in found if f.sheet == name and f.column == column and f.id is not None}
        if not ids or column not in raw.columns:
            continue
        if raw is sheet.raw:
            raw = raw.copy()
        if context not in raw.columns:
            raw.insert(list(raw.columns).index(column) + 1, context, pd.Series(None, index=raw.index, dtype=object))
        for row, text in ids.items():
            raw.at[row, context] = text
    return sheet if raw is sheet.raw else replace(sheet, raw=raw)


def _resolve_offices(validation: Validation, directory: Directory, found: list[Found]
                     ) -> tuple[pd.DataFrame, list[Problem]]:
    if not validation.lookups or directory.offices is None:
        return validation.typed, []
    typed = _with_column(validation.typed.copy(), "office_id")
    problems = []
    for row, name in validation.lookups.items():
        office = office_of(name, directory)
        if isinstance(office, str):
            problems.append(_problem(None, row, "office_name", name, office))
        else:
            typed.at[row, "office_id"] = office.id
            found.append(Found("callcenters", row, "office_name", name, office.id, label=office.name))
    # Offices named two ways (an id on one row, a name on another) are one office now: no two creates of
    # one name in it.
    known = {(p.row, p.column) for p in validation.problems}
    problems += [p for p in distinct_new_names(typed) if (p.row, p.column) not in known]
    return typed, problems


def _resolve_operators(operators: OperatorsValidation, sheet: SheetCenters, directory: Directory,
                       found: list[Found], redact: Callable[[str], str]) -> OperatorsValidation:
    typed = operators.typed.copy()
    problems: list[Problem] = []
    waiting: dict[int, dict[str, str]] = {}
    center_rows = dict(operators.center_rows)
    if directory.users is not None:
        _with_column(typed, "user_id")
    for row, name in _named_centers(operators).items():
        center = center_of(name, sheet, directory)
        if center is None:
            waiting.setdefault(row, {})["call_center_name"] = name
        elif isinstance(center, str):
            problems.append(_problem(OPERATORS_SHEET, row, "call_center_name", name, center))
        else:
            cc_id, create_row = center
            if cc_id is not None and row not in center_rows:  # a live center's: its id, beside the name
                typed = _with_column(typed, "call_center_id")
                typed.at[row, "call_center_id"] = cc_id
            if directory.centers is not None:
                found.append(Found(OPERATORS_SHEET, row, "call_center_name", name, cc_id, create_row))
    for row, names in operators.lookups.items():
        email = names.get("user_email")
        if email is None:
            continue
        if directory.users is None:
            waiting.setdefault(row, {})["user_email"] = email
            continue
        user = user_of(email, directory)
        if isinstance(user, str):
            problems.append(_problem(OPERATORS_SHEET, row, "user_email", email, user))
        else:
            typed.at[row, "user_id"] = user.id
            found.append(Found(OPERATORS_SHEET, row, "user_email", email, user.id, label=user.name))
    problems += _repeated_users(typed, operators, problems, center_rows, sheet.ids())
    problems = sorted((replace(p, message=redact(p.message)) for p in problems), key=lambda p: p.row or 0)
    warnings = operators.warnings
    if directory.centers is not None:  # the names no row has were looked up: the note that they would be is done
        warnings = [w for w in warnings if not (w.row is None and w.column == "call_center_name")]
    result = replace(operators, typed=typed, problems=[*operators.problems, *problems], lookups={},
                     warnings=warnings)
    bad = result.invalid_rows
    result.lookups = {row: names for row, names in waiting.items() if row not in bad}
    result.rows = operator_rows(typed, [row for row in result.valid_rows if row not in result.lookups])
    result.center_rows = {row: target for row, target in center_rows.items() if row not in bad}
    return result


def _repeated_users(typed: pd.DataFrame, operators: OperatorsValidation, new: list[Problem],
                    center_rows: Mapping[int, int], sheet_ids: Mapping[int, int]) -> list[Problem]:
    """Two rows that are one operator once looked up (an id on one, the same user's email on the other). A
    name of a callcenters row that has an id is that center, as validation takes it (`sheet_ids`)."""
    bad = operators.invalid_rows | {p.row for p in new if p.row is not None}
    user_ids = typed["user_id"] if "user_id" in typed else None
    center_ids = typed["call_center_id"] if "call_center_id" in typed else None
    if user_ids is None:
        return []
    groups: dict[tuple[tuple[str, int | None], int], list[int]] = {}
    for row, user in user_ids.dropna().items():
        row = int(row)  # type: ignore[call-overload]
        if row in bad:
            continue
        cc_id = native(center_ids.at[row]) if center_ids is not None else None
        sheet_row = center_rows.get(row)
        if cc_id is None and sheet_row is not None:
            cc_id = sheet_ids.get(sheet_row)
        center: tuple[str, int | None] = ("id", int(cc_id)) if cc_id is not None else ("row", sheet_row)
        if center == ("row", None):
            continue
        groups.setdefault((center, int(user)), []).append(row)
    problems = []
    for (center, user), rows in groups.items():
        if len(rows) < 2 or not any(r in operators.lookups for r in rows):
            continue  # found by validation already, unless a look-up made them one
        where = f"call center {center[1]}" if center[0] == "id" else f"the call center of callcenters row {center[1]}"
        for row in rows:
            others = ", ".join(str(r) for r in rows if r != row)
            column = "user_email" if "user_email" in operators.lookups.get(row, {}) else "user_id"
            problems.append(_problem(OPERATORS_SHEET, row, column, native(typed.at[row, column]) if column in typed
                                     else user, f"user {user} is listed more than once for {where} (also in row "
                                                f"{others}, once looked up): one row per operator of a call "
                                                "center; keep one of these rows"))
    return problems
